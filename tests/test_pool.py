"""Worker processes: a job whose worker dies is retried once by a fresh worker, then reported as
a grader error with its reason, and the rest of the class is graded; the first worker warms up
alone, the others start once it is ready, forked from it, and do not die with it.

A worker dies here the way an instructor's own code can kill it: a hidden test that ends the
grading process (`os._exit`) when the learner's notebook defines a marker name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_A_FORKED_WORKER, add_hidden_test, answered, copy_course, patient, submit
from nbformat.v4 import new_code_cell

from autograder.course import Course
from autograder.grading.batch import grade_class
from autograder.phases import VARIABLE

LESSON = "01-lemur"
AUTOGRADER = str(Path(sys.executable).parent / "autograder")
KILLER = """
try:
    end_the_grading_process
except NameError:
    pass
else:
    import os
    os._exit(3)
"""

pytestmark = pytest.mark.slow


def _course_with_a_deadly_test(tmp_path):
    course = copy_course(tmp_path / "course")
    add_hidden_test(course, LESSON, KILLER)
    return course


def test_a_job_whose_worker_dies_is_retried_once_then_reported_and_the_class_is_graded(
    tmp_path, monkeypatch
):
    course = _course_with_a_deadly_test(tmp_path)
    for learner in ("alice", "bob"):
        submit(course, learner, LESSON, answered(LESSON))
    deadly = answered(LESSON)
    deadly.cells.insert(1, new_code_cell("end_the_grading_process = True"))
    submit(course, "mallory", LESSON, deadly)
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(VARIABLE, str(events))

    outcome = grade_class(course=Course.find(course), jobs=2, feedback=False)

    results = {r.student: r for r in outcome.results}
    for learner in ("alice", "bob"):
        assert not results[learner].grader_error
        assert results[learner].score == results[learner].max_score > 0
    mallory = results["mallory"]
    assert mallory.grader_error and mallory.score == 0
    assert mallory.detail == "the worker process died twice on this submission"
    assert mallory.max_score == results["alice"].max_score  # the lesson's points, as for others
    records = [json.loads(line) for line in events.read_text().splitlines()]
    starts = [r for r in records if r.get("event") == "notebook start"]
    assert len(starts) == 4  # alice, bob, and mallory's notebook twice: one retry, no more


def test_the_first_worker_warms_up_alone_and_grades_with_collections_on(tmp_path, monkeypatch):
    """Workers import with the garbage collector off; a hidden test sees it on again."""
    course = copy_course(tmp_path / "course")
    add_hidden_test(course, LESSON, "import gc\nassert gc.isenabled(), 'no collections'")
    for learner in ("alice", "bob", "carol"):
        submit(course, learner, LESSON, answered(LESSON))
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(VARIABLE, str(events))

    outcome = grade_class(course=Course.find(course), jobs=2, feedback=False)

    assert [r.score == r.max_score > 0 for r in outcome.results] == [True] * 3
    records = [json.loads(line) for line in events.read_text().splitlines()]
    up = sorted((r["at"], r["pid"]) for r in records if r.get("event") == "worker process up")
    ready = {r["pid"]: r["at"] for r in records if r.get("event") == "worker ready"}
    assert len(up) == 2, "two jobs' worth of learners: two workers"
    (first_up, first), (second_up, _) = up
    assert first_up < ready[first] <= second_up


def _logs_who_where(log) -> str:
    """Hidden-test code that appends `<who> <worker pid> <forked: True/False>` to `log`."""
    return (
        IN_A_FORKED_WORKER
        + f"""
with open({str(log)!r}, "a") as log:
    log.write(f"{{who}} {{os.getpid()}} {{forked}}\\n")
"""
    )


def _runs(log) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def test_workers_forked_from_the_first_do_not_die_with_it(tmp_path):
    """A hidden test that, in a forked worker, kills the worker it was forked from (the first),
    and logs who it graded where; in the first worker it waits until that has happened, so the
    forked one gets a job whatever the timing. The learner the forked worker grades is graded
    once, and every learner fully."""
    course = patient(copy_course(tmp_path / "course"))
    log, killed = tmp_path / "graded.log", tmp_path / "killed"
    add_hidden_test(
        course,
        LESSON,
        _logs_who_where(log)
        + f"""
if forked and not os.path.exists({str(killed)!r}):
    open({str(killed)!r}, "w").close()
    os.kill(os.getppid(), 9)
import time
while not os.path.exists({str(killed)!r}):
    time.sleep(0.05)
""",
    )
    learners = ("alice", "bob", "carol", "dave")
    for learner in learners:
        notebook = answered(LESSON)
        notebook.cells.insert(1, new_code_cell(f"who = {learner!r}"))
        submit(course, learner, LESSON, notebook)

    outcome = grade_class(course=Course.find(course), jobs=2, feedback=False)

    assert [r.score == r.max_score > 0 for r in outcome.results] == [True] * len(learners)
    runs = _runs(log)
    forked = [who for who, _, was_forked in runs if was_forked == "True"]
    assert forked, "the second worker is forked from the first"
    assert [who for who, _, _ in runs].count(forked[0]) == 1, "its worker went on after the kill"


def test_a_class_with_nothing_gradable_ends(tmp_path):
    """Workers are started before intake; when intake finds nothing to grade, the pool is closed
    while the first worker may still be starting, and the forked ones not yet forked."""
    course = copy_course(tmp_path / "course")
    for learner in ("alice", "bob", "carol"):
        submit(course, learner, LESSON, b"{ damaged")
    run = subprocess.run(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    statuses = [
        s["status"] for s in json.loads((course / "grades.json").read_text())["submissions"]
    ]
    assert statuses == ["ungradable"] * 3


def test_a_first_worker_with_threads_does_not_fork_and_the_others_start_fresh(
    tmp_path, monkeypatch
):
    """numpy's OpenBLAS asked for two threads: the first worker has a second thread when it is
    ready, so it forks nothing (a fork could copy a lock that thread holds) and the second worker
    is started as the first was."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("OpenBLAS starts no second thread on one core")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    course = patient(copy_course(tmp_path / "course"))
    log = tmp_path / "graded.log"
    add_hidden_test(
        course,
        LESSON,
        _logs_who_where(log)
        + f"""
import time
if who == "alice":  # the first job: held until another worker has graded a learner
    while len(open({str(log)!r}).read().splitlines()) < 2:
        time.sleep(0.05)
""",
    )
    for learner in ("alice", "bob", "carol"):
        notebook = answered(LESSON)
        notebook.cells.insert(1, new_code_cell(f"who = {learner!r}"))
        submit(course, learner, LESSON, notebook)

    outcome = grade_class(course=Course.find(course), jobs=2, feedback=False)

    assert [r.score == r.max_score > 0 for r in outcome.results] == [True] * 3
    runs = _runs(log)
    assert len({pid for _, pid, _ in runs}) == 2, "two workers graded"
    assert [forked for _, _, forked in runs] == ["False"] * len(runs)
