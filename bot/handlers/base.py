"""A handler of incoming events, and the chain that runs them in order (aiogram's routers:
ordered handlers with filters). A handler declares what it accepts — event kinds, channels,
the staff roles the sender must hold — and the chain asks each in turn; the first that returns
an ``Outcome`` has the event, ``None`` means "not mine"."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handlers.context import Context, Outcome

ANY_CHANNEL: frozenset[str] = frozenset()


class Handler:
    name = ""
    kinds: frozenset[str] = frozenset({"message"})  # the event kinds it looks at
    channels: frozenset[str] = ANY_CHANNEL  # empty: every channel
    #: staff roles the sender must hold (bot/chat_staff.py: only Zalo, the id registered);
    #: empty: anyone, resident or staff
    roles: tuple[str, ...] = ()

    def accepts(self, ctx: Context) -> bool:
        """A cheap look at the context before the roles are looked up (the words, the mode)."""
        return True

    async def handle(self, ctx: Context) -> Outcome | None:
        raise NotImplementedError

    async def admits(self, ctx: Context) -> bool:
        """Whether the event passes this handler's filters."""
        if ctx.inbound.kind not in self.kinds:
            return False
        if self.channels and ctx.channel not in self.channels:
            return False
        if not self.accepts(ctx):
            return False
        return not self.roles or await ctx.staff(self.roles) is not None


async def run(chain: Sequence[Handler], ctx: Context) -> Outcome | None:
    """The first outcome of the handlers that admit the event, in the chain's order."""
    for handler in chain:
        if await handler.admits(ctx) and (outcome := await handler.handle(ctx)) is not None:
            return outcome
    return None
