"""A bar chart as a PNG (Pillow), the same chart as ``figures.svg.bars``: for pasting into a
Word report or a slide, where an SVG does not go. Pillow rather than matplotlib: one small
wheel, no font cache or backend set-up, and the chart is a few rectangles and labels. Text in
DejaVu Sans when the system has it (Vietnamese letters), else Pillow's own font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.figures.svg import GRID, INK, MUTED, PALETTE, Series, _nice_max

FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
W, H = 960, 480
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 50, 90


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def bars(
    title: str, labels: Sequence[str], series: Sequence[Series], stacked: bool = True
) -> bytes:
    """Vertical bars, a group per label, the series stacked (or side by side); PNG bytes."""
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.text((LEFT, 12), title, fill=INK, font=_font(20))
    n = max(1, len(labels))
    if stacked:
        top = max((sum(float(s.values[i]) for s in series) for i in range(len(labels))), default=0)
    else:
        top = max((float(v) for s in series for v in s.values), default=0)
    top = _nice_max(top)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        d.line((LEFT, y, W - RIGHT, y), fill=GRID, width=1)
        d.text((LEFT - 8, y), f"{top * frac:.0f}", fill=MUTED, font=_font(14), anchor="rm")
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)
    every = max(1, -(-len(labels) // 12))
    for i, label in enumerate(labels):
        x = LEFT + slot * (i + 0.5)
        base = 0.0
        for k, one in enumerate(series):
            value = float(one.values[i])
            if value <= 0:
                continue
            colour = one.colour or PALETTE[k % len(PALETTE)]
            h = plot_h * value / top
            if stacked:
                x0, w = x - bar_w / 2, bar_w
                y0 = TOP + plot_h - plot_h * base / top - h
                base += value
            else:
                w = bar_w / len(series)
                x0, y0 = x - bar_w / 2 + k * w, TOP + plot_h - h
            d.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        if i % every == 0:
            short = label if len(label) <= 18 else label[:17] + "…"
            d.text((x, H - BOTTOM + 8), short, fill=MUTED, font=_font(13), anchor="ma")
    x = LEFT
    for k, one in enumerate(series):
        colour = one.colour or PALETTE[k % len(PALETTE)]
        d.rectangle((x, H - 28, x + 14, H - 14), fill=colour)
        d.text((x + 20, H - 21), one.name, fill=INK, font=_font(14), anchor="lm")
        x += 40 + int(d.textlength(one.name, font=_font(14)))
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def hbars(title: str, labels: Sequence[str], values: Sequence[float]) -> bytes:
    """Horizontal bars, one per label, the label above its bar (as ``figures.svg.hbars``)."""
    row = 46
    img = Image.new("RGB", (W, 50 + max(1, len(labels)) * row), "white")
    d = ImageDraw.Draw(img)
    d.text((20, 12), title, fill=INK, font=_font(20))
    top = max(values, default=0) or 1
    span = W - 40 - 80
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 50 + i * row
        w = span * float(value) / top
        d.text((20, y), label, fill=INK, font=_font(14))
        if value:
            d.rectangle((20, y + 20, 20 + max(w, 1), y + 36), fill=PALETTE[0])
        d.text((28 + w, y + 28), f"{value:.0f}", fill=MUTED, font=_font(14), anchor="lm")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
