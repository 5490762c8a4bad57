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
