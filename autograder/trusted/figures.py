"""Redraw a learner's plot from its plain-data description, for the test cells to inspect.

What the kernel describes (`untrusted/figures.py`) is untrusted: every number and string is
checked, counted against the answer's budget, and drawn on a fresh figure of the grader's own.
"""

from __future__ import annotations

import math

from ..wire import WireError, expect

MAX_AXES = 16
MAX_LINES = 64
MAX_SEGMENTS = 2_000
MAX_PATCHES = 2_000
MAX_TEXTS = 200
MAX_POINTS = 20_000


def rebuild_figure(axes_list: list, budget):
    import matplotlib.pyplot as plt

    expect(len(axes_list) <= MAX_AXES, "too many axes")
    figure = plt.figure()
    for description in axes_list:
        expect(type(description) is dict, "bad axes")
        _draw(figure.add_subplot(), description, budget)
    plt.close(figure)
    return figure


def rebuild_axes(description: dict, budget):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    _draw(ax, description, budget)
    plt.close(figure)
    return ax


def _numbers(values, name, budget):
    expect(type(values) is list and len(values) <= MAX_POINTS, "bad " + name)
    expect(all(v is None or type(v) in (int, float) for v in values), "bad " + name)
    budget.spend("points", len(values))
    return [math.nan if v is None else float(v) for v in values]


def _text(obj: dict, key: str) -> str:
    value = obj.get(key, "")
    expect(type(value) is str, "bad " + key)
    return value[:500]


def _list(obj: dict, key: str, limit: int) -> list:
    value = obj.get(key, [])
    expect(type(value) is list and len(value) <= limit, "bad " + key)
    return value


def _colour(value):
    return value if type(value) is str else None


def _draw(ax, d: dict, budget) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    for line in _list(d, "lines", MAX_LINES):
        expect(type(line) is dict, "bad line")
        x, y = _numbers(line.get("x"), "line x", budget), _numbers(line.get("y"), "line y", budget)
        expect(len(x) == len(y), "line length")
        extra = {"transform": ax.get_yaxis_transform()} if line.get("transform") == "axes-x" else {}
        try:
            ax.plot(x, y, label=_text(line, "label"), color=_colour(line.get("color")),
                    linestyle=_text(line, "linestyle") or "-",
                    marker=_text(line, "marker") or "None", **extra)  # fmt: skip
        except ValueError as error:  # an unknown colour, style or marker name
            raise WireError(f"unreadable line style: {str(error)[:100]}") from None
    for collection in _list(d, "collections", MAX_LINES):
        expect(type(collection) is dict, "bad collection")
        if "segments" in collection:
            segments = _list(collection, "segments", MAX_SEGMENTS)
            lines = []
            for segment in segments:
                expect(type(segment) is list and len(segment) <= MAX_SEGMENTS, "bad segment")
                points = [_numbers(p, "segment point", budget) for p in segment]
                expect(all(len(p) == 2 for p in points), "bad segment point")
                lines.append(points)
            ax.add_collection(LineCollection(lines, label=_text(collection, "label")))
            continue
        pairs = [_numbers(p, "offset", budget) for p in _list(collection, "offsets", MAX_POINTS)]
        expect(all(len(p) == 2 for p in pairs), "bad offset")
        ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], label=_text(collection, "label"))
    for patch in _list(d, "patches", MAX_PATCHES):
        expect(type(patch) is dict, "bad patch")
        keys = ("x", "y", "width", "height")
        x, y, w, h = _numbers([patch.get(k) for k in keys], "patch", budget)
        try:
            ax.add_patch(Rectangle((x, y), w, h, label=_text(patch, "label"),
                                   facecolor=_colour(patch.get("color"))))  # fmt: skip
        except ValueError as error:
            raise WireError(f"unreadable bar colour: {str(error)[:100]}") from None
    for item in _list(d, "texts", MAX_TEXTS):
        expect(type(item) is list and len(item) == 2, "bad text")
        position, text = item
        xy = _numbers(position, "text position", budget)
        expect(len(xy) == 2 and type(text) is str, "bad text")
        ax.text(xy[0], xy[1], text[:500])
    ax.set_title(_text(d, "title"))
    ax.set_xlabel(_text(d, "xlabel"))
    ax.set_ylabel(_text(d, "ylabel"))
    for axis in ("x", "y"):
        limits = _numbers(d.get(axis + "lim", []), axis + "lim", budget)
        if len(limits) == 2 and all(math.isfinite(v) for v in limits) and limits[0] != limits[1]:
            getattr(ax, f"set_{axis}lim")(*limits)
        ticks = _numbers(d.get(axis + "ticks", []), axis + "ticks", budget)
        labels = _list(d, axis + "ticklabels", MAX_TEXTS)
        expect(all(type(t) is str for t in labels), "bad tick labels")
        if ticks and len(labels) == len(ticks):
            getattr(ax, f"set_{axis}ticks")(ticks, [t[:200] for t in labels])
    legend = d.get("legend")
    if legend is not None:
        expect(type(legend) is list and all(type(t) is str for t in legend), "bad legend")
        ax.legend()
