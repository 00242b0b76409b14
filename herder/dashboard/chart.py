"""The chart of recent move durations: one stacked bar per move (power-off, copy, boot) at the
time the move started, over the last hours. Inline SVG drawn here, so the page needs no
charting script; the colours come from the style sheet (classes p-power-off, p-copy, p-boot).
"""
from datetime import datetime, timedelta

from herder.dashboard.html import duration, esc
from herder.dashboard.recent import RecentMove

WIDTH, HEIGHT = 600, 160
LEFT, BOTTOM, TOP = 44, 20, 8   # room for the axis labels
BAR = 6
PHASES = ("power-off", "copy", "boot")


def durations_chart(moves: list[RecentMove], hours: int, now: datetime | None = None) -> str:
    measured = [m for m in moves if any(_phases(m))]
    if not measured:
        return '<p class="empty">No move with measured phases in the last hours.</p>'
    now = now or datetime.utcnow()
    start = now - timedelta(hours=hours)
    tallest = max(sum(_phases(m)) for m in measured) or 1.0
    plot_w, plot_h = WIDTH - LEFT - BAR, HEIGHT - BOTTOM - TOP
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Durations of the moves of the last {hours} hours">',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" '
             f'y2="{TOP + plot_h}"/>',
             f'<text class="label" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">'
             f'{esc(duration(tallest))}</text>',
             f'<text class="label" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
             f'<text class="label" x="{LEFT}" y="{HEIGHT - 4}">-{hours} h</text>',
             f'<text class="label" x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end">now</text>']
    for move in measured:
        x = LEFT + plot_w * max((move.started - start).total_seconds(), 0) / (hours * 3600)
        y = TOP + plot_h
        tip = ", ".join(f"{name} {duration(s)}" for name, s in zip(PHASES, _phases(move)) if s)
        parts.append(f'<g><title>{esc(move.server_name)} (migration {move.migration_id}): '
                     f'{esc(tip)}</title>')
        for name, seconds in zip(PHASES, _phases(move)):
            if not seconds:
                continue
            h = max(plot_h * seconds / tallest, 1.0)
            y -= h
            parts.append(f'<rect class="p-{name}" x="{x:.1f}" y="{y:.1f}" width="{BAR}" '
                         f'height="{h:.1f}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    legend = "".join(f'<span class="key p-{name}">{name}</span>' for name in PHASES)
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def _phases(move: RecentMove) -> tuple[float, float, float]:
    return (move.power_off or 0.0, move.copy or 0.0, move.boot or 0.0)
