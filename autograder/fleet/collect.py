"""`autograder collect-results`: what the fleet graded, written into the instructor's course folder.

Waits until no job of the course is waiting or running, then writes `autograded/`, `feedback/`,
`grades.json` and `grades.csv` as `autograder grade` would: the same results, the same files,
the CSV exported from the (shared) gradebook. A job that failed outright (a grader bug, a
payload this version cannot read) becomes a grader error for its notebooks, as in a local run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path, PurePosixPath

from psycopg.types.json import Jsonb

from ..course import Course
from ..errors import AutograderError
from ..grading import batch, gradebook
from ..grading.worker import GRADER_ERROR
from ..results import UNGRADABLE, NotebookResult
from .database import (
    connect,
    ensure_schema,
    require_shared_gradebook,
    result_json,
    result_of,
)

POLL = 1.0  # seconds between looks at the queue while waiting
FAILED = ("failed", "cancelled", "aborted")


def main(*, course: Course, dsn: str, wait: bool = True, verbose: bool = False) -> int:
    """`autograder collect-results`: wait, write, print the summary; 1 if a grader error remains."""
    from ..terminal import make_console, print_summary, progress_bar

    console = make_console()
    outcome = collect_results(
        course=course, dsn=dsn, wait=wait, progress=lambda n: progress_bar(console, n)
    )
    print_summary(console, outcome, verbose=verbose)
    return 1 if outcome.grader_errors else 0


def grade_main(
    *,
    course: Course,
    dsn: str,
    submitted: str | None,
    assignments: list[str] | None,
    students: list[str] | None,
    verbose: bool = False,
) -> int:
    """`autograder grade --queue`: enqueue the class, then collect once the fleet has graded it."""
    from ..terminal import make_console
    from .enqueue import enqueue_class, report

    done = enqueue_class(course=course, dsn=dsn, submitted=Path(submitted) if submitted else None,
                         assignments=assignments, students=students)  # fmt: skip
    report(make_console(), done)
    return main(course=course, dsn=dsn, wait=True, verbose=verbose)


def collect_results(
    *,
    course: Course,
    dsn: str,
    wait: bool = True,
    deadline: float | None = None,
    progress: Callable[[int], AbstractContextManager] | None = None,
    only: set[tuple[str, str]] | None = None,
) -> batch.Outcome:
    """Wait for the course's jobs (unless `wait` is False), then write the outputs.

    `only` limits the files written to those (learner, lesson)s; grades.json and the CSV are
    always written whole.
    """
    started = time.monotonic()
    gradebook.quiet()
    gradebook.use_alembic_api()
    require_shared_gradebook(course)
    ensure_schema(dsn)
    course_id = course.coursedir.course_id
    with connect(dsn) as connection:
        if wait:
            _wait(connection, course, course_id, deadline, progress)
        rows = connection.execute(ROWS, (course_id,)).fetchall()
        files = connection.execute(FILES, (course_id,)).fetchall()
    max_scores = gradebook.max_scores(course)
    final: list[NotebookResult] = []
    with batch.course_lock(course):
        for student, lesson, _status, intake, results in rows:
            if only is None or (student, lesson) in only:
                for folder in ("autograded_directory", "feedback_directory"):
                    shutil.rmtree(
                        _inside(course.folder(folder), student, lesson), ignore_errors=True
                    )
            for data in [*intake, *(results or [])]:
                result = result_of(data)
                if result.grader_error:
                    result.max_score = max_scores.get((result.assignment, result.notebook), 0.0)
                final.append(result)
        for student, lesson, folder, path, content in files:
            if only is not None and (student, lesson) not in only:
                continue
            target = _inside(
                course.folder(f"{folder}_directory"), student, lesson, *PurePosixPath(path).parts
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        paths = batch.write_outputs(course, final, partial=False)
    waiting = sum(1 for row in rows if row[2] == "queued")
    outcome = batch.Outcome(sorted(final, key=lambda r: r.key), time.monotonic() - started,
                            "graded by the fleet", paths, interrupted=bool(waiting))  # fmt: skip
    return outcome


def _wait(connection, course: Course, course_id: str, deadline: float | None, progress) -> None:
    total = connection.execute(COUNT, (course_id,)).fetchone()[0]
    with progress(total) if progress else nullcontext(lambda: None) as advance:
        reported = 0
        while True:
            _fail_dead_jobs(connection, course, course_id)
            queued = connection.execute(QUEUED, (course_id,)).fetchone()[0]
            for _ in range(max(0, total - queued - reported)):
                advance()
            reported = max(reported, total - queued)
            if not queued:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise AutograderError(
                    f"{queued} job(s) still waiting or running; is a worker running?"
                )
            time.sleep(POLL)


def _fail_dead_jobs(connection, course: Course, course_id: str) -> None:
    """Rows whose job ended without results (the task itself failed) become grader errors."""
    for student, lesson, status, notebooks in connection.execute(
        DEAD, (course_id, list(FAILED))
    ).fetchall():
        detail = f"the grading job ended as {status} without a result; see the worker's log"
        results = [
            NotebookResult(student, lesson, notebook, UNGRADABLE, GRADER_ERROR, 0.0, 0.0, [], [],
                           detail, grader_error=True)
            for notebook in notebooks or [""]
        ]  # fmt: skip
        gradebook.forget(course, student, lesson)
        connection.execute(
            MARK_FAILED, (Jsonb([result_json(r) for r in results]), course_id, student, lesson)
        )


def _inside(base: Path, *parts: str) -> Path:
    """base/parts, refusing names that would leave `base` (they come from the database)."""
    if any(part in ("", ".", "..") or "/" in part or "\0" in part for part in parts):
        raise AutograderError(
            f"the queue's database holds a path that is not a plain name: {parts!r}"
        )
    return base.joinpath(*parts)


COUNT = "SELECT count(*) FROM autograder_submissions WHERE course_id = %s"
QUEUED = "SELECT count(*) FROM autograder_submissions WHERE course_id = %s AND status = 'queued'"
ROWS = """SELECT student, lesson, status, intake, results FROM autograder_submissions
          WHERE course_id = %s ORDER BY student, lesson"""
FILES = """SELECT student, lesson, folder, path, content FROM autograder_files
           WHERE course_id = %s ORDER BY student, lesson, folder, path"""
DEAD = """
SELECT s.student, s.lesson, j.status::text,
       ARRAY(SELECT jsonb_array_elements_text(j.args -> 'payload' -> 'notebooks'))
FROM autograder_submissions s JOIN procrastinate_jobs j ON j.id = s.job_id
WHERE s.course_id = %s AND s.status = 'queued' AND j.status::text = ANY(%s)
"""
MARK_FAILED = """UPDATE autograder_submissions SET status = 'done', results = %s, graded_at = now()
                 WHERE course_id = %s AND student = %s AND lesson = %s AND status = 'queued'"""
