"""The staff console (issue 13): server-rendered pages on the service's own aiohttp app.

``bot.console.routes``: the console on the app (the base, then each screen); ``bot.console.auth``: logins, passwords, lock-out, sessions, invitations and the tenancy rule
every screen loads its objects through; ``bot.console.web``: the pages (aiohttp-jinja2,
templates under ``templates/``, a little progressive script under ``static/``). docs/console.md.
"""
