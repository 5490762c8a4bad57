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
from conftest import (
    IN_A_FORKED_WORKER,
    add_hidden_test,
    answered,
    copy_course,
    ctrl_c_reaches_it,
    lessons,
    patient,
    release_notebook,
    submit,
)
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


def _start(course: Path, *args: str, jobs: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", str(jobs), *args],
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


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent, state, start time) of every process."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(entry)] = (int(fields[1]), fields[0], fields[19])
    return found


def _descendants(root: int) -> dict[int, str]:
    """pid -> start time of every process below `root`."""
    processes = _processes()
    found, stack = {}, [root]
    while stack:
        pid = stack.pop()
        for child, (parent, _, started) in processes.items():
            if parent == pid and child not in found:
                found[child] = started
                stack.append(child)
    return found


def _is_worker(pid: int) -> bool:
    try:
        return b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_killing_the_grader_ends_every_worker_and_sandbox_it_started(tmp_path):
    """Only the grading process is killed (not its process group), while the worker forked from
    the first one is in a hidden test that would wait for an hour (the first worker's own hidden
    test waits until then, so that the other gets a job): both workers, their sandboxes and their
    kernels end all the same."""
    course = patient(copy_course(tmp_path / "course"))
    waiting = tmp_path / "waiting"
    add_hidden_test(
        course,
        FIRST,
        IN_A_FORKED_WORKER
        + f"""
import time
if forked:
    open({str(waiting)!r}, "w").close()
    time.sleep(3600)
while not os.path.exists({str(waiting)!r}):  # the first worker: wait until the other waits
    time.sleep(0.05)
""",
    )
    for learner in ("ada", "dee", "zed"):
        submit(course, learner, FIRST, answered(FIRST))
    grading = _start(course, jobs=2)
    _until(waiting.exists, grading)
    started = _descendants(grading.pid)
    assert sum(map(_is_worker, started)) == 2
    os.kill(grading.pid, signal.SIGKILL)
    grading.wait()

    def all_ended() -> bool:
        now = _processes()
        return not [pid for pid, at in started.items()
                    if pid in now and now[pid][2] == at and now[pid][1] != "Z"]  # fmt: skip

    _until(all_ended)


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_cleanly_says_what_was_kept_and_a_rerun_finishes(reference, tmp_path, jobs):
    course = _class(copy_course(tmp_path / "course"))
    grading = _start(course, jobs=jobs)
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
