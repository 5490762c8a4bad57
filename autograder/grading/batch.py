"""A whole class, in parallel, into nbgrader's gradebook, feedback, grades.json and a CSV.

The grading process resolves the course, the limits and the sandbox once; finds and stages the
submissions (`intake`); makes sure the gradebook knows the lessons and learners; and hands one
(learner, lesson) job at a time to worker processes (`pool`). Then it writes grades.json and
the CSV. A submission that cannot be graded, for whatever reason, is recorded with its reason;
the rest of the class is graded as if it were not there. One batch per course at a time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from .. import phases
from ..course import Course
from ..errors import CourseError, GraderBusy
from ..results import UNGRADABLE, NotebookResult, read_grades_json, write_grades_json
from ..sandbox import bwrap
from ..sandbox.isolation import describe
from ..sandbox.limits import Sandboxing
from . import gradebook
from .intake import Submission, find_submissions, stage, unusable_name
from .pool import WorkerPool
from .worker import GradingSetup, Job

STATE = ".autograder"  # beside the course: the lock and the staging folder of the running batch


@dataclass
class Outcome:
    """What one `grade` run did."""

    results: list[NotebookResult]
    seconds: float
    isolation: str
    paths: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def grader_errors(self) -> list[NotebookResult]:
        return [r for r in self.results if r.grader_error]


def main(
    *,
    course: Course,
    submitted: str | None,
    assignments: list[str] | None,
    students: list[str] | None,
    jobs: int,
    feedback: bool = True,
    verbose: bool = False,
) -> int:
    """`autograder grade`: grade, show progress and the summary; 1 if a notebook hit a grader
    error."""
    from ..terminal import make_console, print_summary, progress_bar, warn_unsandboxed

    console = make_console()
    sandboxing = Sandboxing.resolve(course.config)
    if sandboxing.mode == "none":
        warn_unsandboxed(console)
    outcome = grade_class(course=course, submitted=Path(submitted) if submitted else None,
                          assignments=assignments, students=students, jobs=jobs, feedback=feedback,
                          sandboxing=sandboxing,
                          progress=lambda total: progress_bar(console, total))  # fmt: skip
    if not outcome.interrupted:
        with phases.phase("report"):
            outcome.paths["report"] = _class_report(course, verbose)
    print_summary(console, outcome, verbose=verbose)
    if outcome.interrupted:
        return 130
    return 1 if outcome.grader_errors else 0


def _class_report(course: Course, verbose: bool) -> str:
    """Write the class report; if that fails, say why and how to retry (the grades stay written)."""
    from ..report import write_report

    try:
        return str(write_report(course))
    except Exception as error:  # the grades are written; the report must not hide them
        if verbose:
            import traceback

            traceback.print_exc()
        return f"not written ({type(error).__name__}: {error}); run `autograder report -v`"


def grade_class(*, course: Course, submitted: Path | None = None,
                assignments: list[str] | None = None, students: list[str] | None = None,
                jobs: int = 1, feedback: bool = True, sandboxing: Sandboxing | None = None,
                progress: Callable[[int], AbstractContextManager] | None = None,
                ) -> Outcome:  # fmt: skip
    """Grade every submission found; one NotebookResult per expected notebook.

    `progress(total)`, if given, is a context manager yielding a function called once per job done.
    """
    started = time.monotonic()
    submitted = (submitted or course.folder("submitted_directory")).resolve()
    refuse_unknown_lessons(course, assignments)
    sandboxing = sandboxing or Sandboxing.resolve(course.config)
    refuse_exposed_course(course, submitted, sandboxing.mode)
    with _one_batch(course) as state:
        staging = state / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        setup = GradingSetup(
            course.root, course.config, sandboxing, staging / "submitted", feedback
        )
        submissions: list[Submission] = []
        results: dict[tuple, NotebookResult] = {}
        interrupted, pool = False, None
        try:
            # Workers import torch and start their sandboxes while submissions are read and the
            # gradebook is prepared; the folders tell how many jobs there can be at most.
            folders = _lesson_folders(submitted, assignments, students)
            phases.event("pool starting")
            pool = WorkerPool(setup, min(max(1, jobs), folders)) if folders else None
            gradebook.quiet()
            gradebook.use_alembic_api()
            submissions = take_in(course, submitted, assignments=assignments, students=students)
            todo = _jobs(submissions)
            with phases.phase("stage"):
                stage(submissions, staging / "submitted")
            with progress(len(todo)) if progress else nullcontext(lambda: None) as advance:

                def done(job: Job, graded: list[NotebookResult]) -> None:
                    for result in graded:
                        if result.grader_error:
                            gradebook.forget(course, result.student, result.assignment)
                        results[result.key] = result
                    advance()

                if pool is not None:
                    pool.run(todo, done)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if pool is not None:
                pool.close(kill=interrupted)
            shutil.rmtree(staging, ignore_errors=True)
        final = final_results(submissions, results, gradebook.max_scores(course))
        partial = bool(assignments or students) or interrupted
        with phases.phase("outputs"):
            paths = write_outputs(course, final, partial=partial)
    return Outcome(sorted(final, key=lambda r: r.key), time.monotonic() - started,
                   describe(sandboxing.mode), paths, interrupted)  # fmt: skip


def refuse_unknown_lessons(course: Course, assignments: list[str] | None) -> None:
    unknown = sorted(set(assignments or []) - set(course.lessons))
    if unknown:
        raise CourseError(
            f"no such lesson: {', '.join(unknown)} (lessons: {', '.join(course.lessons)})"
        )


def take_in(
    course: Course,
    submitted: Path,
    *,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
) -> list[Submission]:
    """Intake without grading: find the submissions, prepare the gradebook for them, forget the
    grades of lessons that can no longer be graded. `grade_class` grades next; the queue's
    enqueuer has it graded elsewhere."""
    refuse_unknown_lessons(course, assignments)
    with phases.phase("intake"):
        submissions = find_submissions(course, submitted, lessons=assignments, students=students)
    known = sorted({s.student for s in submissions if not unusable_name(s.student)})
    with phases.phase("gradebook prepare"):
        gradebook.prepare(course, sorted({s.lesson for s in submissions if s.gradable}), known)
    _forget_ungradable(course, submissions)
    return submissions


def jobs_of(submissions: list[Submission]) -> list[Job]:
    """One job per (learner, lesson) with a gradable notebook."""
    return _jobs(submissions)


def final_results(
    submissions: list[Submission],
    results: dict[tuple, NotebookResult],
    max_scores: dict[tuple[str, str], float],
) -> list[NotebookResult]:
    """One result per expected notebook: what grading gave, or why intake could not grade it."""
    final = []
    for sub in submissions:
        if sub.gradable and sub.key in results:
            result = results[sub.key]
            if result.grader_error:
                result.max_score = max_scores.get((sub.lesson, sub.notebook), 0.0)
            final.append(result)
        elif not sub.gradable:
            final.append(_ungradable(sub, max_scores))
    return final


def _lesson_folders(
    submitted: Path, assignments: list[str] | None, students: list[str] | None
) -> int:
    """How many <learner>/<lesson> folders there are: at most one job each."""
    if not submitted.is_dir():
        return 0
    return sum(
        1
        for student in submitted.iterdir()
        if student.is_dir() and (not students or student.name in students)
        for lesson in student.iterdir()
        if lesson.is_dir() and (not assignments or lesson.name in assignments)
    )


def _jobs(submissions: list[Submission]) -> list[Job]:
    by_job: dict[tuple[str, str], list[Submission]] = {}
    for sub in submissions:
        if sub.gradable:
            by_job.setdefault((sub.student, sub.lesson), []).append(sub)
    return [Job(student, lesson, tuple(s.notebook for s in subs),
                {s.notebook: list(s.notes) for s in subs})
            for (student, lesson), subs in sorted(by_job.items())]  # fmt: skip


def _forget_ungradable(course: Course, submissions: list[Submission]) -> None:
    """A lesson none of whose notebooks can be graded keeps no grades from an earlier run."""
    gradable = {(s.student, s.lesson) for s in submissions if s.gradable}
    for student, lesson in sorted({(s.student, s.lesson) for s in submissions} - gradable):
        gradebook.forget(course, student, lesson)


def _ungradable(sub: Submission, max_scores: dict) -> NotebookResult:
    max_score = max_scores.get((sub.lesson, sub.notebook), 0.0) if sub.notebook else 0.0
    return NotebookResult(sub.student, sub.lesson, sub.notebook, UNGRADABLE, sub.problem, 0.0,
                          max_score, [], list(sub.notes), sub.detail,
                          grader_error=sub.grader_error)  # fmt: skip


def course_lock(course: Course) -> AbstractContextManager[Path]:
    """The lock `grade` holds, for commands that take a class in or write its outputs elsewhere."""
    return _one_batch(course)


@contextmanager
def _one_batch(course: Course):
    """Hold the course's grading lock; GraderBusy if another batch holds it."""
    state = course.root / STATE
    state.mkdir(exist_ok=True)
    handle = os.open(state / "grade.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "another process"
            raise GraderBusy(f"another `autograder grade` (process {holder}) is grading this "
                             "course; wait for it to finish") from None  # fmt: skip
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield state
    finally:
        os.close(handle)  # releases the lock; a killed process releases it too


def refuse_exposed_course(course: Course, submitted: Path, mode: str) -> None:
    """The sandbox must not be able to read the course: refuse a layout that would let it."""
    if mode == "none":
        return
    for path in bwrap.exposed_paths():
        for secret in (course.root, submitted):
            if secret == Path(path) or Path(path) in secret.parents:
                raise CourseError(f"the sandbox would expose {secret} (it lies under {path}, "
                                  "which kernels can read); move the course folder "
                                  "elsewhere")  # fmt: skip


def write_outputs(course: Course, results: list[NotebookResult], partial: bool) -> dict:
    """grades.json (merged with earlier entries when only part of the class was graded) and the
    CSV."""
    grades_json = course.root / "grades.json"
    entries = list(results)
    if partial:
        regraded = {(r.student, r.assignment) for r in results}
        entries += [
            e for e in read_grades_json(grades_json) if (e.student, e.assignment) not in regraded
        ]
    write_grades_json(grades_json, entries)
    grades_csv = course.root / "grades.csv"
    temporary = grades_csv.with_name(grades_csv.name + ".tmp")
    from .export import SafeCsvExportPlugin  # nbgrader's API: imported after the workers start

    with gradebook.open_gradebook(course) as gb:
        SafeCsvExportPlugin(to=str(temporary)).export(gb)
    temporary.replace(grades_csv)
    return {"gradebook": course.db_url, "grades.json": str(grades_json),
            "grades.csv": str(grades_csv), "autograded": str(course.folder("autograded_directory")),
            "feedback": str(course.folder("feedback_directory"))}  # fmt: skip
