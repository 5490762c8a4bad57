"""Regression corpus of hostile and broken submissions for the trusted grader.

One session fixture lays out a class of 52 learners in a copy of the course (one learner per
case of `threats/cases.py`, built from the 01-lemur release; 11 of them are broken files that
never reach a kernel), grades it once with `grade_class(jobs=2)` under short limits (5 s per
cell, 20 s per notebook), and records what only the moment after grading can show (files on the
host, connections to the test's listeners, surviving processes, the course folder's contents).
Grading takes about 4-5 minutes on two cores.
A second, clean class of three bystanders is graded first as the baseline the gradebook rows of
the same bystanders in the hostile class must equal.

The tests below each ask one question of that single grading. What the grader's properties are
(docs/threat-model.md, /work/shared/grading-threats.md):
 1. verdicts are computed outside the learner's process   -> exact scores, hostile twins
 2. no secrets, no writes outside the sandbox, no network -> secrets/files/gradebook/listeners
 3. only the expected notebook is used                    -> files beside the notebook, symlink
 4. limits, nothing left alive                            -> limits, processes, output sizes
 5. fail closed with a reason the learner can act on      -> kills, hangs, structure, broken files
 6. feedback shows messages, nothing executable           -> feedback HTML, hidden test source
 7. honest noise costs nothing                            -> honest learners get full marks
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import re
import resource
import secrets
import shutil
import site
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import (
    REPO,
    answered,
    copy_course,
    release_notebook,
    solution_notebook,
    source_notebook,
)
from threats.cases import (
    ALL,
    BASELINE,
    BY_STUDENT,
    CASES,
    DECOY_LESSON,
    LESSON,
    NOTEBOOK,
    Case,
    Ctx,
)

pytestmark = pytest.mark.slow

CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 5, 20
SANDBOX_UIDS = range(60000, 65000)
# What grading may create or change in the course folder (everything else must stay byte-identical).
# If the grader gains a new output, add it here.
GRADER_OUTPUTS = (
    ".autograder",
    "gradebook.db",
    "gradebook.db-journal",
    "grades.json",
    "grades.csv",
    "autograded",
    "feedback",
    ".gradebook-sources.json",
)
MAX_AUTOGRADED_BYTES = 3 * 1024**2
MAX_FEEDBACK_BYTES = 4 * 1024**2
HONEST = "t10-honest-reference"
PLANTER = "t00-planter"
SECRET_ENV = "THREAT_CORPUS_INSTRUCTOR_TOKEN"


# ======================================================================== lesson facts


def reference_answers() -> dict[str, str]:
    """grade_id -> the source's reference answer, without the solution markers (whole lines)."""
    result = {}
    for cell in source_notebook(LESSON).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [
                line
                for line in cell.source.splitlines(True)
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            code = "".join(lines)
            result[meta["grade_id"]] = code if code.endswith("\n") else code + "\n"
    return result


def lesson_points() -> dict[str, float]:
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
        for c in source_notebook(LESSON).cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    }


def _release_text() -> str:
    return "\n".join(c.source for c in release_notebook(LESSON).cells)


_MESSAGE_LINE = re.compile(r"""^(f?["']|[()\]])""")


def hidden_test_lines() -> list[str]:
    """Code lines of the hidden tests that appear nowhere in the release (so finding one = a
    leak)."""
    released = _release_text()
    lines = {"### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}
    for cell in source_notebook(LESSON).cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped == "### BEGIN HIDDEN TESTS":
                inside = True
            elif stripped == "### END HIDDEN TESTS":
                inside = False
            elif (
                inside
                and len(stripped) >= 20
                and not _MESSAGE_LINE.match(stripped)
                and stripped not in released
            ):
                lines.add(stripped)
    return sorted(lines)


def solution_lines() -> list[str]:
    """Lines of the reference solutions that appear nowhere in the release."""
    released = _release_text()
    found = set()
    for code in reference_answers().values():
        for line in code.splitlines():
            stripped = line.strip()
            if len(stripped) >= 16 and not stripped.startswith("#") and stripped not in released:
                found.add(stripped)
    return sorted(found)


# ======================================================================== HTML reading


class _Page(HTMLParser):
    """Tags, attributes, script contents and visible text of an HTML document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k.lower(): (v or "") for k, v in attrs}))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, {k.lower(): (v or "") for k, v in attrs}))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def read_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


URL_ATTRIBUTES = (
    "src",
    "href",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "srcset",
    "background",
)
FORBIDDEN_TAGS = ("iframe", "frame", "object", "embed", "applet", "base", "form")


def event_handlers(page: _Page) -> list:
    return [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name.startswith("on")
    ]


def script_urls(page: _Page) -> list:
    return [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name in URL_ATTRIBUTES
        and re.sub(r"\s", "", value).lower().startswith(("javascript:", "vbscript:"))
    ]


def forbidden_tags(page: _Page) -> list:
    found = [tag for tag, _ in page.tags if tag in FORBIDDEN_TAGS]
    found += [
        tag
        for tag, attrs in page.tags
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh"
    ]
    return found


def resource_urls(page: _Page) -> set:
    """URLs the page makes a browser fetch on its own (images, scripts, styles, media)."""
    return {
        (tag, attrs.get("src") or attrs.get("href") or "")
        for tag, attrs in page.tags
        if (
            tag in ("img", "script", "audio", "video", "source", "iframe", "embed", "input")
            and attrs.get("src")
        )
        or (tag == "link" and attrs.get("href"))
    }


# ======================================================================== the run


@dataclass
class Run:
    ctx: Ctx
    course: Path
    baseline: Path
    seconds: float
    grades: dict  # student -> grades.json entry
    baseline_grades: dict
    points: dict
    before: dict  # course snapshot before grading
    after: dict
    connections: list
    host_leftovers: list
    survivors: list
    marked_survivors: list
    rss_before_kib: int
    rss_after_kib: int
    secret: str
    _cache: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ per learner
    def autograded(self, student: str) -> nbformat.NotebookNode | None:
        path = self.course / "autograded" / student / LESSON / NOTEBOOK
        return nbformat.read(path, as_version=4) if path.is_file() else None

    def feedback_path(self, student: str) -> Path:
        return self.course / "feedback" / student / LESSON / f"{LESSON}.html"

    def feedback(self, student: str) -> str:
        path = self.feedback_path(student)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def page(self, student: str) -> _Page:
        key = ("page", student)
        if key not in self._cache:
            self._cache[key] = read_page(self.feedback(student))
        return self._cache[key]

    def output_text(self, student: str) -> str:
        """Everything the learner's cells and the test verdicts printed, as stored by the grader."""
        nb = self.autograded(student)
        if nb is None:
            return ""
        parts = []
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                parts.append(str(output.get("text", "")))
                parts.append(str(output.get("evalue", "")))
                parts.extend(str(line) for line in output.get("traceback", []))
                parts.extend(str(value) for value in output.get("data", {}).values())
        return "\n".join(parts)

    def everything_shown(self, student: str) -> str:
        """What a learner or instructor can read about this learner: outputs, feedback, grades.json
        entry."""
        page = self.page(student)
        return "\n".join(
            [
                self.output_text(student),
                "".join(page.text),
                "\n".join(page.scripts),
                self.feedback(student),
                json.dumps(self.grades.get(student, {}), ensure_ascii=False),
            ]
        )

    def everything_of(self, student: str) -> str:
        """`everything_shown` plus the cell sources of the autograded notebook."""
        nb = self.autograded(student)
        sources = "\n".join(c.source for c in nb.cells) if nb else ""
        return self.everything_shown(student) + "\n" + sources


def _snapshot(course: Path) -> dict:
    """path -> sha256 (or link target) of every file of the course except the grader's outputs."""
    result = {}
    for top, dirs, files in os.walk(course):
        rel_top = Path(top).relative_to(course)
        if rel_top == Path("."):
            dirs[:] = [d for d in dirs if d not in GRADER_OUTPUTS]
            files = [f for f in files if f not in GRADER_OUTPUTS]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            path = Path(top) / name
            rel = str(rel_top / name)
            if path.is_symlink():
                result[rel] = "-> " + os.readlink(path)
            else:
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def _host_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 9))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.2"


def _make_course(path: Path, secret: str) -> Path:
    copy_course(path)
    for folder in ("source", "notebooks", "solutions"):
        for lesson in (path / folder).iterdir():
            if lesson.name != LESSON:
                shutil.rmtree(lesson)
    decoy = path / "source" / DECOY_LESSON
    decoy.mkdir()
    shutil.copy(path / "source" / LESSON / NOTEBOOK, decoy / f"{DECOY_LESSON}.ipynb")
    config = path / "nbgrader_config.py"
    config.write_text(
        config.read_text()
        + (
            f"\n# threat corpus: fast limits\nc.Limits.cell_timeout = {CELL_TIMEOUT}\n"
            f"c.Limits.notebook_timeout = {NOTEBOOK_TIMEOUT}\n# instructor only: {secret}\n"
        )
    )
    (path / "instructor-notes.txt").write_text(f"{secret}: the answer key is in gradebook.db\n")
    return path


def _lay_out(course: Path, cases: list[Case], ctx: Ctx) -> None:
    for case in cases:
        student_dir = course / "submitted" / case.student
        for rel, content in case.build(ctx).items():
            path = student_dir / os.path.normpath(os.path.join(LESSON, rel))
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple) and content[0] == "symlink":
                os.symlink(content[1], path)
            elif isinstance(content, (bytes, bytearray)):
                path.write_bytes(content)
            else:
                path.write_text(nbformat.writes(content), encoding="utf-8")


def _grade(course: Path):
    from autograder.course import Course
    from autograder.grading.batch import grade_class

    return grade_class(course=Course.find(course), jobs=2, feedback=True)


def _grades(course: Path) -> dict:
    data = json.loads((course / "grades.json").read_text())
    by_student: dict = {}
    for entry in data["submissions"]:
        by_student.setdefault(entry["student"], []).append(entry)
    return {
        student: entries[0] if len(entries) == 1 else entries
        for student, entries in by_student.items()
    }


def _pending_connections(sock: socket.socket) -> list:
    sock.setblocking(False)
    accepted = []
    while True:
        try:
            conn, address = sock.accept()
        except (BlockingIOError, InterruptedError):
            return accepted
        accepted.append(address or "abstract unix socket")
        conn.close()


def _processes(match) -> list:
    found = []
    for proc in psutil.process_iter(["pid", "uids", "cmdline", "create_time", "status"]):
        try:
            if match(proc) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _survivors(match, grace: float = 10.0) -> list:
    """Processes matching `match` still alive `grace` seconds after grading (kills take a
    moment)."""
    _gone, alive = psutil.wait_procs(_processes(match), timeout=grace)
    described = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                described.append((proc.pid, proc.uids().real, " ".join(proc.cmdline())[:200]))
        except psutil.NoSuchProcess:
            continue
    return described


def _in_sandbox_uid_range(since: float, token: str):
    def match(proc):
        uids = proc.info["uids"]
        return (
            uids is not None
            and (uids.real in SANDBOX_UIDS or uids.effective in SANDBOX_UIDS)
            and proc.info["create_time"] >= since - 1
            and _started_by_this_run(proc, since, token)
        )

    return match


def _started_by_this_run(proc, since: float, token: str) -> bool:
    """Did this run start `proc`? Yes if an ancestor carries the run's environment marker (the
    grading workers inherit it, and so do the sandboxes they start), or if it was orphaned to init;
    no if its ancestry reaches a process older than the run first (another grader on this
    machine)."""
    try:
        for parent in proc.parents():
            if parent.pid == 1:
                return True
            try:
                if parent.environ().get(SECRET_ENV) == token:
                    return True
            except (psutil.AccessDenied, psutil.ZombieProcess):
                pass
            if parent.create_time() < since - 1:
                return False
    except psutil.NoSuchProcess:
        return False
    return True


def _has_marker(marker: str):
    return lambda proc: any(marker in part for part in (proc.info["cmdline"] or []))


def _site_packages() -> str:
    paths = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    return paths[0] if paths else site.getsitepackages()[0]


def _host_leftovers(ctx: Ctx) -> list:
    pattern = f"threat-{ctx.sentinel}*"
    folders = {
        "/tmp",
        "/dev/shm",
        "/var/tmp",
        ctx.host_home,
        ctx.site_packages,
        ctx.repo,
        os.path.dirname(ctx.course),
    }
    found = [p for folder in folders for p in glob.glob(os.path.join(folder, pattern))]
    found += glob.glob(os.path.join(ctx.course, "**", pattern), recursive=True)
    return sorted(set(found))


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Run:
    from autograder.course import use_alembic_api

    use_alembic_api()  # whatever ran before (see test_grading_needs_no_activated_venv)
    base = tmp_path_factory.mktemp("threats")
    sentinel = secrets.token_hex(6)
    secret = "SECRET-" + secrets.token_hex(8)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A port below the ephemeral ranges: inside the sandbox, the kernel's own IOPub pipe listens
    # on a random loopback port (zmq, 49152+), and reaching *that* is not reaching the host.
    for port in random.sample(range(20000, 30000), 200):
        try:
            tcp.bind(("0.0.0.0", port))
            break
        except OSError:
            continue
    tcp.listen(16)
    abstract_name = f"threat-{sentinel}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen(16)
    reference = reference_answers()

    def context(course: Path) -> Ctx:
        return Ctx(
            sentinel=sentinel,
            course=str(course),
            repo=str(REPO),
            host_home=os.path.expanduser("~"),
            site_packages=_site_packages(),
            tcp_port=tcp.getsockname()[1],
            host_ip=_host_ip(),
            abstract_socket=abstract_name,
            honest=HONEST,
            other_marker="OTHER-LEARNER-" + sentinel,
            reference=reference,
            release=lambda: release_notebook(LESSON),
            answered=lambda answer_set: answered(LESSON, answer_set),
        )

    try:
        baseline = _make_course(base / "baseline", secret)
        _lay_out(baseline, [BY_STUDENT[s] for s in BASELINE], context(baseline))
        _grade(baseline)

        course = _make_course(base / "course", secret)
        ctx = context(course)
        _lay_out(course, CASES, ctx)
        before = _snapshot(course)
        rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        os.environ[SECRET_ENV] = secret
        started = time.time()
        try:
            _grade(course)
            seconds = time.time() - started
            rss_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            connections = _pending_connections(tcp) + _pending_connections(abstract)
            survivors = _survivors(_in_sandbox_uid_range(started, secret))
        finally:
            os.environ.pop(SECRET_ENV, None)
        marked = _survivors(_has_marker(f"threat-{sentinel}"), grace=0)
        print(f"\nthreat corpus: {len(CASES)} learners graded in {seconds:.0f} s")
        return Run(
            ctx=ctx,
            course=course,
            baseline=baseline,
            seconds=seconds,
            grades=_grades(course),
            baseline_grades=_grades(baseline),
            points=lesson_points(),
            before=before,
            after=_snapshot(course),
            connections=connections,
            host_leftovers=_host_leftovers(ctx),
            survivors=survivors,
            marked_survivors=marked,
            rss_before_kib=rss_before,
            rss_after_kib=rss_after,
            secret=secret,
        )
    finally:
        tcp.close()
        abstract.close()


# ======================================================================== parametrization


def _param(case: Case):
    return pytest.param(case, id=case.student)


GRADED = [c for c in CASES if c.status == "graded"]
UNGRADABLE = [c for c in CASES if c.status == "ungradable"]
WITH_TWIN = [c for c in CASES if c.twin]
WITH_NOTES = [c for c in CASES if c.notes]
STUBS = [c for c in CASES if c.stub]
HONEST_CASES = [
    BY_STUDENT[s]
    for s in ("t10-honest-reference", "t11-honest-noise-warnings", "t12-honest-noise-module")
]
NO_KERNEL = {c.student for c in UNGRADABLE}


def _score(run: Run, passes) -> float:
    return sum(run.points[g] for g in passes)


# ======================================================================== every learner


def test_every_learner_has_exactly_one_result(run):
    """Did the batch finish, with one result per learner (none lost, none doubled)?"""
    assert sorted(run.grades) == sorted(c.student for c in CASES)
    doubled = [s for s, entry in run.grades.items() if isinstance(entry, list)]
    assert not doubled, f"several results for {doubled}"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_submission_gets_exactly_its_expected_outcome(run, case):
    """Does each submission end with exactly the status, score and per-test verdicts it deserves?"""
    result = run.grades[case.student]
    assert result["status"] == case.status, f"{case.why}: {result['status']} ({result['reason']})"
    if case.status == "ungradable":
        assert result["score"] == 0
        return
    assert result["reason"] is None
    verdicts = {t["grade_id"]: t["passed"] for t in result["tests"]}
    assert verdicts == {g: g in case.passes for g in run.points}, case.why
    for test in result["tests"]:
        assert test["max_points"] == run.points[test["grade_id"]]
        assert test["points"] == (test["max_points"] if test["passed"] else 0), test
    assert result["max_score"] == sum(run.points.values())
    assert result["score"] == _score(run, case.passes), case.why


@pytest.mark.parametrize("case", [_param(c) for c in WITH_TWIN])
def test_hostile_code_earns_what_the_plain_answer_earns(run, case):
    """Do patched checkers, poison, rewriting, fakes, forgery and tampering earn nothing over the
    twin?"""
    mine, twin = run.grades[case.student], run.grades[case.twin]
    assert twin["status"] == mine["status"] == "graded"
    verdict = lambda result: {t["grade_id"]: (t["passed"], t["points"]) for t in result["tests"]}  # noqa: E731
    assert verdict(mine) == verdict(twin)
    assert mine["score"] == twin["score"]


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.ran])
def test_hostile_cell_ran_to_its_end(run, case):
    """Did each hostile cell actually run (so that its case proves something)?"""
    marker = string.Template(case.ran).substitute(S=run.ctx.sentinel)
    assert marker in run.output_text(case.student), run.output_text(case.student)[-1500:]


@pytest.mark.parametrize("case", [_param(c) for c in UNGRADABLE])
def test_ungradable_reason_tells_the_learner_what_to_do(run, case):
    """Does a broken or misplaced file get a reason in the learner's terms, naming the problem?"""
    reason = run.grades[case.student]["reason"] or ""
    for word in case.reason:
        assert word.lower() in reason.lower(), f"{word!r} not in reason: {reason}"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_reasons_and_notes_show_no_grader_internals(run, case):
    """Are reasons and notes free of tracebacks, log lines and the grader's paths?"""
    result = run.grades[case.student]
    text = " ".join([result["reason"] or ""] + result["notes"])
    for internal in (
        "Traceback",
        "[ERROR]",
        "Exception",
        str(run.course),
        "/tmp/",
        "staging",
        '.py", line',
    ):
        assert internal not in text, f"{internal!r} in: {text}"


@pytest.mark.parametrize("case", [_param(c) for c in WITH_NOTES])
def test_notes_say_what_happened(run, case):
    """Is a stopped notebook or a deleted/duplicated cell explained in the notes?"""
    notes = " ".join(run.grades[case.student]["notes"]).lower()
    for word in case.notes:
        assert word.lower() in notes, f"{word!r} not in notes: {notes}"


def test_note_names_the_total_time_limit_when_it_ends_a_cell(run):
    """When many cells just under the cell limit exhaust the notebook limit, does the note say
    so?"""
    notes = " ".join(run.grades["t01-hang-many-sleeps"]["notes"])
    assert f"{NOTEBOOK_TIMEOUT} seconds" in notes, notes


@pytest.mark.parametrize("case", [_param(c) for c in HONEST_CASES])
def test_honest_noise_costs_nothing(run, case):
    """Do warnings, stderr, progress bars, prints and helper cells leave full marks and clean
    messages?"""
    result = run.grades[case.student]
    assert result["score"] == result["max_score"] == sum(run.points.values())
    assert all(t["message"].startswith("✓") for t in result["tests"]), result["tests"]


# ======================================================================== secrets


@pytest.mark.parametrize("student", [c.student for c in CASES])
def test_no_hidden_test_source_in_anything_shown(run, student):
    """Does any hidden-test line reach outputs, feedback or grades.json?"""
    shown = run.everything_shown(student)
    leaked = [line for line in hidden_test_lines() if line in shown]
    assert not leaked, leaked[:5]


def test_no_hidden_test_source_in_the_class_exports(run):
    """Does any hidden-test line reach grades.json or grades.csv?"""
    exported = (run.course / "grades.json").read_text() + (run.course / "grades.csv").read_text()
    assert not [line for line in hidden_test_lines() if line in exported]


@pytest.mark.parametrize("student", [c.student for c in CASES])
def test_no_instructor_secret_in_anything_shown(run, student):
    """Does the secret in the course folder, its config and the grader's environment stay hidden?"""
    assert run.secret not in run.everything_of(student)


@pytest.mark.parametrize("case", [_param(c) for c in STUBS])
def test_learner_without_answers_never_sees_the_solutions(run, case):
    """Can a learner who wrote no answer get reference solution code into their outputs or
    feedback?"""
    shown = run.everything_shown(case.student)
    leaked = [line for line in solution_lines() if line in shown]
    assert not leaked, leaked[:5]


@pytest.mark.parametrize("student", [c.student for c in CASES if c.student != HONEST])
def test_other_learners_work_stays_with_them(run, student):
    """Does a line only the honest learner wrote appear anywhere about another learner?"""
    assert run.ctx.other_marker not in run.everything_of(student)


def test_reader_reached_nothing_of_the_course(run):
    """Did the secret reader's probes of relative paths, /proc and the course path all fail?"""
    output = run.output_text("t23-read-secrets")
    assert "files read in the walk" in output, "the reader did not run to its end"
    reads = re.findall(r"=== READ (\S+)", output)
    course_reads = [
        p
        for p in reads
        if str(run.course) in p
        or p.endswith((".db", "instructor-notes.txt"))
        or "01-lemur.ipynb" in p
    ]
    assert not course_reads, course_reads


# ======================================================================== writes and network


def test_course_folder_unchanged_except_grader_outputs(run):
    """Is every file of the course (source, release, config, submissions) byte-identical after
    grading?"""
    changed = {p for p in run.before.keys() & run.after.keys() if run.before[p] != run.after[p]}
    assert not changed, sorted(changed)
    assert not run.before.keys() - run.after.keys(), "files disappeared"
    assert not run.after.keys() - run.before.keys(), (
        f"new files: {sorted(run.after.keys() - run.before.keys())}"
    )


def test_nothing_written_outside_the_sandbox(run):
    """Did any learner leave a file in the course, /tmp, /dev/shm, the instructor's home or
    site-packages?"""
    assert run.host_leftovers == []


def test_writer_was_refused_everywhere(run):
    """Did every gradebook update, file change, config change, connection and DNS lookup of the
    writer fail?"""
    output = run.output_text("t24-write-and-connect")
    assert "no DNS" in output, "the writer did not reach its end"
    for success in ("UPDATED ", "CHANGED ", "CONFIG CHANGED", "CONNECTED"):
        assert success not in output, re.findall(re.escape(success) + r".*", output)[:5]


def test_no_connection_reached_the_host(run):
    """Did the test's TCP listener or abstract unix socket accept any connection during grading?"""
    assert run.connections == []


def _gradebook_rows(course: Path, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(LESSON, LESSON, student)
        grades = {
            g.name: (
                g.auto_score,
                g.manual_score,
                g.extra_credit,
                g.needs_manual_grade,
                g.max_score,
            )
            for g in notebook.grades
        }
        comments = {c.name: (c.auto_comment, c.manual_comment) for c in notebook.comments}
        return {"grades": grades, "comments": comments, "score": notebook.score}


@pytest.mark.parametrize("student", BASELINE)
def test_bystanders_gradebook_rows_match_a_clean_class(run, student):
    """Are a bystander's gradebook rows in the hostile class identical to those from a clean
    class?"""
    assert _gradebook_rows(run.course, student) == _gradebook_rows(run.baseline, student)


def test_gradebook_has_no_manual_scores_or_extra_credit(run):
    """Did anything set a manual score, extra credit or 'needs manual grade' in the gradebook?"""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(LESSON)
        touched = [
            (s.student.id, g.name, g.manual_score, g.extra_credit, g.needs_manual_grade)
            for s in assignment.submissions
            for nb in s.notebooks
            for g in nb.grades
            if g.manual_score is not None or g.extra_credit or g.needs_manual_grade
        ]
    assert touched == []


def test_gradebook_agrees_with_grades_json(run):
    """Is every graded learner's gradebook score the score grades.json reports?"""
    mismatched = {}
    for case in GRADED:
        result = run.grades[case.student]
        if result["status"] == "graded":
            rows = _gradebook_rows(run.course, case.student)
            if rows["score"] != result["score"]:
                mismatched[case.student] = (rows["score"], result["score"])
    assert mismatched == {}


# ======================================================================== limits and processes


def test_no_sandbox_process_survives_grading(run):
    """Is any process of a sandbox user id (60000-64999) started during grading still alive after
    it?"""
    assert run.survivors == []


def test_no_process_started_by_a_learner_survives(run):
    """Are the double-forked daemon and the fork bomb (marked in their argv) gone after grading?"""
    assert run.marked_survivors == []


def _numbers_after(run: Run, student: str, marker: str) -> list[int]:
    return [int(n) for n in re.findall(re.escape(marker) + r" (\d+)", run.output_text(student))]


def test_kernel_memory_is_limited(run):
    """Does a 3 GB allocation fail inside the kernel (memory limit 2 GB)?"""
    output = run.output_text("t03-exhaust-memory-disk")
    assert "MEMORY-LIMITED" in output and "MEMORY-UNLIMITED" not in output, output[-500:]


def test_kernel_disk_is_limited(run):
    """Does filling the kernel's home stop near the scratch size (256 MB), not on the host's
    disk?"""
    written = _numbers_after(run, "t03-exhaust-memory-disk", "DISK-LIMITED")
    assert written and written[0] <= 256, run.output_text("t03-exhaust-memory-disk")[-500:]


def test_kernel_file_size_is_limited(run):
    """Does one growing file stop at the file-size limit (64 MB)?"""
    sizes = _numbers_after(run, "t03-exhaust-memory-disk", "FILE-LIMITED")
    assert sizes and sizes[0] <= 64, run.output_text("t03-exhaust-memory-disk")[-500:]


def test_kernel_process_count_is_limited(run):
    """Does forking stop at the process limit (128 processes and threads)?"""
    counts = _numbers_after(run, "t05-fork-bomb", "FORKS-LIMITED")
    assert counts and counts[0] <= 128, run.output_text("t05-fork-bomb")[-500:]


@pytest.mark.parametrize("student", [c.student for c in CASES if c.student not in NO_KERNEL])
def test_grader_outputs_stay_small(run, student):
    """Do the autograded notebook and the feedback of each learner stay a few MB at most?"""
    notebook = run.course / "autograded" / student / LESSON / NOTEBOOK
    if run.grades[student]["status"] == "graded":
        assert notebook.stat().st_size <= MAX_AUTOGRADED_BYTES
        assert run.feedback_path(student).stat().st_size <= MAX_FEEDBACK_BYTES


def test_grades_json_stays_small(run):
    """Is grades.json for the whole class under 1 MB whatever the learners printed?"""
    assert (run.course / "grades.json").stat().st_size <= 1024**2


def test_output_flood_is_cut(run):
    """Is the 50 MB line (and the million prints) cut to the output budget in the stored
    notebook?"""
    nb = run.autograded("t04-exhaust-output")
    stored = sum(len(json.dumps(o)) for c in nb.cells for o in c.get("outputs", []))
    assert stored <= 2 * 1024**2
    assert "x" * 2_000_000 not in run.output_text("t04-exhaust-output")


GRADER_MEMORY_LIMIT_KIB = 2 * 1024**2  # the kernel's own limit (c.Limits.memory): 2 GiB


def test_grader_memory_stays_bounded_when_a_layer_claims_a_huge_size(run):
    """Does a learner-declared layer size make a grading process grow past the kernel's memory
    limit?"""
    grew = run.rss_after_kib > max(run.rss_before_kib, GRADER_MEMORY_LIMIT_KIB)
    assert not grew, f"a grading process reached {run.rss_after_kib // 1024} MiB"


# ======================================================================== cross-learner / structure


def test_learner_code_never_runs_in_another_learners_kernel(run):
    """Does anything the planter left behind run in a later learner's kernel?"""
    marker = "PLANTED-" + run.ctx.sentinel
    victims = [
        c.student for c in CASES if c.student != PLANTER and marker in run.output_text(c.student)
    ]
    assert "startup files planted" in run.output_text(PLANTER), "the planter did not run"
    assert victims == []


def test_injected_grade_cells_never_run_in_the_grader(run):
    """Does a learner cell that claims to be a graded test ever run in the grader's process?"""
    assert not os.path.exists(f"/tmp/threat-{run.ctx.sentinel}-injected")
    assert f"RAN-IN-GRADER-{run.ctx.sentinel}" not in "".join(
        run.output_text(c.student) for c in CASES
    )


def test_grader_never_unpickles_learner_data(run):
    """Does a forged pickle in a probe answer ever get loaded (it would create a file on the
    host)?"""
    assert not os.path.exists(f"/tmp/threat-{run.ctx.sentinel}-unpickled")
    assert "probes forged" in run.output_text("t19-forge-probes-wrong"), "the forger did not run"


def test_files_beside_the_notebook_are_never_used(run):
    """Are torch.py, numpy.py, sitecustomize.py, startup files and a config beside the notebook
    ignored?"""
    assert not [
        c.student for c in CASES if f"SHADOWED-{run.ctx.sentinel}" in run.output_text(c.student)
    ]


def test_duplicate_note_names_the_copy_that_was_graded(run):
    """When a test cell is duplicated, does the note name the copy that was actually graded?"""
    student = "t28-duplicate-test-at-top"
    nb = run.autograded(student)
    assert nb is not None, f"not graded: {run.grades[student]['reason']}"
    release_source = next(
        c.source
        for c in release_notebook(LESSON).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "lemur-tensor-test"
    )
    copies = [i for i, c in enumerate(nb.cells) if c.source.strip() == release_source.strip()]
    graded = [
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "lemur-tensor-test"
    ]
    assert len(copies) == 2 and len(graded) == 1
    notes = " ".join(run.grades[student]["notes"])
    assert "the copy after `lemur-tensor` was graded" in notes, notes
    answer = next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "lemur-tensor"
    )
    assert graded[0] == min(i for i in copies if i > answer), (
        "the graded copy is the one after the answer"
    )


# ======================================================================== feedback HTML


def _feedback_students():
    return [c.student for c in CASES if c.student not in NO_KERNEL]


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.student in _feedback_students()])
def test_feedback_has_no_script_from_learner_output(run, case):
    """Does a feedback page contain scripts, frames or javascript: links that the honest one does
    not?"""
    student = case.student
    assert run.grades[student]["status"] == "graded", "every case here has a feedback page to check"
    page, honest = run.page(student), run.page(HONEST)
    extra_scripts = [s for s in page.scripts if s not in honest.scripts]
    assert not extra_scripts, extra_scripts[:3]
    assert not script_urls(page)
    assert not forbidden_tags(page)
    sentinel = f"XSS-{run.ctx.sentinel}"
    assert not [s for s in page.scripts if sentinel in s]


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.student in _feedback_students()])
def test_feedback_has_no_event_handler_attributes(run, case):
    """Does any element of a feedback page carry an on* event handler (onerror=, onload=...)?"""
    student = case.student
    assert run.grades[student]["status"] == "graded", "every case here has a feedback page to check"
    assert event_handlers(run.page(student)) == []


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.student in _feedback_students()])
def test_feedback_loads_no_resource_named_by_the_learner(run, case):
    """Does a feedback page make the browser fetch any URL the honest feedback does not (images
    included)?"""
    student = case.student
    assert run.grades[student]["status"] == "graded", "every case here has a feedback page to check"
    honest = resource_urls(run.page(HONEST))
    extra = [
        (tag, url)
        for tag, url in resource_urls(run.page(student))
        if (tag, url) not in honest and not url.startswith("data:")
    ]
    assert extra == []


@pytest.mark.parametrize("student", _feedback_students())
def test_stored_outputs_carry_no_markup(run, student):
    """Do autograded notebooks keep only inert output types (no HTML, JS, SVG, markdown,
    widgets)?"""
    nb = run.autograded(student)
    assert nb is not None, "every case here has an autograded notebook to check"
    kinds = {mime for c in nb.cells for o in c.get("outputs", []) for mime in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg"}, kinds


def test_script_payloads_reached_the_feedback_as_text_only(run):
    """Did the script payloads actually run (so the feedback checks above are not vacuous)?"""
    text = "".join(run.page("t36-script-in-output").text) + "".join(
        run.page("t37-script-in-error").text
    )
    assert f'alert("XSS-{run.ctx.sentinel}-stdout")' in text
    assert f"XSS-{run.ctx.sentinel}-evalue" in text
    assert f"XSS-{run.ctx.sentinel}-mdimg" in run.feedback("t39-script-in-markdown")


def test_grading_a_fresh_course_needs_no_activated_venv(tmp_path, monkeypatch):
    """Can a fresh course be graded when the venv's bin folder is not on PATH?"""
    from autograder.course import Course
    from autograder.grading.batch import grade_class

    scripts = str(Path(sys.executable).parent)
    monkeypatch.setenv(
        "PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != scripts)
    )
    assert shutil.which("alembic") is None
    course = copy_course(tmp_path / "course")
    outcome = grade_class(course=Course.find(course), jobs=1, feedback=False)
    assert outcome.results == []


# ======================================================================== the checks can fail


def test_hidden_line_detector_finds_the_hidden_tests_in_the_source():
    """Would the hidden-test check notice a leak? (It must find every hidden line in the source's
    HTML.)"""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(source_notebook(LESSON))
    text = "".join(read_page(html).text)
    lines = hidden_test_lines()
    assert len(lines) >= 10
    assert [line for line in lines if line not in text] == []


def test_solution_detector_finds_the_solutions_in_the_worked_solutions():
    """Would the solution check notice a leak? (It must find the solution lines in solutions/.)"""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(solution_notebook(LESSON))
    text = "".join(read_page(html).text)
    lines = solution_lines()
    assert len(lines) >= 5
    assert [line for line in lines if line not in text] == []


def test_active_content_detectors_flag_known_payloads():
    """Would the feedback checks notice an onerror, a javascript: link, a frame and a remote
    image?"""
    page = read_page(
        '<p>ok</p><img src=x onerror=alert(1) width=1><a href=" JavaScript:alert(1)">x</a>'
        '<iframe src="https://e.invalid"></iframe><img src="https://e.invalid/p.png">'
        "<script>alert(2)</script>"
    )
    assert event_handlers(page) == [("img", "onerror", "alert(1)")]
    assert script_urls(page) and forbidden_tags(page) == ["iframe"]
    assert ("img", "https://e.invalid/p.png") in resource_urls(page)
    assert page.scripts == ["alert(2)"]


def test_process_scan_finds_a_marked_process():
    """Would the survivor check notice a process with a marker in its argv?"""
    marker = "threat-selftest-" + secrets.token_hex(4)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        found = _survivors(_has_marker(marker), grace=0)
        assert [pid for pid, _uid, _cmd in found] == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _survivors(_has_marker(marker), grace=0) == []


def test_survivor_scan_tells_this_runs_processes_from_another_graders():
    """Would the survivor check count a sandbox-uid process of this run, and ignore one of another
    grader?"""
    token, since = "selftest-" + secrets.token_hex(4), time.time()
    spawn = "setpriv --reuid=64999 --regid=64999 --clear-groups sleep 60 & wait"
    ours = subprocess.Popen(["sh", "-c", spawn], env={**os.environ, SECRET_ENV: token})
    theirs = subprocess.Popen(
        ["sh", "-c", spawn], env={k: v for k, v in os.environ.items() if k != SECRET_ENV}
    )
    try:
        deadline = time.monotonic() + 10
        while len(_processes(lambda p: p.info["uids"] and p.info["uids"].real == 64999)) < 2:
            assert time.monotonic() < deadline, "the two sleepers did not start"
        found = _survivors(_in_sandbox_uid_range(since, token), grace=0)
        assert [pid for pid, _uid, _cmd in found] == [
            c.pid for c in psutil.Process(ours.pid).children()
        ]
    finally:
        for shell in (ours, theirs):
            for child in psutil.Process(shell.pid).children(recursive=True):
                child.kill()
            shell.wait()


def test_corpus_covers_every_test_cell_and_both_outcomes():
    """Does the corpus have, for every test cell, a case that must pass it and one that must fail
    it?"""
    points = lesson_points()
    assert set(points) == set(ALL)
    for grade_id in points:
        assert any(c.passes is not None and grade_id in c.passes for c in CASES)
        assert any(c.passes is not None and grade_id not in c.passes for c in CASES)
