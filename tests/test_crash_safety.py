"""Can `autograder grade` be killed, interrupted or started twice without losing or bending grades?

A small class is graded once without interruption (the reference). Copies of it are graded by
a real `autograder grade` process that is killed with SIGKILL at several points, then graded
again: grades.json, the gradebook and the feedback must equal the reference. Ctrl-C stops
cleanly and says what was kept; a second grader on the same course is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import answered, copy_course, ctrl_c_reaches_it, lessons, release_notebook, submit
from nbformat.v4 import new_code_cell

pytestmark = pytest.mark.slow
AUTOGRADER = str(Path(sys.executable).parent / "autograder")
FIRST = lessons()[0]
WAIT = 600  # seconds: generous, for a loaded machine; conditions are polled, never slept on
SLOW = 20  # seconds the last learner's notebook sleeps (its cells may take 60)


def _class(course: Path) -> Path:
    submit(course, "ada", FIRST, answered(FIRST))
    submit(course, "ben", FIRST, release_notebook(FIRST))
    submit(course, "cy", FIRST, b"{ damaged")
    submit(course, "dee", FIRST, answered(FIRST))
    # Graded last, and busy for SLOW seconds: whatever point a test waits for, grading is still
    # running when the test acts on it, however long the test takes to notice on a busy machine.
    slow = answered(FIRST)  # the cell's id is fixed: feedback pages show it, copies must match
    slow.cells.insert(0, new_code_cell(f"import time\ntime.sleep({SLOW})", id="sleeps"))
    submit(course, "zed", FIRST, slow)
    return course


def _start(course: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=ctrl_c_reaches_it,
    )


def _until(condition, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"grading ended before the condition: {process.communicate()}")
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)


def _state(course: Path) -> dict:
    """What an instructor gets: grades.json, gradebook scores, feedback pages (by name and text)."""
    from nbgrader.api import Gradebook

    from autograder.course import use_alembic_api

    use_alembic_api()
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        scores[(submission.student.id, assignment.name, grade.name)] = (
                            grade.auto_score,
                            grade.manual_score,
                            grade.needs_manual_grade,
                        )
    feedback = (
        {
            str(p.relative_to(course / "feedback")): p.read_text()
            for p in sorted((course / "feedback").rglob("*.html"))
        }
        if (course / "feedback").exists()
        else {}
    )
    return {
        "grades": json.loads((course / "grades.json").read_text()),
        "gradebook": scores,
        "feedback": feedback,
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    course = _class(copy_course(tmp_path_factory.mktemp("reference") / "course"))
    run = subprocess.run(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "1"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return _state(course)


def _first_feedback(course: Path):
    return lambda: (
        any((course / "feedback").rglob("*.html")) if (course / "feedback").exists() else False
    )


def _lock_taken(course: Path):
    lock = course / ".autograder" / "grade.lock"
    return lambda: lock.exists() and lock.read_text().strip().isdigit()


def _first_autograded(course: Path):
    return lambda: (
        any((course / "autograded").rglob("*.ipynb")) if (course / "autograded").exists() else False
    )


@pytest.mark.parametrize(
    "point", ["lock-taken", "first-notebook-autograded", "first-feedback-written"]
)
def test_killed_at_any_point_then_run_again_gives_the_uninterrupted_result(
    reference, tmp_path, point
):
    course = _class(copy_course(tmp_path / "course"))
    condition = {
        "lock-taken": _lock_taken,
        "first-notebook-autograded": _first_autograded,
        "first-feedback-written": _first_feedback,
    }[point](course)
    grading = _start(course)
    _until(condition, grading)
    os.killpg(grading.pid, signal.SIGKILL)
    grading.wait()
    again = subprocess.run(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "1"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert _state(course) == reference


def test_ctrl_c_stops_cleanly_says_what_was_kept_and_a_rerun_finishes(reference, tmp_path):
    course = _class(copy_course(tmp_path / "course"))
    grading = _start(course)
    _until(_first_feedback(course), grading)
    grading.send_signal(signal.SIGINT)
    out, err = grading.communicate(timeout=WAIT)
    assert grading.returncode == 130, (out[-2000:], err[-2000:])
    assert "Interrupted" in out and "run the same command again" in out
    kept = json.loads((course / "grades.json").read_text())["submissions"]
    assert kept and all(entry["status"] in ("graded", "ungradable") for entry in kept)
    again = subprocess.run(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "1"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert _state(course) == reference


def test_a_second_grader_on_the_same_course_is_refused(tmp_path):
    course = _class(copy_course(tmp_path / "course"))
    first = _start(course)
    try:
        _until(_lock_taken(course), first)
        second = subprocess.run(
            [AUTOGRADER, "grade", "--course", str(course)], capture_output=True, text=True
        )
        assert second.returncode == 2
        assert "another `autograder grade`" in second.stderr and str(first.pid) in second.stderr
    finally:
        out, err = first.communicate(timeout=WAIT)
    assert first.returncode == 0, err[-2000:]
    shutil.rmtree(course / ".autograder", ignore_errors=True)
