"""The instructor's release cycle, end to end, with the real commands (docs/instructor-workflow.md).

One temporary exchange root, one temporary course folder, and a home folder each for the
instructor and two learners. The learners are real operating-system users created for the test
(nbgrader's exchange knows a learner by `pwd.getpwuid(os.getuid())`, not by $USER), and every
learner command runs as that user with `setpriv` and the venv's `nbgrader` executable, the way a
learner's terminal or JupyterLab's Assignment List on a JupyterHub or a shared machine runs it.
This needs root (CI runs as root); elsewhere the cycle test is skipped and says why.

The LMS path (a zip of submissions downloaded from Moodle, Canvas...) goes through
`nbgrader zip_collect` with the sample download in tests/workflow/.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, copy_course
from known_answers import variants

BIN = Path(sys.executable).parent
NBGRADER = str(BIN / "nbgrader")
AUTOGRADER = str(BIN / "autograder")
WORKFLOW = Path(__file__).resolve().parent / "workflow"
DOC = REPO / "docs" / "instructor-workflow.md"

# nbgrader zip_collect settings for LMS downloads named <login>_[LATE_]<number>_<notebook>.ipynb
# (Canvas style: "alice_12345_01-lemur.ipynb", "bob_LATE_67890_01-lemur.ipynb"). The collector
# matches the whole path of each extracted file, hence the leading ".*/".
LMS_REGEXP = r".*/(?P<student_id>[a-z0-9]+)_(?:LATE_)?[0-9]+_(?P<file_id>[^/]+[.]ipynb)$"
LMS_ZIP = WORKFLOW / "01-lemur-submissions.zip"
LMS_LESSON = "01-lemur"
LMS_FILES = {  # member of the zip -> (learner, what it holds)
    "alice_12345_01-lemur.ipynb": ("alice", "reference answers"),
    "bob_LATE_67890_01-lemur.ipynb": ("bob", "the first known mistake of the lesson"),
    "bob_LATE_67890_notes.txt": (None, "an attachment that is not a notebook"),
}


def course_id() -> str:
    from autograder.course import load_config

    return load_config(REPO).CourseDirectory.course_id


# ------------------------------------------------------------------------------ answers


def reference_answers(course: Path, lesson: str) -> dict[str, str]:
    """grade_id -> the reference answer of each answer cell, without the solution markers."""
    nb = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [
                line
                for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def points_of_tests(course: Path, lesson: str) -> dict[str, float]:
    """grade_id -> points of each graded cell of the lesson, in notebook order."""
    nb = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@dataclass
class Mistake:
    exercise: str  # grade_id of the answer cell
    code: str
    test: str  # the one test cell it fails
    message: str  # what that test's message must contain


def known_mistake(lesson: str) -> Mistake:
    """The first known wrong answer of the lesson that fails exactly one test."""
    for variant in variants(lesson):
        if (
            variant.get("kind") == "wrong"
            and len(variant.get("fails", [])) == 1
            and variant.get("message")
        ):
            return Mistake(
                variant["exercise"],
                variant["code"].rstrip("\n"),
                variant["fails"][0],
                variant["message"],
            )
    pytest.fail(
        f"tests/lessons/variants/{lesson}.yml has no `kind: wrong` answer that fails one test only"
    )


def fill(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """Type `answers` (grade_id -> code) into the answer cells of a fetched notebook."""
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


# ------------------------------------------------------------------------------ people


def _run(argv: list[str], *, cwd: Path, env: dict, what: str) -> str:
    """Run a command; fail the test with its output if it fails. Returns stdout + stderr."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    print(f"{time.monotonic() - started:6.1f} s  {what}")  # shown by pytest when the test fails
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{output[-4000:]}"
    )
    return output


def _learner_env(home: Path) -> dict:
    """What a login gives a learner: HOME, and a PATH with the course's environment first."""
    return {
        "HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _instructor_env(home: Path) -> dict:
    """The caller's environment with the instructor's HOME and the venv first on PATH (nbgrader
    runs `alembic`); no Jupyter settings of the caller's own leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}")
    return env


def write_user_config(home: Path, settings: dict[str, str]) -> None:
    """~/.jupyter/nbgrader_config.py: on a JupyterHub this is /etc/jupyter/nbgrader_config.py."""
    (home / ".jupyter").mkdir(parents=True, exist_ok=True)
    lines = ["c = get_config()  # noqa: F821"] + [
        f"c.{key} = {value!r}" for key, value in settings.items()
    ]
    (home / ".jupyter" / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


@dataclass
class Instructor:
    home: Path
    course: Path

    def run(self, *argv: str) -> str:
        what = "instructor: " + " ".join(
            Path(a).name if i == 0 else a for i, a in enumerate(argv[:3])
        )
        return _run(list(argv), cwd=self.course, env=_instructor_env(self.home), what=what)

    def nbgrader(self, *args: str) -> str:
        return self.run(NBGRADER, *args)


@dataclass
class Learner:
    name: str
    uid: int
    gid: int
    home: Path
    submitted_at: dict[str, list[str]] = field(default_factory=dict)  # lesson -> timestamps

    def nbgrader(self, *args: str) -> str:
        argv = [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--init-groups",
            NBGRADER,
            *args,
        ]
        return _run(
            argv,
            cwd=self.home,
            env=_learner_env(self.home),
            what=f"{self.name}: nbgrader {' '.join(args)}",
        )

    def notebook(self, lesson: str) -> Path:
        return self.home / lesson / f"{lesson}.ipynb"

    def save(self, lesson: str, nb: nbformat.NotebookNode) -> None:
        """What the learner's JupyterLab does on save (written for them, owned by them)."""
        path = self.notebook(lesson)
        path.write_text(nbformat.writes(nb), encoding="utf-8")
        os.chown(path, self.uid, self.gid)

    def submit(self, lesson: str) -> str:
        output = self.nbgrader("submit", lesson)
        stamp = re.search(r"Submitted as: \S+ \S+ (.+ UTC)", output)
        assert stamp, output
        self.submitted_at.setdefault(lesson, []).append(stamp.group(1).strip())
        time.sleep(0.01)  # distinct timestamps even on a coarse clock
        return stamp.group(1).strip()


def _can_make_users() -> str | None:
    """Why learners cannot be real users here, or None if they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to create the two learners' operating-system users (CI runs as root)"
    for tool in ("useradd", "userdel", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def _retry(argv: list[str]) -> subprocess.CompletedProcess:
    """useradd/userdel, retried while another process holds the lock on /etc/passwd."""
    for _ in range(40):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0 or "lock" not in done.stderr.lower():
            return done
        time.sleep(0.25)
    return done


@pytest.fixture
def workspace():
    """A folder other users can traverse (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="release-workflow-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def learners(workspace):
    """Two learners, each a fresh operating-system user with a private home; removed afterwards."""
    reason = _can_make_users()
    if reason:
        pytest.skip(reason)
    import pwd

    made, people = [], []
    suffix = secrets.token_hex(3)
    shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    try:
        for first in ("ada", "bruno"):
            name, home = f"{first}-{suffix}", workspace / "home" / f"{first}-{suffix}"
            home.mkdir(parents=True)
            done = _retry(
                [
                    "useradd",
                    "--no-create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    shell,
                    "--user-group",
                    name,
                ]
            )
            assert done.returncode == 0, f"useradd {name}: {done.stderr}"
            made.append(name)
            entry = pwd.getpwnam(name)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            home.chmod(0o700)
            people.append(Learner(name, entry.pw_uid, entry.pw_gid, home))
        probe = subprocess.run(
            [
                "setpriv",
                f"--reuid={people[0].uid}",
                f"--regid={people[0].gid}",
                "--init-groups",
                sys.executable,
                "-c",
                "import nbgrader",
            ],
            cwd=people[0].home,
            env=_learner_env(people[0].home),
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            pytest.skip(
                f"an unprivileged user cannot run {sys.executable} (is the checkout in a private "
                f"folder such as /root?): {probe.stderr.strip()[-300:]}"
            )
        yield people
    finally:
        for name in made:
            _retry(["userdel", name])
            if subprocess.run(["getent", "group", name], capture_output=True).returncode == 0:
                _retry(["groupdel", name])


# ------------------------------------------------------------------------------ reading results


def gradebook_scores(course: Path, students: list[str], lessons: list[str]) -> tuple[dict, dict]:
    """From nbgrader's gradebook: {(student, lesson): (score, max_score, timestamp), or None if not
    submitted} and {lesson: max_score}."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.course import use_alembic_api

    use_alembic_api()
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            for lesson in lessons:
                try:
                    sub = gb.find_submission(lesson, student)
                except MissingEntry:
                    scores[(student, lesson)] = None
                    continue
                scores[(student, lesson)] = (float(sub.score), float(sub.max_score), sub.timestamp)
        maxima = {lesson: float(gb.find_assignment(lesson).max_score) for lesson in lessons}
    return scores, maxima


def csv_scores(path: Path) -> dict:
    """(student, lesson) -> (score, max_score) from an nbgrader CSV export."""
    with path.open(newline="") as fh:
        return {
            (row["student_id"], row["assignment"]): (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(fh)
        }


def json_results(course: Path) -> dict:
    """(student, lesson) -> the lesson's one notebook entry of grades.json."""
    data = json.loads((course / "grades.json").read_text())
    results = {}
    for entry in data["submissions"]:
        key = (entry["student"], entry["assignment"])
        assert key not in results, (
            f"{key} appears twice in grades.json (lessons have one notebook each)"
        )
        results[key] = entry
    return results


def feedback_text(path: Path) -> str:
    """The readable text of a feedback page, whitespace collapsed."""
    text = re.sub(
        r"<(script|style)\b.*?</\1>", " ", path.read_text(encoding="utf-8"), flags=re.S | re.I
    )
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def feedback_scores(path: Path) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """(score, max) of the notebook and {grade_id: (score, max)} as the feedback page shows them."""
    page = path.read_text(encoding="utf-8")
    total = re.search(r"<h4>[^<]*\(Score: ([0-9.]+) / ([0-9.]+)\)</h4>", page)
    assert total, f"no score heading in {path}"
    tests = {
        m.group(1): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(
            r'<a href="#([^"]+)">Test cell</a> \(Score: ([0-9.]+) / ([0-9.]+)\)', page
        )
    }
    return (float(total.group(1)), float(total.group(2))), tests


def fetched_feedback(learner: Learner) -> set[tuple[str, str, str]]:
    """(lesson, timestamp folder, file) of everything fetch_feedback put in the learner's home."""
    return {
        (p.relative_to(learner.home).parts[0], p.parent.name, p.name)
        for p in learner.home.glob("*/feedback/*/*")
        if p.is_file()
    }


# ------------------------------------------------------------------------------ the cycle


@pytest.mark.slow
def test_release_fetch_submit_collect_grade_feedback(tmp_path, workspace, learners):
    course = copy_course(tmp_path / "course")
    instructor = Instructor(tmp_path / "instructor-home", course)
    ada, bruno = learners
    exchange = workspace / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # as nbgrader asks: every learner writes submissions into it
    cid = course_id()
    write_user_config(instructor.home, {"Exchange.root": str(exchange)})
    for learner in learners:
        write_user_config(
            learner.home, {"Exchange.root": str(exchange), "CourseDirectory.course_id": cid}
        )
        for path in [learner.home / ".jupyter", *(learner.home / ".jupyter").iterdir()]:
            os.chown(path, learner.uid, learner.gid)

    # --- instructor: build, then release every lesson
    instructor.run(AUTOGRADER, "build")
    lessons = sorted(
        p.name for p in (course / "source").iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    assert lessons, "no lessons in source/"
    first, last = lessons[0], lessons[-1]
    for lesson in lessons:
        instructor.nbgrader("release_assignment", lesson)

    # --- what the learners type
    mistake = known_mistake(first)
    answers = {lesson: reference_answers(course, lesson) for lesson in lessons}
    points = {lesson: points_of_tests(course, lesson) for lesson in lessons}
    assert mistake.test in points[first], f"{mistake.test} is not a test cell of {first}"
    # ada: every lesson right, except that her first submission of the first lesson is an early
    # draft with the known mistake; she resubmits it, fixed, after the class has been graded.
    # bruno: the known mistake in the first lesson and the last lesson never submitted. With a
    # single lesson he submits it with the mistake and its last exercise left as released.
    bruno_lessons = lessons[:-1] if len(lessons) > 1 else lessons
    unanswered: list[str] = []  # further test cells bruno cannot pass (one-lesson course only)
    typed = {
        ada.name: {lesson: dict(answers[lesson]) for lesson in lessons},
        bruno.name: {lesson: dict(answers[lesson]) for lesson in bruno_lessons},
    }
    typed[ada.name][first][mistake.exercise] = mistake.code
    typed[bruno.name][first][mistake.exercise] = mistake.code
    if len(lessons) == 1:
        skipped = list(answers[first])[-1]
        assert skipped != mistake.exercise, "choose a mistake that is not in the last exercise"
        del typed[bruno.name][first][skipped]
        unanswered = _tests_after(course, first, skipped)

    def fetch_and_submit(learner: Learner) -> None:
        """The Assignment List's Fetch and Submit buttons run this same exchange code."""
        listed = learner.nbgrader("list")
        assert all(f"{cid} {lesson}" in listed for lesson in lessons), listed
        learner.nbgrader("fetch_assignment", *lessons)
        for lesson in lessons:
            fetched = learner.notebook(lesson)
            assert fetched.stat().st_uid == learner.uid
            assert (
                fetched.read_bytes()
                == (course / "notebooks" / lesson / f"{lesson}.ipynb").read_bytes()
            )
        for lesson, code in typed[learner.name].items():
            learner.save(lesson, fill(nbformat.read(learner.notebook(lesson), as_version=4), code))
            learner.submit(lesson)

    with ThreadPoolExecutor(2) as pool:  # two people at two keyboards
        list(pool.map(fetch_and_submit, learners))
    peek = subprocess.run(
        [
            "setpriv",
            f"--reuid={ada.uid}",
            f"--regid={ada.gid}",
            "--init-groups",
            "ls",
            str(course / "source"),
        ],
        capture_output=True,
    )
    assert peek.returncode != 0, (
        "the course folder must stay private: the cycle works without learners reading it"
    )

    # --- instructor: collect, grade, release feedback; learners fetch it
    for lesson in lessons:
        instructor.nbgrader("collect", lesson)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(
        [ada.name, bruno.name]
    )
    assert (course / "submitted" / bruno.name / last).exists() == (len(lessons) == 1)
    instructor.run(AUTOGRADER, "grade", "--jobs", "2")
    no_secret = sorted(
        str(p.relative_to(course))
        for p in (course / "feedback").glob("*/*")
        if p.is_dir() and not (p / "submission_secret.txt").is_file()
    )
    assert not no_secret, (
        "`autograder grade` wrote feedback folders without the submission's submission_secret.txt, "
        "which `nbgrader release_feedback` reads to name the feedback file a learner can fetch: "
        + ", ".join(no_secret)
    )
    for lesson in lessons:
        instructor.nbgrader("release_feedback", lesson)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda learner: learner.nbgrader("fetch_feedback", *lessons), learners))
    draft_stamp = ada.submitted_at[first][0]
    draft_score = gradebook_scores(course, [ada.name], [first])[0][(ada.name, first)][0]

    # --- ada resubmits late; collect keeps what it has, --update takes the newer one; regrade her
    marker = f"# resubmitted after grading {secrets.token_hex(4)}"
    ada.save(
        first,
        fill(
            nbformat.read(ada.notebook(first), as_version=4),
            {mistake.exercise: answers[first][mistake.exercise] + "\n" + marker},
        ),
    )
    late_stamp = ada.submit(first)
    assert late_stamp > draft_stamp
    kept = instructor.nbgrader("collect", first)
    assert "use --update" in kept, kept
    assert (course / "submitted" / ada.name / first / "timestamp.txt").read_text() == draft_stamp
    updated = instructor.nbgrader("collect", "--update", first)
    assert f"Updating submission: {ada.name} {first}" in updated, updated
    assert (course / "submitted" / ada.name / first / "timestamp.txt").read_text() == late_stamp
    instructor.run(AUTOGRADER, "grade", "--jobs", "2", "--student", ada.name, "--assignment", first)
    instructor.nbgrader("release_feedback", first)
    ada.nbgrader("fetch_feedback", first)
    instructor.nbgrader("export", "--to", str(tmp_path / "export.csv"))

    # === the gradebook, grades.json, grades.csv and nbgrader export agree, learner by lesson
    students = [ada.name, bruno.name]
    book, maxima = gradebook_scores(course, students, lessons)
    results = json_results(course)
    ours, exported = csv_scores(course / "grades.csv"), csv_scores(tmp_path / "export.csv")
    for student in students:
        for lesson in lessons:
            key = (student, lesson)
            in_book = book[key][0] if book[key] else 0.0
            in_json = results[key]["score"] if key in results else 0.0
            assert ours[key] == exported[key] == (in_book, maxima[lesson]), (
                key,
                ours[key],
                exported[key],
                book[key],
            )
            assert in_json == in_book, (key, results.get(key), book[key])
            if key in results:
                assert results[key]["max_score"] == maxima[lesson]
                assert results[key]["status"] == "graded", results[key]
                assert sum(t["points"] for t in results[key]["tests"]) == in_json

    # === ada: full marks everywhere; what was graded last is her late resubmission
    for lesson in lessons:
        assert book[(ada.name, lesson)][0] == maxima[lesson], (
            lesson,
            results[(ada.name, lesson)]["tests"],
        )
        assert all(t["passed"] for t in results[(ada.name, lesson)]["tests"])
    assert draft_score == maxima[first] - points[first][mistake.test]
    assert str(book[(ada.name, first)][2]) == late_stamp.removesuffix(" UTC")
    graded = nbformat.read(
        course / "autograded" / ada.name / first / f"{first}.ipynb", as_version=4
    )
    assert any(marker in cell.source for cell in graded.cells), (
        "the graded notebook is not the resubmission"
    )

    # === bruno: the mistake costs exactly its test's points; the missing lesson scores 0
    tests = {t["grade_id"]: t for t in results[(bruno.name, first)]["tests"]}
    lost = {mistake.test, *unanswered}
    for grade_id, test in tests.items():
        if grade_id in lost:
            assert test["points"] == 0 and not test["passed"], test
        else:
            assert test["points"] == test["max_points"] and test["passed"], test
    assert book[(bruno.name, first)][0] == maxima[first] - sum(points[first][g] for g in lost)
    message = tests[mistake.test]["message"]
    assert mistake.message.lower() in message.lower(), (mistake, message)
    for lesson in lessons[1:-1]:
        assert book[(bruno.name, lesson)][0] == maxima[lesson]
    if len(lessons) > 1:
        assert book[(bruno.name, last)] is None and ours[(bruno.name, last)][0] == 0.0
        assert (bruno.name, last) not in results or results[(bruno.name, last)]["score"] == 0.0

    # === fetched feedback: each learner holds exactly their own, one page per graded submission
    expected = {
        ada.name: {
            (lesson, stamp, f"{lesson}.html")
            for lesson in lessons
            for stamp in ada.submitted_at[lesson]
        },
        bruno.name: {
            (lesson, bruno.submitted_at[lesson][0], f"{lesson}.html") for lesson in bruno_lessons
        },
    }
    shown = {
        (ada.name, first, draft_stamp): (
            draft_score,
            {
                **{g: (p, p) for g, p in points[first].items()},
                mistake.test: (0.0, points[first][mistake.test]),
            },
        )
    }
    for learner in learners:
        assert fetched_feedback(learner) == expected[learner.name], learner.name
        for lesson, stamp, name in expected[learner.name]:
            page = learner.home / lesson / "feedback" / stamp / name
            assert page.stat().st_uid == learner.uid
            want = shown.get((learner.name, lesson, stamp)) or (
                book[(learner.name, lesson)][0],
                {
                    t["grade_id"]: (t["points"], t["max_points"])
                    for t in results[(learner.name, lesson)]["tests"]
                },
            )
            (score, top), per_test = feedback_scores(page)
            assert (score, top) == (want[0], maxima[lesson]), (learner.name, lesson, stamp)
            assert per_test == want[1], (learner.name, lesson, stamp)
    said = " ".join(message.split())
    assert said in feedback_text(
        bruno.home / first / "feedback" / bruno.submitted_at[first][0] / f"{first}.html"
    )
    assert said in feedback_text(ada.home / first / "feedback" / draft_stamp / f"{first}.html")
    assert said not in feedback_text(ada.home / first / "feedback" / late_stamp / f"{first}.html")


def _tests_after(course: Path, lesson: str, exercise: str) -> list[str]:
    """The test cells between an answer cell and the next one: the tests of that exercise."""
    nb = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    found, tests = False, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if found:
                break
            found = meta.get("grade_id") == exercise
        elif found and meta.get("grade"):
            tests.append(meta["grade_id"])
    return tests


# ------------------------------------------------------------------------------ LMS downloads


def make_lms_zip(path: Path = LMS_ZIP) -> None:
    """Write the sample LMS download from the current release of LMS_LESSON (run this file to redo
    it)."""
    from autograder.build import build
    from autograder.course import Course

    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(Path(tmp) / "course")
        build(Course.find(course))
        released = nbformat.read(
            course / "notebooks" / LMS_LESSON / f"{LMS_LESSON}.ipynb", as_version=4
        )
        answers = reference_answers(course, LMS_LESSON)
    mistake = known_mistake(LMS_LESSON)
    alice = fill(nbformat.from_dict(json.loads(json.dumps(released))), answers)
    bob = fill(
        nbformat.from_dict(json.loads(json.dumps(released))),
        {**answers, mistake.exercise: mistake.code},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, content in (
            ("alice_12345_01-lemur.ipynb", nbformat.writes(alice)),
            ("bob_LATE_67890_01-lemur.ipynb", nbformat.writes(bob)),
            ("bob_LATE_67890_notes.txt", "my working, in case it helps\n"),
        ):
            info = zipfile.ZipInfo(member, date_time=(2025, 1, 31, 23, 59, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)


def test_lms_sample_is_a_typical_download():
    with zipfile.ZipFile(LMS_ZIP) as zf:
        assert sorted(zf.namelist()) == sorted(LMS_FILES)
    for member, (student, _what) in LMS_FILES.items():
        match = re.match(
            LMS_REGEXP, f"/course/downloaded/{LMS_LESSON}/extracted/{LMS_ZIP.stem}/{member}"
        )
        if student is None:
            continue  # not .ipynb: FileNameCollectorPlugin.valid_ext skips it before the regexp
        assert (
            match and match["student_id"] == student and match["file_id"] == f"{LMS_LESSON}.ipynb"
        ), member


def test_doc_gives_the_tested_zip_collect_settings():
    assert LMS_REGEXP in DOC.read_text(), (
        "docs/instructor-workflow.md must give the regexp this test uses"
    )


@pytest.mark.slow
def test_lms_zip_into_submitted_then_graded(tmp_path):
    course = copy_course(tmp_path / "course")
    home = tmp_path / "instructor-home"
    home.mkdir()
    instructor = Instructor(home, course)  # notebooks/ is committed: no build needed to collect
    archive = course / "downloaded" / LMS_LESSON / "archive"
    archive.mkdir(parents=True)
    shutil.copy(LMS_ZIP, archive)
    log = instructor.nbgrader(
        "zip_collect", LMS_LESSON, f"--FileNameCollectorPlugin.named_regexp={LMS_REGEXP}"
    )
    assert "2 files collected, 1 files skipped" in log, log

    with zipfile.ZipFile(LMS_ZIP) as zf:
        for member, (student, _what) in LMS_FILES.items():
            if student:
                collected = course / "submitted" / student / LMS_LESSON / f"{LMS_LESSON}.ipynb"
                assert collected.read_bytes() == zf.read(member), member
    assert sorted(
        p.relative_to(course / "submitted").as_posix()
        for p in (course / "submitted").rglob("*")
        if p.is_file()
    ) == [f"alice/{LMS_LESSON}/{LMS_LESSON}.ipynb", f"bob/{LMS_LESSON}/{LMS_LESSON}.ipynb"]

    instructor.run(AUTOGRADER, "grade", "--jobs", "2")
    results = json_results(course)
    book, maxima = gradebook_scores(course, ["alice", "bob"], [LMS_LESSON])
    mistake = known_mistake(LMS_LESSON)
    stale = "; if the lesson changed, regenerate the sample: python tests/test_release_workflow.py"
    assert results[("alice", LMS_LESSON)]["status"] == "graded"
    assert book[("alice", LMS_LESSON)][0] == maxima[LMS_LESSON], (
        "alice's reference answers lost points" + stale
    )
    bob = {t["grade_id"]: t for t in results[("bob", LMS_LESSON)]["tests"]}
    assert book[("bob", LMS_LESSON)][0] == maxima[LMS_LESSON] - bob[mistake.test]["max_points"], (
        stale
    )
    assert csv_scores(course / "grades.csv")[("bob", LMS_LESSON)][0] == book[("bob", LMS_LESSON)][0]
    assert (course / "feedback" / "bob" / LMS_LESSON / f"{LMS_LESSON}.html").is_file()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    make_lms_zip()
    print(f"wrote {LMS_ZIP}")
