"""The fleet's PostgreSQL database: the queue's schema (procrastinate's and ours), its connections.

Connections are bounded by design: every process of the fleet opens a small pool
(`POOL_SIZE`), procrastinate's worker one more connection for LISTEN, and each grading
process at most one at a time for nbgrader's gradebook (docs/fleet.md has the sums).
"""

from __future__ import annotations

import procrastinate
import psycopg

from ..course import Course
from ..errors import AutograderError
from ..results import NotebookResult

POOL_SIZE = 2  # connections a fleet process's pool may hold; procrastinate's LISTEN adds one
SCHEMA_LOCK = 7_113_204_511  # pg_advisory_xact_lock key: one process applies the schema

# One row per (course, learner, lesson): the submission last queued and, once graded, its results.
# `intake` holds the notebooks intake found ungradable (no job needed); `results` the worker's.
TABLES = """
CREATE TABLE IF NOT EXISTS autograder_submissions (
    course_id   text NOT NULL,
    student     text NOT NULL,
    lesson      text NOT NULL,
    submission  text NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'done')),
    job_id      bigint,
    intake      jsonb NOT NULL DEFAULT '[]',
    results     jsonb,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    graded_at   timestamptz,
    graded_by   text,
    PRIMARY KEY (course_id, student, lesson)
);
CREATE TABLE IF NOT EXISTS autograder_files (
    course_id   text NOT NULL,
    student     text NOT NULL,
    lesson      text NOT NULL,
    folder      text NOT NULL CHECK (folder IN ('autograded', 'feedback')),
    path        text NOT NULL,
    content     bytea NOT NULL,
    PRIMARY KEY (course_id, student, lesson, folder, path),
    FOREIGN KEY (course_id, student, lesson)
        REFERENCES autograder_submissions ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS autograder_attempts (
    job_id      bigint NOT NULL,
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);
"""


class QueueError(AutograderError):
    """The queue's database cannot be reached or used."""


def worker_connections(jobs: int) -> int:
    """The most connections `autograder worker --jobs N` opens: its pool, procrastinate's LISTEN
    connection, and one per grading process (nbgrader opens one gradebook at a time)."""
    return POOL_SIZE + 1 + max(1, jobs)


def command_connections() -> int:
    """The most connections enqueue, collect-results or serve opens at once."""
    return POOL_SIZE + 1


def connect(dsn: str) -> psycopg.Connection:
    """A plain connection for one short piece of work (schema, status queries)."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=30)
    except psycopg.Error as error:
        raise QueueError(f"cannot reach the queue's database: {_first_line(error)}") from None


def ensure_schema(dsn: str) -> None:
    """Create procrastinate's tables and ours if the database has none yet (safe to race)."""
    with connect(dsn) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        if connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            connection.execute(procrastinate.schema.SchemaManager.get_schema())
        connection.execute(TABLES)


def make_app(dsn: str) -> procrastinate.App:
    """A procrastinate App on the fleet's database with the grading task registered."""
    from .tasks import register

    connector = procrastinate.PsycopgConnector(conninfo=dsn, min_size=1, max_size=POOL_SIZE,
                                               kwargs={"connect_timeout": 30})  # fmt: skip
    app = procrastinate.App(connector=connector)
    register(app)
    return app


def require_shared_gradebook(course: Course) -> None:
    """Every machine writes nbgrader's gradebook, so it must be PostgreSQL, not a local file."""
    if not course.db_url.startswith("postgresql"):
        raise AutograderError(
            f"a grading fleet needs a gradebook every machine can reach, but {course.root} uses "
            f"{course.db_url}; set c.CourseDirectory.db_url = \"postgresql+psycopg://...\" in its "
            "nbgrader_config.py (docs/fleet.md)")  # fmt: skip


def result_json(result: NotebookResult) -> dict:
    """A result as the database keeps it: grades.json's form plus what only the instructor sees."""
    return {**result.to_json(), "detail": result.detail, "grader_error": result.grader_error}


def result_of(data: dict) -> NotebookResult:
    return NotebookResult.from_json(data)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
