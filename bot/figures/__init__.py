"""Figures over the store for the console's dashboard and, later, the province's yearly report
(docs/console-dashboard.md): pure functions of a session, commune ids and a window of
Vietnamese days (``window.py``), counted in SQL (``queries.py``), drawn as SVG (``svg.py``).
Nothing here knows about the console or HTTP; tenancy (which commune ids a user may ask for)
is the caller's."""
