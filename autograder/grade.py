"""`autograder grade`: a whole class, in parallel, into nbgrader's gradebook, feedback and a CSV.

The parent process finds and stages the submissions (`intake`), makes sure the gradebook knows
the lessons and learners, and hands one (learner, lesson) job at a time to worker processes.
Each worker runs nbgrader's own `autograde` with `TrustedExecute` in place of `Execute`, then
nbgrader's `generate_feedback`, and reports back. The parent writes `grades.json`, exports the
CSV with nbgrader's exporter, and prints the summary. A job that fails for any reason is
recorded with its reason; the batch always finishes.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .course import Course, CourseError
from .intake import Submission, find_submissions, stage

GRADER_ERROR = ("the grader could not grade this notebook because of an error on its side; your instructor "
                "has the details and will grade it")
AUTOGRADE_PREPROCESSORS = [
    "autograder.executor.TrustedExecute",
    "autograder.sanitize.NeutraliseLearnerMarkup",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class NotebookResult:
    student: str
    assignment: str
    notebook: str
    status: str  # "graded" | "ungradable"
    reason: str | None
    score: float
    max_score: float
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detail: str | None = None  # for the instructor only (a grader error's log); not in grades.json


@dataclass
class Outcome:
    results: list[NotebookResult]
    seconds: float
    isolation: str
    paths: dict


# ------------------------------------------------------------------------------- entry point

def main(*, course: Course, submitted: str | None, assignments: list[str] | None,
         students: list[str] | None, jobs: int, feedback: bool = True) -> int:
    from . import report
    outcome = grade_class(course=course, submitted=Path(submitted) if submitted else None,
                          assignments=assignments, students=students, jobs=jobs, feedback=feedback,
                          progress=True)
    report.print_summary(outcome, course)
    return 0


def grade_class(*, course: Course, submitted: Path | None = None, assignments: list[str] | None = None,
                students: list[str] | None = None, jobs: int = 1, feedback: bool = True,
                progress: bool = False) -> Outcome:
    """Grade every submission found; returns one NotebookResult per expected notebook."""
    from . import report
    from .sandbox import Sandbox, choose_isolation, describe_isolation, exposed_paths

    _quiet_nbgrader()
    started = time.monotonic()
    submitted = (submitted or course.folder("submitted_directory")).resolve()
    unknown = sorted(set(assignments or []) - set(course.lessons))
    if unknown:
        raise CourseError(f"no such lesson: {', '.join(unknown)} (lessons: {', '.join(course.lessons)})")
    settings = Sandbox(config=course.config)
    isolation = choose_isolation(settings)
    _refuse_exposed_course(course, submitted, exposed_paths() if isolation != "none" else [])
    if isolation == "none":
        report.warn_unsandboxed()
    submissions = find_submissions(course, submitted, lessons=assignments, students=students)
    jobs_todo = sorted({(s.student, s.lesson) for s in submissions if s.gradable})
    results: list[NotebookResult] = []
    with tempfile.TemporaryDirectory(prefix="autograder-staging-") as tmp:
        staging = Path(tmp) / "submitted"
        # Workers import torch and start their sandboxes while the gradebook is prepared.
        pool = _start_pool(course, staging, min(max(1, jobs), len(jobs_todo)), feedback) if jobs_todo else None
        _prepare_gradebook(course, sorted({s.lesson for s in submissions if s.gradable}),
                           sorted({s.student for s in submissions}))
        stage(submissions, staging)
        by_job = {}
        for sub in submissions:
            by_job.setdefault((sub.student, sub.lesson), []).append(sub)
        for sub in submissions:
            if not sub.gradable and all(not s.gradable for s in by_job[(sub.student, sub.lesson)]):
                _forget(course, sub.student, sub.lesson)
        done = _run_jobs(course, staging, jobs_todo, by_job, max(1, jobs), feedback, progress, pool)
        for sub in submissions:
            if sub.gradable:
                results.append(done[(sub.student, sub.lesson, sub.notebook)])
            else:
                results.append(_ungradable(course, sub))
    results.sort(key=lambda r: (r.student, r.assignment, r.notebook))
    paths = _write_outputs(course, results, partial=bool(assignments or students))
    return Outcome(results, time.monotonic() - started, describe_isolation(isolation), paths)


# ---------------------------------------------------------------------------------- workers

_worker: dict = {}


def _quiet_nbgrader() -> None:
    """nbgrader's gradebook code trips SQLAlchemy warnings that say nothing to an instructor."""
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)


def _init_worker(course_root: str, staging: str, feedback: bool) -> None:
    _quiet_nbgrader()
    import matplotlib
    matplotlib.use("Agg")
    import torch  # noqa: F401  (imported once per worker, not once per test)
    from .sandbox import KernelLauncher, Sandbox, choose_isolation

    course = Course.find(course_root)
    settings = Sandbox(config=course.config)
    launcher = KernelLauncher(settings, choose_isolation(settings))
    api = course.api(submitted_directory=staging,
                     settings={"Autograde": {"autograde_preprocessors": AUTOGRADE_PREPROCESSORS}})
    _worker.update(course=course, launcher=launcher, api=api, feedback=feedback)
    launcher.warm_up()
    import matplotlib.pyplot  # noqa: F401  (test cells rebuild learner figures)


def _grade_job(student: str, lesson: str, notebooks: list[str]) -> list[dict]:
    """In a worker: autograde one learner's lesson with nbgrader and collect per-test verdicts."""
    from . import executor
    api, course = _worker["api"], _worker["course"]
    with executor.using(_worker["launcher"]):
        outcome = api.autograde(lesson, student, force=True, create=True)
    if not outcome.get("success"):
        detail = " / ".join((outcome.get("log") or outcome.get("error") or "").strip().splitlines()[-3:])
        return [{"notebook": nb, "error": GRADER_ERROR, "detail": detail} for nb in notebooks]
    if _worker["feedback"]:
        api.generate_feedback(lesson, student, force=True)
    return [_collect(course, student, lesson, nb) for nb in notebooks]


def _collect(course: Course, student: str, lesson: str, notebook: str) -> dict:
    from nbgrader.api import Gradebook

    from .executor import is_test_cell, test_outcome
    path = course.folder("autograded_directory") / student / lesson / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    messages = {cell.metadata["nbgrader"]["grade_id"]: test_outcome(cell) for cell in nb.cells if is_test_cell(cell)}
    tests = []
    with Gradebook(course.db_url) as gb:
        submitted = gb.find_submission_notebook(notebook, lesson, student)
        for grade in sorted(submitted.grades, key=lambda g: g.name):
            if grade.cell.cell_type != "code" or grade.name not in messages:
                continue
            passed, message = messages[grade.name]
            tests.append(asdict(TestResult(grade.name, float(grade.score), float(grade.max_score), passed, message)))
        score, max_score = float(submitted.score), float(submitted.max_score)
    stopped = (nb.metadata.get("autograder") or {}).get("stopped")
    return {"notebook": notebook, "score": score, "max_score": max_score, "tests": tests, "stopped": stopped}


def _start_pool(course: Course, staging: Path, workers: int, feedback: bool) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(str(course.root), str(staging), feedback))
    pool.submit(int)  # starts the workers now (spawned pools start them all at the first task)
    return pool


def _run_jobs(course, staging, jobs_todo, by_job, jobs, feedback, progress, pool=None) -> dict:
    """Grade every job; a worker that dies costs one retry of the jobs it took down, not the batch."""
    from . import report
    done: dict = {}
    pending = list(jobs_todo)
    with report.progress_bar(len(pending), enabled=progress) as advance:
        for _attempt in range(2):
            if pending:
                pool = pool or _start_pool(course, staging, min(jobs, len(pending)), feedback)
                pending = _run_pool(pool, pending, by_job, course, done, advance)
                pool = None
    for student, lesson in pending:
        for sub in by_job[(student, lesson)]:
            if sub.gradable:
                done[(student, lesson, sub.notebook)] = _result(
                    course, sub, {"error": GRADER_ERROR, "detail": "the worker process died twice on this submission"})
    return done


def _run_pool(pool, pending, by_job, course, done, advance) -> list:
    """Run jobs in the pool, then shut it down; return the jobs lost to a crashed worker."""
    lost = []
    with pool:
        futures = {pool.submit(_grade_job, student, lesson,
                               [s.notebook for s in by_job[(student, lesson)] if s.gradable]): (student, lesson)
                   for student, lesson in pending}
        for future in as_completed(futures):
            student, lesson = futures[future]
            gradable = [s for s in by_job[(student, lesson)] if s.gradable]
            try:
                outputs = {o["notebook"]: o for o in future.result()}
            except BrokenProcessPool:
                lost.append((student, lesson))
                continue
            except Exception as error:  # a grader bug must not stop the class
                outputs = {s.notebook: {"error": GRADER_ERROR, "detail": f"{type(error).__name__}: {error}"}
                           for s in gradable}
            for sub in gradable:
                done[(student, lesson, sub.notebook)] = _result(course, sub, outputs[sub.notebook])
            advance()
    return lost


def _result(course: Course, sub: Submission, output: dict) -> NotebookResult:
    if "error" in output:
        _forget(course, sub.student, sub.lesson)
        return NotebookResult(sub.student, sub.lesson, sub.notebook, "ungradable", output["error"], 0.0,
                              _max_score(course, sub.lesson, sub.notebook), [], sub.notes, output.get("detail"))
    notes = list(sub.notes)
    if output.get("stopped"):
        notes.append("your notebook stopped early: " + output["stopped"])
    tests = [TestResult(**t) for t in output["tests"]]
    return NotebookResult(sub.student, sub.lesson, sub.notebook, "graded", None, output["score"],
                          output["max_score"], tests, notes)


def _ungradable(course: Course, sub: Submission) -> NotebookResult:
    max_score = _max_score(course, sub.lesson, sub.notebook) if sub.notebook else 0.0
    return NotebookResult(sub.student, sub.lesson, sub.notebook, "ungradable", sub.problem, 0.0, max_score, [], sub.notes)


# ------------------------------------------------------------------------------- gradebook

def _prepare_gradebook(course: Course, lessons: list[str], students: list[str]) -> None:
    """Make the gradebook know the current version of each lesson and every learner.

    nbgrader's generate_assignment stores each lesson's cells (hidden tests included) in the
    gradebook; it costs seconds per lesson, so it runs only for lessons whose source changed
    since the last time (a fingerprint is kept beside the course) or that the gradebook lacks.
    """
    from nbgrader.api import Gradebook, MissingEntry

    record = course.root / ".gradebook-sources.json"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    stale = []
    with Gradebook(course.db_url) as gb:
        for lesson in lessons:
            try:
                registered = sorted(nb.name for nb in gb.find_assignment(lesson).notebooks)
            except MissingEntry:
                registered = []
            fingerprint = _fingerprint(course, lesson)
            if registered != course.notebooks(lesson) or known.get(course.db_url, {}).get(lesson) != fingerprint:
                stale.append((lesson, fingerprint))
    if stale:
        with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
            api = course.api(release_directory=tmp)
            for lesson, fingerprint in stale:
                result = api.generate_assignment(lesson, force=True, create=True)
                if not result.get("success"):
                    raise CourseError(f"nbgrader could not register lesson {lesson}:\n{result.get('log', '')[-2000:]}")
                known.setdefault(course.db_url, {})[lesson] = fingerprint
        record.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    with Gradebook(course.db_url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def _fingerprint(course: Course, lesson: str) -> str:
    digest = hashlib.sha256()
    for notebook in course.notebooks(lesson):
        digest.update(notebook.encode() + b"\0" + course.source_notebook(lesson, notebook).read_bytes())
    return digest.hexdigest()


def _forget(course: Course, student: str, lesson: str) -> None:
    """Drop earlier grades of a submission that can no longer be graded, so none are stale."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(course.db_url) as gb:
        try:
            gb.remove_submission(lesson, student)
        except MissingEntry:
            pass
    for folder in ("autograded_directory", "feedback_directory"):
        shutil.rmtree(course.folder(folder) / student / lesson, ignore_errors=True)


def _max_score(course: Course, lesson: str, notebook: str) -> float:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(course.db_url) as gb:
        try:
            return float(gb.find_notebook(notebook, lesson).max_score)
        except MissingEntry:
            return 0.0


def _refuse_exposed_course(course: Course, submitted: Path, exposed: list[str]) -> None:
    """The sandbox must not be able to read the course: refuse a layout that would let it."""
    for path in exposed:
        for secret in (course.root, submitted):
            if secret == Path(path) or Path(path) in secret.parents:
                raise CourseError(f"the sandbox would expose {secret} (it lies under {path}, which kernels "
                                  "can read); move the course folder elsewhere")


# ---------------------------------------------------------------------------------- outputs

def _write_outputs(course: Course, results: list[NotebookResult], partial: bool) -> dict:
    """grades.json (merged with earlier entries when only part of the class was graded) and the CSV."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    grades_json = course.root / "grades.json"
    entries = [
        {"student": r.student, "assignment": r.assignment, "notebook": r.notebook, "status": r.status,
         "reason": r.reason, "score": r.score, "max_score": r.max_score,
         "tests": [asdict(t) for t in r.tests], "notes": r.notes}
        for r in results]
    if partial and grades_json.exists():
        regraded = {(r.student, r.assignment) for r in results}
        try:
            earlier = json.loads(grades_json.read_text())["submissions"]
        except (ValueError, KeyError):
            earlier = []
        entries += [e for e in earlier if (e.get("student"), e.get("assignment")) not in regraded]
        entries.sort(key=lambda e: (e["student"], e["assignment"], e["notebook"]))
    grades_json.write_text(json.dumps({"submissions": entries}, indent=2) + "\n")
    grades_csv = course.root / "grades.csv"
    with Gradebook(course.db_url) as gb:
        CsvExportPlugin(to=str(grades_csv)).export(gb)
    return {"gradebook": course.db_url, "grades.json": str(grades_json), "grades.csv": str(grades_csv),
            "autograded": str(course.folder("autograded_directory")),
            "feedback": str(course.folder("feedback_directory"))}

