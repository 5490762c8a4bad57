"""Notebooks per minute: the single-machine `autograder grade` against the PostgreSQL queue.

Lays out N synthetic submissions (half with the reference answers, half with one answer left
undone, round-robin over the lessons) in throwaway course folders and grades them, with
feedback, four ways: `autograder grade --jobs J` (SQLite gradebook, one machine), and
`autograder grade --queue` with one local worker (`--jobs J`), with two local workers
(`--jobs J/2` each, two "machines" on this one) and on the PostgreSQL gradebook alone
(`autograder grade --jobs J`, no queue). Workers are started and warmed up before the clock starts,
as a fleet's machines would be; the queued time runs from `grade --queue` to its end (enqueue,
grading, collect-results). Needs root and Debian's PostgreSQL (as tests/test_fleet.py does).

    .venv/bin/python benchmarks/fleet.py --submissions 40
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course import Course

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
COURSE = Course.find(REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="grading processes in all"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    import postgres  # the tests' throwaway PostgreSQL server

    reason = postgres.unavailable()
    if reason:
        raise SystemExit(reason)
    lessons = COURSE.lessons
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    print(
        f"{args.submissions} submissions over {len(lessons)} lessons, "
        f"{args.jobs} grading processes, "
        f"{os.cpu_count()} cores, feedback on"
    )
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="autograder-bench-fleet-") as tmp,
        postgres.server() as server,
    ):
        tmp = Path(tmp)
        local = lay_out(tmp / "local", lessons, args.submissions, None)
        rows.append(
            (
                "one machine, SQLite (autograder grade)",
                timed([*grade(local), "--jobs", str(args.jobs)], env),
            )
        )
        dsn = postgres.new_database(server)
        book = lay_out(tmp / "pg", lessons, args.submissions, dsn)
        rows.append(
            (
                "one machine, PostgreSQL gradebook",
                timed([*grade(book), "--jobs", str(args.jobs)], env),
            )
        )
        for machines in (1, 2):
            dsn = postgres.new_database(server)
            course = lay_out(tmp / f"queue{machines}", lessons, args.submissions, dsn)
            per = max(1, args.jobs // machines)
            workers = [
                start_worker(course, tmp / f"queue{machines}-m{i}", dsn, per, env)
                for i in range(machines)
            ]
            try:
                seconds = timed([*grade(course), "--queue", dsn], env)
            finally:
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait()
            rows.append((f"queue, {machines} local worker(s) x --jobs {per}", seconds))
    for what, seconds in rows:
        print(f"{what:45s} {seconds:7.1f} s  {60 * args.submissions / seconds:6.1f} notebooks/min")
    return 0


def grade(course: Path) -> list[str]:
    return [str(BIN / "autograder"), "--course", str(course), "grade"]


def lay_out(course: Path, lessons: list[str], n: int, dsn: str | None) -> Path:
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    if dsn:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(
                "\nc.CourseDirectory.db_url = "
                f"{dsn.replace('postgresql://', 'postgresql+psycopg://')!r}\n"
            )
    for folder in ("source", "notebooks"):
        shutil.copytree(REPO / folder, course / folder)
    for i in range(n):
        lesson = lessons[i % len(lessons)]
        first = next(iter(COURSE.lesson(lesson).reference_answers()))
        nb = COURSE.answered(lesson, {first: "raise NotImplementedError()"} if i % 2 else {})
        target = course / "submitted" / f"learner{i:03d}" / lesson
        target.mkdir(parents=True)
        nbformat.write(nb, target / f"{lesson}.ipynb")
    return course


def start_worker(course: Path, home: Path, dsn: str, jobs: int, env: dict) -> subprocess.Popen:
    """A worker with its own checkout, started now and waited for until its sandbox is warm."""
    checkout = home / "course"
    checkout.mkdir(parents=True)
    for item in ("nbgrader_config.py", "source", "notebooks"):
        (shutil.copytree if (course / item).is_dir() else shutil.copy)(
            course / item, checkout / item
        )
    log = home / "worker.log"
    with open(log, "w") as out:
        argv = [
            str(BIN / "autograder"),
            "--course",
            str(checkout),
            "worker",
            "--queue",
            dsn,
            "--jobs",
            str(jobs),
        ]
        worker = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 600
    while "grading course" not in log.read_text() or _warming(worker.pid, jobs):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"the worker did not start (exit {worker.poll()}):\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.5)
    return worker


def _warming(pid: int, jobs: int) -> bool:
    """True until `jobs` grading processes of the worker have their sandbox (bubblewrap) running."""
    import psutil

    sandboxed = [
        c
        for c in psutil.Process(pid).children()
        if any(g.name() == "bwrap" for g in c.children(recursive=True))
    ]
    return len(sandboxed) < jobs


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(
            f"{' '.join(argv[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
