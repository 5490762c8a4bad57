"""Known answers of each lesson (tests/lessons/variants/), and what the lesson's tests say to one.

A lesson's misconceptions (id -> one line for the instructor) live in its source notebook's
metadata (`autograder.misconceptions`, read by the class report too); its variants file holds its
variants: answers per exercise that must keep full points (`kind: correct`) or lose the points of
the tests in `fails`, with a message containing `message` and naming the misconception `why`.

`run_in_process` runs a source notebook (hidden tests included) cell by cell in this process, as
nbgrader's Validate runs a notebook in one kernel. It executes the variants' code: only for
answers written here, never for a submission. It reports the misconception id a failing test's
`Mistake` carries, which the grader does not (yet) write down, and whether it failed in a hidden
part of the cell.
"""

from __future__ import annotations

import ast
import contextlib
import io
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
VARIANTS = REPO / "tests" / "lessons" / "variants"
TEST_FILE = "<test cell>"
HIDDEN = "### BEGIN HIDDEN TESTS"


class Variant(TypedDict, total=False):
    """One known answer: `exercise`, `name`, `kind` and `code` always; a wrong one also names
    the tests it `fails`, the `message` each must contain and the misconception id (`why`) each
    must carry (one value for all its tests, or a mapping from test to value)."""

    exercise: str  # grade_id of the answer cell
    name: str
    kind: Literal["correct", "wrong"]
    code: str
    fails: list[str]
    message: str | dict[str, str]
    why: str | dict[str, str]
    xfail: str


REQUIRED = {"exercise": str, "name": str, "kind": str, "code": str}


def load(lesson: str) -> dict:
    """{"misconceptions": {id: description}, "variants": [Variant, ...]} of one lesson: the
    variants from its variants file, the misconceptions from its source notebook's metadata.
    A variant without its required fields is a ValueError naming the file and the entry."""
    path = VARIANTS / f"{lesson}.yml"
    known = yaml.safe_load(path.read_text())
    for number, variant in enumerate(known["variants"]):
        for key, kind in REQUIRED.items():
            if not isinstance(variant.get(key), kind):
                raise ValueError(f"{path}: variant {number} ({variant.get('name')!r}) needs {key}")
        if variant["kind"] not in ("correct", "wrong"):
            raise ValueError(f"{path}: variant {number}: kind is correct or wrong")
        if variant["kind"] == "wrong" and not variant.get("fails"):
            raise ValueError(f"{path}: variant {number}: a wrong answer names the tests it fails")
    source = nbformat.read(REPO / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    known["misconceptions"] = dict(source.metadata.get("autograder", {}).get("misconceptions", {}))
    return known


def variants(lesson: str) -> list[Variant]:
    return load(lesson)["variants"]


def source_with(lesson: str, answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The source notebook (reference answers, hidden tests) with `answers` (grade_id -> code)."""
    nb = nbformat.read(REPO / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in (answers or {}):
            cell.source = answers[grade_id]
    return nb


@dataclass
class Outcome:
    passed: bool
    message: str
    misconception: str | None = None
    hidden: bool = False  # failed in the part of the cell that only runs at grading


def is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def run_in_process(nb: nbformat.NotebookNode, drawn: dict | None = None) -> dict[str, Outcome]:
    """grade_id -> Outcome of every test cell, running all code cells in one namespace here.

    Each cell's figures are closed when it ends, as IPython's inline backend closes them in a
    kernel. `drawn`, if given, receives grade_id -> the figures each test cell drew (for its
    feedback), closed but whole, for the caller to inspect.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace = {"__name__": "__main__"}
    outcomes = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        test = is_test(cell)
        before = set(plt.get_fignums())
        try:
            code = compile(cell.source, TEST_FILE if test else "<cell>", "exec")
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(io.StringIO()) as out,
                contextlib.redirect_stderr(io.StringIO()),
            ):
                warnings.simplefilter("ignore")
                exec(code, namespace)
        except Exception as error:  # a learner cell's error, or a test's verdict
            if test:
                outcomes[cell.metadata.nbgrader.grade_id] = _failure(error, cell.source)
            continue
        finally:
            new = sorted(set(plt.get_fignums()) - before)
            if test and drawn is not None:
                drawn[cell.metadata.nbgrader.grade_id] = [plt.figure(n) for n in new]
            for number in new:
                plt.close(number)
        if test:
            lines = [line for line in out.getvalue().splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            outcomes[cell.metadata.nbgrader.grade_id] = Outcome(True, last)
    return outcomes


def _failure(error: BaseException, source: str) -> Outcome:
    lines = [  # the test cell's own statement that failed, not a line of a helper it defines
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == TEST_FILE and frame.name == "<module>"
    ]
    hidden_from = next(
        (n for n, line in enumerate(source.splitlines(), 1) if line.strip() == HIDDEN), None
    )
    hidden = bool(lines) and hidden_from is not None and lines[-1] > hidden_from
    if isinstance(error, AssertionError):
        return Outcome(False, str(error).strip(), getattr(error, "misconception", None), hidden)
    return Outcome(False, f"{type(error).__name__}: {error}", None, hidden)


def all_variants() -> list[tuple[str, int, dict]]:
    """(lesson, index, variant) for every known answer of every lesson."""
    lessons = sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())
    return [
        (lesson, index, variant)
        for lesson in lessons
        for index, variant in enumerate(variants(lesson))
    ]


def student(index: int) -> str:
    """The learner who hands in a lesson's variant number `index` when the variants are graded."""
    return f"v{index:02d}"


def per_test(variant: dict, key: str, grade_id: str):
    """A variant's `message` or `why` for one failing test (one value for all, or a mapping)."""
    value = variant.get(key)
    return value[grade_id] if isinstance(value, dict) else value


def reference_fragments(lesson: str) -> set[str]:
    """Code of the lesson's reference answers a failure message must not show, spaces removed.

    Every statement and expression of 12 characters or more inside a solution region, except names,
    attributes and strings (an API's name or a title is no answer), and except what the learner's
    notebook already shows (its explanations, examples and answer stubs).
    """
    source = nbformat.read(REPO / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    release = nbformat.read(REPO / "notebooks" / lesson / f"{lesson}.ipynb", as_version=4)
    public = "".join("".join(c.source.split()) for c in release.cells if not is_test(c))
    fragments = set()
    for cell in source.cells:
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        lines = cell.source.splitlines()
        begin = next(n for n, line in enumerate(lines, 1) if line.strip() == "### BEGIN SOLUTION")
        end = next(n for n, line in enumerate(lines, 1) if line.strip() == "### END SOLUTION")
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.Name, ast.Attribute, ast.Constant, ast.JoinedStr)):
                continue
            inside = begin < getattr(node, "lineno", 0) <= getattr(node, "end_lineno", end) < end
            if isinstance(node, (ast.stmt, ast.expr)) and inside:
                compact = "".join(ast.get_source_segment(cell.source, node).split())
                if len(compact) >= 12 and compact not in public:
                    fragments.add(compact)
    return fragments
