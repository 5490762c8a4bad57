"""Does `autograder grade` grade nbgrader's own autograde scenarios the way nbgrader does?

nbgrader ships its test suite: nbgrader/tests/apps/test_nbgrader_autograde.py builds a throwaway
course per scenario from the fixture notebooks in nbgrader/tests/apps/files/ and asserts grades,
manual-grading flags, comments and the files in autograded/. Each of its scenarios is replayed
here with the installed package's fixtures and graded with `grade_class`, and held to nbgrader's
assertions, except where docs/nbgrader-compatibility.md lists the scenario under a difference:
there it asserts what that page says happens instead (`expect_nbgrader`). The page is read here,
so a difference that is not on it fails its scenario.

A scenario is a generator: it lays out its lesson (its own assignment id) and learners, yields
to be graded (more than once where nbgrader's scenario grades again, with the settings nbgrader's
scenario gives that run on the command line), and asserts. Scenarios that use the same nbgrader
configuration are lessons of one course, graded together in one batch per round: a batch starts
worker processes, which costs seconds. Feedback is not generated (nbgrader's autograde
scenarios do not ask for it).
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import nbformat
import nbgrader.tests.apps as nbgrader_app_tests
import pytest
from conftest import REPO
from nbformat.v4 import new_notebook
from nbgrader.api import Gradebook, MissingEntry

from autograder.course import Course, load_config, use_alembic_api
from autograder.errors import CourseError
from autograder.grading.batch import grade_class
from autograder.results import read_grades_json

NBGRADER_TESTS = Path(nbgrader_app_tests.__file__).parent
FILES = NBGRADER_TESTS / "files"
SCENARIO_FILE = NBGRADER_TESTS / "test_nbgrader_autograde.py"
COMPATIBILITY = REPO / "docs" / "nbgrader-compatibility.md"
DUEDATE = "2015-02-02 14:58:23.948203 America/Los_Angeles"
AN_HOUR_LATE = "2015-02-02 15:58:23.948203 America/Los_Angeles"
TWO_HOURS_LATE = "2015-02-02 16:58:23.948203 America/Los_Angeles"
SCENARIOS = {}  # nbgrader's test name -> (nbgrader configuration, scenario)


def documented() -> dict[str, set[str]]:
    """Scenario name -> the differences docs/nbgrader-compatibility.md lists it under (slugs)."""
    found: dict[str, set[str]] = {}
    for section in COMPATIBILITY.read_text().split("\n### ")[1:]:
        heading, _, body = section.partition("\n")
        listed = re.search(r"^nbgrader's scenarios:(.*?)(?:\n\n|\Z)", body, re.S | re.M)
        for name in re.findall(r"`(test_\w+(?:\[\w+\])?)`", listed.group(1) if listed else ""):
            found.setdefault(name, set()).add(slug(heading))
    return found


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def nbgrader_scenarios() -> list[str]:
    """The autograde scenarios nbgrader runs: its test methods (one per parameter), without the
    ones it always skips and --help."""
    names = []
    for node in ast.walk(ast.parse(SCENARIO_FILE.read_text())):
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        if node.name == "test_help":  # prints --help, grades nothing
            continue
        body = [n for n in node.body
                if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]  # fmt: skip
        if "pytest.skip" in ast.unparse(body[0]):
            continue
        parameters = [d for d in node.decorator_list if "parametrize" in ast.unparse(d)]
        values = ast.literal_eval(parameters[0].args[1]) if parameters else [None]
        names += [node.name if value is None else f"{node.name}[{value}]" for value in values]
    return names


def scenario(config: str = "", *, name: str | None = None):
    """Register an nbgrader scenario under nbgrader's name, with the configuration it writes."""

    def register(function):
        nbgrader_name = name or "test_" + function.__name__.removeprefix("replay_")
        SCENARIOS[nbgrader_name] = (dedent(config).strip(), function)
        return function

    return register


@dataclass(frozen=True)
class Grade:
    """What a scenario asks to be graded when it yields: its lesson, maybe some learners only,
    maybe with settings for this run only (nbgrader's command-line options)."""

    students: tuple[str, ...] | None = None
    settings: tuple[tuple[str, str, object], ...] = ()  # (section, name, value)


@dataclass
class Scenario:
    """One nbgrader scenario's lesson in a course, with the helpers nbgrader's tests use."""

    name: str
    root: Path
    differences: set[str]
    consulted: set[str] = field(default_factory=set)

    @property
    def lesson(self) -> str:
        words = self.name.removeprefix("test_").replace("_", "-")
        return re.sub(r"\W+", "-", words).strip("-").lower()

    def expect_nbgrader(self, difference: str) -> bool:
        """True where nbgrader's behaviour is expected; False where the page documents ours."""
        self.consulted.add(difference)
        return difference not in self.differences

    # ------------------------------------------------------------------------------ layout
    def copy(self, fixture: str, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        shutil.copy(FILES / fixture, path)
        return path

    def make(self, text: str, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_text(text)
        return path

    def empty(self, *parts: str, kernel: str | None = None) -> Path:
        nb = new_notebook()
        if kernel is not None:
            nb.metadata.kernelspec = {"display_name": "kernel", "language": kernel, "name": kernel}
        return self.make(nbformat.writes(nb), *parts)

    def source(self, *parts: str) -> tuple[str, ...]:
        return ("source", self.lesson, *parts)

    def submitted(self, student: str, *parts: str) -> tuple[str, ...]:
        return ("submitted", student, self.lesson, *parts)

    def autograded(self, student: str, *parts: str) -> Path:
        return self.root.joinpath("autograded", student, self.lesson, *parts)

    def gradebook(self) -> Gradebook:
        return Gradebook(f"sqlite:///{self.root / 'gradebook.db'}")

    def generate(self) -> None:
        """nbgrader generate_assignment, as nbgrader's scenario runs it before anyone submits."""
        course = Course(self.root, load_config(self.root))
        with contextlib.chdir(self.root):
            result = course.api().generate_assignment(self.lesson, force=True, create=True)
        assert result["success"], result.get("log")

    def validate(self, path: Path) -> str:
        """What `nbgrader validate` prints for a notebook (nbgrader's own validator)."""
        from nbgrader.tests import run_nbgrader

        environ = os.environ  # run_nbgrader leaves a plain dict copy in its place: after that,
        try:  # an environment variable a later test sets would no longer reach child processes
            with contextlib.chdir(self.root):
                return run_nbgrader(["validate", str(path)], stdout=True)
        finally:
            os.environ = environ  # noqa: B003  (the process environment itself, put back)


def read(path: Path) -> str:
    return path.read_text()


def permissions(path: Path) -> str:
    mode = path.stat().st_mode
    return oct(mode)[-4:] if mode & 0o2000 else oct(mode)[-3:]


# ===================================================================================== scenarios
# In nbgrader's order; each begins with nbgrader's docstring where it has one.


@scenario()
def replay_missing_student(s: Scenario):
    """Is a missing student automatically created?"""
    s.copy("submitted-changed.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-changed.ipynb", *s.submitted("baz", "p1.ipynb"))
    yield Grade(settings=(("Autograde", "create_student", False),))
    with s.gradebook() as gb:
        if s.expect_nbgrader("learners-are-always-added-to-the-gradebook"):
            with pytest.raises(MissingEntry):
                gb.find_submission_notebook("p1", s.lesson, "baz")
        else:
            gb.find_submission_notebook("p1", s.lesson, "baz")  # graded, and so in the gradebook
    yield Grade()  # the default: create them
    with s.gradebook() as gb:
        gb.find_student("baz")
        assert gb.find_submission_notebook("p1", s.lesson, "baz") is not None


@scenario()
def replay_missing_assignment(s: Scenario):
    """Is an error thrown when the assignment is missing?"""
    s.copy("submitted-changed.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-changed.ipynb", "submitted", "foo", "ps2-" + s.lesson, "p1.ipynb")
    course = Course(s.root, load_config(s.root))
    with pytest.raises(CourseError, match="no such lesson"):
        grade_class(course=course, assignments=["ps2-" + s.lesson], feedback=False)
    yield from ()


@scenario()
def replay_grade(s: Scenario):
    """Can files be graded?"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    yield Grade()
    for student in ("foo", "bar"):
        assert s.autograded(student, "p1.ipynb").is_file()
        assert not s.autograded(student, "timestamp.txt").is_file()
    with s.gradebook() as gb:
        notebook = gb.find_submission_notebook("p1", s.lesson, "foo")
        assert (notebook.score, notebook.max_score, notebook.needs_manual_grade) == (1, 7, False)
        for grade_id in ("set_a", "baz", "quux"):
            assert gb.find_comment(grade_id, "p1", s.lesson, "foo").comment == "No response."
        notebook = gb.find_submission_notebook("p1", s.lesson, "bar")
        assert (notebook.score, notebook.max_score, notebook.needs_manual_grade) == (2, 7, True)
        for grade_id in ("set_a", "baz", "quux"):
            assert gb.find_comment(grade_id, "p1", s.lesson, "bar").comment is None


def autotest(s: Scenario, fixture: str, unchanged: int, changed: int, max_score: int):
    s.copy(f"{fixture}.ipynb", *s.source("p1.ipynb"))
    s.copy("autotests.yml", "autotests.yml")
    s.generate()
    s.copy(f"{fixture}-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy(f"{fixture}-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    yield Grade()
    for student in ("foo", "bar"):
        assert s.autograded(student, "p1.ipynb").is_file()
        assert not s.autograded(student, "timestamp.txt").is_file()
    with s.gradebook() as gb:
        for student, score in (("foo", unchanged), ("bar", changed)):
            notebook = gb.find_submission_notebook("p1", s.lesson, student)
            got = (notebook.score, notebook.max_score, notebook.needs_manual_grade)
            assert got == (score, max_score, False)


@scenario()
def replay_grade_autotest(s: Scenario):
    """Can files including autotest commands be graded?"""
    yield from autotest(s, "autotest-simple", 0, 1, 1)


@scenario()
def replay_grade_hashed_autotest(s: Scenario):
    """Can files including hashed autotest commands be graded?"""
    yield from autotest(s, "autotest-hashed", 0, 1, 1)


@scenario()
def replay_grade_complex_autotest(s: Scenario):
    """Can files including complicated autotest commands be graded?"""
    yield from autotest(s, "autotest-multi", 0, 3, 4)


@scenario("c.Execute.timeout = None")
def replay_showtraceback_exploit(s: Scenario):
    """Can students exploit showtraceback to hide errors from all future cell outputs to receive
    free points for incorrect cells?"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.copy("submitted-cheat-attempt.ipynb", *s.submitted("spam", "p1.ipynb"))
    s.copy("submitted-cheat-attempt-alternative.ipynb", *s.submitted("eggs", "p1.ipynb"))
    yield Grade()
    expected = {"foo": (1, False), "bar": (2, True), "spam": (1, True), "eggs": (1, True)}
    with s.gradebook() as gb:
        for student, (score, manual) in expected.items():
            assert s.autograded(student, "p1.ipynb").is_file()
            assert not s.autograded(student, "timestamp.txt").is_file()
            notebook = gb.find_submission_notebook("p1", s.lesson, student)
            got = (notebook.score, notebook.max_score, notebook.needs_manual_grade)
            assert got == (score, 7, manual)


@scenario("c.CourseDirectory.student_id_exclude = 'bar,baz'")
def replay_student_id_exclude(s: Scenario):
    """Does --CourseDirectory.student_id_exclude=X exclude students?"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.copy("submitted-changed.ipynb", *s.submitted("baz", "p1.ipynb"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert not s.autograded("bar", "p1.ipynb").is_file()
    assert not s.autograded("baz", "p1.ipynb").is_file()
    with s.gradebook() as gb:
        assert gb.find_submission_notebook("p1", s.lesson, "foo").score == 1
        for student in ("bar", "baz"):
            with pytest.raises(MissingEntry):
                gb.find_submission_notebook("p1", s.lesson, student)


@scenario()
def replay_grade_timestamp(s: Scenario):
    """Is a timestamp correctly read in?"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make(AN_HOUR_LATE, *s.submitted("foo", "timestamp.txt"))
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.make("2015-02-01 14:58:23.948203 America/Los_Angeles", *s.submitted("bar", "timestamp.txt"))
    yield Grade()
    for student in ("foo", "bar"):
        assert s.autograded(student, "p1.ipynb").is_file()
        assert s.autograded(student, "timestamp.txt").is_file()
    with s.gradebook() as gb:
        assert gb.find_submission(s.lesson, "foo").total_seconds_late > 0
        assert gb.find_submission(s.lesson, "bar").total_seconds_late == 0
    yield Grade()  # it still works a second time


@scenario()
def replay_grade_empty_timestamp(s: Scenario):
    """Issue #580 - Does the autograder handle empty or invalid timestamp strings"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make("", *s.submitted("foo", "timestamp.txt"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert s.autograded("foo", "timestamp.txt").is_file()
    with s.gradebook() as gb:
        assert gb.find_submission(s.lesson, "foo").total_seconds_late == 0
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.make("But I want to be a timestamp string :(", *s.submitted("bar", "timestamp.txt"))
    yield Grade()
    graded = s.autograded("bar", "p1.ipynb").is_file()
    if s.expect_nbgrader("an-unreadable-timestamp-is-graded-with-a-note"):
        assert not graded  # nbgrader stops with an error for this learner
    else:
        assert graded
        with s.gradebook() as gb:
            assert gb.find_submission(s.lesson, "bar").total_seconds_late == 0
            assert gb.find_submission_notebook("p1", s.lesson, "bar").score == 2
        entries = read_grades_json(s.root / "grades.json")
        (entry,) = [e for e in entries if e.key == ("bar", s.lesson, "p1")]
        assert any("timestamp" in note for note in entry.notes)


def late_submissions(s: Scenario, foo_late: str, bar_late: str):
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make(foo_late, *s.submitted("foo", "timestamp.txt"))
    s.copy("submitted-changed.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.make(bar_late, *s.submitted("bar", "timestamp.txt"))
    yield Grade()
    for student in ("foo", "bar"):
        assert s.autograded(student, "p1.ipynb").is_file()
        assert s.autograded(student, "timestamp.txt").is_file()


@scenario()
def replay_late_submission_penalty_none(s: Scenario):
    """Does 'none' method do nothing?"""
    yield from late_submissions(s, DUEDATE, AN_HOUR_LATE)
    with s.gradebook() as gb:
        submission = gb.find_submission(s.lesson, "foo")
        assert (submission.notebooks[0].score, submission.total_seconds_late) == (1, 0)
        assert submission.notebooks[0].late_submission_penalty is None
        submission = gb.find_submission(s.lesson, "bar")
        assert submission.notebooks[0].score == 2 and submission.total_seconds_late > 0
        assert submission.notebooks[0].late_submission_penalty is None


@scenario("c.LateSubmissionPlugin.penalty_method = 'zero'")
def replay_late_submission_penalty_zero(s: Scenario):
    """Does 'zero' method assign notebook.score as penalty if late?"""
    yield from late_submissions(s, DUEDATE, AN_HOUR_LATE)
    with s.gradebook() as gb:
        submission = gb.find_submission(s.lesson, "foo")
        assert (submission.notebooks[0].score, submission.total_seconds_late) == (1, 0)
        assert submission.notebooks[0].late_submission_penalty is None
        submission = gb.find_submission(s.lesson, "bar")
        notebook = submission.notebooks[0]
        assert notebook.score == 2 and submission.total_seconds_late > 0
        assert notebook.late_submission_penalty == notebook.score
    # Issue 723: the penalty is reset when the timestamp changes
    s.make(DUEDATE, *s.submitted("bar", "timestamp.txt"))
    yield Grade()
    with s.gradebook() as gb:
        submission = gb.find_submission(s.lesson, "bar")
        assert (submission.notebooks[0].score, submission.total_seconds_late) == (2, 0)
        assert submission.notebooks[0].late_submission_penalty is None


LATE_PLUGIN = """\
from nbgrader.plugins import BasePlugin

class Blarg(BasePlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        # loss 1 mark per hour late
        hours_late = total_seconds_late / 3600
        return int(hours_late)
"""


@scenario("c.AssignLatePenalties.plugin_class = 'late_plugin.Blarg'")
def replay_late_submission_penalty_plugin(s: Scenario):
    """Does plugin set 1 point per hour late penalty?"""
    s.make(LATE_PLUGIN, "late_plugin.py")  # beside nbgrader_config.py: nbgrader imports it there
    four_hours_late = "2015-02-02 18:58:23.948203 America/Los_Angeles"
    yield from late_submissions(s, four_hours_late, AN_HOUR_LATE)
    with s.gradebook() as gb:
        submission = gb.find_submission(s.lesson, "foo")
        notebook = submission.notebooks[0]
        assert notebook.score == 1 and submission.total_seconds_late > 0
        assert notebook.late_submission_penalty == notebook.score
        submission = gb.find_submission(s.lesson, "bar")
        notebook = submission.notebooks[0]
        assert notebook.score == 2 and submission.total_seconds_late > 0
        assert notebook.late_submission_penalty == 1


def force(s: Scenario):
    """nbgrader's test_force and test_force_f (the same, with --force and -f)."""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.make("foo", *s.source("foo.txt"))
    s.make("bar", *s.source("data", "bar.txt"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make("foo", *s.submitted("foo", "foo.txt"))
    s.make("bar", *s.submitted("foo", "data", "bar.txt"))
    s.make("asdf", *s.submitted("foo", "blah.pyc"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert s.autograded("foo", "foo.txt").is_file()
    assert s.autograded("foo", "data", "bar.txt").is_file()
    assert not s.autograded("foo", "blah.pyc").is_file()
    # without --force, a graded submission is skipped
    s.autograded("foo", "foo.txt").unlink()
    yield Grade()
    regrades = not s.expect_nbgrader("every-run-grades-again")
    assert s.autograded("foo", "foo.txt").is_file() == regrades
    # with --force, the supplemental files are written again
    yield Grade()
    assert s.autograded("foo", "foo.txt").is_file()
    # with --force, files gone from source/ and the submission are gone from autograded/
    Path(s.root.joinpath(*s.source("foo.txt"))).unlink()
    Path(s.root.joinpath(*s.submitted("foo", "foo.txt"))).unlink()
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert not s.autograded("foo", "foo.txt").is_file()
    assert s.autograded("foo", "data", "bar.txt").is_file()
    assert not s.autograded("foo", "blah.pyc").is_file()


@scenario()
def replay_force(s: Scenario):
    """Ensure the force option works properly"""
    yield from force(s)


@scenario()
def replay_force_f(s: Scenario):
    """Ensure the force option works properly"""
    yield from force(s)


@scenario()
def replay_filter_notebook(s: Scenario):
    """Does autograding filter by notebook properly? (--notebook p1: the lesson's only notebook)"""
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.make("foo", *s.source("foo.txt"))
    s.make("bar", *s.source("data", "bar.txt"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make("foo", *s.submitted("foo", "foo.txt"))
    s.make("bar", *s.submitted("foo", "data", "bar.txt"))
    s.make("asdf", *s.submitted("foo", "blah.pyc"))
    yield Grade()
    for present, parts in ((True, ["p1.ipynb"]), (True, ["foo.txt"]), (True, ["data", "bar.txt"]),
                           (False, ["blah.pyc"])):  # fmt: skip
        assert s.autograded("foo", *parts).is_file() == present
    # removing the notebook makes autograde run again
    s.autograded("foo", "p1.ipynb").unlink()
    s.autograded("foo", "foo.txt").unlink()
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file() and s.autograded("foo", "foo.txt").is_file()
    # running again does nothing
    s.autograded("foo", "foo.txt").unlink()
    yield Grade()
    regrades = not s.expect_nbgrader("every-run-grades-again")
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert s.autograded("foo", "foo.txt").is_file() == regrades
    # without --notebook, removing the notebook does not make autograde run again
    s.autograded("foo", "p1.ipynb").unlink()
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file() == regrades
    assert s.autograded("foo", "data", "bar.txt").is_file()
    assert not s.autograded("foo", "blah.pyc").is_file()


def overwrite_files(s: Scenario, folder: list[str]):
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.make("some,data\n", *s.source(*folder, "data.csv"))
    s.make("print('hello!')\n", *s.source(*folder, "helper.py"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make(AN_HOUR_LATE, *s.submitted("foo", "timestamp.txt"))
    s.make("some,other,data\n", *s.submitted("foo", *folder, "data.csv"))
    s.make("print('this is different!')\n", *s.submitted("foo", *folder, "helper.py"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert read(s.autograded("foo", "timestamp.txt")) == AN_HOUR_LATE
    assert read(s.autograded("foo", *folder, "data.csv")) == "some,data\n"
    helper = s.autograded("foo", *folder, "helper.py")
    if s.expect_nbgrader("other-files-in-a-submission-are-not-used"):
        assert read(helper) == "print('this is different!')\n"
    else:
        assert not helper.exists()  # not the learner's, and the instructor's is excluded


# Each scenario's assignment excludes its own file, as in nbgrader; one course holds both.
EXCLUDE_OVERWRITING = """\
c.Autograde.exclude_overwriting = {"grade-overwrite-files": ["helper.py"],
                                   "grade-overwrite-files-subdirs": ["subdir/helper.py"]}
"""


@scenario(EXCLUDE_OVERWRITING)
def replay_grade_overwrite_files(s: Scenario):
    """Are dependent files properly linked and overwritten?"""
    yield from overwrite_files(s, [])


@scenario(EXCLUDE_OVERWRITING)
def replay_grade_overwrite_files_subdirs(s: Scenario):
    """Are dependent files properly linked and overwritten?"""
    yield from overwrite_files(s, ["subdir"])


@scenario()
def replay_side_effects(s: Scenario):
    s.copy("side-effects.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("side-effects.ipynb", *s.submitted("foo", "p1.ipynb"))
    yield Grade()
    written = s.autograded("foo", "side-effect.txt").is_file()
    assert written == s.expect_nbgrader("files-the-notebook-writes-stay-in-the-sandbox")
    assert not s.root.joinpath(*s.submitted("foo", "side-effect.txt")).is_file()


@scenario()
def replay_skip_extra_notebooks(s: Scenario):
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("submitted-unchanged.ipynb", *s.submitted("foo", "p1 copy.ipynb"))
    s.copy("submitted-changed.ipynb", *s.submitted("foo", "p1.ipynb"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert not s.autograded("foo", "p1 copy.ipynb").is_file()


def permission_scenario(s: Scenario, perms: str, dirperms: str | None = None):
    s.empty(*s.source("foo.ipynb"))
    s.make("foo", *s.source("foo.txt"))
    s.generate()
    s.empty(*s.submitted("foo", "foo.ipynb"))
    s.make("foo", "source", "foo", s.lesson, "foo.txt")  # nbgrader's scenario does (a stray file)
    yield Grade()
    assert s.autograded("foo", "foo.ipynb").is_file()
    assert s.autograded("foo", "foo.txt").is_file()
    if dirperms:
        assert permissions(s.autograded("foo")) == dirperms
    assert permissions(s.autograded("foo", "foo.ipynb")) == perms
    assert permissions(s.autograded("foo", "foo.txt")) == perms


@scenario(name="test_permissions[False]")
def replay_permissions(s: Scenario):
    """Are permissions properly set?"""
    yield from permission_scenario(s, "444")


@scenario("c.CourseDirectory.groupshared = True", name="test_permissions[True]")
def replay_permissions_groupshared(s: Scenario):
    """Are permissions properly set? (groupshared)"""
    yield from permission_scenario(s, "664", "2775")


@scenario("c.AutogradeApp.permissions = 644")
def replay_custom_permissions(s: Scenario):
    """Are custom permissions properly set?"""
    yield from permission_scenario(s, "644")


CLEAR_METADATA = """\
c.ClearMetadataPreprocessor.enabled = True
c.ClearMetadataPreprocessor.clear_notebook_metadata = False
c.ClearMetadataPreprocessor.preserve_cell_metadata_mask = [('nbgrader')]
"""


@scenario(CLEAR_METADATA)
def replay_force_single_notebook(s: Scenario):
    s.copy("test.ipynb", *s.source("p1.ipynb"))
    s.copy("test.ipynb", *s.source("p2.ipynb"))
    s.generate()
    s.copy("test.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("test.ipynb", *s.submitted("foo", "p2.ipynb"))
    yield Grade()
    p1, p2 = read(s.autograded("foo", "p1.ipynb")), read(s.autograded("foo", "p2.ipynb"))
    assert p1 == p2
    s.empty(*s.submitted("foo", "p1.ipynb"))
    s.empty(*s.submitted("foo", "p2.ipynb"))
    yield Grade()  # nbgrader: --notebook p1 --force
    assert p1 != read(s.autograded("foo", "p1.ipynb"))
    unchanged = p2 == read(s.autograded("foo", "p2.ipynb"))
    assert unchanged == s.expect_nbgrader("whole-lessons-always-executed")


@scenario()
def replay_update_newer(s: Scenario):
    s.copy("test.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("test.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.make(AN_HOUR_LATE, *s.submitted("foo", "timestamp.txt"))
    yield Grade()
    assert read(s.autograded("foo", "timestamp.txt")) == AN_HOUR_LATE
    p = read(s.autograded("foo", "p1.ipynb"))
    s.empty(*s.submitted("foo", "p1.ipynb"))
    s.make(TWO_HOURS_LATE, *s.submitted("foo", "timestamp.txt"))
    yield Grade()
    assert read(s.autograded("foo", "timestamp.txt")) == TWO_HOURS_LATE
    assert p != read(s.autograded("foo", "p1.ipynb"))


@scenario(CLEAR_METADATA)
def replay_update_newer_single_notebook(s: Scenario):
    s.copy("test.ipynb", *s.source("p1.ipynb"))
    s.copy("test.ipynb", *s.source("p2.ipynb"))
    s.generate()
    s.copy("test.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("test.ipynb", *s.submitted("foo", "p2.ipynb"))
    s.make(AN_HOUR_LATE, *s.submitted("foo", "timestamp.txt"))
    yield Grade()
    assert read(s.autograded("foo", "timestamp.txt")) == AN_HOUR_LATE
    p1, p2 = read(s.autograded("foo", "p1.ipynb")), read(s.autograded("foo", "p2.ipynb"))
    assert p1 == p2
    s.empty(*s.submitted("foo", "p1.ipynb"))
    s.empty(*s.submitted("foo", "p2.ipynb"))
    s.make(TWO_HOURS_LATE, *s.submitted("foo", "timestamp.txt"))
    yield Grade()  # nbgrader: --notebook p1
    assert read(s.autograded("foo", "timestamp.txt")) == TWO_HOURS_LATE
    assert p1 != read(s.autograded("foo", "p1.ipynb"))
    unchanged = p2 == read(s.autograded("foo", "p2.ipynb"))
    assert unchanged == s.expect_nbgrader("whole-lessons-always-executed")


FAILED_ON = "VALIDATION FAILED ON {} CELL(S)! If you submit your assignment as it is, you WILL NOT"
PASSES = "Success! Your notebook passes all the tests."


@scenario('c.ClearSolutions.code_stub = dict(python="# YOUR CODE HERE")')
def replay_hidden_tests_single_notebook(s: Scenario):
    s.copy("test-hidden-tests.ipynb", *s.source("p1.ipynb"))
    s.generate()
    release = s.root / "release" / s.lesson / "p1.ipynb"
    assert "BEGIN HIDDEN TESTS" not in read(release)
    s.copy(release, *s.submitted("foo", "p1.ipynb"))
    assert s.validate(s.root.joinpath(*s.submitted("foo", "p1.ipynb"))).strip() == PASSES
    yield Grade()
    autograded = s.autograded("foo", "p1.ipynb")
    assert "BEGIN HIDDEN TESTS" in read(autograded)
    assert s.validate(autograded).splitlines()[0] == FAILED_ON.format(2)
    with s.gradebook() as gb:
        assert gb.find_submission(s.lesson, "foo").notebooks[0].score == 1.5


@scenario('c.ClearSolutions.code_stub = dict(python="# YOUR CODE HERE")')
def replay_hidden_tests_autotest(s: Scenario):
    """Can files with hidden autotests be graded?"""
    s.copy("autotest-hidden.ipynb", *s.source("p1.ipynb"))
    s.copy("autotests.yml", "autotests.yml")
    s.generate()
    s.copy("autotest-hidden-unchanged.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("autotest-hidden-changed-wrong.ipynb", *s.submitted("bar", "p1.ipynb"))
    s.copy("autotest-hidden-changed-right.ipynb", *s.submitted("baz", "p1.ipynb"))
    submitted = {student: s.root.joinpath(*s.submitted(student, "p1.ipynb"))
                 for student in ("foo", "bar", "baz")}  # fmt: skip
    assert s.validate(submitted["foo"]).splitlines()[0] == FAILED_ON.format(1)
    assert s.validate(submitted["bar"]).strip() == PASSES
    assert s.validate(submitted["baz"]).strip() == PASSES
    yield Grade()
    for student in ("foo", "bar", "baz"):
        assert "BEGIN HIDDEN TESTS" in read(s.autograded(student, "p1.ipynb"))
    assert s.validate(s.autograded("foo", "p1.ipynb")).splitlines()[0] == FAILED_ON.format(1)
    assert s.validate(s.autograded("bar", "p1.ipynb")).splitlines()[0] == FAILED_ON.format(1)
    assert s.validate(s.autograded("baz", "p1.ipynb")).strip() == PASSES


def two_empty_notebooks(s: Scenario, student: str):
    """Two empty notebooks in source; `student` submits an empty one and a whole other notebook."""
    s.empty(*s.source("p1.ipynb"))
    s.empty(*s.source("p2.ipynb"))
    s.generate()
    s.empty(*s.submitted(student, "p1.ipynb"))
    s.copy("test.ipynb", *s.submitted(student, "p2.ipynb"))


@scenario()
def replay_handle_failure(s: Scenario):
    two_empty_notebooks(s, "bar")
    s.empty(*s.submitted("foo", "p1.ipynb"))
    s.empty(*s.submitted("foo", "p2.ipynb"))
    yield Grade()
    assert s.autograded("foo").exists()
    graded = s.autograded("bar").exists()
    if s.expect_nbgrader("graded-cells-the-lesson-does-not-have"):
        assert not graded  # nbgrader refuses the submission: p2's graded cells are not the lesson's
    else:
        assert graded and s.autograded("bar", "p2.ipynb").is_file()
        with s.gradebook() as gb:
            notebook = gb.find_submission_notebook("p2", s.lesson, "bar")
            assert (notebook.score, notebook.max_score) == (0, 0)


@scenario()
def replay_handle_failure_single_notebook(s: Scenario):
    """(nbgrader grades with --notebook "p*": both notebooks, as here)"""
    two_empty_notebooks(s, "foo")
    yield Grade()
    assert s.autograded("foo").exists()
    graded = [s.autograded("foo", f"{nb}.ipynb").is_file() for nb in ("p1", "p2")]
    nbgrader = s.expect_nbgrader("graded-cells-the-lesson-does-not-have")
    assert graded == ([False, False] if nbgrader else [True, True])


KERNELSPEC_STUBS = "c.ClearSolutions.code_stub = {'python': '## Answer', 'blah': '## Answer'}"


@scenario(KERNELSPEC_STUBS)
def replay_missing_source_kernelspec(s: Scenario):
    s.empty(*s.source("p1.ipynb"))
    s.generate()
    s.empty(*s.submitted("foo", "p1.ipynb"), kernel="python")
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    s.empty(*s.submitted("bar", "p1.ipynb"), kernel="blarg")
    yield Grade()
    assert not s.autograded("bar").exists()


@scenario(KERNELSPEC_STUBS)
def replay_incorrect_source_kernelspec(s: Scenario):
    s.empty(*s.source("p1.ipynb"), kernel="blah")
    s.generate()
    s.empty(*s.submitted("foo", "p1.ipynb"), kernel="python")
    yield Grade()
    assert not s.autograded("foo").exists()


@scenario()
def replay_incorrect_submitted_kernelspec(s: Scenario):
    s.empty(*s.source("p1.ipynb"), kernel="python")
    s.generate()
    s.empty(*s.submitted("foo", "p1.ipynb"), kernel="blah")
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()


@scenario()
def replay_no_execute(s: Scenario):
    s.copy("test.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("test-with-output.ipynb", *s.submitted("foo", "p1.ipynb"))
    original = nbformat.read(FILES / "test-with-output.ipynb", as_version=4)
    yield Grade()
    graded = nbformat.read(s.autograded("foo", "p1.ipynb"), as_version=4)
    pairs = list(zip(original.cells, graded.cells, strict=True))
    assert any(o.get("outputs") != g.get("outputs") for o, g in pairs)
    yield Grade()  # nbgrader: --force --no-execute keeps the submitted outputs
    graded = nbformat.read(s.autograded("foo", "p1.ipynb"), as_version=4)
    pairs = list(zip(original.cells, graded.cells, strict=True))
    kept = all(o.get("outputs") == g.get("outputs") for o, g in pairs)
    assert kept == s.expect_nbgrader("whole-lessons-always-executed")


@scenario("c.Execute.timeout = 1")
def replay_infinite_loop(s: Scenario):
    s.copy("infinite-loop.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("infinite-loop.ipynb", *s.submitted("foo", "p1.ipynb"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()


@scenario()
def replay_missing_files(s: Scenario):
    s.empty(*s.source("p1.ipynb"))
    s.generate()
    s.empty(*s.submitted("foo", "p1.ipynb"))
    s.root.joinpath(*s.submitted("bar")).mkdir(parents=True)
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert not s.autograded("bar").exists()


@scenario()
def replay_grade_missing_notebook(s: Scenario):
    s.copy("submitted-unchanged.ipynb", *s.source("p1.ipynb"))
    s.copy("submitted-unchanged.ipynb", *s.source("p2.ipynb"))
    s.generate()
    s.copy("submitted-changed.ipynb", *s.submitted("foo", "p1.ipynb"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    assert not s.autograded("foo", "p2.ipynb").is_file()
    with s.gradebook() as gb:
        _, nb2 = gb.find_submission(s.lesson, "foo").notebooks
        assert not nb2.needs_manual_grade
        assert nb2.score == 0


@scenario()
def replay_grade_with_validating_envvar(s: Scenario):
    s.copy("validating-environment-variable.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("validating-environment-variable.ipynb", *s.submitted("foo", "p1.ipynb"))
    yield Grade()
    assert s.autograded("foo", "p1.ipynb").is_file()
    with s.gradebook() as gb:
        (nb1,) = gb.find_submission(s.lesson, "foo").notebooks
        assert nb1.score == 0


@scenario()
def replay_autograde_timeout(s: Scenario):
    """Does autograde accept timeout configuration correctly?"""
    s.copy("timeout.ipynb", *s.source("p1.ipynb"))
    s.generate()
    s.copy("timeout.ipynb", *s.submitted("foo", "p1.ipynb"))
    s.copy("timeout.ipynb", *s.submitted("bar", "p1.ipynb"))
    yield Grade(students=("foo",))
    yield Grade(students=("bar",), settings=(("Execute", "timeout", 2),))
    with s.gradebook() as gb:
        assert gb.find_submission_notebook("p1", s.lesson, "foo").score == 1
        assert gb.find_submission_notebook("p1", s.lesson, "bar").score == 0


# ======================================================================================== replay


@dataclass
class Outcome:
    error: BaseException | None = None
    consulted: set[str] = field(default_factory=set)


def replay(folder: Path) -> dict[str, Outcome]:
    """Grade every scenario, a course per configuration, a batch per round; what each one did."""
    use_alembic_api()
    groups: dict[str, list[str]] = {}
    for name, (config, _) in SCENARIOS.items():
        groups.setdefault(config, []).append(name)
    outcomes = {}
    for number, (config, names) in enumerate(groups.items()):
        outcomes.update(replay_course(folder / f"course{number}", config, names))
    return outcomes


def replay_course(root: Path, config: str, names: list[str]) -> dict[str, Outcome]:
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(f"c = get_config()\n{config}\n")
    differences = documented()
    outcomes = {name: Outcome() for name in names}
    running = {}
    for name in names:
        s = Scenario(name, root, differences.get(name, set()), outcomes[name].consulted)
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            gb.update_or_create_assignment(s.lesson, duedate=DUEDATE)
        running[name] = (s, SCENARIOS[name][1](s))
    requests = advance(running, outcomes)
    while requests:
        batches: dict[Grade, list[str]] = {}  # requests alike are graded together
        for name, request in requests.items():
            batches.setdefault(request, []).append(name)
        for request, batch in batches.items():
            course = Course(root, load_config(root))
            for section, setting, value in request.settings:
                course.config[section][setting] = value
            lessons = [running[name][0].lesson for name in batch]
            try:
                grade_class(
                    course=course, assignments=lessons, students=request.students, feedback=False
                )
            except Exception as error:  # the scenarios of this batch fail with it; others go on
                for name in batch:
                    outcomes[name].error = error
                    running.pop(name)
        requests = advance(running, outcomes)
    return outcomes


def advance(running: dict, outcomes: dict[str, Outcome]) -> dict[str, Grade]:
    """Run each scenario to its next request to be graded; those that end leave `running`."""
    requests = {}
    for name, (_, steps) in list(running.items()):
        try:
            requests[name] = next(steps)
        except StopIteration:
            running.pop(name)
        except BaseException as error:  # pytest.fail and skip are BaseExceptions
            outcomes[name].error = error
            running.pop(name)
    return requests


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> dict[str, Outcome]:
    return replay(tmp_path_factory.mktemp("nbgrader-scenarios"))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_grades_as_nbgrader_or_as_documented(name, replayed):
    """Does it give nbgrader's grades, flags, comments and files, or what the page says instead?"""
    outcome = replayed[name]
    if outcome.error is not None:
        failure = "".join(traceback.format_exception(outcome.error))
        raise AssertionError(f"{name}:\n{failure}") from None
    unchecked = documented().get(name, set()) - outcome.consulted
    assert not unchecked, f"the page lists {name} under {unchecked}, which it does not check"


def test_every_nbgrader_scenario_is_replayed():
    """Is each scenario of the installed nbgrader's autograde tests replayed here, and no other?"""
    assert sorted(SCENARIOS) == sorted(nbgrader_scenarios())


def test_the_differences_checked_are_the_ones_documented():
    """Does every difference a scenario can take exist on the page, and name only real scenarios?"""
    lines = COMPATIBILITY.read_text().splitlines()
    headings = {slug(line[4:]) for line in lines if line.startswith("### ")}
    checked = set(re.findall(r'expect_nbgrader\("([\w-]+)"\)', Path(__file__).read_text()))
    assert checked <= headings
    assert set(documented()) <= set(SCENARIOS)


def test_the_page_counts_the_scenarios_it_lists():
    """The page's count of scenarios that grade as in nbgrader is the one this test holds."""
    text = " ".join(COMPATIBILITY.read_text().split())
    differ = len(documented())
    assert f"Of its {len(SCENARIOS)} scenarios, {len(SCENARIOS) - differ} grade exactly" in text
    assert f"each of the other {differ} is named below" in text
