"""Are learner-controlled names data everywhere they go: terminal, spreadsheet, nbgrader's globs?"""

from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console

from autograder.grading.export import spreadsheet_safe
from autograder.results import GRADED, UNGRADABLE, NotebookResult
from autograder.terminal import print_summary, shown, visible

HOSTILE = [
    "\x1b]0;pwned\x07title",  # sets the terminal's title
    "\x1b[8mhidden\x1b[0m",  # hides the text that follows
    "[bold red]styled[/]",
    "q]x[",  # crashed rich's markup parser
    "line\nbreak",
    "back\rspace",
]


class _Outcome:
    def __init__(self, results):
        self.results = results
        self.seconds = 1.0
        self.isolation = "test"
        self.paths = {"grades.json": "/course/grades.json"}
        self.interrupted = False
        self.grader_errors = [r for r in results if r.grader_error]


def _printed(results) -> str:
    out = io.StringIO()
    print_summary(
        Console(file=out, width=200, force_terminal=True, color_system="truecolor"),
        _Outcome(results),
    )
    return out.getvalue()


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_reaches_the_terminal_as_visible_text(name):
    graded = NotebookResult(
        name, "01-lemur", "01-lemur", GRADED, None, 3.0, 16.0, [], [f"note about {name}"]
    )
    broken = NotebookResult(name, name, name, UNGRADABLE, f"`{name}.ipynb` is missing", 0.0, 16.0)
    text = _printed([graded, broken])
    assert "\x07" not in text and "\x1b]" not in text and "\x1b[8m" not in text
    assert "\r" not in text.replace("\r\n", "\n")
    assert visible(name) in text
    if name.startswith("[bold"):
        assert "[bold red]styled[/]" in text  # shown literally, not applied


def test_control_characters_are_shown_not_sent():
    assert shown("a\x1b[31mb").plain == "a\\x1b[31mb"
    assert visible("tab\there") == "tab\\there"


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1.5", "-1.5"),  # a negative number stays a number
        ("alice", "alice"),
    ],
)
def test_spreadsheet_formulas_are_neutralised(value, cell):
    assert spreadsheet_safe(value) == cell


def test_a_name_with_newlines_and_commas_cannot_forge_rows(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.course import use_alembic_api
    from autograder.grading.export import SafeCsvExportPlugin

    use_alembic_api()
    forged = "mallory\n01-lemur,,,bob,,,,16.0,0.0,16.0,16.0"
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_assignment("01-lemur")
        gb.add_student("bob")
        gb.add_student(forged)
        SafeCsvExportPlugin(to=str(tmp_path / "grades.csv")).export(gb)
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert {row["student_id"] for row in rows} == {"bob", forged}
    assert all(float(row["score"]) == 0.0 for row in rows)
