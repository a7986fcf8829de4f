"""Residents' feedback (phản ánh, kiến nghị): tickets, routing, the working-day clock, the chat
flow that files them, live handoff to staff, and the Open311 GeoReport v2 view of the same
tickets. See docs/feedback.md."""
