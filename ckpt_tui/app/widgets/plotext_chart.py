"""textual-plotext's plot, drawn from plotext's character matrix straight into rich text.

``PlotextPlot`` has plotext write the figure as one string of ANSI escapes, which
rich then parses back into styles: of a chart of ten curves, the parsing costs as
much as plotting. Here the cells of the same colours become one span each, and
each colour triple is turned into a style once. Imported with plotext, in a thread.
"""

from __future__ import annotations

from plotext._utility import colors_to_ansi
from rich.style import Style
from rich.text import Span, Text
from textual_plotext import PlotextPlot

_styles: dict[tuple, Style] = {}


def cell_style(colours: tuple) -> Style:
    """The rich style of a (foreground, style, background) triple, as plotext's escapes say it."""
    style = _styles.get(colours)
    if style is None:
        spans = Text.from_ansi(colors_to_ansi(*colours) + " ").spans
        style = _styles[colours] = spans[0].style if spans else Style.null()
    return style


def matrix_text(matrix) -> Text:
    """A plotext matrix (rows bottom up) as text, one span per run of same-coloured cells."""
    pieces: list[str] = []
    spans: list[Span] = []
    offset = 0
    for row in reversed(matrix.Rows):
        markers, fore, styles, back = matrix.marker[row], matrix.fullground[row], matrix.style[row], \
            matrix.background[row]
        start, colours = 0, None
        for col in matrix.Cols:
            here = (fore[col], styles[col], back[col])
            if here != colours:
                if colours is not None:
                    spans.append(Span(offset + start, offset + col, cell_style(colours)))
                start, colours = col, here
        if colours is not None:
            spans.append(Span(offset + start, offset + matrix.cols, cell_style(colours)))
        line = "".join(markers)
        if len(line) != matrix.cols:  # a marker of more than one character: let plotext write it
            matrix.set_canvas()
            return Text.from_ansi(matrix.get_canvas())
        pieces.append(line)
        offset += len(line) + 1
    return Text("".join(line + "\n" for line in pieces), spans=spans)  # as plotext ends its canvas


class ChartPlot(PlotextPlot):
    def render(self) -> Text:
        width, height = self.size
        plot = self._plot
        plot.plotsize(width, height)
        plot._set_size(width, height)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        plot._set_sizes()  # what plotext's build() does, less writing the escapes
        plot._build_matrix()
        return matrix_text(plot.monitor.matrix)
