"""textual-plotext's plot, drawn from plotext's character matrix straight into rich text.

``PlotextPlot`` has plotext write the figure as one string of ANSI escapes, which
rich then parses back into styles: of a chart of ten curves, the parsing costs as
much as plotting. Here the cells of the same colours become one span each, and
each colour triple is turned into a style once. Imported with plotext, in a thread.
"""

from __future__ import annotations

from plotext._utility import colors_to_ansi, get_matrix_data
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


def overlay_vline(monitor, step: float, colour: str) -> list[tuple[int, int, str, object]] | None:
    """Draw plotext's vertical line at ``step`` into a matrix built without it, as plotext would
    have drawn it (the curves over it, the x axes ticked where it crosses them); returns the
    cells changed and what they held, or None when this figure is not one that can be done so."""
    matrix = monitor.matrix
    columns, rows = matrix.Cols_canvas, matrix.Rows_canvas
    low, high = monitor.xlim[0]
    if any(monitor.grid) or any(monitor.vcoord) or not columns or low is None or high in (None, low):
        return None
    column = columns.start + get_matrix_data([step], [low, high], len(columns))[0]
    if column not in columns:
        return None
    changed = []

    def put(row: int, marker: str, fore: object = None) -> None:
        changed.append((row, column, matrix.marker[row][column], matrix.fullground[row][column]))
        matrix.marker[row][column] = marker
        if fore is not None:
            matrix.fullground[row][column] = fore

    for row in rows:
        if matrix.marker[row][column] == " ":  # a curve drawn over the line hides it
            put(row, "│", colour)
    if monitor.xaxes[0] and rows.start >= 1:
        put(rows.start - 1, "┴")
    if monitor.xaxes[1] and rows.stop < matrix.rows:
        put(rows.stop, "┬")
    return changed


class ChartPlot(PlotextPlot):
    """A plotext figure, built once for its size and theme until ``changed`` says it was drawn
    again; ``marker`` (a step and a colour) is a vertical line laid over it at each render, so
    that moving it (the highlighted step) costs no new figure."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker: tuple[float, str] | None = None
        self._version = 0
        self._built: tuple | None = None  # (version, size, theme) the matrix was built for

    def changed(self) -> None:
        """The figure was drawn anew (plt calls since the last render): build it at the next."""
        self._version += 1
        self.refresh()

    def render(self) -> Text:
        width, height = self.size
        plot = self._plot
        theme = self._get_plotext_theme_name(self.app.theme)
        built = (self._version, width, height, theme)
        if built != self._built:
            plot.plotsize(width, height)
            plot._set_size(width, height)
            plot.theme(theme)
            plot._set_sizes()  # what plotext's build() does, less writing the escapes
            plot._build_matrix()
            self._built = built
        changed = overlay_vline(plot.monitor, *self.marker) if self.marker is not None else None
        if self.marker is not None and changed is None:  # drawn by plotext itself, this once
            plot.vline(self.marker[0], color=self.marker[1])
            plot._build_matrix()
            plot.monitor.vcoord[0].pop()
            plot.monitor.vcolors[0].pop()
            self._built = None
        matrix = plot.monitor.matrix
        text = matrix_text(matrix)
        for row, column, marker, fore in changed or ():
            matrix.marker[row][column], matrix.fullground[row][column] = marker, fore
        return text
