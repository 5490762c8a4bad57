"""One grading process: nbgrader's autograde and feedback, built once, with learner code sandboxed.

A `Worker` owns a kernel launcher (and through it a fork server), nbgrader's `Autograde`
converter with `TrustedExecute` in the place of `Execute`, and nbgrader's `GenerateFeedback`,
both kept for the life of the process (`converters`).
It grades one (learner, lesson) job at a time and returns `NotebookResult`s; it never decides
what happens to a submission it could not grade (the batch does).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from .. import phases
from ..course import Course
from ..results import GRADED, UNGRADABLE, NotebookResult
from ..sandbox.limits import Sandboxing
from . import gradebook

GRADER_ERROR = ("the grader could not grade this notebook because of an error on its side; your "
                "instructor has the details and will grade it")  # fmt: skip
EXECUTE = "nbgrader.preprocessors.Execute"
SAVE_AUTO_GRADES = "nbgrader.preprocessors.SaveAutoGrades"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GradingSetup:
    """What every worker needs, resolved once by the process that starts them."""

    root: Path
    config: Config
    sandboxing: Sandboxing
    staging: Path  # the submitted/ folder nbgrader reads: staged, repaired notebooks
    feedback: bool = True


@dataclass(frozen=True)
class Job:
    """One learner's lesson: the notebooks of it that intake found gradable."""

    student: str
    lesson: str
    notebooks: tuple[str, ...]
    notes: dict = field(
        default_factory=dict, compare=False, hash=False
    )  # notebook -> intake's notes, carried into results


def autograde_pipeline(configured: list, trusted_execute) -> list:
    """The course's autograde preprocessors with `trusted_execute` in the place of `Execute`.

    Learner-written markup is neutralised right after SaveAutoGrades, so nbgrader's blank-answer
    rule (an unchanged written answer scores 0) sees the answer as the learner left it.
    """
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    from ..trusted.markup import NeutraliseLearnerMarkup

    def named(entry, cls, dotted):
        return (
            entry is cls or entry == dotted or (isinstance(entry, type) and issubclass(entry, cls))
        )

    pipeline = [trusted_execute if named(p, Execute, EXECUTE) else p for p in configured]
    if trusted_execute not in pipeline:
        pipeline.insert(0, trusted_execute)
    saves = [i for i, p in enumerate(pipeline) if named(p, SaveAutoGrades, SAVE_AUTO_GRADES)]
    pipeline.insert(saves[0] + 1 if saves else len(pipeline), NeutraliseLearnerMarkup)
    return pipeline


class Worker:
    """Grades jobs in this process; `close()` stops its sandbox."""

    def __init__(self, setup: GradingSetup):
        from ..sandbox.launcher import KernelLauncher

        # The fork server's imports (torch, matplotlib, IPython) take the longest of a worker's
        # start: it begins first, and runs while this process imports nbgrader, nbconvert, torch.
        self.launcher = KernelLauncher(setup.sandboxing)
        self.launcher.begin()
        phases.event("fork server begun")
        try:
            self._build(setup)
        except BaseException:
            self.launcher.close()
            raise

    def _build(self, setup: GradingSetup) -> None:
        from ..trusted.executor import TrustedExecute
        from .converters import (
            KeptAutograde,
            KeptFeedback,
            check_metadata_once,
            keep_gradebook_engines,
        )

        gradebook.quiet()
        gradebook.use_alembic_api()
        if str(setup.root) not in sys.path:  # plugins the configuration names, found as by nbgrader
            sys.path.append(str(setup.root))
        self.setup = setup
        self.course = Course(setup.root, setup.config)
        config = self.course.nbgrader_config(submitted_directory=str(setup.staging))
        self.coursedir = _coursedir(config)
        self.execute = TrustedExecute(launcher=self.launcher)
        check_metadata_once()
        keep_gradebook_engines()
        self.autograde = KeptAutograde(coursedir=self.coursedir, config=config)
        self.autograde.autograde_preprocessors = autograde_pipeline(
            list(self.autograde.autograde_preprocessors), self.execute
        )
        self.autograde.force = True
        self.autograde.create_student = True
        self.feedback = (
            KeptFeedback(coursedir=self.coursedir, config=config) if setup.feedback else None
        )
        if self.feedback is not None:
            self.feedback.force = True
        self._files: dict[str, dict[str, bytes]] = {}
        for app in (self.autograde, self.feedback):
            if app is not None:
                app.log.setLevel(logging.ERROR)

    def warm_up(self) -> None:
        """Start the sandbox and import what test cells use before the first job arrives."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot
        import torch  # noqa: F401  (imported once per worker, not once per test)

        self.launcher.warm_up()

    def grade(self, job: Job) -> list[NotebookResult]:
        """Autograde one learner's lesson with nbgrader, then its feedback; one result per
        notebook."""
        from nbgrader.utils import capture_log, temp_attrs

        phases.event("notebook start")
        self.execute.files = self._lesson_files(job.lesson)
        self.execute.summaries = {}
        with temp_attrs(self.coursedir, assignment_id=job.lesson, student_id=job.student):
            with phases.phase("autograde"):
                outcome = capture_log(self.autograde)
            if outcome.get("success") and self.feedback is not None:
                with phases.phase("feedback"):
                    feedback = capture_log(self.feedback)
                if not feedback.get("success"):
                    outcome = feedback
        if not outcome.get("success"):
            lines = (outcome.get("log") or outcome.get("error") or "").strip().splitlines()
            detail = " / ".join(lines[-3:])
            return [self._error(job, notebook, detail) for notebook in job.notebooks]
        with phases.phase("results"):
            return [self._collect(job, notebook) for notebook in job.notebooks]

    def close(self) -> None:
        self.launcher.close()

    def forget(self) -> None:
        """In a process forked from this one: let go of the sandbox without stopping it."""
        self.launcher.forget()

    # ----------------------------------------------------------------------------- details
    def _lesson_files(self, lesson: str) -> dict[str, bytes]:
        if lesson not in self._files:
            folder = self.course.source / lesson
            self._files[lesson] = {name: (folder / name).read_bytes()
                                   for name in self.course.instructor_files(lesson)}  # fmt: skip
        return self._files[lesson]

    def _collect(self, job: Job, notebook: str) -> NotebookResult:
        summary = self.execute.summaries.get(notebook)
        notes = list(job.notes.get(notebook, []))
        if summary is None:
            return self._error(job, notebook, "nbgrader did not run this notebook")
        if summary.stopped:
            notes.append("your notebook stopped early: " + summary.stopped)
        tests = {result.grade_id: result for result in summary.results}
        with gradebook.open_gradebook(self.course) as gb:
            submitted = gb.find_submission_notebook(notebook, job.lesson, job.student)
            for grade in submitted.grades:
                if grade.name in tests:
                    tests[grade.name].points = float(grade.score)
            score, max_score = float(submitted.score), float(submitted.max_score)
        ordered = sorted(tests.values(), key=lambda t: t.grade_id)
        for note in summary.notes:  # what a test cell did that cannot cross the boundary
            log.warning("%s, %s, %s: %s", job.student, job.lesson, notebook, note)
        detail = "\n".join(summary.notes) or None
        return NotebookResult(job.student, job.lesson, notebook, GRADED, None, score, max_score,
                              ordered, notes, detail)  # fmt: skip

    def _error(self, job: Job, notebook: str, detail: str) -> NotebookResult:
        return NotebookResult(job.student, job.lesson, notebook, UNGRADABLE, GRADER_ERROR, 0.0, 0.0,
                              [], list(job.notes.get(notebook, [])), detail,
                              grader_error=True)  # fmt: skip


def _coursedir(config: Config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)
