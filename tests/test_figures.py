"""Executed solutions are compared with their figures as pictures: another CPU rounds the last bit
of a curve's floats differently and may draw a pixel differently; any visible change is stale."""

import base64
import copy
import io
import json

from conftest import REPO
from PIL import Image

from autograder.build import _differences, _keep_committed_figures
from autograder.figures import same_notebooks

SOLUTION = REPO / "solutions" / "06-train" / "06-train.ipynb"


def _figures(nb):
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    return [o["data"] for o in outputs if "image/png" in o.get("data", {})]


def _edited(data: str, edit) -> str:
    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA")
    edit(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _nudge(image):
    """What another CPU did to a loss curve here: two by two pixels of an edge, a few levels off."""
    for x in (132, 133):
        for y in (137, 138):
            r, g, b, a = image.getpixel((x, y))
            image.putpixel((x, y), (min(r + 9, 255), g, max(b - 9, 0), a))


def _redraw(image):
    """A visible change: a marker moved, a 6 x 6 patch of the curve."""
    for x in range(150, 156):
        for y in range(100, 106):
            image.putpixel((x, y), (31, 119, 180, 255))


def _write(tmp_path, name, nb):
    path = tmp_path / name
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def _variant(edit=None, text=None):
    nb = json.loads(SOLUTION.read_text())
    changed = copy.deepcopy(nb)
    figure = _figures(changed)[-1]
    if edit is not None:
        figure["image/png"] = _edited(figure["image/png"], edit)
    if text is not None:
        figure["text/plain"] = text
    return nb, changed


def test_the_solution_has_figures_to_compare():
    assert len(_figures(json.loads(SOLUTION.read_text()))) >= 2


def test_a_figure_another_cpu_drew_a_pixel_differently_is_the_same(tmp_path):
    nb, changed = _variant(edit=_nudge)
    assert _figures(changed) != _figures(nb)  # the bytes differ
    assert same_notebooks(_write(tmp_path, "a.ipynb", nb), _write(tmp_path, "b.ipynb", changed))


def test_a_visibly_changed_figure_is_not_the_same(tmp_path):
    nb, changed = _variant(edit=_redraw)
    assert not same_notebooks(_write(tmp_path, "a.ipynb", nb), _write(tmp_path, "b.ipynb", changed))


def test_a_figure_of_another_size_or_a_changed_text_is_not_the_same(tmp_path):
    nb, cropped = _variant(edit=lambda image: None)
    figure = _figures(cropped)[-1]
    image = Image.open(io.BytesIO(base64.b64decode(figure["image/png"])))
    buffer = io.BytesIO()
    image.crop((0, 0, image.width - 1, image.height)).save(buffer, format="PNG")
    figure["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    a = _write(tmp_path, "a.ipynb", nb)
    assert not same_notebooks(a, _write(tmp_path, "cropped.ipynb", cropped))
    _, retitled = _variant(edit=_nudge, text="<Figure size 450x280 with 2 Axes>")
    assert not same_notebooks(a, _write(tmp_path, "retitled.ipynb", retitled))


def test_build_check_and_build_treat_a_figure_drawn_on_another_cpu_as_current(tmp_path):
    """`autograder build --check` reports nothing stale, and `autograder build` keeps the
    committed bytes, so building on another machine changes no file; a visible change is stale
    and is written."""
    nb, nudged = _variant(edit=_nudge)
    _, redrawn = _variant(edit=_redraw)
    built, committed = tmp_path / "built" / "solutions", tmp_path / "committed" / "solutions"
    for folder in (built, committed):
        folder.mkdir(parents=True)
    ours = _write(committed, "06-train.ipynb", nb)
    committed_bytes = ours.read_bytes()
    fresh = _write(built, "06-train.ipynb", nudged)
    assert _differences(built, committed) == []
    _keep_committed_figures(built, committed)
    assert fresh.read_bytes() == committed_bytes

    _write(built, "06-train.ipynb", redrawn)
    assert _differences(built, committed) == ["solutions/06-train.ipynb"]
    _keep_committed_figures(built, committed)
    assert fresh.read_bytes() != committed_bytes
