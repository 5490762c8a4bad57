"""Shared fixtures: a throwaway copy of this course, and a way to grade a class in it."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course, load_config

REPO = Path(__file__).resolve().parents[1]
COURSE_FILES = ("nbgrader_config.py", "source", "notebooks", "solutions")


@pytest.fixture(autouse=True)
def _environment_still_reaches_child_processes():
    """A test that replaces os.environ with a plain mapping (as nbgrader's test helper
    `run_nbgrader` does) makes every later test's environment changes invisible to the processes
    it starts: tests would pass or fail by their order. Such a test fails here instead."""
    yield
    assert isinstance(os.environ, os._Environ), "this test left os.environ replaced"


def ctrl_c_reaches_it() -> None:
    """`preexec_fn` for a process a test will Ctrl-C: SIGINT as a terminal's foreground command
    has it. A shell starting the test run in the background (`make test &`, nohup, a CI runner)
    leaves SIGINT ignored, every child inherits that, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def copy_course(target: Path) -> Path:
    """A fresh course folder (config, source, release, solutions) outside the repository."""
    target.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        elif src.exists():
            shutil.copy(src, target / name)
    return target


# Hidden tests that wait for another worker wait as long as that worker takes to start on a
# busy machine: a course made `patient` lets a test cell (and a notebook) take an hour.
PATIENT = """
c.Execute.timeout = 3600
c.Limits.test_timeout = 3600
c.Limits.notebook_timeout = 7200
"""

# Hidden-test code: whether the worker running it was forked from the first worker.
IN_A_FORKED_WORKER = """
import os
with open(f"/proc/{os.getppid()}/cmdline", "rb") as parent:
    forked = b"multiprocessing.spawn" in parent.read()
"""


def patient(course: Path) -> Path:
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(PATIENT)
    return course


def add_hidden_test(course: Path, lesson: str, code: str) -> None:
    """Append `code` as hidden tests to the first graded test cell of the lesson's source, as an
    instructor would write them (they run in the grading process)."""
    path = course / "source" / lesson / f"{lesson}.ipynb"
    source = nbformat.read(path, as_version=4)
    test = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")
                and not c.metadata["nbgrader"].get("solution"))  # fmt: skip
    test.source += f"\n### BEGIN HIDDEN TESTS\n{code.strip()}\n### END HIDDEN TESTS\n"
    nbformat.write(source, path)


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    return copy_course(tmp_path / "course")


def lessons() -> list[str]:
    return sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())


def release_notebook(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "notebooks" / lesson / f"{lesson}.ipynb", as_version=4)


def solution_notebook(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)


def source_notebook(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "source" / lesson / f"{lesson}.ipynb", as_version=4)


def submit(course: Path, student: str, lesson: str, nb_or_bytes, name: str | None = None) -> Path:
    """Put a notebook (a NotebookNode, or raw bytes for broken files) where nbgrader expects it."""
    folder = course / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{lesson}.ipynb")
    if isinstance(nb_or_bytes, (bytes, bytearray)):
        path.write_bytes(nb_or_bytes)
    else:
        path.write_text(nbformat.writes(nb_or_bytes), encoding="utf-8")
    return path


def answered(lesson: str, answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The learner release with the reference answers typed in, then `answers` (grade_id: code)."""
    return Course(REPO, load_config(REPO)).answered(lesson, answers)


def grades(course: Path) -> dict:
    """grades.json as {(student, lesson): submission}."""
    data = json.loads((course / "grades.json").read_text())
    return {(s["student"], s["assignment"]): s for s in data["submissions"]}


@pytest.fixture(scope="session")
def graded_lessons(tmp_path_factory) -> dict:
    """Every lesson's reference answers, untouched release and known answers (tests/lessons/
    variants/), graded once as one class by the real grader: {(student, lesson): submission}."""
    from known_answers import all_variants, student

    from autograder.grading.batch import grade_class

    course = copy_course(tmp_path_factory.mktemp("lessons") / "course")
    for lesson in lessons():
        submit(course, "solution", lesson, answered(lesson))
        submit(course, "untouched", lesson, release_notebook(lesson))
    for lesson, index, variant in all_variants():
        answers = {variant["exercise"]: variant["code"]}
        submit(course, student(index), lesson, answered(lesson, answers))
    grade_class(course=Course.find(course), jobs=2, feedback=False)
    return grades(course)
