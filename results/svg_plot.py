"""A hand-written SVG line chart: curves of error rate vs epoch on a log-scale y axis, dashed reference levels."""
import math
from typing import List, NamedTuple, Sequence, Tuple
from xml.sax.saxutils import escape

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
LEFT, TOP, PLOT_W, PLOT_H, LEGEND_W = 70, 40, 560, 400, 330
ROW = 18  # legend row height
FLOOR = 0.01  # values are clipped to at least this, so that a zero error rate fits on the log scale
FAINT, BOLD, DASHED = 'stroke-width="1" stroke-opacity="0.45"', 'stroke-width="2"', 'stroke-dasharray="6 4"'


class Curve(NamedTuple):
    """A polyline; ``faint`` draws it thin and translucent (for the noisier series)."""

    label: str
    color: str
    points: Sequence[Tuple[float, float]]
    faint: bool = False


class Level(NamedTuple):
    """A dashed horizontal line across the plot at ``value``."""

    label: str
    color: str
    value: float


def nice_step(span: float, ticks: int = 8) -> float:
    """A step of 1, 2 or 5 times a power of ten giving at most about ``ticks`` ticks over ``span``."""
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(power * m for m in (1, 2, 5, 10) if power * m >= raw)


def log_range(ys: Sequence[float]) -> Tuple[float, float, List[float]]:
    """The 1-2-5 ticks just below and above the values (distinct), and those from one to the other."""
    decades = range(math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys))) + 2)
    steps = [m * 10.0 ** e for e in decades for m in (1, 2, 5)]
    low = max(t for t in steps if t <= min(ys))
    high = min(t for t in steps if t > low and t >= max(ys))
    return low, high, [t for t in steps if low <= t <= high]


def legend(entries: Sequence[Tuple[str, str, str]], x: int) -> List[str]:
    """One row per (label, color, line style), from the top at ``x``."""
    out = []
    for i, (label, color, style) in enumerate(entries):
        y = TOP + 10 + ROW * i
        out.append('<line class="legend" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" %s/>'
                   % (x, y, x + 24, y, color, style))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 30, y + 4, escape(label)))
    return out


def chart(curves: Sequence[Curve], levels: Sequence[Level], x_label: str, y_label: str, title: str) -> str:
    """The SVG document: x from 0 to the largest x; y on a log scale between the 1-2-5 ticks around the data."""
    x_max = max([x for curve in curves for x, _ in curve.points] + [1])
    low, high, y_ticks = log_range([max(y, FLOOR) for curve in curves for _, y in curve.points]
                                   + [level.value for level in levels])

    def px(x: float) -> float:
        return LEFT + PLOT_W * x / x_max

    def py(y: float) -> float:
        return TOP + PLOT_H * math.log(high / min(max(y, low), high)) / math.log(high / low)

    height = max(TOP + PLOT_H + 60, TOP + ROW * (len(curves) + len(levels)) + 20)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
           % (LEFT + PLOT_W + LEGEND_W, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="14">%s</text>' % (LEFT, escape(title))]
    step = max(1, nice_step(x_max))  # whole epochs
    for i in range(int(x_max // step) + 1):
        x = px(i * step)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, TOP, x, TOP + PLOT_H))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (x, TOP + PLOT_H + 16, i * step))
    for tick in y_ticks:
        y = py(tick)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y, LEFT + PLOT_W, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (LEFT - 6, y + 4, tick))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>' % (LEFT, TOP, PLOT_W, PLOT_H))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>'
               % (LEFT + PLOT_W / 2, TOP + PLOT_H + 40, escape(x_label)))
    out.append('<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>'
               % (TOP + PLOT_H / 2, escape(y_label)))
    for curve in curves:
        points = " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in curve.points)
        out.append('<polyline class="series" points="%s" fill="none" stroke="%s" %s/>'
                   % (points, curve.color, FAINT if curve.faint else BOLD))
    for level in levels:
        out.append('<line class="paper" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" %s/>'
                   % (LEFT, py(level.value), LEFT + PLOT_W, py(level.value), level.color, DASHED))
    out += legend([(c.label, c.color, FAINT if c.faint else BOLD) for c in curves]
                  + [(level.label, level.color, DASHED) for level in levels], LEFT + PLOT_W + 20)
    out.append("</svg>")
    return "\n".join(out) + "\n"
