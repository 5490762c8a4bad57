"""Does a fleet of machines on one PostgreSQL queue grade a class exactly as one machine does, even
when a machine dies mid-job and the enqueuer is killed?

One real PostgreSQL server (Debian's, started for the test on a free loopback port). Two worker
"machines": separate process groups, each with its own private copy of the course and its own
scratch folder, so a hidden reliance on a shared filesystem would fail. The class has right,
wrong, untouched, broken, renamed, tampering and late submissions and one with a slow cell. While
the slow job runs, its machine's whole process group gets SIGKILL: its sandbox must be gone within
seconds and the job must be graded by the other machine. A single-machine `autograder grade` of
the same class (SQLite gradebook) is the reference.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import postgres
import psutil
import pytest
from conftest import answered, copy_course, lessons, release_notebook, submit
from known_answers import variants
from nbformat.v4 import new_code_cell
from test_release_workflow import learners, workspace  # noqa: F401  (fixtures: OS users, a folder)

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
AUTOGRADER = str(BIN / "autograder")
WAIT = 600  # seconds: generous, for a loaded machine; conditions are polled, never slept on
FIRST, SECOND = lessons()[0], lessons()[1]
SLOW = "fay"
LATE = "ida"
DUE = "2025-01-31 23:59:00 UTC"
STALLED_AFTER = 10  # the workers' --stalled-after; heartbeats every 2 s
EXPORTER = "autograder.grading.export.SafeCsvExportPlugin"


def _wrong(lesson: str) -> dict[str, str]:
    variant = next(v for v in variants(lesson) if v["kind"] == "wrong")
    return {variant["exercise"]: variant["code"]}


def _with_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """The notebook with a learner's own code cell added after its first cell."""
    nb.cells.insert(1, new_code_cell(source))
    return nb


def lay_out_class(course: Path) -> dict[tuple[str, str], str]:
    """About a dozen submissions; returns (learner, lesson) -> what it is."""
    tamper = (
        "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True"
    )
    cases = {
        ("ada", FIRST): ("right", answered(FIRST)),
        ("ben", FIRST): ("untouched", release_notebook(FIRST)),
        ("cy", FIRST): ("broken", b"{ damaged"),
        ("dee", FIRST): ("wrong", answered(FIRST, _wrong(FIRST))),
        ("eve", FIRST): ("tampering", _with_cell(release_notebook(FIRST), tamper)),
        (SLOW, FIRST): ("slow cell", _with_cell(answered(FIRST), "import time\ntime.sleep(40)")),
        ("gus", SECOND): ("right", answered(SECOND)),
        ("hal", SECOND): ("wrong", answered(SECOND, _wrong(SECOND))),
        (LATE, SECOND): ("right, late", answered(SECOND)),
        ("jo", SECOND): ("renamed", answered(SECOND)),
        ("kim", FIRST): ("right, on time", answered(FIRST)),
        ("lou", SECOND): ("untouched", release_notebook(SECOND)),
    }
    for (student, lesson), (_what, nb) in cases.items():
        submit(course, student, lesson, nb, name="Copy1.ipynb" if student == "jo" else None)
    stamps = {LATE: "2025-02-02 10:00:00.000000 UTC", "kim": "2025-01-30 09:00:00.000000 UTC"}
    for student, stamp in stamps.items():
        for folder in (course / "submitted" / student).iterdir():
            (folder / "timestamp.txt").write_text(stamp)
    return {key: what for key, (what, _nb) in cases.items()}


def configure(course: Path, db_url: str | None) -> None:
    """Late work scores 0 (nbgrader's penalty); the gradebook is `db_url` (PostgreSQL) if given."""
    with open(course / "nbgrader_config.py", "a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
        if db_url:
            config.write(f"c.CourseDirectory.db_url = {db_url!r}\n")


def set_due_dates(course: Path) -> None:
    """Both lessons are due at DUE, in the course's own gradebook (before anything is graded)."""
    from nbgrader.api import Gradebook

    from autograder.course import Course, use_alembic_api

    use_alembic_api()
    found = Course.find(course)
    with Gradebook(found.db_url, found.coursedir.course_id) as gb:
        for lesson in (FIRST, SECOND):
            gb.update_or_create_assignment(lesson, duedate=DUE)


def run(argv: list[str], course: Path, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [AUTOGRADER, "--course", str(course), *argv],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=WAIT,
    )
    assert done.returncode in ok, (
        f"autograder {' '.join(argv)}: exit {done.returncode}\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "NBGRADER", "AUTOGRADER"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def start(argv: list[str], course: Path, log: Path) -> subprocess.Popen:
    """A command in its own process group (a "machine"), output to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [AUTOGRADER, "--course", str(course), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )


def until(condition, what: str, processes: list[subprocess.Popen] = ()) -> float:
    """Poll `condition` until true; seconds it took. Fails if a process we rely on ended."""
    started = time.monotonic()
    while not condition():
        for process in processes:
            assert process.poll() is None, (
                f"{process.args[3:5]} ended (exit {process.returncode}) before {what}"
            )
        assert time.monotonic() - started < WAIT, f"never happened: {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def query(dsn: str, sql: str, *params, before_schema=None):
    """Rows of `sql`; `before_schema` instead while the fleet has not created its tables yet."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        try:
            return connection.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedTable:
            if before_schema is None:
                raise
            return before_schema


class ConnectionSampler(threading.Thread):
    """The largest number of connections to the fleet's database seen, sampled continually."""

    def __init__(self, dsn: str):
        super().__init__(daemon=True)
        self.dsn, self.peak, self.samples = dsn, 0, 0
        self._done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            while not self._done.is_set():
                count = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                self.peak, self.samples = max(self.peak, count), self.samples + 1
                self._done.wait(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join()


def gradebook_rows(db_url: str) -> list[tuple[str, str, float, float]]:
    """(learner, lesson, score, late penalty) for every submission nbgrader's gradebook holds."""
    from nbgrader.api import Gradebook

    from autograder.course import use_alembic_api

    use_alembic_api()
    with Gradebook(db_url) as gb:
        return sorted(
            (s.student.id, a.name, float(s.score), float(s.late_submission_penalty))
            for a in gb.assignments
            for s in a.submissions
        )


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def server():
    reason = postgres.unavailable()
    if reason:
        pytest.skip(reason)
    with postgres.server() as url:
        yield url


@pytest.fixture
def dsn(server):
    """A fresh database on the module's server, for one test."""
    return postgres.new_database(server)


def machine(tmp_path: Path, name: str, instructor: Path) -> Path:
    """A grading machine's own checkout: the instructor's course files, nothing shared."""
    folder = tmp_path / name / "course"
    folder.mkdir(parents=True)
    for item in ("nbgrader_config.py", "source", "notebooks"):
        source = instructor / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / item)
    return folder


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def gone(processes: list[psutil.Process]) -> bool:
    def alive(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return not any(alive(p) for p in processes)


def test_two_machines_grade_a_class_exactly_once_through_a_killed_worker_and_enqueuer(
    tmp_path, dsn
):
    db_url = dsn.replace("postgresql://", "postgresql+psycopg://")

    # --- the reference: one machine, SQLite, the same class
    reference = copy_course(tmp_path / "reference")
    configure(reference, None)
    kinds = lay_out_class(reference)
    set_due_dates(reference)
    run(["grade", "--jobs", "2"], reference)
    expected = json.loads((reference / "grades.json").read_text())

    # --- the fleet: the instructor's course on PostgreSQL, two machines with their own copies
    course = copy_course(tmp_path / "instructor")
    configure(course, db_url)
    lay_out_class(course)
    set_due_dates(course)
    sampler = ConnectionSampler(dsn)
    sampler.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = {}
    for name in ("m1", "m2"):
        checkout = machine(tmp_path, name, course)
        workers[name] = start(
            [
                "worker",
                "--queue",
                dsn,
                "--jobs",
                "1",
                "--name",
                name,
                "--scratch",
                str(tmp_path / name / "scratch"),
                "--heartbeat",
                "2",
                "--stalled-after",
                str(STALLED_AFTER),
            ],
            checkout,
            logs / f"{name}.log",
        )
    try:
        enqueuer = start(["grade", "--queue", dsn], course, logs / "enqueuer.log")
        rows = len(kinds)
        until(
            lambda: (
                query(dsn, "SELECT count(*) FROM autograder_submissions", before_schema=[(0,)])[0][
                    0
                ]
                == rows
            ),
            "all rows queued",
            [enqueuer, *workers.values()],
        )
        os.killpg(
            enqueuer.pid, signal.SIGKILL
        )  # killed after enqueuing, while it waits for results
        enqueuer.wait()

        again = run(["enqueue", "--queue", dsn], course)
        assert "queued 0 job(s)" in again.stdout, again.stdout  # the same submissions are refused
        jobs = query(dsn, "SELECT count(*) FROM procrastinate_jobs")[0][0]
        assert jobs == sum(1 for kind in kinds.values() if kind not in ("broken", "renamed"))

        # --- the slow job is running on one machine: kill that machine's whole process group
        def slow_attempt():
            found = query(
                dsn,
                "SELECT a.worker FROM autograder_attempts a JOIN procrastinate_jobs j "
                "ON j.id = a.job_id WHERE j.args -> 'payload' ->> 'student' = %s",
                SLOW,
                before_schema=[],
            )
            return found[0][0] if found else None

        until(lambda: slow_attempt() is not None, "the slow job started", list(workers.values()))
        victim = slow_attempt()
        survivor = next(name for name in workers if name != victim)
        tree = process_tree(workers[victim].pid)
        assert len(tree) > 2, "the worker runs a grading process and its sandbox"
        os.killpg(workers[victim].pid, signal.SIGKILL)
        workers[victim].wait()
        seconds = until(lambda: gone(tree), "every process of the killed machine is gone")
        print(f"killed machine's {len(tree)} processes gone {seconds:.1f} s after SIGKILL")
        assert gone(tree)

        # --- collect again: the survivor re-runs the slow job after the victim's heartbeat stops
        run(["collect-results", "--queue", dsn], course)
        assert workers[survivor].poll() is None, "the surviving machine kept working"
    finally:
        for process in workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in workers.values():
            process.wait(timeout=WAIT)
        sampler.stop()

    # === every (learner, lesson) exactly once, with the single machine's results
    graded = json.loads((course / "grades.json").read_text())
    keys = [(s["student"], s["assignment"]) for s in graded["submissions"]]
    assert sorted(keys) == sorted(kinds), "every (learner, lesson) exactly once in grades.json"
    assert graded == expected, "the fleet's grades.json equals the single machine's"
    by_key = {(s["student"], s["assignment"]): s for s in graded["submissions"]}
    assert by_key[("ada", FIRST)]["score"] == by_key[("ada", FIRST)]["max_score"] > 0
    assert by_key[(SLOW, FIRST)]["score"] == by_key[(SLOW, FIRST)]["max_score"], (
        "the slow job was graded in full"
    )
    assert by_key[("eve", FIRST)]["score"] == 0, "tampering earns nothing"
    assert by_key[("cy", FIRST)]["status"] == "ungradable"

    # === the gradebook: one submission per graded (learner, lesson), scores as on one machine
    fleet_book = gradebook_rows(db_url)
    assert len({(s, a) for s, a, *_ in fleet_book}) == len(fleet_book)
    assert fleet_book == gradebook_rows(f"sqlite:///{reference / 'gradebook.db'}")
    penalties = {(s, a): p for s, a, _score, p in fleet_book}
    assert penalties[(LATE, SECOND)] > 0 and penalties[("kim", FIRST)] == 0, (
        "nbgrader's late penalty applied"
    )

    # === grades.csv: nbgrader export from PostgreSQL, and the single machine's CSV
    export = tmp_path / "export.csv"
    subprocess.run(
        [str(BIN / "nbgrader"), "export", f"--exporter={EXPORTER}", "--to", str(export)],
        cwd=course,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=WAIT,
    )
    assert (course / "grades.csv").read_text() == export.read_text()
    assert csv_rows(course / "grades.csv") == csv_rows(reference / "grades.csv")

    # === autograded notebooks and feedback on the instructor's machine, as a local run writes them
    for folder in ("autograded", "feedback"):
        ours = sorted(
            p.relative_to(course / folder) for p in (course / folder).rglob("*") if p.is_file()
        )
        theirs = sorted(
            p.relative_to(reference / folder)
            for p in (reference / folder).rglob("*")
            if p.is_file()
        )
        assert ours == theirs, folder

    # === the slow job ran on both machines, the survivor's result counts; nothing left running
    attempts = query(
        dsn,
        "SELECT a.worker FROM autograder_attempts a JOIN procrastinate_jobs j ON j.id = a.job_id "
        "WHERE j.args -> 'payload' ->> 'student' = %s ORDER BY a.started_at",
        SLOW,
    )
    assert [w for (w,) in attempts] == [victim, survivor]
    assert query(dsn, "SELECT graded_by FROM autograder_submissions WHERE student = %s", SLOW) == [
        (survivor,)
    ]
    assert query(
        dsn, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
    ) == [(0,)]

    # === connections stayed within the documented bound
    from autograder.fleet.database import command_connections, worker_connections

    bound = 2 * worker_connections(1) + command_connections()
    print(f"peak connections {sampler.peak} (bound {bound}, {sampler.samples} samples)")
    assert sampler.samples > 100 and 0 < sampler.peak <= bound < postgres.MAX_CONNECTIONS


def test_a_machine_whose_course_differs_refuses_the_job_and_keeps_no_grade(tmp_path, dsn):
    """A worker with other tests gives a grader error, never a grade; the job can be queued again"""
    db_url = dsn.replace("postgresql://", "postgresql+psycopg://")
    course = copy_course(tmp_path / "instructor")
    configure(course, db_url)
    submit(course, "ada", FIRST, answered(FIRST))
    assert "queued 1 job(s)" in run(["enqueue", "--queue", dsn], course).stdout
    stale = machine(tmp_path, "stale", course)
    source = stale / "source" / FIRST / f"{FIRST}.ipynb"
    nb = nbformat.read(source, as_version=4)
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    test_cell.metadata["nbgrader"]["points"] = (
        test_cell.metadata["nbgrader"]["points"] + 1
    )  # other marks
    nbformat.write(nb, source)
    worker = start(
        ["worker", "--queue", dsn, "--jobs", "1", "--name", "stale"], stale, tmp_path / "stale.log"
    )
    try:
        collected = run(["collect-results", "--queue", dsn], course, ok=(1,))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=WAIT) == 0, (tmp_path / "stale.log").read_text()[-3000:]
    entry = json.loads((course / "grades.json").read_text())["submissions"][0]
    assert (entry["student"], entry["status"], entry["score"]) == ("ada", "ungradable", 0.0)
    assert "error on its side" in entry["reason"]
    assert f"source/{FIRST} differs" in " ".join(collected.stdout.split()), collected.stdout
    assert gradebook_rows(db_url) == [], "no grade is kept from a machine with other tests"
    assert not (course / "autograded" / "ada").exists()
    assert "queued 1 job(s)" in run(["enqueue", "--queue", dsn], course).stdout, (
        "a grader error may be retried"
    )


def test_a_queue_without_a_shared_gradebook_is_refused_before_anything_is_queued(tmp_path, dsn):
    course = copy_course(tmp_path / "instructor")  # the default: a gradebook.db of its own
    submit(course, "ada", FIRST, answered(FIRST))
    refused = run(["enqueue", "--queue", dsn], course, ok=(2,))
    assert "a grading fleet needs a gradebook every machine can reach" in refused.stderr
    assert query(dsn, "SELECT count(*) FROM autograder_submissions", before_schema=[(0,)]) == [(0,)]


def test_grade_on_submit_feedback_is_fetchable_minutes_after_a_learner_submits(
    tmp_path,
    dsn,
    workspace,  # noqa: F811
    learners,  # noqa: F811  (the release workflow's fixtures)
):
    """A learner (a real OS user) submits through nbgrader's exchange; `autograder serve` and one
    worker grade it; the learner's `nbgrader fetch_feedback` finds the page with their score."""
    from test_release_workflow import (
        NBGRADER,
        Instructor,
        _learner_env,
        course_id,
        feedback_scores,
        fill,
        known_mistake,
        points_of_tests,
        reference_answers,
        write_user_config,
    )

    from autograder.course import Course, use_alembic_api
    from autograder.grading import gradebook

    db_url = dsn.replace("postgresql://", "postgresql+psycopg://")
    course = copy_course(tmp_path / "course")
    configure(course, db_url)
    instructor = Instructor(tmp_path / "instructor-home", course)
    exchange = workspace / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    write_user_config(instructor.home, {"Exchange.root": str(exchange)})
    learner = learners[0]
    write_user_config(
        learner.home, {"Exchange.root": str(exchange), "CourseDirectory.course_id": course_id()}
    )
    for path in [learner.home / ".jupyter", *(learner.home / ".jupyter").iterdir()]:
        os.chown(path, learner.uid, learner.gid)
    use_alembic_api()
    gradebook.prepare(Course.find(course), [FIRST], [])  # what `autograder build` registers
    instructor.nbgrader("release_assignment", FIRST)

    env = {
        **_env(),
        "HOME": str(instructor.home),
    }  # the instructor's Jupyter config names the exchange
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "serve")}
    processes = []
    for name, argv in (
        ("worker", ["worker", "--queue", dsn, "--jobs", "1"]),
        ("serve", ["serve", "--queue", dsn, "--poll", "1"]),
    ):
        with open(logs[name], "w") as out:
            processes.append(
                subprocess.Popen(
                    [AUTOGRADER, "--course", str(course), *argv],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
    try:
        mistake = known_mistake(FIRST)
        learner.nbgrader("fetch_assignment", FIRST)
        answers = {**reference_answers(course, FIRST), mistake.exercise: mistake.code}
        learner.save(FIRST, fill(nbformat.read(learner.notebook(FIRST), as_version=4), answers))
        learner.submit(FIRST)
        submitted = time.monotonic()
        page = learner.home / FIRST / "feedback" / learner.submitted_at[FIRST][0] / f"{FIRST}.html"

        def fetched() -> bool:
            """The learner's fetch_feedback; it fails while nothing has been released."""
            subprocess.run(
                [
                    "setpriv",
                    f"--reuid={learner.uid}",
                    f"--regid={learner.gid}",
                    "--init-groups",
                    NBGRADER,
                    "fetch_feedback",
                    FIRST,
                ],
                cwd=learner.home,
                env=_learner_env(learner.home),
                capture_output=True,
                timeout=WAIT,
                check=False,
            )
            return page.is_file()

        seconds = until(fetched, "the learner fetched their feedback", processes)
        print(
            f"submit to fetchable feedback: {seconds:.1f} s (time.monotonic() - submitted = "
            f"{time.monotonic() - submitted:.1f} s)"
        )
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        codes = [process.wait(timeout=WAIT) for process in processes]
    assert codes == [0, 0], {name: log.read_text()[-3000:] for name, log in logs.items()}
    points = points_of_tests(course, FIRST)
    (score, top), per_test = feedback_scores(page)
    assert (score, top) == (sum(points.values()) - points[mistake.test], sum(points.values()))
    assert per_test[mistake.test] == (0.0, points[mistake.test])
    assert page.stat().st_uid == learner.uid
    assert (course / "feedback" / learner.name / FIRST / f"{FIRST}.html").is_file()
