"""Staff writing in the chat as staff: a propagandist's "đã chuyển" (a relayed notice) and a
propagandist's note on a ticket ("PA-…: …"). Zalo only, from the id they were registered with
(bot/chat_staff.py); anyone else's same words are an ordinary message."""

from __future__ import annotations

from bot.broadcasts import relay
from bot.envelope import Text
from bot.feedback import service as tickets
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome
from bot.i18n import gettext_for

ZALO = frozenset({"zalo"})


class RelayConfirmation(Handler):
    name = "relay_confirmation"
    channels = ZALO
    roles = ("propagandist",)

    def accepts(self, ctx: Context) -> bool:
        return relay.is_confirmation(ctx.text)

    async def handle(self, ctx: Context) -> Outcome | None:
        propagandist = await ctx.staff(self.roles)
        assert propagandist is not None
        thanks = await relay.confirm(ctx.s, propagandist, ctx.language)
        if thanks is None:  # nothing of theirs to confirm: an ordinary message
            return None
        return Outcome([thanks], intent="relay_confirmed", confidence=1.0, with_attachments=False)


class StaffNote(Handler):
    name = "staff_note"
    channels = ZALO
    roles = ("propagandist",)

    def accepts(self, ctx: Context) -> bool:
        return tickets.propagandist_note(ctx.text) is not None

    async def handle(self, ctx: Context) -> Outcome | None:
        propagandist = await ctx.staff(self.roles)
        note = tickets.propagandist_note(ctx.text)
        assert propagandist is not None and note is not None
        if not await tickets.add_propagandist_note(ctx.s, propagandist, ctx.commune, *note):
            return None
        _ = gettext_for(ctx.language)
        thanks = Text(
            _("Cảm ơn anh/chị, xã đã ghi thêm thông tin vào phản ánh {code}.").format(code=note[0])
        )
        return Outcome(
            [thanks],
            intent="ticket_note",
            confidence=1.0,
            with_attachments=False,
            staff_told=True,
        )
