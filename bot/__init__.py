"""Commune information bot: many communes' Zalo Official Accounts in one aiohttp service."""

__version__ = "0.1.0"
