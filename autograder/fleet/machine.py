"""`autograder worker`: one grading machine of the fleet, pulling jobs from the queue.

procrastinate's worker fetches up to `jobs` jobs at a time, keeps this machine's heartbeat in the
database and re-queues the jobs of machines whose heartbeat stopped. Each job goes to a grading
slot: a thread that owns a one-process `WorkerPool` (the same worker processes, sandbox and fork
server as `autograder grade`; a job whose process dies is retried once there). The slot writes
the payload into this machine's scratch folder, grades it against this machine's checkout of the
course, and reads back the autograded notebook and the feedback, which go to the database with
the results. A job for a lesson whose source here differs from the enqueuer's is refused with a
grader error: never a grade computed against other tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import procrastinate.exceptions
from psycopg.types.json import Jsonb

from ..course import Course
from ..grading import batch, gradebook
from ..grading.pool import WorkerPool, worker_failure
from ..grading.worker import GradingSetup, Job
from ..results import NotebookResult
from ..sandbox.limits import Sandboxing
from . import payload as payloads
from .database import ensure_schema, make_app, require_shared_gradebook, result_json
from .enqueue import queue_name

HEARTBEAT = 10.0  # seconds between this machine's heartbeats
STALLED_AFTER = 30.0  # a machine silent this long is dead: its jobs are queued again
OUTPUTS = ("autograded", "feedback")
log = logging.getLogger("autograder.worker")


class Slot:
    """A thread owning one grading process; jobs are handed to it one at a time."""

    def __init__(self, machine: Machine, number: int):
        self.machine = machine
        self._requests: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"slot-{number}", daemon=True)
        self._thread.start()

    def submit(self, payload: dict) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.put((payload, future))
        return future

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join()

    def _serve(self) -> None:
        # The pool is made in this thread and lives as long as it: its process is told to die
        # with the thread that started it (PR_SET_PDEATHSIG), so no orphan outlives the slot.
        pool = WorkerPool(self.machine.setup, 1)
        try:
            while (request := self._requests.get()) is not None:
                payload, future = request
                try:
                    future.set_result(self.machine.grade_here(pool, payload))
                except Exception as error:
                    future.set_exception(error)
        finally:
            pool.close()


class Machine:
    """This machine's course, scratch folder and grading slots; grades payloads into the database"""

    def __init__(
        self, course: Course, scratch: Path, sandboxing: Sandboxing, slots: int, name: str
    ):
        self.name = name
        self.scratch = scratch
        config = copy.deepcopy(course.config)
        for folder in OUTPUTS:  # nbgrader writes these under the scratch folder, not the checkout
            setattr(config.CourseDirectory, f"{folder}_directory", str(scratch / folder))
        self.course = Course(course.root, config)
        self.course_id = self.course.coursedir.course_id
        self.setup = GradingSetup(
            course.root, config, sandboxing, scratch / "staging", feedback=True
        )
        self.fingerprints: dict[str, str] = {}
        self._free: asyncio.Queue | None = None
        self._slots = [Slot(self, number) for number in range(max(1, slots))]
        self.app = None

    async def grade(self, job_id: int, payload: dict) -> str:
        """The task's body: record the attempt, grade in a free slot, store what came out."""
        if self._free is None:
            self._free = asyncio.Queue()
            for slot in self._slots:
                self._free.put_nowait(slot)
        started = time.monotonic()
        job = payloads.job_of(payload)
        await self._execute(ATTEMPT, (job_id, self.name))
        slot = await self._free.get()
        try:
            results, files = await asyncio.wrap_future(slot.submit(payload))
        finally:
            self._free.put_nowait(slot)
        stored = await self._store(payload, results, files)
        verdict = ", ".join(f"{r.score:g}/{r.max_score:g}" if not r.grader_error else "grader error"
                            for r in results)  # fmt: skip
        log.info(
            "%s / %s: %s in %.1f s%s",
            _plain(job.student),
            _plain(job.lesson),
            verdict,
            time.monotonic() - started,
            "" if stored else " (superseded by a newer submission)",
        )
        return verdict

    def grade_here(self, pool: WorkerPool, payload: dict) -> tuple[list[NotebookResult], dict]:
        """In a slot's thread: unpack, grade in the slot's process, read the outputs, tidy up."""
        job = payloads.job_of(payload)
        refusal = self._refusal(payload)
        if refusal:
            results = [worker_failure(job, notebook, refusal) for notebook in job.notebooks]
        else:
            payloads.unpack(payload, self.setup.staging)
            results: list[NotebookResult] = []
            pool.run([job], lambda _job, graded: results.extend(graded))
        files = {} if any(r.grader_error for r in results) else self._outputs(job)
        if any(r.grader_error for r in results):
            gradebook.forget(self.course, job.student, job.lesson)  # no stale grade stays behind
        self._tidy(job)
        return results, files

    def close(self) -> None:
        for slot in self._slots:
            slot.close()

    # ----------------------------------------------------------------------------- details
    def _refusal(self, payload: dict) -> str | None:
        """Why this machine must not grade the payload (another course, other tests), if so."""
        if payload.get("course") != self.course_id:
            return (f"this worker grades course {self.course_id!r}, the job is for course "
                    f"{payload.get('course')!r}")  # fmt: skip
        lesson = payload["lesson"]
        if lesson not in self.course.lessons:
            return f"this worker's course has no lesson {lesson!r}: update its checkout"
        if lesson not in self.fingerprints:
            self.fingerprints[lesson] = gradebook.source_fingerprint(self.course, lesson)
        if self.fingerprints[lesson] != payload.get("fingerprint"):
            return (
                f"this worker's source/{lesson} differs from the one the job was queued with "
                f"(worker {self.name}); update its checkout of the course, then queue the job again"
            )
        return None

    def _outputs(self, job: Job) -> dict[tuple[str, str], bytes]:
        files = {}
        for folder in OUTPUTS:
            base = self.scratch / folder / job.student / job.lesson
            for path in sorted(base.rglob("*")) if base.is_dir() else []:
                if path.is_file() and not path.is_symlink():
                    files[(folder, path.relative_to(base).as_posix())] = path.read_bytes()
        return files

    def _tidy(self, job: Job) -> None:
        for folder in ("staging", *OUTPUTS):
            shutil.rmtree(self.scratch / folder / job.student / job.lesson, ignore_errors=True)

    async def _execute(self, query: str, params: tuple) -> None:
        async with self.app.connector.pool.connection() as connection:
            await connection.execute(query, params)

    async def _store(self, payload: dict, results: list[NotebookResult], files: dict) -> bool:
        """Results and files of the submission, unless a newer one of the same lesson was queued."""
        key = (self.course_id, payload["student"], payload["lesson"])
        async with self.app.connector.pool.connection() as connection, connection.transaction():
            stored = Jsonb([result_json(r) for r in results])
            params = (stored, self.name, *key, payload["submission"])
            cursor = await connection.execute(STORE, params)
            row = await cursor.fetchone()
            if row is None:
                return False
            await connection.execute(FORGET_FILES, key)
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    ADD_FILE,
                    [(*key, folder, path, content) for (folder, path), content in files.items()],
                )
        return True


async def _requeue_stalled(app, queue_name: str, every: float, stalled_after: float) -> None:
    """Put back the jobs of machines that stopped sending heartbeats (killed, powered off)."""
    while True:
        await asyncio.sleep(every)
        try:
            for job in await app.job_manager.get_stalled_jobs(
                queue=queue_name, seconds_since_heartbeat=stalled_after
            ):
                try:
                    await app.job_manager.retry_job(job)
                except procrastinate.exceptions.ConnectorException:
                    continue  # another machine queued it again first
                log.warning("job %s of a silent worker queued again", job.id)
        except procrastinate.exceptions.ConnectorException as error:  # the database is away
            log.warning("could not look for stalled jobs (trying again): %s", error)


def main(
    *,
    course: Course,
    dsn: str,
    jobs: int,
    name: str | None = None,
    scratch: str | None = None,
    heartbeat: float = HEARTBEAT,
    stalled_after: float = STALLED_AFTER,
) -> int:
    """`autograder worker`: grade this course's jobs until stopped (SIGTERM or Ctrl-C)."""
    gradebook.quiet()
    gradebook.use_alembic_api()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    require_shared_gradebook(course)
    ensure_schema(dsn)
    sandboxing = Sandboxing.resolve(course.config)
    if sandboxing.mode == "none":
        from ..terminal import make_console, warn_unsandboxed

        warn_unsandboxed(make_console())
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    owned = scratch is None
    folder = Path(scratch or tempfile.mkdtemp(prefix="autograder-worker-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    batch.refuse_exposed_course(course, folder, sandboxing.mode)
    machine = Machine(course, folder, sandboxing, jobs, name)
    try:
        asyncio.run(_run(machine, dsn, jobs, heartbeat, stalled_after))
    finally:
        machine.close()
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


async def _run(
    machine: Machine, dsn: str, jobs: int, heartbeat: float, stalled_after: float
) -> None:
    app = make_app(dsn)
    machine.app = app
    name = queue_name(machine.course_id)
    log.info("worker %s grading course %s with %d slot(s)", machine.name, machine.course_id, jobs)
    async with app.open_async():
        sweeper = asyncio.create_task(_requeue_stalled(app, name, heartbeat, stalled_after))
        try:
            await app.run_worker_async(queues=[name], concurrency=max(1, jobs), name="autograder",
                                       additional_context={"machine": machine},
                                       update_heartbeat_interval=heartbeat,
                                       stalled_worker_timeout=stalled_after)  # fmt: skip
        finally:
            sweeper.cancel()


def _plain(text: str) -> str:
    from ..terminal import visible

    return visible(text)


ATTEMPT = "INSERT INTO autograder_attempts (job_id, worker) VALUES (%s, %s)"
STORE = """
UPDATE autograder_submissions SET status = 'done', results = %s, graded_at = now(), graded_by = %s
WHERE course_id = %s AND student = %s AND lesson = %s AND submission = %s
RETURNING 1
"""
FORGET_FILES = "DELETE FROM autograder_files WHERE course_id = %s AND student = %s AND lesson = %s"
ADD_FILE = """INSERT INTO autograder_files (course_id, student, lesson, folder, path, content)
              VALUES (%s, %s, %s, %s, %s, %s)"""
