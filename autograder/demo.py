"""`autograder demo` (what `make demo` runs): build the course, grade a sample class, show the result.

The sample class is laid out in `.demo/` beside the course, so the course's own gradebook and
submissions are untouched:

- **ada** answers every lesson with the reference solutions (full marks);
- **ben** makes the first known mistake of each lesson, from `tests/lessons/variants/`;
- **cy** hands in a damaged notebook, a renamed one and an empty one (ungradable, with reasons);
- **dee** tampers: patches torch's checkers, poisons the reference, rewrites later cells, reads the
  gradebook and hidden tests, hard-codes the slide's output.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import yaml

from .build import build
from .course import Course
from .grade import grade_class
from .report import console, print_summary

TAMPERING = '''\
# Everything a learner might try to earn points they did not earn.
import os, socket, torch, numpy as np
torch.allclose = lambda *a, **k: True            # patch the checkers
torch.testing.assert_close = lambda *a, **k: None
np.allclose = lambda *a, **k: True
torch.sigmoid = lambda t: t                      # poison the reference
for path in ["../../../gradebook.db", "../../../source", os.path.expanduser("~/.."), "/work", "/home"]:
    print(path, "->", os.listdir(path) if os.path.isdir(path) else os.path.exists(path))
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
except OSError as error:
    print("no network:", error)
'''


def main(*, course_dir: str | None = None) -> int:
    course = Course.find(course_dir)
    console.rule("1. build the course")
    report = build(course)
    console.print(f"built {len(report.lessons)} lessons into notebooks/ and solutions/ in {report.seconds:.0f} s")
    console.rule("2. lay out a sample class")
    demo = lay_out(course, course.root / ".demo")
    console.print("ada: reference answers | ben: the first known mistake of each lesson | "
                  "cy: damaged, renamed and empty notebooks | dee: tampers with the grader")
    console.rule("3. grade it: autograder grade --course .demo")
    outcome = grade_class(course=Course.find(demo), jobs=os.cpu_count() or 1, progress=True)
    print_summary(outcome, course)
    console.rule("what ben reads in his feedback")
    for result in outcome.results:
        if result.student == "ben":
            for test in result.tests:
                if not test.passed:
                    console.print(f"  {result.assignment} / {test.grade_id}: {test.message}")
                    break
    return 0


def lay_out(course: Course, target: Path) -> Path:
    """A copy of the course with a sample class in submitted/; returns its folder."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(course.root / "nbgrader_config.py", target)
    for folder in (course.source, course.release):
        shutil.copytree(folder, target / folder.name)
    lessons = course.lessons
    mistakes = _first_mistakes(course.root / "tests" / "lessons" / "variants", lessons)
    for lesson in lessons:
        _submit(target, "ada", lesson, course.answered(lesson))
        if lesson in mistakes:
            exercise, code = mistakes[lesson]
            _submit(target, "ben", lesson, course.answered(lesson, {exercise: code}))
        else:
            _submit(target, "ben", lesson, nbformat.read(course.release / lesson / f"{lesson}.ipynb", as_version=4))
    first, *rest = lessons
    damaged = nbformat.writes(course.answered(first))
    (_folder(target, "cy", first) / f"{first}.ipynb").write_text(damaged[: len(damaged) // 2])
    if rest:
        (_folder(target, "cy", rest[0]) / "Untitled.ipynb").write_text(nbformat.writes(course.answered(rest[0])))
        (_folder(target, "cy", rest[-1]) / f"{rest[-1]}.ipynb").write_bytes(b"")
    nb = course.answered(first, {grade_id: "raise NotImplementedError()" for grade_id in list(course.exercises(first))[1:]})
    nb.cells.insert(1, nbformat.v4.new_code_cell(TAMPERING))
    _submit(target, "dee", first, nb)
    return target


def _first_mistakes(folder: Path, lessons: list[str]) -> dict:
    mistakes = {}
    for lesson in lessons:
        path = folder / f"{lesson}.yml"
        if path.exists():
            known = yaml.safe_load(path.read_text()) or {}
            wrong = [v for v in known.get("variants", []) if v.get("kind") == "wrong"]
            if wrong:
                mistakes[lesson] = (wrong[0]["exercise"], wrong[0]["code"])
    return mistakes


def _folder(course: Path, student: str, lesson: str) -> Path:
    folder = course / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _submit(course: Path, student: str, lesson: str, nb: nbformat.NotebookNode) -> None:
    nbformat.write(nb, _folder(course, student, lesson) / f"{lesson}.ipynb")
