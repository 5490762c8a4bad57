"""Are two executed notebooks the same, figures compared as pictures rather than as bytes?

A figure drawn from floats that torch or numpy computed can differ in a pixel or two from one
machine to the next: their vectorised kernels (AVX2, AVX-512, none) round the last bit of a sum
differently, and a line edge then falls on the other side of a pixel. Every other byte of an
executed solution is the same on every machine (`build` scrubs what is not), so two notebooks
count as the same when they are equal apart from their PNG figures and each pair of figures is
equal within `TOLERANCE`, as matplotlib's own image tests compare them.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

PNG = "image/png"
# Root-mean-square difference per pixel channel, out of 255. Last-bit differences in a plotted
# curve's floats were measured at 0.003 (two pixels of a 429 x 298 figure); a changed title, point
# or colour is well above this.
TOLERANCE = 0.05


def same_notebooks(a: Path, b: Path) -> bool:
    """Whether notebooks `a` and `b` are equal, their PNG figures within `TOLERANCE`."""
    try:
        first, second = (json.loads(path.read_text(encoding="utf-8")) for path in (a, b))
    except (OSError, ValueError):
        return False
    ours: list[str] = []
    theirs: list[str] = []
    if _without_figures(first, ours) != _without_figures(second, theirs):
        return False  # equal structures hold as many figures, in the same places
    return all(map(_same_figure, ours, theirs))


def _without_figures(node, figures: list[str]):
    """`node` with each PNG's data replaced by its position in `figures`, where it goes."""
    if isinstance(node, dict):
        return {
            key: figures.append(value) or len(figures) - 1
            if key == PNG and isinstance(value, str)
            else _without_figures(value, figures)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_without_figures(value, figures) for value in node]
    return node


def _same_figure(one: str, other: str) -> bool:
    from matplotlib.testing.compare import compare_images

    if one == other:
        return True
    with tempfile.TemporaryDirectory(prefix="autograder-figures-") as tmp:
        paths = [Path(tmp) / "expected.png", Path(tmp) / "actual.png"]
        try:
            for path, data in zip(paths, (one, other)):
                path.write_bytes(base64.b64decode(data, validate=False))
            return compare_images(str(paths[0]), str(paths[1]), TOLERANCE) is None
        except Exception:  # undecodable, or of different sizes: not the same figure
            return False
