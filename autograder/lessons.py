"""What a lesson's source notebook says: its reference answers, its tests' points, its secrets.

Built on nbgrader's own cell predicates and solution-region parsing, so the rules here are the
rules nbgrader applies when it generates the release.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import nbformat
from nbgrader.utils import is_grade, is_solution

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SECRET_REGIONS = ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN))
MIN_SECRET_LENGTH = 12  # shorter lines ("return z") say nothing secret


@dataclass
class Lesson:
    """One source notebook of a lesson."""

    path: Path

    @cached_property
    def notebook(self) -> nbformat.NotebookNode:
        return nbformat.read(self.path, as_version=4)

    def reference_answers(self) -> dict[str, str]:
        """grade_id -> reference answer (solution markers removed) of each answer cell, in order."""
        return {cell.metadata["nbgrader"]["grade_id"]: without_markers(cell.source)
                for cell in self.notebook.cells if is_solution(cell)}  # fmt: skip

    def test_points(self) -> dict[str, float]:
        """grade_id -> points of each graded cell, in notebook order."""
        return {cell.metadata["nbgrader"]["grade_id"]:
                    float(cell.metadata["nbgrader"].get("points") or 0)
                for cell in self.notebook.cells if is_grade(cell)}  # fmt: skip

    def region_lines(self) -> tuple[set[str], set[str]]:
        """Stripped lines inside solution or hidden-test regions, and all other lines."""
        secret, public = set(), set()
        for cell in self.notebook.cells:
            inside, outside = split_secret(cell.source)
            secret.update(inside)
            public.update(outside)
        return secret, public

    def secret_lines(self) -> set[str]:
        """Lines inside solution or hidden-test regions that appear nowhere public in the lesson."""
        return telling(*self.region_lines())

    def hidden_test_lines(self) -> set[str]:
        """Secret lines that belong to hidden tests (not to solutions)."""
        hidden = set()
        for cell in self.notebook.cells:
            if BEGIN_HIDDEN in cell.source:
                hidden.update(split_secret(cell.source)[0])
        return hidden & self.secret_lines()

    def solution_lines(self) -> set[str]:
        """Secret lines that belong to reference solutions."""
        return self.secret_lines() - self.hidden_test_lines()


def telling(secret: set[str], public: set[str]) -> set[str]:
    """The secret lines that give something away: not public, not short, not comments."""
    return {
        line
        for line in secret - public
        if len(line) >= MIN_SECRET_LENGTH and not line.startswith("#")
    }


def answered(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """`release` (a learner notebook) with each answer cell's source replaced from `answers`."""
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if is_solution(cell) and grade_id in answers:
            cell.source = without_markers(answers[grade_id])
    return nb


def without_markers(code: str) -> str:
    return "\n".join(
        line for line in code.splitlines() if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)
    )


def split_secret(source: str) -> tuple[list[str], list[str]]:
    """Stripped lines inside solution or hidden-test regions, and all other lines, of one cell."""
    secret, public = [], []
    inside = None
    for line in source.splitlines():
        stripped = line.strip()
        if inside is None:
            for begin, end in SECRET_REGIONS:
                if stripped.startswith(begin):
                    inside = end
                    break
            else:
                public.append(stripped)
            continue
        if stripped.startswith(inside):
            inside = None
        else:
            secret.append(stripped)
    return secret, public
