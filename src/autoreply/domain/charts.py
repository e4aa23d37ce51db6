"""Charts as inline SVG, drawn on the server (pure): no script, no library, no network.

Each function returns one ``<svg>`` element as text, every piece of text escaped, sized by
its ``viewBox`` (it scales to the width of its box: about 1:1 on a 390 px phone, larger on
a desktop). Styling is by presentation attributes only (the rep pages' Content Security
Policy forbids inline ``style=``). Each chart is an image with a ``<title>`` and a
``<desc>`` (the figures in words) for screen readers; the page adds a table of the same
values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Point", "bar_chart", "funnel_chart", "line_chart", "nice_top"]

WIDTH = 360
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 18, 30
INK, MUTED, GRID, BAR, ACCENT = "#1f2933", "#627d98", "#d9e2ec", "#0b3d91", "#d68910"
_MAX_LABELS = 9


@dataclass(frozen=True)
class Point:
    """One bar or point: its axis label, value (None: no data), and the value as shown."""

    label: str
    value: float | None
    text: str = ""


def _fmt(number: float) -> str:
    """A coordinate with at most one decimal (short, stable output)."""
    rounded = round(number, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)


def _open(chart_id: str, title: str, summary: str, height: int) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{cid}-t {cid}-d" '
        f'font-size="12" fill="{INK}">',
        f'<title id="{cid}-t">{escape(title)}</title>',
        f'<desc id="{cid}-d">{escape(summary)}</desc>',
    ]


def nice_top(value: float) -> float:
    """The axis top for a largest value: the next round number (1, 1.2, 1.5, 2, 2.5, 3, 4,
    5, 6 or 8 times a power of ten) at or above 110% of it (room for the value written
    above a bar).

    >>> nice_top(130), nice_top(12.4), nice_top(0.5), nice_top(0)
    (150.0, 15.0, 0.6, 1.0)
    """
    if value <= 0:
        return 1.0
    target = value * 1.1
    power = 10.0 ** math.floor(math.log10(target))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * power >= target - 1e-9:
            return round(step * power, 12)
    return 10.0 * power


def _scale_top(points: Sequence[Point], top: float | None) -> float:
    if top is not None and top > 0:
        return top
    values = [p.value for p in points if p.value is not None]
    return nice_top(max(values, default=0.0))


def _axes(parts: list[str], top: float, axis: Sequence[tuple[float, str]]) -> None:
    """Horizontal grid lines with their labels at the given fractions of ``top``."""
    plot_h = HEIGHT - TOP - BOTTOM
    for fraction, label in axis:
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{_fmt(y)}" x2="{WIDTH - RIGHT}" y2="{_fmt(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{_fmt(y + 4)}" text-anchor="end" fill="{MUTED}" '
            f'font-size="11">{escape(label)}</text>'
        )


def _x_labels(parts: list[str], points: Sequence[Point], centre: list[float]) -> None:
    step = max(1, -(-len(points) // _MAX_LABELS))
    for i, point in enumerate(points):
        if i % step == 0:
            parts.append(
                f'<text x="{_fmt(centre[i])}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'fill="{MUTED}" font-size="11">{escape(point.label)}</text>'
            )


def _centres(count: int) -> list[float]:
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(count, 1)
    return [LEFT + slot * (i + 0.5) for i in range(count)]


def _axis_labels(top: float, unit: str) -> list[tuple[float, str]]:
    return [(f, f"{_fmt(top * f)}{unit}") for f in (0.0, 0.5, 1.0)]


def bar_chart(
    chart_id: str,
    title: str,
    summary: str,
    points: Sequence[Point],
    *,
    top: float | None = None,
    unit: str = "",
) -> str:
    """Vertical bars (one per point, e.g. a week), the value above each when they fit.
    ``top``: the value at the top of the axis (e.g. 100 for a percentage)."""
    ceiling = _scale_top(points, top)
    parts = _open(chart_id, title, summary, HEIGHT)
    _axes(parts, ceiling, _axis_labels(ceiling, unit))
    plot_h = HEIGHT - TOP - BOTTOM
    centre = _centres(len(points))
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    width = max(2.0, slot * 0.64)
    show_values = len(points) <= 12
    for i, point in enumerate(points):
        if point.value is None:
            continue
        height = plot_h * min(point.value, ceiling) / ceiling
        y = TOP + plot_h - height
        parts.append(
            f'<rect x="{_fmt(centre[i] - width / 2)}" y="{_fmt(y)}" width="{_fmt(width)}" '
            f'height="{_fmt(height)}" fill="{BAR}" rx="1.5">'
            f"<title>{escape(point.label)}: {escape(point.text)}</title></rect>"
        )
        if show_values and point.text:
            parts.append(
                f'<text x="{_fmt(centre[i])}" y="{_fmt(y - 4)}" text-anchor="middle" '
                f'font-size="10.5">{escape(point.text)}</text>'
            )
    _x_labels(parts, points, centre)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    summary: str,
    points: Sequence[Point],
    *,
    top: float | None = None,
    unit: str = "",
) -> str:
    """A line through the points (broken where a point has no value), each point marked and
    its value written above when they fit."""
    ceiling = _scale_top(points, top)
    parts = _open(chart_id, title, summary, HEIGHT)
    _axes(parts, ceiling, _axis_labels(ceiling, unit))
    plot_h = HEIGHT - TOP - BOTTOM
    centre = _centres(len(points))
    segments: list[list[tuple[float, float]]] = [[]]
    marks: list[tuple[float, float, Point]] = []
    for i, point in enumerate(points):
        if point.value is None:
            segments.append([])
            continue
        y = TOP + plot_h - plot_h * min(point.value, ceiling) / ceiling
        segments[-1].append((centre[i], y))
        marks.append((centre[i], y, point))
    for segment in segments:
        if len(segment) > 1:
            coords = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in segment)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{ACCENT}" stroke-width="2"/>'
            )
    show_values = len(points) <= 12
    for x, y, point in marks:
        parts.append(
            f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3" fill="{ACCENT}">'
            f"<title>{escape(point.label)}: {escape(point.text)}</title></circle>"
        )
        if show_values and point.text:
            parts.append(
                f'<text x="{_fmt(x)}" y="{_fmt(y - 7)}" text-anchor="middle" '
                f'font-size="10.5">{escape(point.text)}</text>'
            )
    _x_labels(parts, points, centre)
    parts.append("</svg>")
    return "".join(parts)


FUNNEL_ROW = 26
FUNNEL_LABEL = 96
FUNNEL_VALUE = 92


def funnel_chart(chart_id: str, title: str, summary: str, steps: Sequence[Point]) -> str:
    """Horizontal bars, one row per step, widths relative to the first (largest) step;
    the step's name on the left, its value text (count and conversion) on the right."""
    height = FUNNEL_ROW * len(steps) + 8
    parts = _open(chart_id, title, summary, height)
    first = next((s.value for s in steps if s.value), None) or 1.0
    span = WIDTH - FUNNEL_LABEL - FUNNEL_VALUE
    for i, step in enumerate(steps):
        y = 4 + FUNNEL_ROW * i
        parts.append(
            f'<text x="{FUNNEL_LABEL - 6}" y="{y + 16}" text-anchor="end">'
            f"{escape(step.label)}</text>"
        )
        value = max(step.value or 0.0, 0.0)
        width = span * min(value / first, 1.0)
        parts.append(
            f'<rect x="{FUNNEL_LABEL}" y="{y + 3}" width="{_fmt(max(width, 1.0))}" '
            f'height="{FUNNEL_ROW - 8}" fill="{BAR}" rx="2">'
            f"<title>{escape(step.label)}: {escape(step.text)}</title></rect>"
        )
        parts.append(
            f'<text x="{_fmt(FUNNEL_LABEL + width + 5)}" y="{y + 16}" font-size="11">'
            f"{escape(step.text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
