"""Local Zalo OA simulator: OAuth v4, OA API v2/v3, signed webhooks with Zalo's retry ladder.

Faithful to /work/shared/zalo-oa-api.md (§11 checklist). Entry points:

* :class:`ZaloSimulator` (driver.py) — run on a real port from tests/benchmarks;
* :func:`make_app` (server.py) + :class:`SimState` (state.py) — embed the aiohttp app;
* :class:`WebhookEmitter` (emitter.py) — build/sign/deliver webhook events;
* ``python -m zalosim`` (__main__.py) — standalone server.
"""

from .driver import ZaloSimulator
from .emitter import EmitResult, WebhookEmitter
from .provision import apply_setup
from .server import make_app
from .state import SimState

__all__ = ["EmitResult", "SimState", "WebhookEmitter", "ZaloSimulator", "apply_setup", "make_app"]
