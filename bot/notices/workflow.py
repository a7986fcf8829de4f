"""The notice workflow, in one place: who may do what, from which state, and the audit row.

    draft ─submit→ submitted ─approve→ scheduled ─(dispatcher)→ sending → sent
                                       └→ recurring (with a recurrence: copies go out)
      ↑               │ return                                      │
      └── returned ←──┘                       cancel (any state before expired/cancelled)
    emergency: a leader may `publish` a draft/submitted/returned notice straight to scheduled.
    cancel: an officer may cancel what has not gone out; an emergency notice, or one already
    going out or sent, only a leader may cancel (the author may still drop their own emergency
    draft before it is approved) — ``Action.leader_only``.

Categories are Nghị định 49/2024 Điều 6's; priorities Thông tư 39/2020's (thông thường / ưu
tiên / khẩn cấp), mapped to CAP 1.2's urgency / severity / certainty.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.i18n import N_
from bot.store.models import Notice

#: Nghị định 49/2024/NĐ-CP Điều 6 (domain-vn.md §1.2)
CATEGORIES = {
    "policy": N_("Chủ trương, chính sách, pháp luật"),
    "development": N_("Dự án, chương trình phát triển, an sinh xã hội"),
    "knowledge": N_("Kiến thức khoa học, kỹ thuật phục vụ sản xuất, đời sống"),
    "security": N_("An ninh, trật tự, quân sự địa phương"),
    "safety": N_("Phòng, chống thiên tai, cứu nạn, hỏa hoạn, dịch bệnh"),
    "exemplary": N_("Gương người tốt, việc tốt"),
    "crime_prevention": N_("Phòng, chống vi phạm pháp luật, tệ nạn"),
    "services": N_("Dịch vụ thiết yếu cho đời sống (điện, nước…)"),
}

#: how the chat names each category to a resident (phrases the `topic` entity recognises)
TOPIC_NAMES = {
    "policy": N_("chính sách, pháp luật"),
    "development": N_("an sinh, việc làm"),
    "knowledge": N_("khuyến nông"),
    "security": N_("an ninh, trật tự"),
    "safety": N_("thiên tai, dịch bệnh"),
    "exemplary": N_("gương người tốt"),
    "crime_prevention": N_("phòng chống tệ nạn"),
    "services": N_("lịch điện, nước sạch"),
}

#: Thông tư 39/2020 priority → CAP 1.2 (urgency, severity, certainty) and the send lane
PRIORITIES = {
    "normal": ("Future", "Minor", "Likely"),
    "priority": ("Expected", "Moderate", "Likely"),
    "emergency": ("Immediate", "Severe", "Observed"),
}
SEND_PRIORITY = {"emergency": 1, "priority": 2, "normal": 3}  # outbound lanes; 0 = replies

EDITABLE = {"draft", "returned"}
FINAL = {"sent", "cancelled", "expired"}


#: notices that have started to reach people
OUT = frozenset({"sending", "sent"})


@dataclass(frozen=True)
class Action:
    from_states: frozenset[str]
    to_state: str
    roles: frozenset[str]
    emergency_only: bool = False
    #: states in which only a leader may take this action, and whether an emergency notice
    #: needs a leader in every state (except its author's own draft before approval)
    leader_only: frozenset[str] = frozenset()
    leader_for_emergency: bool = False

    def needs_leader(self, notice: Notice, staff_id: int | None) -> bool:
        if notice.status in self.leader_only:
            return True
        own_draft = notice.created_by == staff_id and notice.status in EDITABLE | {"submitted"}
        return self.leader_for_emergency and notice.priority == "emergency" and not own_draft


ACTIONS = {
    "submit": Action(
        frozenset({"draft", "returned"}),
        "submitted",
        frozenset({"officer", "leader", "propagandist"}),
    ),
    "approve": Action(frozenset({"submitted"}), "scheduled", frozenset({"leader"})),
    "return": Action(frozenset({"submitted"}), "returned", frozenset({"leader"})),
    "publish": Action(
        frozenset({"draft", "submitted", "returned"}),
        "scheduled",
        frozenset({"leader"}),
        emergency_only=True,
    ),
    "cancel": Action(
        frozenset({"draft", "submitted", "returned", "scheduled", "recurring", "sending", "sent"}),
        "cancelled",
        frozenset({"officer", "leader"}),
        leader_only=OUT,
        leader_for_emergency=True,
    ),
}


class WorkflowError(Exception):
    """A transition that is not allowed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def check(notice: Notice, action: str, role: str, staff_id: int | None = None) -> Action:
    rule = ACTIONS.get(action)
    if rule is None:
        raise WorkflowError(f"không có thao tác {action!r} / unknown action", 404)
    if role not in rule.roles:
        raise WorkflowError(
            f"vai trò {role} không được {action} / role {role} may not {action}", 403
        )
    if role != "leader" and rule.needs_leader(notice, staff_id):
        raise WorkflowError(
            f"thông báo khẩn cấp hoặc đã gửi: chỉ lãnh đạo được {action} / "
            f"only a leader may {action} an emergency notice or one already "
            "sent",
            403,
        )
    if rule.emergency_only and notice.priority != "emergency":
        raise WorkflowError(
            "chỉ thông báo khẩn cấp mới được phát ngay / only an emergency "
            "notice may be published in one step"
        )
    if notice.status not in rule.from_states:
        raise WorkflowError(
            f"thông báo đang ở trạng thái {notice.status}, không thể {action} / "
            f"cannot {action} a notice that is {notice.status}"
        )
    return rule


def record(
    s: AsyncSession,
    notice: Notice,
    action: str,
    to_state: str,
    staff_id: int | None,
    note: str | None = None,
) -> None:
    """Change the state and write the audit row (bot/audit.py), in the caller's transaction."""
    audit.notice(s, notice, action, to_state, staff_id, note)
    notice.status = to_state


def apply(
    s: AsyncSession, notice: Notice, action: str, role: str, staff_id: int, note: str | None = None
) -> None:
    rule = check(notice, action, role, staff_id)
    to_state = rule.to_state
    if action in ("approve", "publish"):
        notice.approved_by = staff_id
        if action == "publish":  # "Phát ngay" means now, whatever time the draft had chosen
            notice.send_at = None
        if notice.recurrence:  # each firing sends a copy (bot/notices/schedule.py)
            to_state = "recurring"
    record(s, notice, action, to_state, staff_id, note)


#: who may send a notice to many communes of their province at once (bot/notices/province.py):
#: the province operator and a province department's publisher (``publisher``: staff of a
#: department such as Sở Văn hoá, who may do nothing else — ``bot.api.auth.PROVINCE_ONLY``)
PROVINCE_ROLES = frozenset({"operator", "publisher"})


def from_province(
    s: AsyncSession, notice: Notice, staff_id: int, *, direct: bool, note: str | None = None
) -> None:
    """A commune's copy of a province's notice, just drafted, enters the commune's workflow:
    ``submit`` — it waits for the commune leader's ``approve`` like any submitted notice — or,
    ``direct`` (an emergency where the province's configuration skips the communes' approval),
    also ``publish`` by the province publisher: scheduled now. Both audit rows name the
    province's staff member."""
    if notice.status != "draft":
        raise WorkflowError(f"cannot send a notice that is {notice.status} from the province")
    if direct and notice.priority != "emergency":
        raise WorkflowError("only an emergency skips the commune's approval")
    record(s, notice, "submit", "submitted", staff_id, note)
    if direct:
        notice.approved_by = staff_id
        notice.send_at = None
        record(
            s, notice, "publish", "recurring" if notice.recurrence else "scheduled", staff_id, note
        )
