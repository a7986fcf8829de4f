"""The report's tables (``tables.tables``) written as CSV, XLSX or a printable HTML page.

- CSV: one UTF-8 file (with a BOM, so Excel reads Vietnamese letters), every table a section:
  a line with the table's title, its column names, its rows, then an empty line. Numbers as
  written in Vietnam (1.234; 66,7 %) like the other formats — the file is read by people;
  a cell that would start a formula is guarded (``knowledge.io.guard``).
- XLSX (openpyxl): a sheet per table, numbers as numbers (with a number format), the title
  lines on top, the total row bold, the table's bar charts as native Excel charts beside it.
- HTML (Jinja2, autoescaped, no script): the title lines, each table, each chart as inline SVG
  (``figures.svg``) with its PNG (``report.png``) to download, print CSS (A4 landscape, tables
  not cut across pages where avoidable).
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot.figures import svg
from bot.i18n import _
from bot.knowledge.io import guard
from bot.report import png
from bot.report.figures import Report
from bot.report.tables import INT, MET, NUM, PCT, TEXT, Chart, Table, heading, show, tables

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _series(table: Table, chart: Chart) -> tuple[list[str], list[svg.Series]]:
    """A per-row chart's labels (the communes) and series (the columns)."""
    labels = [str(row[1]) for row in table.body]
    series = [
        svg.Series(_(table.columns[i].name), [float(row[i] or 0) for row in table.body])
        for i in chart.columns
    ]
    return labels, series


def _sums(table: Table, chart: Chart) -> tuple[list[str], list[float]]:
    """A totals chart's labels (the columns) and values (their sums over the rows)."""
    return (
        [_(table.columns[i].name) for i in chart.columns],
        [float(sum(row[i] or 0 for row in table.body)) for i in chart.columns],
    )


def _drawn(table: Table, chart: Chart) -> dict[str, Any]:
    """The chart as inline SVG (ours: every text escaped, presentation attributes only) and
    the same as PNG, with the numbers said in its description."""
    if chart.per_row:
        labels, series = _series(table, chart)
        desc = "; ".join(
            f"{label}: " + ", ".join(f"{s.name} {show(int(s.values[i]), INT)}" for s in series)
            for i, label in enumerate(labels)
        )
        drawn = svg.bars(chart.title, desc, labels, series)
        picture = png.bars(chart.title, labels, series)
    else:
        names, values = _sums(table, chart)
        desc = "; ".join(f"{n}: {show(int(v), INT)}" for n, v in zip(names, values, strict=True))
        drawn = svg.hbars(chart.title, desc, names, values)
        picture = png.hbars(chart.title, names, values)
    return {
        "title": chart.title,
        "svg": Markup(drawn),  # noqa: S704 (figures/svg.py escapes every text)
        "png": "data:image/png;base64," + base64.b64encode(picture).decode(),
    }


def write_csv(report: Report) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    head = heading(report)
    for line in head.values():
        w.writerow([guard(line)])
    w.writerow([])
    for table in tables(report):
        w.writerow([f"# {table.title}"])
        w.writerow([_(c.name) for c in table.columns])
        for row in table.rows:
            w.writerow([guard(show(v, c.kind)) for v, c in zip(row, table.columns, strict=True)])
        w.writerow([])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _excel(value: Any, kind: str) -> Any:
    if kind == MET or (value is None and kind != TEXT):
        return show(value, kind)
    if kind == TEXT:
        return guard(str(value)) if value is not None else ""
    return value


FORMATS_XLSX = {INT: "#,##0", PCT: "0.0%", NUM: "0.00"}


def write_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    head = list(heading(report).values())
    for table in tables(report):
        sheet = book.create_sheet(table.key)
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True, size=14)
        for line in head:
            sheet.append([line])
        sheet.append([])
        first = sheet.max_row + 1
        sheet.append([_(c.name) for c in table.columns])
        for cell in sheet[first]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_excel(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
            for cell, col in zip(sheet[sheet.max_row], table.columns, strict=True):
                if col.kind in FORMATS_XLSX and isinstance(cell.value, int | float):
                    cell.number_format = FORMATS_XLSX[col.kind]
        if table.total and table.rows:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        for i, col in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = max(
                12, min(40, len(_(col.name)) + 2)
            )
        sheet.freeze_panes = sheet.cell(row=first + 1, column=3)
        last = first + len(table.body)
        anchor_row = sheet.max_row + 2
        for chart in table.charts:
            if not table.body:
                break
            bar = BarChart()
            bar.title = chart.title
            if chart.per_row:  # a stacked column per commune
                bar.type, bar.grouping, bar.overlap = "col", "stacked", 100
                for i in chart.columns:
                    data = Reference(sheet, min_col=i + 1, min_row=first, max_row=last)
                    bar.add_data(data, titles_from_data=True)
                bar.set_categories(Reference(sheet, min_col=2, min_row=first + 1, max_row=last))
            else:  # a bar per column: the province's (or commune's) row of sums
                bar.type = "bar"
                row = sheet.max_row if table.total else first + 1
                lo, hi = min(chart.columns) + 1, max(chart.columns) + 1
                bar.add_data(Reference(sheet, min_col=lo, max_col=hi, min_row=row), from_rows=True)
                bar.set_categories(Reference(sheet, min_col=lo, max_col=hi, min_row=first))
                bar.legend = None
            bar.height, bar.width = 8, 18
            sheet.add_chart(bar, f"A{anchor_row}")
            anchor_row += 18
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_html(report: Report) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    shown = []
    for table in tables(report):
        figures = [
            {**_drawn(table, chart), "png_name": f"{table.key}-{n}.png"}
            for n, chart in enumerate(table.charts, start=1)
            if table.body
        ]
        shown.append(
            {
                "key": table.key,
                "title": table.title,
                "columns": [(_(c.name), c.kind != TEXT) for c in table.columns],
                "rows": [
                    [show(v, c.kind) for v, c in zip(row, table.columns, strict=True)]
                    for row in table.rows
                ],
                "total": table.total,
                "figures": figures,
            }
        )
    return env.get_template("report.html").render(
        head=heading(report),
        tables=shown,
        empty=_("Không có số liệu"),
        png_label=_("Tải ảnh PNG"),
        lang="vi",
    )


def write(report: Report, fmt: str) -> bytes:
    if fmt == "csv":
        return write_csv(report)
    if fmt == "xlsx":
        return write_xlsx(report)
    if fmt == "html":
        return write_html(report).encode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")
