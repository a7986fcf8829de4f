"""A resident arriving: following the OA (the welcome, and once the village question), tapping
"Nhắn tin", sharing their name, phone and address (Zalo's ``user_submit_info``)."""

from __future__ import annotations

from sqlalchemy import update

from bot.conversation import engine
from bot.conversation import village as village_chat
from bot.envelope import Reply, Text
from bot.handlers.base import Handler
from bot.handlers.context import Context, Outcome
from bot.i18n import gettext_for, use_language
from bot.store.models import Ticket


class Follow(Handler):
    name = "follow"
    kinds = frozenset({"follow"})

    async def handle(self, ctx: Context) -> Outcome | None:
        resident, now = ctx.resident, ctx.now
        resident.is_follower = True
        resident.followed_at = now
        ask = village_chat.should_ask(ctx.commune, resident)
        replies = engine.welcome(ctx.commune, resident.language, ask_village=ask)
        state = None
        if ask:
            resident.village_asked_at = now
            state = village_chat.pending(ctx.conversation.state, replies[-1])
        return Outcome(replies, state=state, logged=False)


class ChatNow(Handler):
    name = "chatnow"
    kinds = frozenset({"chatnow"})

    async def handle(self, ctx: Context) -> Outcome | None:
        return Outcome(engine.welcome(ctx.commune, ctx.language), logged=False)


class SubmitInfo(Handler):
    name = "submit_info"
    kinds = frozenset({"submit_info"})

    async def handle(self, ctx: Context) -> Outcome | None:
        resident, now = ctx.resident, ctx.now
        info = ctx.inbound.info or {}
        resident.display_name = info.get("name") or resident.display_name
        resident.phone = info.get("phone") or resident.phone
        resident.address = info.get("address") or resident.address
        resident.consent_at = now
        resident.consent_source = "user_submit_info"
        if resident.phone:  # reports filed with consent but no phone yet get it now
            await ctx.s.execute(
                update(Ticket)
                .where(
                    Ticket.resident_id == resident.id,
                    Ticket.consent_at.is_not(None),
                    Ticket.reporter_phone.is_(None),
                )
                .values(reporter_phone=resident.phone, reporter_name=resident.display_name)
            )
        _ = gettext_for(resident.language)
        replies: list[Reply] = [
            Text(
                _(
                    "Cảm ơn anh/chị đã gửi thông tin. Xã chỉ dùng thông tin này để "
                    "liên hệ, trả lời anh/chị; anh/chị có thể yêu cầu xóa bất cứ lúc "
                    "nào."
                )
            )
        ]
        with use_language(resident.language):
            suggested = village_chat.suggestion(
                ctx.commune, info.get("address"), ctx.resident_village
            )
        state = None
        if suggested is not None:  # the address names a village: ask, never assume
            replies.append(suggested[0])
            state = village_chat.pending(
                ctx.conversation.state, suggested[0], village_suggested=suggested[1]
            )
        return Outcome(replies, state=state, logged=False)
