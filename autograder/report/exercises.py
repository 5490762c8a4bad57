"""A lesson's exercises as learners saw them: their tests, their headings, the section to revisit.

Read from the learner release (notebooks/), in notebook order: an exercise is an answer cell and
the test cells after it, titled by the last heading above it; the section to revisit runs from the
last `#`/`##` heading above it to the answer cell, and is quoted in the report as learners read it
(explanations and example code; answer and test cells left out; links and images as their text, so
the page loads nothing).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import cache

import nbformat
from nbgrader.utils import is_grade, is_solution

SECTION_LEVEL = 2  # headings of this level or above start a section
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Exercise:
    """One exercise of a lesson notebook: the answer cell's id and the tests that check it."""

    lesson: str
    notebook: str
    key: str  # the answer cell's grade_id (a test's own, if no answer cell comes before it)
    title: str  # HTML of the exercise's heading (inline markdown rendered)
    section: str  # HTML of the heading of the section it belongs to
    tests: list[str] = field(default_factory=list)
    points: float = 0.0
    excerpt: str = ""  # HTML: the section as learners read it, up to the answer cell


def notebook_title(nb: nbformat.NotebookNode) -> str:
    """HTML of the notebook's first top-level heading, or '' if it has none."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for level, text in headings(cell.source):
                if level == 1:
                    return inline(text)
    return ""


def exercises(nb: nbformat.NotebookNode, lesson: str, notebook: str) -> list[Exercise]:
    """The exercises of a learner notebook, in order."""
    found: list[Exercise] = []
    heading, section_start = "", 0
    current: Exercise | None = None
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            for level, text in headings(cell.source):
                heading = text
                if level <= SECTION_LEVEL:
                    section_start = index
        if is_solution(cell) and not is_grade(cell):
            current = Exercise(
                lesson,
                notebook,
                str(meta.get("grade_id", index)),
                inline(heading),
                inline(_section_heading(nb, section_start)),
                excerpt=excerpt(nb.cells[section_start:index]),
            )
            found.append(current)
        elif is_grade(cell):
            grade_id = str(meta.get("grade_id", index))
            if current is None:  # a test with no answer cell above it stands for itself
                current = Exercise(
                    lesson,
                    notebook,
                    grade_id,
                    inline(heading),
                    inline(_section_heading(nb, section_start)),
                    excerpt=excerpt(nb.cells[section_start:index]),
                )
                found.append(current)
            current.tests.append(grade_id)
            current.points += float(meta.get("points") or 0)
    return [e for e in found if e.tests]


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of each ATX heading of a markdown text, outside code fences."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def _section_heading(nb: nbformat.NotebookNode, start: int) -> str:
    cell = nb.cells[start] if start < len(nb.cells) else None
    if cell is None or cell.cell_type != "markdown":
        return ""
    levels = [(level, text) for level, text in headings(cell.source) if level <= SECTION_LEVEL]
    return levels[-1][1] if levels else ""


def excerpt(cells: list) -> str:
    """HTML of explanation and example cells: markdown rendered, code as preformatted text."""
    parts = []
    for cell in cells:
        if is_solution(cell) or is_grade(cell):
            continue
        if cell.cell_type == "markdown":
            parts.append(_markdown()(cell.source))
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
    return "\n".join(parts)


def inline(markdown: str) -> str:
    """HTML of one line of markdown (a heading's text), without the paragraph around it."""
    rendered = _markdown()(
        "###### " + " ".join(markdown.split())
    ).strip()  # as a heading: "1." is no list
    return rendered.removeprefix("<h6>").removesuffix("</h6>")


@cache
def _markdown():
    import mistune

    class Quoted(mistune.HTMLRenderer):
        """Lesson markdown as text to read here: no links to follow, no images to load."""

        def link(self, text: str, url: str, title: str | None = None) -> str:
            return f'<span class="link">{text}</span>'

        def image(self, text: str, url: str, title: str | None = None) -> str:
            return f'<span class="image">[image: {text}]</span>'

    markdown = mistune.create_markdown(
        renderer=Quoted(escape=True), plugins=["math", "table", "strikethrough"]
    )
    # Formulas as their authors typed them (no MathJax here: it would be fetched from the web).
    markdown.renderer.register(
        "inline_math", lambda r, text: f'<span class="math">${html.escape(text)}$</span>'
    )
    markdown.renderer.register(
        "block_math", lambda r, text: f'<div class="math">$${html.escape(text)}$$</div>\n'
    )
    return markdown
