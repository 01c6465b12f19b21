"""A plotext chart of one or more curves, cheap to keep live.

- Each curve is kept as a numpy copy, extended with only the new points, and decimated to the chart's width once
  per change of data or width (min and max per bucket: spikes stay).
- The plot is built once per change of data, size, title or theme; plotext's character matrix becomes the
  widget's lines directly (the Line API), without writing ANSI text and parsing it back.
- `set_curves` builds the new picture at once and repaints only the rows that differ from what is on screen: most
  new points of a long run land on dots already drawn, and a full repaint is most of the bytes sent over SSH.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot

from screens.widgets.decimate import SeriesBuffer, decimate_arrays

Y_LABELS_WIDTH = 12  # the y axis labels and the frame take about this many columns


@dataclass
class Curve:
    label: str
    steps: list
    values: list
    markers: bool = False  # True: points (eval loss), False: a line
    color: str | None = None


def step_ticks(lo: float, hi: float, count: int = 5) -> list[int]:
    """About `count` whole-number ticks from lo to hi at a round spacing (1, 2 or 5 times a power of ten)."""
    span = hi - lo
    if span <= 0:
        return []
    raw = span / (count + 1)
    power = 10 ** max(0, len(str(int(raw))) - 1)
    step = next((m * power for m in (1, 2, 5, 10) if m * power >= raw), 10 * power)
    first = -(-int(lo) // step) * step
    return list(range(first, int(hi) + 1, step))


def _mark(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else value


class _Prepared:
    """One curve: whether it changed, and its points decimated for the last width asked (kept until the data
    changes). A long curve is decimated from a numpy copy extended with only its new points."""

    def __init__(self):
        self.generation = 0  # bumped whenever the curve changed
        self._signature: tuple | None = None
        self._source: tuple = ([], [], 0)
        self._buffer: SeriesBuffer | None = None
        self._decimated: tuple | None = None  # (generation, width, steps list, values list)

    def update(self, steps, values) -> None:
        n = min(len(steps), len(values))
        signature = (id(steps), id(values), n, _mark(steps[n - 1]) if n else None, _mark(values[n - 1]) if n else None)
        if signature != self._signature:
            self._signature = signature
            self._source = (steps, values, n)
            self.generation += 1

    def points(self, width: int) -> tuple[list, list]:
        if self._decimated is None or self._decimated[:2] != (self.generation, width):
            steps, values, n = self._source
            if n <= 2 * width:  # short: nothing to decimate (plain Python; numpy not even imported)
                pairs = [(s, v) for s, v in zip(steps[:n], values[:n]) if math.isfinite(v)]
                points = ([p[0] for p in pairs], [p[1] for p in pairs])
            else:
                import numpy as np

                if self._buffer is None:
                    self._buffer = SeriesBuffer()
                self._buffer.update(steps, values)
                s, v = self._buffer.steps, self._buffer.values
                finite = np.isfinite(v)
                if not finite.all():  # a NaN or inf cannot be drawn: the chart shows the finite points
                    s, v = s[finite], v[finite]
                s, v = decimate_arrays(s, v, width)
                points = (s.tolist(), v.tolist())
            self._decimated = (self.generation, width, *points)
        return self._decimated[2], self._decimated[3]


_STYLES: dict = {}  # plotext (foreground, style, background) -> rich Style, as Text.from_ansi would decode it


def _hashable(color):
    return tuple(color) if isinstance(color, list) else color


def _rich_style(fg, style, bg):
    key = (_hashable(fg), _hashable(style), _hashable(bg))
    if key not in _STYLES:
        import plotext._utility as ut

        decoded = Text.from_ansi(ut.colors_to_ansi(fg, style, bg) + "x" + ut.ansi_end)
        _STYLES[key] = decoded.spans[0].style if decoded.spans else None
    return _STYLES[key]


def matrix_rows(matrix) -> list[list[Segment]] | None:
    """The rows (top first) of a built plotext matrix as segments: what Text.from_ansi(plotext's canvas) shows.
    None if a cell is not one character wide."""
    rows: list[list[Segment]] = []
    cols = matrix.cols
    for row in range(matrix.rows - 1, -1, -1):
        markers = matrix.marker[row]
        if len("".join(markers)) != cols:
            return None
        fgs, styles, bgs = matrix.fullground[row], matrix.style[row], matrix.background[row]
        segments = []
        start = 0
        for col in range(1, cols + 1):
            if col == cols or fgs[col] != fgs[start] or styles[col] != styles[start] or bgs[col] != bgs[start]:
                segments.append(Segment("".join(markers[start:col]), _rich_style(fgs[start], styles[start],
                                                                               bgs[start])))
                start = col
        rows.append(segments)
    return rows


class MetricChart(PlotextPlot):
    """Holds its curves; rebuilds the plot only when the data, the size, the title or the theme changed."""

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self.curves: list[Curve] = []
        self.empty_text = "no data yet"
        self.xmax: float | None = None  # the planned last step: the x axis spans the whole run
        self.xmin: float | None = None  # zoomed: the first step shown (the curves are cut there by the caller)
        self.log_y = False  # a log-scale y axis (only when every value is positive)
        self._prepared: list[_Prepared] = []
        self._data_key: tuple = ()  # what the curves are now (generations, labels, styles)
        self._built_key: tuple | None = None  # what the built rows show
        self._rows: list[list[Segment]] = []
        self._strips: list[Strip] = []
        self.last_build_s = 0.0  # what the last build of the picture took (the screen paces updates by it)

    def set_curves(self, curves: list[Curve], title: str | None = None) -> None:
        """New curves (the same lists grown, or others): repaint what changed, nothing if nothing did."""
        self.curves = curves
        if title is not None:
            self.chart_title = title
        while len(self._prepared) < len(curves):
            self._prepared.append(_Prepared())
        del self._prepared[len(curves):]
        for curve, prepared in zip(curves, self._prepared):
            prepared.update(curve.steps, curve.values)
        self._data_key = tuple((p.generation, c.label, c.markers, c.color)
                               for c, p in zip(curves, self._prepared))
        if not self.is_mounted or not self.display or not self.size.area:
            self.refresh()  # built when it is laid out
            return
        if self._key() == self._built_key:
            return
        old = self._rows
        self._build()
        new = self._rows
        if len(old) != len(new):
            self.refresh()
            return
        width = self.size.width
        changed = [Region(0, y, width, 1) for y, (a, b) in enumerate(zip(old, new)) if a != b]
        if changed:
            self.refresh(*changed)

    def _key(self) -> tuple:
        return (self.chart_title, self.empty_text, self.xmax, self.xmin, self.log_y, self._data_key, self.size,
                self.app.theme, self.theme)

    def _register_theme(self, app_theme_name: str) -> None:
        self._built_key = None  # the plotext theme may be new: build again
        super()._register_theme(app_theme_name)

    # -- drawing -----------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        if self._key() != self._built_key:
            self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def render(self) -> Text:
        """The whole picture as a Text (the widget itself draws line by line: render_line)."""
        if self._key() != self._built_key:
            self._build()
        text = Text(end="")
        for row in self._rows:
            for segment in row:
                text.append(segment.text, segment.style)
            text.append("\n")
        return text

    def _build(self) -> None:
        started = time.perf_counter()
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(10, self.size.width - Y_LABELS_WIDTH)
        drawn = False
        for curve, prepared in zip(self.curves, self._prepared):
            steps, values = prepared.points(width)
            if not steps:
                continue
            kwargs = {"label": curve.label}
            if curve.color:
                kwargs["color"] = curve.color
            if curve.markers or len(steps) == 1:
                # one point alone is drawn as a full marker: a single braille dot is too small to see
                plt.scatter(steps, values, marker="o" if curve.markers or len(steps) == 1 else "braille", **kwargs)
            else:
                plt.plot(steps, values, marker="braille", **kwargs)
            drawn = True
        shown = [s for c in self.curves for s in c.steps]
        if self.xmax and drawn and (self.xmin or 0) < self.xmax:
            plt.xlim(self.xmin or 0, self.xmax)
        elif drawn and shown and min(shown) == max(shown):  # every point at one step: plotext divided by zero
            plt.xlim(shown[0] - 1, shown[0] + 1)
        if drawn:  # steps are whole numbers: ticks at round steps, not 75.2 and 150.5
            hi = self.xmax or max((max(c.steps) for c in self.curves if c.steps), default=0)
            lo = self.xmin if self.xmin is not None else 0 if self.xmax else min(
                (min(c.steps) for c in self.curves if c.steps), default=0)
            ticks = step_ticks(lo, hi)
            if ticks:
                plt.xticks(ticks, [str(t) for t in ticks])
        if self.log_y and drawn and all(min(c.values, default=1) > 0 for c in self.curves if c.values):
            plt.yscale("log")
        elif drawn:
            self._legend_headroom(plt)
            self._value_ticks(plt)
        plt.title(self.chart_title if drawn else f"{self.chart_title}: {self.empty_text}")
        plt.xlabel("step")
        self._built_key = self._key()
        self._rows = self._plot_rows()
        self._strips = [Strip(row, self.size.width) for row in self._rows]
        self.last_build_s = time.perf_counter() - started

    def _legend_headroom(self, plt) -> None:
        """Room above the curves for plotext's legend, which it draws over the plot's top-left rows (one per labelled
        curve): a first eval at step 0 is often the highest point and was hidden under it."""
        self._headroom_top = None
        labelled = sum(1 for c in self.curves if c.label and c.steps)
        values = [v for c in self.curves for v in c.values if v == v and abs(v) != float("inf")]
        rows = self.size.height - 5  # less the title, the frame, the x ticks and the x label
        if not labelled or not values or rows <= labelled + 2:
            return
        lo, hi = min(values), max(values)
        span = (hi - lo) or abs(hi) or 1.0
        self._headroom_top = hi + span * labelled / (rows - labelled)
        plt.ylim(lo, self._headroom_top)

    def _value_ticks(self, plt) -> None:
        """The y axis labelled in three significant digits: plotext writes a learning rate as 0.00000267 and a loss
        as 2.3456789, the eye reads 2.67e-06 and 2.35."""
        values = [v for c in self.curves for v in c.values if v == v and abs(v) != float("inf")]
        if not values:
            return
        lo, hi = min(values), max(values)
        top = getattr(self, "_headroom_top", None)
        hi = top if top is not None and top > hi else hi
        if hi <= lo:
            return
        ticks = [lo + (hi - lo) * i / 4 for i in range(5)]
        small = max(abs(lo), abs(hi)) < 0.01  # a learning rate: every label in one form, 1.96e-04 and 2.67e-06
        for digits in (3, 4, 6):
            labels = [f"{t:.{digits - 1}e}" if small else f"{t:.{digits}g}" for t in ticks]
            if len(set(labels)) == len(labels):
                break
        plt.yticks(ticks, labels)

    def _plot_rows(self) -> list[list[Segment]]:
        """Build the plot at the widget's size (as PlotextPlot.render does) and return its rows."""
        plt = self.plt
        width, height = self.size
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext #5)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        try:
            plt._set_sizes()
            plt._build_matrix()
            rows = matrix_rows(plt.monitor.matrix)
        except AttributeError:  # a plotext without these internals: its own ANSI text
            rows = None
        if rows is None:
            text = Text.from_ansi(plt.build())
            console = self.app.console
            rows = console.render_lines(text, console.options.update_width(width), pad=True)
        return rows
