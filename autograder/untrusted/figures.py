"""Describe a learner's matplotlib Axes or Figure as plain data, inside the learner's kernel.

Sent into the kernel with the wire module and registered in its `ENCODERS`; the grader redraws
the description (`trusted/figures.py`) for the test cells. Self-contained, like the wire.
"""

import math
import sys

MAX_AXES = 16
MAX_LINES = 64
MAX_POINTS = 20_000  # per line or scatter
MAX_SEGMENTS = 2_000
MAX_PATCHES = 2_000
MAX_TEXTS = 200
MAX_TEXT = 500
MAX_NAME = 200


def register(wire):
    """Let `wire.encode` describe plots (inside the kernel, done once by the bootstrap)."""
    if encode not in wire.ENCODERS:
        wire.ENCODERS.append(encode)


def encode(value):
    """A description of `value` if it is an Axes or a Figure, else None."""
    if "matplotlib.figure" not in sys.modules:
        return None
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(value, Axes):
        return {"t": "axes", "v": describe_axes(value)}
    if isinstance(value, Figure):
        return {"t": "figure", "axes": [describe_axes(ax) for ax in value.axes[:MAX_AXES]]}
    return None


def _colour(value):
    from matplotlib.colors import to_hex

    try:
        return to_hex(value, keep_alpha=True)
    except (ValueError, TypeError):
        return None


def _floats(values, limit=MAX_POINTS):
    import numpy as np

    array = np.asarray(values, dtype=float).ravel()[:limit]
    return [v if math.isfinite(v) else None for v in array.tolist()]


def _label(artist):
    return str(artist.get_label())[:MAX_TEXT]


def describe_axes(ax):
    lines = [
        {
            "x": _floats(line.get_xdata()),
            "y": _floats(line.get_ydata()),
            "label": _label(line),
            "color": _colour(line.get_color()),
            "linestyle": str(line.get_linestyle()),
            "marker": str(line.get_marker()),
            "transform": "axes-x" if _x_in_axes_fractions(ax, line) else "data",
        }
        for line in ax.lines[:MAX_LINES]
    ]
    collections = []
    for collection in ax.collections[:MAX_LINES]:
        if hasattr(collection, "get_segments"):  # hlines, vlines, LineCollection
            segments = [
                [_floats(point) for point in list(segment)[:MAX_SEGMENTS]]
                for segment in collection.get_segments()[:MAX_SEGMENTS]
            ]
            collections.append({"segments": segments, "label": _label(collection)})
        else:
            offsets = [_floats(point) for point in list(collection.get_offsets())[:MAX_POINTS]]
            collections.append({"offsets": offsets, "label": _label(collection)})
    patches = []
    for patch in ax.patches[:MAX_PATCHES]:
        if type(patch).__name__ == "Rectangle":
            patches.append({
                "x": float(patch.get_x()), "y": float(patch.get_y()),
                "width": float(patch.get_width()), "height": float(patch.get_height()),
                "color": _colour(patch.get_facecolor()), "label": _label(patch),
            })  # fmt: skip
    legend = ax.get_legend()
    return {
        "title": ax.get_title()[:MAX_TEXT],
        "xlabel": ax.get_xlabel()[:MAX_TEXT],
        "ylabel": ax.get_ylabel()[:MAX_TEXT],
        "xlim": _floats(ax.get_xlim()),
        "ylim": _floats(ax.get_ylim()),
        "xticks": _floats(ax.get_xticks()),
        "xticklabels": [t.get_text()[:MAX_NAME] for t in ax.get_xticklabels()][:MAX_TEXTS],
        "yticks": _floats(ax.get_yticks()),
        "yticklabels": [t.get_text()[:MAX_NAME] for t in ax.get_yticklabels()][:MAX_TEXTS],
        "texts": [
            [_floats(t.get_position()), t.get_text()[:MAX_TEXT]] for t in ax.texts[:MAX_TEXTS]
        ],
        "lines": lines,
        "collections": collections,
        "patches": patches,
        "legend": [t.get_text()[:MAX_NAME] for t in legend.get_texts()][:MAX_TEXTS]
        if legend
        else None,
    }


def _x_in_axes_fractions(ax, line):
    """Does the line's x run in axes fractions (axhline), not in data units?"""
    try:
        return line.get_transform() == ax.get_yaxis_transform()
    except Exception:  # a learner's artist may answer anything
        return False
