"""Is the faster feedback exporter's page the page nbconvert's HTMLExporter writes?"""

from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import REPO, lessons
from nbconvert.exporters import HTMLExporter

from autograder.grading.converters import FeedbackExporter


def _what_a_reader_gets(html: str) -> tuple:
    soup = BeautifulSoup(html, "html.parser")
    images = [(img.get("src", "")[:40], img.get("alt")) for img in soup.find_all("img")]
    focusable = sorted(
        (" ".join(t.get("class", [])), t.get("tabindex")) for t in soup.find_all(tabindex=True)
    )
    return soup.get_text(), images, focusable


@pytest.mark.parametrize("lesson", lessons())
def test_text_alternative_text_and_focus_match_nbconvert(lesson):
    nb = nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    ours, _ = FeedbackExporter().from_notebook_node(nb)
    theirs, _ = HTMLExporter().from_notebook_node(nb)
    text, images, focusable = _what_a_reader_gets(ours)
    assert (text, images, focusable) == _what_a_reader_gets(theirs)
    assert focusable, "the comparison saw focusable areas"


def test_a_kept_exporter_writes_every_page_as_a_fresh_one_does():
    """Highlighting is remembered across pages: a page rendered by an exporter that has rendered
    others (the same lesson, other lessons, a changed cell) is the page a fresh exporter writes."""
    kept = FeedbackExporter()
    notebooks = [
        nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
        for lesson in lessons()
    ]
    edited, bash = nbformat.from_dict(notebooks[0]), nbformat.from_dict(notebooks[0])
    next(c for c in edited.cells if c.cell_type == "code").source += "\nanother_line = 1"
    # the same source, highlighted as the magics language a cell's metadata names
    next(c for c in bash.cells if c.cell_type == "code").metadata["magics_language"] = "bash"
    for nb in [*notebooks, edited, bash, *notebooks]:
        ours, _ = kept.from_notebook_node(nb)
        fresh, _ = FeedbackExporter().from_notebook_node(nb)
        assert ours == fresh
    assert "another_line" in kept.from_notebook_node(edited)[0]
