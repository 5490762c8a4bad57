"""Worker processes for a batch: each builds a `Worker` once and grades the jobs it is sent.

A job whose worker dies (a sandbox escape attempt that kills it, the machine's OOM killer) is
given once more to a fresh worker; if that one dies too, the job's notebooks are grader errors
and the batch goes on. Workers ignore Ctrl-C (the parent decides) and die with the parent.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, wait

from .. import phases
from ..results import UNGRADABLE, NotebookResult
from .worker import GRADER_ERROR, GradingSetup, Job, Worker

ATTEMPTS = 2
MAX_START_FAILURES = 3


def serve(connection: Connection, setup: GradingSetup) -> None:
    """A worker process's life: build the worker, grade what arrives, stop at None or EOF."""
    phases.event("worker process up")
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with phases.phase("worker imports"):
            worker = Worker(setup)
        with phases.phase("worker warm-up"):
            worker.warm_up()
        phases.event("worker ready")
    except Exception as error:
        connection.send(
            ("failed", f"the grading process could not start: {type(error).__name__}: {error}")
        )
        return
    try:
        connection.send(("ready", None))
        while True:
            try:
                job = connection.recv()
            except EOFError:
                return
            if job is None:
                return
            try:
                results = worker.grade(job)
            except Exception as error:  # a grader bug must not stop the class
                detail = f"{type(error).__name__}: {error}"
                results = [worker_failure(job, notebook, detail) for notebook in job.notebooks]
            connection.send(("done", results))
    finally:
        worker.close()


def worker_failure(job: Job, notebook: str, detail: str) -> NotebookResult:
    return NotebookResult(job.student, job.lesson, notebook, UNGRADABLE, GRADER_ERROR, 0.0, 0.0, [],
                          list(job.notes.get(notebook, [])), detail, grader_error=True)  # fmt: skip


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies, so no orphan keeps writing grades."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Process:
    def __init__(self, context, setup: GradingSetup):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, setup), daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None
        self.ready = False

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.process.join(timeout=None if not kill else 30)
        self.connection.close()


class WorkerPool:
    """`size` worker processes, the first started now (it imports torch and starts its sandbox
    while the caller takes the class in), the others as soon as the first is ready or gone: on a
    small machine the first notebook starts seconds sooner than if all of them warmed up at once,
    and the class takes as long."""

    def __init__(self, setup: GradingSetup, size: int):
        self.setup = setup
        self.size = max(1, size)
        self._context = multiprocessing.get_context("spawn")
        self._processes = [_Process(self._context, setup)]
        self._unstarted = self.size - 1
        self.failure = "the grading process could not start"
        self._deaths = 0

    def _start_the_rest(self) -> None:
        while self._unstarted:
            self._unstarted -= 1
            self._processes.append(_Process(self._context, self.setup))

    def run(self, jobs: Iterable[Job], done: Callable[[Job, list[NotebookResult]], None]) -> None:
        """Grade every job, calling `done(job, results)` as each finishes (in this process)."""
        pending = list(jobs)
        attempts: dict[Job, int] = {}
        while pending or any(p.job for p in self._processes):
            if not self._processes:
                self._start_the_rest()
            if not self._processes:  # every worker failed to start: nothing can be graded
                for job in pending:
                    done(job, [worker_failure(job, nb, self.failure) for nb in job.notebooks])
                return
            for process in self._processes:
                if process.job is None and process.ready and pending:
                    process.job = pending.pop(0)
                    attempts[process.job] = attempts.get(process.job, 0) + 1
                    process.connection.send(process.job)
            by_handle = {}
            for process in self._processes:
                by_handle[process.connection] = process
                by_handle[process.process.sentinel] = process
            for handle in wait(list(by_handle)):
                process = by_handle[handle]
                if process not in self._processes:
                    continue  # already replaced through its other handle
                message = self._receive(process)
                if message is None:  # the process died
                    self._replace(process, pending, attempts, done)
                elif message[0] == "ready":
                    process.ready = True
                    self._start_the_rest()
                elif message[0] == "failed":
                    self.failure = message[1]
                    process.stop(kill=True)
                    self._processes.remove(process)
                elif message[0] == "done":
                    job, process.job = process.job, None
                    done(job, message[1])

    def _receive(self, process: _Process):
        try:
            if process.connection.poll():
                return process.connection.recv()
        except (EOFError, OSError):
            return None
        return None if not process.process.is_alive() else ("noop", None)

    def _replace(self, process: _Process, pending: list, attempts: dict, done) -> None:
        job = process.job
        process.stop(kill=True)
        self._processes.remove(process)
        self._deaths = 0 if process.ready else self._deaths + 1
        self._start_the_rest()
        if self._deaths <= MAX_START_FAILURES:
            self._processes.append(_Process(self._context, self.setup))
        else:
            self.failure = "the grading processes kept dying as they started"
        if job is None:
            return
        if attempts[job] < ATTEMPTS:
            pending.insert(0, job)
        else:
            detail = "the worker process died twice on this submission"
            done(job, [worker_failure(job, notebook, detail) for notebook in job.notebooks])

    def close(self, kill: bool = False) -> None:
        for process in self._processes:
            process.stop(kill=kill)
        self._processes = []
