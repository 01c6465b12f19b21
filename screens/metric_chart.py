"""A plotext chart of one or more curves, decimated to its width on every draw."""
from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot

from screens.decimate import decimate


@dataclass
class Curve:
    label: str
    steps: list
    values: list
    markers: bool = False  # True: points (eval loss), False: a line
    color: str | None = None


class MetricChart(PlotextPlot):
    """Holds its curves; draws only when refreshed (the screen's timer decides when)."""

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self.curves: list[Curve] = []
        self.empty_text = "no data yet"
        self.xmax: float | None = None  # the planned last step: the x axis spans the whole run

    def set_curves(self, curves: list[Curve], title: str | None = None) -> None:
        self.curves = curves
        if title is not None:
            self.chart_title = title
        self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(10, self.size.width - 12)  # the y axis labels take ~10 columns
        drawn = False
        for curve in self.curves:
            points = [(s, v) for s, v in zip(curve.steps, curve.values) if math.isfinite(v)]
            if not points:
                continue
            steps, values = decimate([p[0] for p in points], [p[1] for p in points], width)
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
        return super().render()
