"""The ticket workflow table (bot/feedback/workflow.py): which staff action applies from which
state, for which role, with which note, what it changes — and the same answers through the
staff JSON API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.config import settings_from_dict
from bot.feedback import workflow
from bot.feedback.workflow import OPEN, STATES, Change, TicketError
from bot.staff import add_staff
from bot.store.models import Staff, Ticket
from tests.helpers import commune_code, make_settings, start_service

ROLES = ("officer", "leader", "propagandist", "operator")
STAFF = {"officer", "leader"}
#: action → (the states it applies to, the state it leads to, the roles that may take it)
EXPECTED: dict[str, tuple[set[str], str | None, set[str]]] = {
    "accept": ({"received", "assigned"}, "in_progress", STAFF),
    "assign": (set(OPEN), "assigned", STAFF),
    "transfer": (set(OPEN), None, STAFF),
    "return": (set(OPEN), "returned", STAFF),
    "reject": (set(OPEN), "rejected", STAFF),
    "duplicate": (set(OPEN), "duplicate", STAFF),
    "answer": ({*OPEN, "answered"}, "answered", STAFF),
    "close": ({"answered"}, "closed", STAFF),
    "publish": ({"answered", "closed"}, None, STAFF),
    "note": (set(STATES), None, STAFF | {"propagandist"}),
}
NOTES = {
    "return": "lý do trả lại",
    "reject": "lý do không thụ lý",
    "answer": "nội dung trả lời",
    "note": "nội dung ghi chú",
}
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Vietnam

SETTINGS = settings_from_dict(
    {
        "communes": [
            {
                "code": "01234",
                "name": "Xã Thử",
                "office_hours": [{"days": "mon-fri", "open": "07:30", "close": "17:00"}],
                "address": "UBND xã Thử",
                "phone": "0214 000 001",
                "villages": ["Nậm Mòn"],
                "offices": [
                    {"code": "vanphong", "name": "Văn phòng UBND"},
                    {"code": "diachinh", "name": "Địa chính - Xây dựng"},
                ],
            }
        ]
    },
    env={},
)
COMMUNE = SETTINGS.communes[0]


def ticket(status: str = "received", **kw) -> Ticket:
    values = {
        "id": 10,
        "commune_id": 1,
        "code": "PA-2026-000010",
        "category": "road",
        "emergency": False,
        "status": status,
        "office": "vanphong",
        "reopened": 0,
        "received_at": NOW - timedelta(days=3),
        "ack_due_at": NOW - timedelta(days=2),
        "due_at": NOW - timedelta(days=1),
        "next_progress_at": NOW,
        "warn_at": NOW,
        "overdue_at": NOW - timedelta(hours=1),
        **kw,
    }
    return Ticket(**values)


def staff(role: str = "officer", **kw) -> Staff:
    return Staff(
        **{"id": 7, "commune_id": 1, "name": f"{role} 7", "role": role, "active": True, **kw}
    )


def run(t: Ticket, action: str, **kw) -> Change:
    """check + apply, as service.change does before it writes anything."""
    who = kw.pop("staff", staff())
    rule = workflow.check(t, action, who, kw.get("note"))
    c = Change(t, COMMUNE, SETTINGS.feedback, NOW, staff=who, **kw)
    workflow.apply(rule, c)
    return c


@contextmanager
def refused(status: int, text: str | None = None) -> Iterator[None]:
    """The block raises a TicketError with this HTTP status (and this message)."""
    with pytest.raises(TicketError) as info:
        yield
    assert info.value.status == status, info.value
    if text is not None:
        assert str(info.value) == text


def test_the_staff_table_is_what_staff_may_do():
    assert list(workflow.STAFF_ACTIONS) == list(EXPECTED)
    for action, (states, to, roles) in EXPECTED.items():
        rule = workflow.STAFF_ACTIONS[action]
        assert (set(rule.from_states), rule.to_state, set(rule.roles)) == (states, to, roles)
    assert {a for a, rule in workflow.ACTIONS.items() if rule.needs_note} == set(NOTES)
    # the resident's and the clock's are no staff action
    assert {"rate", "reopen", "progress", "overdue", "warn"} <= set(workflow.ACTIONS)
    assert not {"rate", "reopen", "progress"} & set(workflow.STAFF_ACTIONS)


@pytest.mark.parametrize("action", list(EXPECTED))
def test_each_action_from_each_state_for_each_role(action):
    states, _, roles = EXPECTED[action]
    for state in STATES:
        for role in ROLES:
            t = ticket(state)
            if role not in roles:
                with refused(403, "vai trò này không được làm việc này / role may not do this"):
                    workflow.check(t, action, staff(role), "x")
            elif state not in states:
                with refused(
                    409,
                    f"không thể {action} khi phản ánh đang '{state}' / cannot {action} a "
                    f"ticket that is {state}",
                ):
                    workflow.check(t, action, staff(role), "x")
            else:
                assert workflow.check(t, action, staff(role), "x") is workflow.ACTIONS[action]


def test_the_errors_in_the_order_staff_meet_them():
    listed = ", ".join(EXPECTED)
    with refused(404, f"không có thao tác này / action: one of {listed}"):
        workflow.check(ticket(), "fly", staff(), "x")
    for resident_only in ("rate", "reopen", "progress"):
        with refused(404):
            workflow.check(ticket("answered"), resident_only, staff("leader"), "x")
    with refused(403):  # nobody identified
        workflow.check(ticket(), "accept", None, None)
    with refused(403):  # the role before the state
        workflow.check(ticket("received"), "close", staff("propagandist"), None)
    with refused(409):  # the state before the note
        workflow.check(ticket("closed"), "return", staff(), None)
    for action, what in NOTES.items():
        for note in (None, "", "   "):
            with refused(400, f"note: cần {what} / note is required"):
                workflow.check(ticket(), action, staff(), note)


def test_accept_and_assign():
    t = ticket("received")
    c = run(t, "accept", staff=staff(id=3))
    assert (t.status, t.assignee_id, t.acked_at, c.tell) == ("in_progress", 3, NOW, "accepted")

    colleague = staff(id=8, name="Lò Văn C", office="diachinh")
    t = ticket("received")
    c = run(t, "assign", assignee=colleague)
    assert (t.status, t.assignee_id, t.office, t.acked_at) == ("assigned", 8, "diachinh", NOW)
    assert (c.tell, c.note) == ("assigned", "giao cho Lò Văn C")
    t = ticket("in_progress", acked_at=NOW - timedelta(days=1))
    c = run(t, "assign", assignee=colleague, note="anh C quen việc")
    assert c.tell is None and c.note == "anh C quen việc"  # reassigned: internal
    assert t.acked_at == NOW - timedelta(days=1)  # the first handling stays
    for wrong in (
        None,
        staff(id=9, commune_id=2),
        staff(id=9, role="propagandist"),
        staff(id=9, active=False),
    ):
        t = ticket("received")
        with refused(400, "assignee: một cán bộ của xã / an officer of this commune"):
            run(t, "assign", assignee=wrong)
        assert (t.status, t.assignee_id, t.acked_at) == ("received", None, None)


def test_transfer_inside_the_commune_and_outside():
    for office, body in ((None, None), ("diachinh", "Công ty Điện lực")):
        with refused(400):
            run(ticket(), "transfer", office=office, body=body)
    with refused(400, "office: không có bộ phận này / one of vanphong, diachinh"):
        run(ticket(), "transfer", office="khongco")
    with refused(400, "body: tên cơ quan nhận / the receiving body's name"):
        run(ticket(), "transfer", body="  ")

    t = ticket("in_progress", assignee_id=7)
    c = run(t, "transfer", office="diachinh", note="đất")
    assert (t.status, t.office, t.assignee_id, t.acked_at) == ("received", "diachinh", None, None)
    assert (c.tell, c.note) == (None, "→ Địa chính - Xây dựng: đất")
    assert t.next_progress_at == NOW  # still open: the clock runs

    t = ticket("assigned")
    c = run(t, "transfer", body=" Công ty Điện lực ")
    assert (t.status, t.transferred_to, t.acked_at, c.tell) == (
        "transferred",
        "Công ty Điện lực",
        NOW,
        "transferred",
    )
    assert t.next_progress_at is None and t.warn_at is None  # ended: the clock stops


def test_return_reject_duplicate():
    for action, state in (("return", "returned"), ("reject", "rejected")):
        t = ticket()
        c = run(t, action, note="thiếu địa chỉ")
        assert (t.status, t.acked_at, c.tell) == (state, NOW, action)

    original = ticket("in_progress", id=5, code="PA-2026-000005")
    t = ticket()
    c = run(t, "duplicate", duplicate_of=original, note="cùng đoạn đường")
    assert (t.status, t.duplicate_of, c.tell) == ("duplicate", 5, "duplicate")
    assert c.note == "trùng PA-2026-000005: cùng đoạn đường" and t.acked_at is None
    for wrong in (None, ticket(), ticket(id=5, commune_id=2)):
        with refused(400, "of: mã một phản ánh khác của xã / another ticket of this commune"):
            run(ticket(), "duplicate", duplicate_of=wrong)
    with refused(409):
        run(ticket(), "duplicate", duplicate_of=ticket("answered", id=5))


def test_answer_close_publish():
    t = ticket("in_progress")
    c = run(t, "answer", note="  Đã sửa xong, gọi 0912345678.  ")
    assert (t.status, t.answer, t.answered_at, t.acked_at) == (
        "answered",
        "Đã sửa xong, gọi 0912345678.",
        NOW,
        NOW,
    )
    assert c.tell == "answered" and workflow.ACTIONS["answer"].answers_duplicates
    assert t.next_progress_at is None and t.warn_at is None

    c = run(t, "publish")
    assert t.status == "answered" and t.published_at == NOW and c.tell is None
    assert t.public_answer == "Đã sửa xong, gọi ***."

    c = run(t, "close")
    assert (t.status, t.closed_at, c.tell) == ("closed", NOW, "closed")

    with refused(400, "text: nội dung công khai / the text to publish"):
        run(ticket("answered", answer=None), "publish")
    sensitive = ticket("answered", category="security", answer="Đã xử lý")
    with refused(409):
        run(sensitive, "publish")
    assert sensitive.public_answer is None and sensitive.published_at is None


def test_the_residents_rate_and_reopen():
    t = ticket("answered", answered_at=NOW, warn_at=None, next_progress_at=None)
    rule = workflow.ACTIONS["rate"]
    c = Change(t, COMMUNE, SETTINGS.feedback, NOW, rating=4)
    workflow.apply(rule, c)
    assert (t.status, t.rating, t.closed_at, c.tell) == ("closed", 4, NOW, None)

    c = Change(t, COMMUNE, SETTINGS.feedback, NOW)
    workflow.apply(workflow.ACTIONS["reopen"], c)
    assert (t.status, t.reopened, c.tell) == ("in_progress", 1, "reopened")
    assert t.answered_at is None and t.closed_at is None and t.rating is None
    assert t.due_at > NOW and t.overdue_at is None  # a new deadline, the escalation reset
    assert t.warn_at is not None and t.next_progress_at is not None  # the clock runs again


# -- through the staff API ------------------------------------------------------------------
@pytest.fixture
async def api(store_url, sim):
    offices = {"offices": [{"code": "vanphong", "name": "Văn phòng UBND"}]}
    running = await start_service(make_settings(store_url, sim, commune_extra=offices), sim)
    async with aiohttp.ClientSession() as http:

        async def call(key, method, path, json=None):
            url = f"{running.url}/api/v1/communes/{commune_code(1)}{path}"
            headers = {"Authorization": f"Bearer {key}"}
            async with http.request(method, url, json=json, headers=headers) as r:
                return r.status, await r.json()

        async def hire(role: str, village: str | None = None) -> str:
            async with running.services.sm() as s, s.begin():
                _, key = await add_staff(s, commune_code(1), role, role, village, None, None)
            return key

        yield call, hire
    await running.runner.cleanup()


async def test_the_api_answers_with_the_tables_codes_and_texts(api):
    call, hire = api
    officer, propagandist = await hire("officer"), await hire("propagandist", "Nậm Mòn")
    got, body = await call(
        officer,
        "POST",
        "/tickets",
        {"category": "road", "description": "Ổ gà trước nhà văn hóa", "village": "Nậm Mòn"},
    )
    assert got == 201 and body["status"] == "received"
    code = body["code"]

    expected = [
        (officer, "fly", None, 404, "không có thao tác này / action: one of "),
        (propagandist, "answer", {"note": "x"}, 403, "vai trò này không được làm việc này"),
        (officer, "close", None, 409, "không thể close khi phản ánh đang 'received'"),
        (officer, "return", {"note": " "}, 400, "note: cần lý do trả lại / note is required"),
    ]
    for key, action, data, status, text in expected:
        got, body = await call(key, "POST", f"/tickets/{code}/{action}", data)
        assert (got, body["error"][: len(text)]) == (status, text), action

    got, body = await call(propagandist, "POST", f"/tickets/{code}/note", {"note": "đã ra xem"})
    assert got == 200 and body["status"] == "received"
    got, body = await call(officer, "POST", f"/tickets/{code}/answer", {"note": "Đã vá."})
    assert got == 200 and body["status"] == "answered"
    _, body = await call(officer, "GET", f"/tickets/{code}")
    assert [(h["action"], h["from"], h["to"]) for h in body["history"]] == [
        ("create", None, "received"),
        ("note", "received", "received"),
        ("answer", "received", "answered"),
    ]
