"""The dashboard's figures (bot/figures/) over a seeded data set (tests/dashboard_data.py) whose
numbers are worked out by hand below, on SQLite and PostgreSQL: Vietnamese-day bucketing on
both sides of midnight and at the window's edges, missed and unsure turns as the questions
screen counts them, tickets on time, late and overdue (a reopened one), notices' reach; another
commune's rows never count."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.figures import queries, svg
from bot.figures.queries import OnTime, Question, Reach, Traffic
from bot.figures.window import Window, vn_day
from bot.store.db import create_engine, sessionmaker
from bot.store.migrate import upgrade
from bot.store.models import Commune, Message
from tests.dashboard_data import HOURS, NASTY, NOW, seed, vn


@pytest.fixture
async def store(store_url):
    engine = create_engine(store_url)
    await upgrade(engine)
    sm = sessionmaker(engine)
    async with sm() as s, s.begin():
        ids = []
        for n in (1, 2, 3):
            row = Commune(code=f"9900{n}", name=f"Xã {n}", province_code="15")
            s.add(row)
            await s.flush()
            ids.append(row.id)
        await seed(s, *ids)
    yield sm, ids
    await engine.dispose()


def d(day: int) -> date:
    return date(2026, 11, day)


def test_the_window_is_vietnamese_days():
    w = Window.last_days(7, NOW)
    assert (w.first, w.last, w.days) == (d(14), d(20), 7)
    assert w.start == vn(14, 0) and w.end == vn(21, 0)
    assert w.start.hour == 17  # 00:00 in Vietnam is 17:00 UTC the day before
    assert Window.chosen("90", NOW).days == 90
    assert Window.chosen("8", NOW).days == 30 and Window.chosen("x", NOW).days == 30
    assert Window.chosen(None, NOW).first == d(20) - timedelta(days=29)


async def test_the_figures_by_hand(store):
    sm, (a, b, c) = store
    week = Window.last_days(7, NOW)
    async with sm() as s:
        found = await queries.figures(s, [a, b], week, NOW)
    assert set(found.communes) == {a, b}  # c never asked for, never counted
    one, two = found.communes[a], found.communes[b]

    # messages: 23:30 on the 18th is the 18th's; 00:30 on the 19th (the same UTC date) the
    # 19th's; 00:00 on the 14th opens the window; 23:30 on the 13th and 00:10 on the 21st
    # (UTC: the 20th) are outside; the bot's own message is not a resident's
    assert one.days == {d(14): Traffic(1, 0), d(18): Traffic(1, 0), d(19): Traffic(4, 2)}
    assert two.days == {d(20): Traffic(2, 1)}
    assert one.traffic == Traffic(6, 2) and one.traffic.answered == 4
    assert found.total.traffic == Traffic(8, 3)
    series = found.series(found.total)
    assert [day for day, _t in series] == [d(n) for n in range(14, 21)]
    assert [t.messages for _d, t in series] == [1, 0, 0, 0, 1, 4, 2]

    # top questions: folded by accents and case, "ok" and "1" are not questions; the
    # resident's words as written (escaping is the page's); ties by their key
    assert found.questions == [
        Question(HOURS, 4, 1),
        Question(NASTY, 1, 1),
        Question("đăng ký khai sinh", 1, 1),
    ]

    # tickets received in the window by state now (the one received on the 10th is not)
    assert one.states == Counter(answered=2, closed=1, in_progress=2, received=2)
    assert two.states == Counter(answered=1)
    # due in the window: answered by the deadline (2), returned before it, answered early
    # though due later today → on time; answered after → late (closing later changes
    # nothing); open past it, also the reopened one → overdue; open and due later today, or
    # due after the window → not judged
    assert one.deadlines == OnTime(on_time=3, late=1, overdue=2)
    assert one.deadlines.rate == 0.5
    assert two.deadlines == OnTime(late=1)
    assert found.total.deadlines.rate == pytest.approx(3 / 7)

    # notices sent in the window (not the one of the 10th, nor a draft): reached directly by
    # a consultation message sent, or the broadcast route once the article went out
    assert one.notices == Reach(
        notices=1, planned=4, reached=2, seen=1, relays=2, relays_confirmed=1
    )
    assert two.notices == Reach(notices=1, planned=1)  # its broadcast out of quota
    assert found.total.notices == Reach(2, 5, 2, 1, 2, 1)


async def test_a_longer_window_and_a_commune_alone(store):
    sm, (a, b, c) = store
    month = Window.last_days(30, NOW)
    async with sm() as s:
        found = await queries.figures(s, [a], month, NOW)
        nobody = await queries.figures(s, [], month, NOW)
        quiet = await queries.figures(s, [c], Window.last_days(7, vn(1, 12)), vn(1, 12))
    one = found.communes[a]
    # 23:30 on the 13th now counts, on the 13th
    assert one.days[d(13)] == Traffic(1, 0) and one.traffic == Traffic(7, 2)
    assert one.states["returned"] == 1  # received on the 10th
    assert one.notices.notices == 2 and one.notices.reached == 3
    assert found.questions[0] == Question(HOURS, 4, 1)  # b's is not a's
    assert nobody.communes == {} and nobody.questions == []
    assert quiet.communes[c].traffic == Traffic() and quiet.total.deadlines.rate is None


async def test_one_place_buckets_days_on_both_databases(store):
    sm, (a, _b, _c) = store
    async with sm() as s:
        rows = await s.execute(
            select(Message.text, vn_day(Message.created_at))
            .where(Message.commune_id == a, Message.direction == "in")
            .order_by(Message.created_at)
        )
        days = [(text, str(day)[:10]) for text, day in rows]
    assert days[0] == (HOURS, "2026-11-13")  # 16:30 UTC on the 13th
    assert days[2] == (HOURS, "2026-11-18") and days[3] == (HOURS, "2026-11-19")
    assert days[-1] == (HOURS, "2026-11-21")  # 17:10 UTC on the 20th


def test_charts_are_accessible_scalable_and_escaped():
    chart = svg.bars(
        "Tin <nhắn>",
        "mô tả & số",
        ["19/11", "20/11"],
        [svg.Series("Đã trả lời", [3, 1]), svg.Series("<b>", [1, 0])],
    )
    assert chart.startswith("<svg") and 'viewBox="0 0 360 200"' in chart
    assert 'width="100%"' in chart and 'role="img"' in chart and "aria-labelledby" in chart
    assert "<title" in chart and "<desc" in chart
    assert "Tin &lt;nhắn&gt;" in chart and "mô tả &amp; số" in chart and "<b>" not in chart
    assert "style" not in chart and "<script" not in chart
    assert chart.count("<rect") == 3 + 2  # the bars with a value, and the legend's keys
    many = svg.bars("t", "d", [f"{n:02d}/11" for n in range(1, 31)], [svg.Series("x", [1] * 30)])
    assert many.count("/11</text>") <= 8  # labels thinned so they never overlap on a phone
    assert "fill=" in svg.hbars("t", "d", ["<a>"], [2]) and "&lt;a&gt;" in svg.hbars(
        "t", "d", ["<a>"], [2]
    )
    assert "<polyline" in svg.line("t", "d", ["a", "b"], [svg.Series("x", [1, 2])], top=100)
