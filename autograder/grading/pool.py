"""Worker processes for a batch: each builds a `Worker` once and grades the jobs it is sent.

The first worker is started at once (it imports torch and starts its sandbox while the caller
takes the class in). When it is ready it forks the others from itself, so that what every worker
imports (torch, nbgrader, nbconvert, matplotlib: some 250 MiB) is in memory once, shared
copy-on-write, instead of once per worker; each forked worker then starts its own sandbox and
builds its own nbgrader converters. A worker that cannot fork safely (it has threads) leaves the
others to be started fresh, as is every worker that replaces one that died.

A job whose worker dies (a sandbox escape attempt that kills it, the machine's OOM killer) is
given once more to a fresh worker; if that one dies too, the job's notebooks are grader errors
and the batch goes on. Workers ignore Ctrl-C (the parent decides) and die with the grading
process; a forked one does not die with the worker it was forked from.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import recv_handle, send_handle

from .. import phases
from ..results import UNGRADABLE, NotebookResult
from .worker import GRADER_ERROR, GradingSetup, Job, Worker

ATTEMPTS = 2
MAX_START_FAILURES = 3


def serve(connection: Connection, setup: GradingSetup, forks: tuple[Connection, ...] = ()) -> None:
    """A worker process's life: build the worker, fork the others (`forks`: one connection each)
    once it is ready, grade what arrives, stop at None or EOF."""
    phases.event("worker process up")
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # numpy's OpenBLAS would start a thread pool at import, and a process with threads does not
    # fork; the grader's own numpy work (decoding, comparing answers) is too small to need one
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    worker = _start(connection, setup)
    if worker is None:
        return
    forked = []
    try:
        for fork in forks:
            forked.append(_fork_worker(fork, connection, forks, worker, setup))
        for fork in forks:
            fork.close()
        connection.send(("ready", None))
        _grade(connection, worker)
    finally:
        # The parent hears of this worker's end (EOF) before it waits for the ones it forked.
        for handle in (connection, *forks):
            handle.close()
        worker.close()
        for pid in filter(None, forked):  # reaped here, their CPU time counts in the parent's
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _start(connection: Connection, setup: GradingSetup) -> Worker | None:
    # No collections while the worker imports nbgrader, nbconvert and torch: they would add a
    # third to the imports' CPU, and imports leave little garbage. Collections resume before the
    # first job.
    gc.disable()
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
        return None
    finally:
        gc.enable()
    return worker


def _grade(connection: Connection, worker: Worker) -> None:
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


def _fork_worker(connection: Connection, own: Connection, forks: tuple[Connection, ...],
                 worker: Worker, setup: GradingSetup) -> int | None:  # fmt: skip
    """Fork a worker that shares this one's imports; it tells the parent its pid, then starts.

    Only a process with one thread may fork (another thread may hold a lock the child needs);
    if this one has more, the connection is closed unused and the parent starts a fresh worker.
    """
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        return None
    grader = os.getppid()
    gc.collect()
    gc.freeze()  # what was imported stays in pages both processes share, not copied by the GC
    try:
        pid = os.fork()
    except OSError:  # the parent starts this one fresh when its connection closes unused
        return None
    if pid:
        return pid
    code = 0
    try:
        worker.forget()  # the sandbox and user id are this process's parent's, not its own
        own.close()
        for other in forks:
            if other is not connection:
                other.close()
        if not _die_with(grader):
            return None
        # The parent watches this process through a pidfd it is handed, not one it opens from
        # the pid: if this process died first, the pid could name another process by then.
        connection.send(("forked", os.getpid()))
        pidfd = os.pidfd_open(os.getpid())
        send_handle(connection, pidfd, grader)
        os.close(pidfd)
        phases.event("worker process up")
        worker = _start(connection, setup)
        if worker is not None:
            try:
                connection.send(("ready", None))
                _grade(connection, worker)
            finally:
                worker.close()
    except BaseException:
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


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


def _die_with(grader: int) -> bool:
    """A forked worker dies with the grading process, not with the worker it was forked from:
    a thread waits for the grader's exit and kills this process. False if it is gone already."""
    try:
        pidfd = os.pidfd_open(grader)
    except OSError:
        return False

    def watch() -> None:
        select.select([pidfd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-grader", daemon=True).start()
    return True


class _Spawned:
    """A worker started by this process.

    Its end is watched through a pidfd, not multiprocessing's sentinel: the workers it forks
    inherit the sentinel's other end, which would keep the sentinel quiet after it died.
    """

    def __init__(self, context, setup: GradingSetup, forks: tuple[Connection, ...] = ()):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, setup, forks), daemon=True)
        self.process.start()
        child.close()
        for fork in forks:
            fork.close()
        # our child: its pid names it until we reap it, even if it has died already
        self.ended = os.pidfd_open(self.process.pid)
        self.job: Job | None = None
        self.ready = False

    def handles(self) -> list:
        return [self.connection, self.ended]

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, kill: bool = False) -> None:
        self.end(kill)
        self.join(kill)

    def end(self, kill: bool = False) -> None:
        """Kill it, or tell it to stop after its job (`join` waits)."""
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except (BrokenPipeError, OSError):
                pass

    def join(self, kill: bool = False) -> None:
        select.select([self.ended], [], [], None if not kill else 30)
        self.process.join(timeout=0)
        os.close(self.ended)
        self.connection.close()


class _Forked:
    """A worker the first one forks: known by its connection until it says its pid."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.pidfd: int | None = None
        self.job: Job | None = None
        self.ready = False
        self.forked = False

    def adopt(self) -> None:
        """After its ("forked", pid) message: take the pidfd it sends next."""
        self.forked = True
        try:
            self.pidfd = recv_handle(self.connection)
        except (EOFError, OSError):  # gone already: its connection says so next
            pass

    def handles(self) -> list:
        return [self.connection] + ([self.pidfd] if self.pidfd is not None else [])

    def alive(self) -> bool:
        if self.pidfd is None:
            return not self.forked
        return not select.select([self.pidfd], [], [], 0)[0]

    def stop(self, kill: bool = False) -> None:
        self.end(kill)
        self.join(kill)

    def end(self, kill: bool = False) -> None:
        """Kill it, or tell it to stop after its job; one not yet forked (or whose message the
        parent has not read) is told to stop, and stops at the latest when it reads that."""
        if self.pidfd is None and not self.forked and self._forked_message():
            self.adopt()
        if kill and self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
            return
        try:
            self.connection.send(None)
        except (BrokenPipeError, OSError):
            pass

    def _forked_message(self) -> bool:
        try:
            return self.connection.poll() and self.connection.recv()[0] == "forked"
        except (EOFError, OSError):
            return False

    def join(self, kill: bool = False) -> None:
        """Wait for it to exit (the worker it was forked from reaps it)."""
        if self.pidfd is not None:
            select.select([self.pidfd], [], [], None if not kill else 30)
            os.close(self.pidfd)
            self.pidfd = None
        self.connection.close()


class WorkerPool:
    """`size` worker processes: the first started now, the others forked by it once it is ready
    (or started fresh if it cannot fork them). On a small machine the first notebook starts
    seconds sooner than if all of them warmed up at once, and the class takes as long."""

    def __init__(self, setup: GradingSetup, size: int):
        self.setup = setup
        self.size = max(1, size)
        self._context = multiprocessing.get_context("spawn")
        pipes = [self._context.Pipe() for _ in range(self.size - 1)]
        first = _Spawned(self._context, setup, tuple(child for _, child in pipes))
        self._processes: list = [first] + [_Forked(parent) for parent, _ in pipes]
        self.failure = "the grading process could not start"
        self._deaths = 0

    def run(self, jobs: Iterable[Job], done: Callable[[Job, list[NotebookResult]], None]) -> None:
        """Grade every job, calling `done(job, results)` as each finishes (in this process)."""
        pending = list(jobs)
        attempts: dict[Job, int] = {}
        while pending or any(p.job for p in self._processes):
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
                for handle in process.handles():
                    by_handle[handle] = process
            for handle in wait(list(by_handle)):
                process = by_handle[handle]
                if process not in self._processes:
                    continue  # already replaced through its other handle
                message = self._receive(process)
                if message is None:  # the process died
                    self._replace(process, pending, attempts, done)
                elif message[0] == "forked":
                    process.adopt()
                elif message[0] == "ready":
                    process.ready = True
                elif message[0] == "failed":
                    self.failure = message[1]
                    process.stop(kill=True)
                    self._processes.remove(process)
                elif message[0] == "done":
                    job, process.job = process.job, None
                    done(job, message[1])

    def _receive(self, process):
        try:
            if process.connection.poll():
                return process.connection.recv()
        except (EOFError, OSError):
            return None
        return None if not process.alive() else ("noop", None)

    def _replace(self, process, pending: list, attempts: dict, done) -> None:
        job = process.job
        process.stop(kill=True)
        self._processes.remove(process)
        if isinstance(process, _Forked) and not process.forked:
            # never forked (its first worker could not, or died first): start it fresh
            self._processes.append(_Spawned(self._context, self.setup))
            return
        self._deaths = 0 if process.ready else self._deaths + 1
        if self._deaths <= MAX_START_FAILURES:
            self._processes.append(_Spawned(self._context, self.setup))
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
        # All are told first, and forked ones joined before the first worker, which waits for
        # those it forked before it exits.
        for process in self._processes:
            process.end(kill=kill)
        for process in sorted(self._processes, key=lambda p: isinstance(p, _Spawned)):
            process.join(kill=kill)
        self._processes = []
