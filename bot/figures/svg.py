"""Charts as SVG markup: bars, stacked bars and a line — small, ours, and safe inline.

Why not matplotlib (measured with matplotlib 3.11 on the 2-core machine, the same 30-day
stacked chart, docs/console-dashboard.md): it is not a dependency of the service; its SVG
carries a ``<style>`` element and 81 ``style=`` attributes, which the console's
Content-Security-Policy (``style-src 'self'``) blocks, so the chart would lose its colours; it
has a fixed size in points and its text drawn as paths (not readable, not scaled for 375 px);
and it took a median 192 ms a chart (SVG, 40 KB; PNG 190 ms) against 0.44 ms (7.6 KB) here.
The yearly report's PNGs can rasterise these same SVGs, or use matplotlib there, where no CSP
applies and time matters less.

Every chart: ``viewBox`` and ``width="100%"`` (scales to the column, no sideways scroll), a
``role="img"`` with ``aria-labelledby`` its ``<title>`` and ``<desc>``, colours and sizes as
presentation attributes only, every text escaped. The numbers themselves are for the page's
table beside the chart (the reader who cannot see the chart reads the table).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 360
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 40
FONT = 13
#: colours that keep 3:1 against white and against each other's neighbours
PALETTE = ("#0b5cad", "#d97706", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41")
GRID = "#d5dbe1"
INK = "#1b1f24"
MUTED = "#56616d"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str = ""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice_max(top: float) -> float:
    """A round axis top at or above ``top`` (1, 2, 4, 6, 8 × 10ⁿ, at least 2) whose half is
    a whole number too: counts are never shown as 2.5."""
    top = max(top, 2)
    step = 10 ** (len(str(int(top))) - 1)
    for m in (1, 2, 4, 6, 8, 10):
        if m * step >= top:
            return float(m * step)
    return float(10 * step)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _open(title: str, desc: str, height: int) -> tuple[str, list[str]]:
    uid = f"ch{next(_ids)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{uid}-t {uid}-d" class="chart" '
        f'font-family="system-ui, sans-serif" font-size="{FONT}">',
        f'<title id="{uid}-t">{_e(title)}</title><desc id="{uid}-d">{_e(desc)}</desc>',
    ]
    return uid, parts


def _axis(parts: list[str], top: float, height: int) -> None:
    """Horizontal grid lines with their values (0, half, top)."""
    plot = height - TOP - BOTTOM
    for frac in (0, 0.5, 1):
        y = TOP + plot * (1 - frac)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{_e(_fmt(top * frac))}</text>"
        )


def _labels(parts: list[str], labels: Sequence[str], xs: Sequence[float], height: int) -> None:
    """At most ~7 labels under the axis (every n-th), so they never overlap at 375 px."""
    if not labels:
        return
    every = max(1, -(-len(labels) // 7))
    for i in range(0, len(labels), every):
        parts.append(
            f'<text x="{xs[i]:.1f}" y="{height - BOTTOM + 14}" text-anchor="middle" '
            f'fill="{MUTED}">{_e(labels[i])}</text>'
        )


def _legend(parts: list[str], series: Sequence[Series], height: int) -> None:
    x = LEFT
    for i, one in enumerate(series):
        colour = one.colour or PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{height - 12}" width="10" height="10" fill="{_e(colour)}"/>'
            f'<text x="{x + 14}" y="{height - 3}" fill="{INK}">{_e(one.name)}</text>'
        )
        x += 24 + int(len(one.name) * FONT * 0.55)


def bars(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = True,
    height: int = HEIGHT,
) -> str:
    """Vertical bars, one group per label: the series stacked (or side by side)."""
    _, parts = _open(title, desc, height)
    n = max(1, len(labels))
    if stacked:
        top = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        top = max((v for s in series for v in s.values), default=0)
    top = _nice_max(top)
    _axis(parts, top, height)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.75)
    xs = [LEFT + slot * (i + 0.5) for i in range(n)]
    for i in range(len(labels)):
        base = 0.0
        for k, one in enumerate(series):
            value = float(one.values[i])
            if value <= 0:
                continue
            colour = one.colour or PALETTE[k % len(PALETTE)]
            h = plot_h * value / top
            if stacked:
                x, w = xs[i] - bar_w / 2, bar_w
                y = TOP + plot_h - plot_h * base / top - h
                base += value
            else:
                w = bar_w / len(series)
                x, y = xs[i] - bar_w / 2 + k * w, TOP + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{_e(colour)}"><title>{_e(labels[i])} · {_e(one.name)}: '
                f"{_e(_fmt(value))}</title></rect>"
            )
    _labels(parts, labels, xs, height)
    _legend(parts, series, height)
    parts.append("</svg>")
    return "".join(parts)


def line(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    height: int = HEIGHT,
    top: float | None = None,
) -> str:
    """One polyline per series over the labels (``top``: the axis's top, e.g. 100 for %)."""
    _, parts = _open(title, desc, height)
    n = max(1, len(labels))
    highest = max((max(s.values, default=0) for s in series), default=0)
    axis_top = top if top is not None else _nice_max(highest)
    _axis(parts, axis_top, height)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    step = plot_w / max(1, n - 1) if n > 1 else 0
    xs = [LEFT + step * i if n > 1 else LEFT + plot_w / 2 for i in range(n)]
    for k, one in enumerate(series):
        colour = one.colour or PALETTE[k % len(PALETTE)]
        points = " ".join(
            f"{xs[i]:.1f},{TOP + plot_h - plot_h * float(v) / axis_top:.1f}"
            for i, v in enumerate(one.values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_e(colour)}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
    _labels(parts, labels, xs, height)
    _legend(parts, series, height)
    parts.append("</svg>")
    return "".join(parts)


def hbars(
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    colour: str | Sequence[str] = PALETTE[0],
) -> str:
    """Horizontal bars, one per label (states, questions): the label above its bar, so long
    Vietnamese words have the whole width. ``colour``: one for all, or one per bar."""
    colours = [colour] * len(labels) if isinstance(colour, str) else list(colour)
    row = FONT + 22
    height = max(1, len(labels)) * row + 8
    _, parts = _open(title, desc, height)
    top = max(values, default=0) or 1
    span = WIDTH - 8 - 40
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        w = span * float(value) / top
        parts.append(
            f'<text x="0" y="{y + FONT}" fill="{INK}">{_e(label)}</text>'
            f'<rect x="0" y="{y + FONT + 4}" width="{max(w, 1 if value else 0):.1f}" '
            f'height="12" fill="{_e(colours[i])}"/>'
            f'<text x="{w + 4:.1f}" y="{y + FONT + 15}" fill="{MUTED}">{_e(_fmt(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
