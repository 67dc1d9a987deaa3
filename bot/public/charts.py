"""Charts drawn on the server as inline SVG (no script, no external asset): plain functions
from the published numbers to markup; every text in them is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from bot.stats.community import SMALL_BAND, MonthNumbers, PrefectureNumbers, PublicCount

BAND_TOP = 2  # a banded count ("1-2") is drawn up to 2, marked as a band
WIDTH = 360


def _height_of(value: PublicCount) -> int:
    return BAND_TOP if value == SMALL_BAND else int(value)


def shown(value: PublicCount) -> str:
    """A published count as people read it: 1,234 or 1〜2."""
    return "1〜2" if value == SMALL_BAND else f"{int(value):,}"


def _nice_ceiling(top: int) -> int:
    """The smallest of 1, 2, 5 × 10^n at or above `top` (at least 5)."""
    if top <= 5:
        return 5
    power = 10 ** math.floor(math.log10(top))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= top)


def prefecture_chart(prefectures: Sequence[PrefectureNumbers]) -> str:
    """One horizontal bar per prefecture: the share of its local governments taking part."""
    row, top, label_w, bar_w = 18, 22, 58, 230
    height = top + row * len(prefectures) + 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-labelledby="pref-chart-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="pref-chart-title">都道府県ごとの参加自治体の割合</title>',
    ]
    for pct in (0, 25, 50, 75, 100):
        x = label_w + bar_w * pct / 100
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 4}"/>'
            f'<text class="axis" x="{x:.1f}" y="{top - 8}" text-anchor="middle">{pct}%</text>'
        )
    for i, p in enumerate(prefectures):
        y = top + i * row
        w = bar_w * p.taking_part / p.governments if p.governments else 0
        parts.append(
            f'<text class="label" x="{label_w - 4}" y="{y + 12}" text-anchor="end">'
            f"{escape(p.name)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}">'
            f"<title>{escape(p.name)}: {p.taking_part}/{p.governments}（{p.share_percent}%）"
            "</title></rect>"
            f'<text class="value" x="{label_w + bar_w + 4}" y="{y + 12}">'
            f"{p.taking_part}/{p.governments}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def monthly_chart(months: Sequence[MonthNumbers]) -> str:
    """One vertical bar per month: members approved that month (a band drawn as one)."""
    height, left, top, bottom = 200, 34, 12, 24
    plot_w, plot_h = WIDTH - left - 4, height - top - bottom
    ceiling = _nice_ceiling(max((_height_of(m.members) for m in months), default=0))
    step = plot_w / max(len(months), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-labelledby="month-chart-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="month-chart-title">月ごとの新しいメンバー数（直近24か月）</title>',
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        value = round(ceiling * frac)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - 4}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>'
        )
    for i, m in enumerate(months):
        h = plot_h * _height_of(m.members) / ceiling
        x = left + i * step
        css = "bar band" if m.members == SMALL_BAND else "bar"
        parts.append(
            f'<rect class="{css}" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{step - 2:.1f}" height="{h:.1f}">'
            f"<title>{escape(m.month)}: {shown(m.members)}人</title></rect>"
        )
        last = i == len(months) - 1
        if i % 6 == 0 or last:  # the last label ends at the chart's edge, not beyond it
            x_label, anchor = (x + step, "end") if last else (x + step / 2, "middle")
            parts.append(
                f'<text class="axis" x="{x_label:.1f}" y="{height - 8}" '
                f'text-anchor="{anchor}">{escape(m.month[2:].replace("-", "/"))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
