"""The report as tables, in one place for every format (CSV sections, XLSX sheets, HTML
tables): titles and column names through Babel (Vietnamese first), each cell a plain value whose
column says how to show it. Numbers in Vietnamese form (1.234; 66,7 %), dates dd/mm/yyyy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.numbers import format_decimal, format_percent

from bot import admin_units
from bot.categories import CATEGORIES as TICKET_CATEGORIES
from bot.channels.zalo.oauth import TOKEN_STATES
from bot.console.notices import PRIORITY_NAMES, ROUTE_NAMES
from bot.health import STATES as OA_STATE_NAMES
from bot.i18n import N_, _
from bot.notices.workflow import CATEGORIES as NOTICE_CATEGORIES
from bot.report.figures import CommuneReport, Feedback, Report
from bot.report.targets import Target, targets
from bot.timeutil import to_vn

#: how a column's cells are shown
TEXT, INT, PCT, NUM, MET = "text", "int", "pct", "num", "met"
LOCALE = "vi"
UNKNOWN = N_("không có dữ liệu")
ROUTES = ("consultation", "broadcast", "relay", "skipped")
assert set(TOKEN_STATES) == set(OA_STATE_NAMES)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = INT


@dataclass(frozen=True)
class Chart:
    """A bar chart of some of a table's columns (the total row left out): ``per_row``, a group
    of stacked bars per row labelled by its second cell (the commune's name); else one
    horizontal bar per column, its sum over the rows (long names: notices' categories)."""

    title: str
    columns: tuple[int, ...]
    per_row: bool = True


@dataclass(frozen=True)
class Table:
    key: str  # the XLSX sheet's short name (≤ 31 characters) and the CSV section's id
    title: str
    columns: Sequence[Column]
    rows: list[list[Any]]
    #: the last row sums the others (shown bold)
    total: bool = False
    charts: tuple[Chart, ...] = ()

    @property
    def body(self) -> list[list[Any]]:
        """The rows without the total."""
        return self.rows[:-1] if self.total else self.rows


def vn_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def show(value: Any, kind: str) -> str:
    """A cell as text: Vietnamese numbers, unknown said as such."""
    if kind == MET:
        return _(UNKNOWN) if value is None else _("Đạt") if value else _("Chưa đạt")
    if value is None:
        return "" if kind == TEXT else _(UNKNOWN)
    if kind == INT:
        return format_decimal(value, locale=LOCALE)
    if kind == PCT:
        return format_percent(value, "#,##0.0 %", locale=LOCALE)
    if kind == NUM:
        return format_decimal(value, "#,##0.0#", locale=LOCALE)
    return str(value)


def _ratio(a: int, b: int | None) -> float | None:
    return a / b if b else None


def _feedback_cells(f: Feedback) -> list[Any]:
    return [
        f.received,
        f.answered,
        f.mobile,
        f.on_time,
        f.late,
        f.overdue,
        _ratio(f.on_time, f.on_time + f.late + f.overdue),
        f.mean_rating,
    ]


FEEDBACK_COLUMNS = (
    Column(N_("Phản ánh nhận")),
    Column(N_("Đã trả lời")),
    Column(N_("Qua di động")),
    Column(N_("Đúng hạn")),
    Column(N_("Trễ hạn")),
    Column(N_("Quá hạn (chưa xử lý)")),
    Column(N_("Tỷ lệ đúng hạn"), PCT),
    Column(N_("Điểm đánh giá trung bình"), NUM),
)


def _summary_cells(c: CommuneReport) -> list[Any]:
    t = c.tickets
    return [
        c.notices,
        c.source_notices,
        c.reached,
        c.followers,
        c.reach_of_followers,
        c.households,
        c.reach_of_households,
        c.traffic.messages,
        c.traffic.answered,
        c.traffic.missed,
        *_feedback_cells(t),
        len(c.villages),
        c.villages_covered,
        c.relays,
        c.relays_confirmed,
        _ratio(c.relays_confirmed, c.relays),
    ]


def _summary(report: Report) -> Table:
    columns = [
        Column(N_("Mã xã"), TEXT),
        Column(N_("Xã, phường"), TEXT),
        Column(N_("Thông báo đã gửi")),
        Column(N_("Thông báo từ hệ thống nguồn")),
        Column(N_("Người dân được tiếp cận")),
        Column(N_("Người quan tâm OA")),
        Column(N_("Tiếp cận / người quan tâm"), PCT),
        Column(N_("Số hộ")),
        Column(N_("Tiếp cận / số hộ"), PCT),
        Column(N_("Câu hỏi của người dân")),
        Column(N_("Câu hỏi được trả lời")),
        Column(N_("Câu hỏi bỏ lỡ")),
        *FEEDBACK_COLUMNS,
        Column(N_("Số thôn")),
        Column(N_("Thôn có tuyên truyền viên")),
        Column(N_("Lượt chuyển tiếp")),
        Column(N_("Chuyển tiếp đã xác nhận")),
        Column(N_("Tỷ lệ xác nhận"), PCT),
        Column(N_("Zalo OA"), TEXT),
        Column(N_("Trạng thái kết nối"), TEXT),
        Column(N_("OA hoạt động tốt"), MET),
    ]
    rows = [
        [
            c.code,
            c.name,
            *_summary_cells(c),
            c.oa_id,
            _(OA_STATE_NAMES[c.oa_state]),
            c.oa_healthy,
        ]
        for c in report.communes
    ]
    total = report.scope == "province" and len(report.communes) > 0
    if total:
        sums = CommuneReport(0, "", "")
        for c in report.communes:
            sums.notices += c.notices
            sums.source_notices += c.source_notices
            sums.reached += c.reached
            sums.followers += c.followers
            sums.traffic += c.traffic
            sums.villages.extend(c.villages)
            for cat, f in c.feedback.items():
                sums.feedback.setdefault(cat, Feedback())
                sums.feedback[cat] += f
        healthy = sum(1 for c in report.communes if c.oa_healthy)
        rows.append(
            [
                "",
                _("Toàn tỉnh"),
                *_summary_cells(sums),
                str(sum(1 for c in report.communes if c.oa_id)),
                "",
                healthy == len(report.communes),
            ]
        )
    at = {c.name: i for i, c in enumerate(columns)}
    charts = (
        Chart(
            _("Câu hỏi của người dân: được trả lời và bỏ lỡ"),
            (at["Câu hỏi được trả lời"], at["Câu hỏi bỏ lỡ"]),
        ),
        Chart(
            _("Phản ánh theo hạn xử lý"),
            (at["Đúng hạn"], at["Trễ hạn"], at["Quá hạn (chưa xử lý)"]),
        ),
    )
    return Table("tong-hop", _("Tổng hợp theo xã"), columns, rows, total, charts)


def _by(report: Report, key: str, title: str, names: dict[str, str], attr: str) -> Table:
    seen = {k for c in report.communes for k in getattr(c, attr)}
    keys = [k for k in names if k in seen] + sorted(seen - set(names))
    columns = [
        Column(N_("Mã xã"), TEXT),
        Column(N_("Xã, phường"), TEXT),
        *[Column(names.get(k) or k) for k in keys],
        Column(N_("Tổng")),
    ]
    rows: list[list[Any]] = []
    for c in report.communes:
        counts = getattr(c, attr)
        rows.append([c.code, c.name, *[counts[k] for k in keys], sum(counts.values())])
    total = report.scope == "province" and len(rows) > 0
    if total:
        rows.append(
            ["", _("Toàn tỉnh"), *[sum(r[i] for r in rows) for i in range(2, len(keys) + 3)]]
        )
    chart = Chart(title, tuple(range(2, len(keys) + 2)), per_row=False)
    return Table(key, title, columns, rows, total, (chart,) if keys else ())


def _relays(report: Report) -> Table:
    columns = [
        Column(N_("Mã xã"), TEXT),
        Column(N_("Xã, phường"), TEXT),
        Column(N_("Thôn, tổ dân phố"), TEXT),
        Column(N_("Số hộ")),
        Column(N_("Tuyên truyền viên đang hoạt động")),
        Column(N_("Lượt chuyển tiếp")),
        Column(N_("Đã xác nhận")),
        Column(N_("Tỷ lệ xác nhận"), PCT),
    ]
    rows = [
        [c.code, c.name, v.name, v.households, v.propagandists, v.relays, v.confirmed,
         v.confirm_rate]
        for c in report.communes
        for v in c.villages
    ]  # fmt: skip
    return Table("chuyen-tiep", _("Chuyển tiếp qua tuyên truyền viên, theo thôn"), columns, rows)


def _feedback(report: Report) -> Table:
    columns = [
        Column(N_("Mã xã"), TEXT),
        Column(N_("Xã, phường"), TEXT),
        Column(N_("Lĩnh vực"), TEXT),
        *FEEDBACK_COLUMNS,
    ]

    def name(category: str) -> str:
        found = TICKET_CATEGORIES.get(category)
        return _(found.name) if found else category

    order = list(TICKET_CATEGORIES)

    def ordered(cats: dict[str, Feedback]) -> list[str]:
        return sorted(cats, key=lambda k: (order.index(k) if k in order else len(order), k))

    rows = [
        [c.code, c.name, name(cat), *_feedback_cells(c.feedback[cat])]
        for c in report.communes
        for cat in ordered(c.feedback)
    ]
    total = report.scope == "province" and len(rows) > 0
    if total:
        every = report.feedback
        rows += [
            ["", _("Toàn tỉnh"), name(cat), *_feedback_cells(every[cat])] for cat in ordered(every)
        ]
    return Table("phan-anh", _("Phản ánh, kiến nghị theo lĩnh vực"), columns, rows, False)


def _targets(found: list[Target]) -> Table:
    columns = [
        Column(N_("Chỉ tiêu"), TEXT),
        Column(N_("Cách tính"), TEXT),
        Column(N_("Đạt"), INT),
        Column(N_("Trên tổng"), INT),
        Column(N_("Giá trị"), PCT),
        Column(N_("Yêu cầu"), PCT),
        Column(N_("Kết quả"), MET),
    ]
    rows = [[_(t.name), _(t.rule), t.done, t.of, t.value, t.needed, t.met] for t in found]
    return Table("chi-tieu", _("Chỉ tiêu của tỉnh"), columns, rows)


def tables(report: Report) -> list[Table]:
    """Every table of the report, in the order shown (call under the wanted language)."""
    return [
        _targets(targets(report)),
        _summary(report),
        _by(report, "tb-linh-vuc", _("Thông báo theo lĩnh vực"), NOTICE_CATEGORIES, "categories"),
        _by(report, "tb-muc-do", _("Thông báo theo mức độ"), PRIORITY_NAMES, "priorities"),
        _by(
            report,
            "tb-hinh-thuc",
            _("Lượt gửi thông báo theo hình thức"),
            {k: ROUTE_NAMES[k] for k in ROUTES},
            "routes",
        ),
        _relays(report),
        _feedback(report),
    ]


def heading(report: Report) -> dict[str, str]:
    """The report's title lines."""
    w = report.window
    if report.scope == "province":
        province = admin_units.get_province(report.code)
        scope = _("{name} (mã {code}, {n} xã, phường)").format(
            name=province.name if province else report.code,
            code=report.code,
            n=len(report.communes),
        )
    else:
        name = report.communes[0].name if report.communes else report.code
        scope = _("{name} (mã {code})").format(name=name, code=report.code)
    return {
        "title": _("Báo cáo công tác thông tin cơ sở"),
        "scope": scope,
        "period": _("Kỳ báo cáo: từ {first} đến {last}").format(
            first=vn_date(w.first), last=vn_date(w.last)
        ),
        "made": _("Lập lúc {time} (giờ Việt Nam); trạng thái OA tính tại thời điểm lập").format(
            time=to_vn(report.now).strftime("%d/%m/%Y %H:%M")
        ),
    }
