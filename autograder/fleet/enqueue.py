"""`autograder enqueue`: take a class in as `grade` does, then queue one job per (learner, lesson).

Intake, the gradebook's preparation and the reasons for ungradable notebooks are the batch's own
(`batch.take_in`). Each (learner, lesson) row and its job are written in one transaction, so an
enqueuer killed at any moment leaves either both or neither. The same submission (same files,
same lesson source) is not queued twice: not while it waits (procrastinate's queueing lock), not
while it is graded, not once graded (its row says so). Two jobs of one learner's lesson never run
at once (procrastinate's lock).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import procrastinate.exceptions
from psycopg.types.json import Jsonb

from ..course import Course
from ..grading import batch, gradebook
from ..grading.intake import stage
from ..results import NotebookResult
from . import payload as payloads
from .database import ensure_schema, make_app, require_shared_gradebook, result_json
from .tasks import GRADE_TASK

QUEUED, DUPLICATE, UNGRADABLE_ONLY = "queued", "already queued or graded", "nothing gradable"


@dataclass
class Enqueued:
    """What one `enqueue` did, by (learner, lesson)."""

    course_id: str
    outcome: dict[tuple[str, str], str] = field(default_factory=dict)
    ungradable: list[NotebookResult] = field(default_factory=list)

    def count(self, what: str) -> int:
        return sum(1 for value in self.outcome.values() if value == what)


def main(
    *,
    course: Course,
    dsn: str,
    submitted: str | None,
    assignments: list[str] | None,
    students: list[str] | None,
) -> int:
    """`autograder enqueue`: queue the class and say what was queued, refused and ungradable."""
    from ..terminal import make_console

    done = enqueue_class(course=course, dsn=dsn, submitted=Path(submitted) if submitted else None,
                         assignments=assignments, students=students)  # fmt: skip
    report(make_console(), done)
    return 0


def report(console, done: Enqueued) -> None:
    console.print(f"queued {done.count(QUEUED)} job(s) for course {done.course_id}; "
                  f"{done.count(DUPLICATE)} {DUPLICATE}; "
                  f"{len(done.ungradable)} notebook(s) ungradable "
                  "(reasons in grades.json after collect-results)")  # fmt: skip


def queue_name(course_id: str) -> str:
    """The procrastinate queue of a course: workers of that course listen to it alone."""
    return f"autograder:{course_id}"[:128]


def enqueue_class(
    *,
    course: Course,
    dsn: str,
    submitted: Path | None = None,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
) -> Enqueued:
    """Take the class in and queue its gradable (learner, lesson)s; see the module docstring."""
    gradebook.quiet()
    gradebook.use_alembic_api()
    require_shared_gradebook(course)
    ensure_schema(dsn)
    submitted = (submitted or course.folder("submitted_directory")).resolve()
    course_id = course.coursedir.course_id
    with (
        batch.course_lock(course),
        tempfile.TemporaryDirectory(prefix="autograder-enqueue-") as tmp,
    ):
        submissions = batch.take_in(course, submitted, assignments=assignments, students=students)
        staging = Path(tmp)
        stage(submissions, staging)
        max_scores = gradebook.max_scores(course)
        rows: dict[tuple[str, str], dict] = {}
        for sub in submissions:
            row = rows.setdefault((sub.student, sub.lesson), {"intake": [], "payload": None})
            if not sub.gradable:
                row["intake"].append(batch.final_results([sub], {}, max_scores)[0])
        fingerprints = {}
        for job in batch.jobs_of(submissions):
            if job.lesson not in fingerprints:
                fingerprints[job.lesson] = gradebook.source_fingerprint(course, job.lesson)
            folder = staging / job.student / job.lesson
            rows[(job.student, job.lesson)]["payload"] = payloads.build(
                course_id, job, folder, fingerprints[job.lesson]
            )
        done = Enqueued(course_id)
        done.ungradable = [r for row in rows.values() for r in row["intake"]]
        asyncio.run(_write(dsn, course_id, rows, done))
    return done


async def _write(dsn: str, course_id: str, rows: dict, done: Enqueued) -> None:
    app = make_app(dsn)
    task = app.tasks[GRADE_TASK]
    async with app.open_async():
        pool = app.connector.pool
        for (student, lesson), row in sorted(rows.items()):
            intake = Jsonb([result_json(r) for r in row["intake"]])
            payload = row["payload"]
            async with pool.connection() as connection, connection.transaction():
                if payload is None:  # nothing gradable: the row is final as it is
                    await connection.execute(
                        UPSERT, (course_id, student, lesson, "", "done", None, intake)
                    )
                    await connection.execute(FORGET_FILES, (course_id, student, lesson))
                    done.outcome[(student, lesson)] = UNGRADABLE_ONLY
                    continue
                submission = payload["submission"]
                current = await (
                    await connection.execute(CURRENT, (course_id, student, lesson))
                ).fetchone()
                if current and current[0] == submission and not _grader_error(current[1]):
                    done.outcome[(student, lesson)] = DUPLICATE
                    continue
                try:
                    async with (
                        connection.transaction()
                    ):  # a savepoint: a refused job undoes nothing else
                        job_id = await task.configure(
                            queue=queue_name(course_id), lock=f"{course_id}/{student}/{lesson}",
                            queueing_lock=f"{course_id}/{student}/{lesson}/{submission}",
                            connection=connection,
                        ).defer_async(payload=payload)  # fmt: skip
                except procrastinate.exceptions.AlreadyEnqueued:
                    done.outcome[(student, lesson)] = DUPLICATE
                    continue
                await connection.execute(
                    UPSERT, (course_id, student, lesson, submission, "queued", job_id, intake)
                )
                await connection.execute(FORGET_FILES, (course_id, student, lesson))
                done.outcome[(student, lesson)] = QUEUED


def _grader_error(results) -> bool:
    """A row whose grading failed on the grader's side may be queued again."""
    return bool(results) and any(r.get("grader_error") for r in results)


CURRENT = """SELECT submission, results FROM autograder_submissions
             WHERE course_id = %s AND student = %s AND lesson = %s FOR UPDATE"""
UPSERT = """
INSERT INTO autograder_submissions (course_id, student, lesson, submission, status, job_id, intake)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (course_id, student, lesson) DO UPDATE
SET submission = excluded.submission, status = excluded.status, job_id = excluded.job_id,
    intake = excluded.intake, results = NULL, queued_at = now(), graded_at = NULL, graded_by = NULL
"""
FORGET_FILES = "DELETE FROM autograder_files WHERE course_id = %s AND student = %s AND lesson = %s"
