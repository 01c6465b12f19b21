"""A plotext chart of one or more curves: decimated once per change of data or width, drawn once per change."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Span, Text
from textual_plotext import PlotextPlot

from screens.decimate import SeriesBuffer, decimate_arrays

Y_LABELS_WIDTH = 12  # the y axis labels and the frame take about this many columns


@dataclass
class Curve:
    label: str
    steps: list
    values: list
    markers: bool = False  # True: points (eval loss), False: a line
    color: str | None = None


class _Prepared:
    """One curve's numpy copy and its decimation for the last width asked (kept until the data changes)."""

    def __init__(self):
        self.buffer = SeriesBuffer()
        self._decimated: tuple | None = None  # (generation, width, steps list, values list)

    def points(self, width: int) -> tuple[list, list]:
        generation = self.buffer.generation
        if self._decimated is None or self._decimated[:2] != (generation, width):
            steps, values = self.buffer.steps, self.buffer.values
            finite = np.isfinite(values)
            if not finite.all():  # a NaN or inf cannot be drawn: the chart shows the finite points
                steps, values = steps[finite], values[finite]
            steps, values = decimate_arrays(steps, values, width)
            self._decimated = (generation, width, steps.tolist(), values.tolist())
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


def matrix_text(matrix) -> Text | None:
    """The Text of a built plotext matrix: what Text.from_ansi(plotext's canvas) gives, without writing the ANSI
    string and parsing it back (half the cost of a draw). None if a cell is not one character wide."""
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    cols = matrix.cols
    for row in range(matrix.rows - 1, -1, -1):
        line = "".join(matrix.marker[row])
        if len(line) != cols:
            return None
        fgs, styles, bgs = matrix.fullground[row], matrix.style[row], matrix.background[row]
        start = 0
        for col in range(1, cols + 1):
            if col == cols or fgs[col] != fgs[start] or styles[col] != styles[start] or bgs[col] != bgs[start]:
                style = _rich_style(fgs[start], styles[start], bgs[start])
                if style:
                    spans.append(Span(offset + start, offset + col, style))
                start = col
        parts.append(line)
        offset += cols + 1
    return Text("\n".join(parts) + "\n", spans=spans)  # the trailing newline Text.from_ansi gives too


class MetricChart(PlotextPlot):
    """Holds its curves; rebuilds the plot only when the data, the size, the title or the theme changed.

    `set_curves` may be called as often as the screen likes (every redraw of the run): it refreshes the widget,
    which rewrites its part of the terminal, only when a curve really changed.
    """

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self.curves: list[Curve] = []
        self.empty_text = "no data yet"
        self.xmax: float | None = None  # the planned last step: the x axis spans the whole run
        self._prepared: list[_Prepared] = []
        self._data_key: tuple = ()  # what the curves are now (generations, labels, styles)
        self._drawn_key: tuple | None = None  # what the cached plot shows
        self._drawn = None

    def set_curves(self, curves: list[Curve], title: str | None = None) -> None:
        self.curves = curves
        if title is not None:
            self.chart_title = title
        while len(self._prepared) < len(curves):
            self._prepared.append(_Prepared())
        del self._prepared[len(curves):]
        for curve, prepared in zip(curves, self._prepared):
            prepared.buffer.update(curve.steps, curve.values)
        data_key = tuple((p.buffer.generation, c.label, c.markers, c.color) for c, p in zip(curves, self._prepared))
        if data_key != self._data_key or self._view_key() != (self._drawn_key or (None,))[0]:
            self._data_key = data_key
            self.refresh()

    def _view_key(self) -> tuple:
        return (self.chart_title, self.empty_text, self.xmax)

    def render(self):
        key = (self._view_key(), self._data_key, self.size, self.app.theme, self.theme)
        if key == self._drawn_key and self._drawn is not None:
            return self._drawn
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
                plt.scatter(steps, values, marker="o" if curve.markers else "braille", **kwargs)
            else:
                plt.plot(steps, values, marker="braille", **kwargs)
            drawn = True
        if self.xmax and drawn:
            plt.xlim(0, self.xmax)
        plt.title(self.chart_title if drawn else f"{self.chart_title}: {self.empty_text}")
        plt.xlabel("step")
        self._drawn = self._build()
        self._drawn_key = key
        return self._drawn

    def _register_theme(self, app_theme_name: str) -> None:
        self._drawn_key = None  # the plotext theme may be new: draw again
        super()._register_theme(app_theme_name)

    def _build(self):
        """PlotextPlot.render, with the plotext matrix turned into a Text directly (see matrix_text)."""
        plt = self.plt
        try:
            plt.plotsize(self.size.width, self.size.height)
            plt._set_size(self.size.width, self.size.height)  # as PlotextPlot.render does (textual-plotext #5)
            plt.theme(self._get_plotext_theme_name(self.app.theme))
            plt._set_sizes()
            plt._build_matrix()
            text = matrix_text(plt.monitor.matrix)
        except AttributeError:  # another plotext inside: its own way
            text = None
        return text if text is not None else super().render()
