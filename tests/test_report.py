"""The class report from a grades.json written here: is learner text only ever text, does the page
fetch nothing, where do descriptions and timings come from, and what does a bad grades.json give?

Each test writes grades.json for a copy of the course with the same function `autograder grade`
uses, with the course's real lessons and test cells; the gradebook and the exchange are nbgrader's
own. The numbers for a graded class are checked in test_report_class.py.
"""

from __future__ import annotations

import ast
import html
import html.parser
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, copy_course, lessons

from autograder.cli import main as cli
from autograder.course import Course
from autograder.lessons import Lesson
from autograder.report import write_report
from autograder.report.misconceptions import GRADER
from autograder.results import (
    GRADED,
    UNGRADABLE,
    NotebookResult,
    TestResult,
    write_grades_json,
)

AUTOGRADER = str(Path(sys.executable).parent / "autograder")
FIRST, SECOND = lessons()[0], lessons()[1]
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '"><script>alert(2)</script>',
    "{{ 7*7 }}{% if 1 %}x{% endif %}",
    "o'brien & <b>co</b>",
]


def points_of(lesson: str) -> dict[str, float]:
    return Lesson(REPO / "source" / lesson / f"{lesson}.ipynb").test_points()


def graded(
    student: str, lesson: str, failing: dict[str, tuple[str | None, str]] | None = None
) -> NotebookResult:
    """A graded notebook of `lesson`: every test passes but `failing` (test -> (id, message))."""
    failing = failing or {}
    tests = [
        TestResult(
            gid,
            0.0 if gid in failing else pts,
            pts,
            gid not in failing,
            failing[gid][1] if gid in failing else "✓ passed",
            failing.get(gid, (None,))[0],
        )
        for gid, pts in points_of(lesson).items()
    ]
    return NotebookResult(
        student,
        lesson,
        lesson,
        GRADED,
        None,
        sum(t.points for t in tests),
        sum(points_of(lesson).values()),
        tests,
    )


def ungradable(student: str, lesson: str, reason: str) -> NotebookResult:
    return NotebookResult(
        student, lesson, lesson, UNGRADABLE, reason, 0.0, sum(points_of(lesson).values())
    )


@pytest.fixture
def course(tmp_path) -> Path:
    return copy_course(tmp_path / "course")


def soup(text: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(text, "html.parser")


def words(element) -> str:
    """An element's text as a reader sees it: words separated by single spaces."""
    return " ".join(element.get_text().split())


def report_of(course: Path, results: list[NotebookResult]) -> str:
    write_grades_json(course / "grades.json", results)
    return write_report(Course.find(course)).read_text(encoding="utf-8")


class Page(html.parser.HTMLParser):
    """Every element with its attributes, and the text a reader sees."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def hostile_class(names: list[str], folder: str) -> list[NotebookResult]:
    first_test = next(iter(points_of(FIRST)))
    results = []
    for i, name in enumerate(names):
        message = f"got {name}</td></tr><script>alert({i})</script> and <!-- {name}"
        results.append(graded(name, FIRST, {first_test: ("int-tensor", message)}))
        results.append(
            ungradable(
                name, SECOND, f"expected `{name}.ipynb`, found <iframe src='http://evil.example'>"
            )
        )
    results.append(NotebookResult(names[0], folder, "", UNGRADABLE, f"no lesson {folder}", 0, 0))
    return results


def structure(page: Page) -> list[tuple[str, tuple]]:
    return sorted((tag, tuple(sorted(attrs))) for tag, attrs in page.elements)


def test_hostile_names_messages_and_reasons_reach_the_page_as_text(course):
    """Can a learner's name, message, reason or folder add an element, an attribute or a script?"""
    page = Page(report_of(course, hostile_class(HOSTILE, "<svg onload=alert(9)>")))
    plain = Page(
        report_of(course, hostile_class([f"learner{i}" for i in range(len(HOSTILE))], "folder"))
    )
    assert structure(page) == structure(plain), (
        "the same elements and attributes as with plain names"
    )
    assert not {tag for tag, _ in page.elements} & {
        "script",
        "iframe",
        "svg",
        "object",
        "embed",
        "form",
    }
    assert not [a for _, attrs in page.elements for a in attrs if a.lower().startswith("on")]
    for name in HOSTILE:  # shown, literally, as names
        assert page.all_text.count(name) >= 3, name
    assert "<svg onload=alert(9)>" in page.all_text


def test_invisible_characters_in_a_name_are_written_out(course):
    """Does a right-to-left override in a learner's name stay visible, not flipping the text?"""
    page = Page(
        report_of(
            course, [graded("eve\u202etxt.exe", FIRST), ungradable("zed\x1b[31m", FIRST, "red\x07")]
        )
    )
    assert (
        "\u202e" not in page.all_text
        and "\x1b" not in page.all_text
        and "\x07" not in page.all_text
    )
    assert "eve\\u202etxt.exe" in page.all_text and "zed\\x1b[31m" in page.all_text


def test_the_page_loads_nothing_from_anywhere(course):
    """Is every image inline, every link a fragment of the page, and is there no script, even when
    the lesson quoted in it links to the web and shows a remote image?"""
    release = course / "notebooks" / FIRST / f"{FIRST}.ipynb"
    nb = nbformat.read(release, as_version=4)
    first_answer = next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")
    )
    nb.cells.insert(
        first_answer,
        nbformat.v4.new_markdown_cell(
            "See [the docs](https://pytorch.org/docs) and <https://example.org/auto>.\n\n"
            "![a remote picture](https://example.org/a.png) <img src='https://example.org/b.png'>"
        ),
    )
    nbformat.write(nb, release)
    first_test = next(iter(points_of(FIRST)))
    text = report_of(
        course, [graded("ada", FIRST), graded("ben", FIRST, {first_test: (None, "wrong")})]
    )
    page = Page(text)
    assert "the docs" in page.all_text, "the quoted lesson keeps the link's text"
    assert not {tag for tag, _ in page.elements} & {
        "script",
        "link",
        "iframe",
        "object",
        "embed",
        "base",
        "audio",
        "video",
    }
    for tag, attrs in page.elements:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:image/png;base64,")), (tag, name, value[:80])
        assert not (tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh")
    assert "url(" not in page.style and "@import" not in page.style
    assert len([tag for tag, _ in page.elements if tag == "img"]) == 1, (
        "the one graded lesson's histogram"
    )


def test_misconception_descriptions_come_from_the_lesson_then_the_grader(course):
    """Does a failure show the lesson author's line for its id, the grader's for its own ids,
    and for an id nobody described, the id with an example message?"""
    source = course / "source" / FIRST / f"{FIRST}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.metadata["autograder"] = {
        "misconceptions": {"int-tensor": "Whole numbers make an int64 tensor."}
    }
    nbformat.write(nb, source)
    first, second, third, *_ = points_of(FIRST)
    text = report_of(
        course,
        [
            graded(
                "ben",
                FIRST,
                {
                    first: ("int-tensor", "`lemur` holds whole numbers"),
                    second: ("not-attempted", "still raises NotImplementedError"),
                    third: ("made-up-idea", "an example of the made-up idea"),
                },
            ),
        ],
    )
    rows = {tr["data-misconception"]: tr for tr in soup(text).select("tr.group")}
    assert words(rows["int-tensor"].select_one("td.idea")) == (
        "Whole numbers make an int64 tensor. int-tensor"
    )
    assert (
        words(rows["not-attempted"].select_one("td.idea"))
        == f"{GRADER['not-attempted']} not-attempted"
    )
    assert words(rows["made-up-idea"].select_one("td.idea")) == "made-up-idea"
    assert rows["made-up-idea"].select_one("td.idea code").get_text() == "made-up-idea"
    assert words(rows["made-up-idea"].select_one("td.message")) == "an example of the made-up idea"


def test_the_three_to_reteach_count_learners_across_lessons(course):
    """Is a misconception shown in two lessons counted once per learner, ranked by learners, and are
    unattempted answers and unnamed failures left out of the top three?"""
    f1, f2 = list(points_of(FIRST))[:2]
    s1 = next(iter(points_of(SECOND)))
    fail = {
        "a": [("softmax-dim", FIRST, f1), ("softmax-dim", SECOND, s1)],  # 1 learner, twice
        "b": [("softmax-dim", SECOND, s1), ("exp-overflow", FIRST, f2)],
        "c": [("exp-overflow", FIRST, f2), ("int-tensor", FIRST, f1)],
        "d": [("not-attempted", FIRST, f1), ("not-attempted", SECOND, s1)],
        "e": [("not-attempted", FIRST, f1), (None, SECOND, s1)],
        "f": [("not-attempted", FIRST, f1), (None, SECOND, s1), ("wrong-shape", FIRST, f2)],
    }
    results = []
    for learner, items in fail.items():
        for lesson in (FIRST, SECOND):
            failing = {test: (why, f"{why} here") for why, where, test in items if where == lesson}
            results.append(graded(learner, lesson, failing))
    text = report_of(course, results)
    page = soup(text)
    top = [(li["data-misconception"], li["data-learners"]) for li in page.select("ol.reteach > li")]
    anchors = {"#" + article["id"] for article in page.select("article.exercise")}
    for item in page.select("ol.reteach > li"):
        links = {a["href"] for a in item.select("a[href]")}
        assert links and links <= anchors, "each links to the exercises where it showed"
    # 2 learners each for softmax-dim (3 failures) and exp-overflow (2); then 1 for int-tensor and
    # wrong-shape (1 failure each: the id breaks the tie).
    assert top == [("softmax-dim", "2"), ("exp-overflow", "2"), ("int-tensor", "1")]


def test_example_message_names_no_learner(course):
    """Is the example message one that names nobody, and is a name left in one replaced?"""
    first, second = list(points_of(FIRST))[:2]
    text = report_of(
        course,
        [
            graded(
                "mallory",
                FIRST,
                {
                    first: ("int-tensor", "mallory, your tensor is int64"),
                    second: ("wrong-shape", "shape (3,) from /home/Mallory/x"),
                },
            ),
            graded("trent", FIRST, {first: ("int-tensor", "the tensor is int64")}),
        ],
    )
    messages = [td.get_text() for td in soup(text).select("td.message")]
    assert "the tensor is int64" in messages
    assert "shape (3,) from /home/[learner]/x" in messages
    assert not [m for m in messages if "mallory" in m.lower() or "trent" in m]


def test_median_time_from_release_to_submission(course, tmp_path):
    """With the lesson released through nbgrader's exchange and submission times in the gradebook,
    is the median time from release to submission shown, and late submissions counted; without a
    release or without times, does the page say why there is no median?"""
    from nbgrader.api import Gradebook

    from autograder.grading.gradebook import quiet

    quiet()  # nbgrader's own add_submission trips SQLAlchemy warnings

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n")
    released = Course.find(course).api().release_assignment(FIRST)
    assert released["success"], released.get("log")
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    times = {
        "ada": after + timedelta(hours=1),
        "ben": after + timedelta(hours=2),
        "cy": after + timedelta(hours=7),
    }
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "activation-functions") as gb:
        gb.update_or_create_assignment(FIRST, duedate=after + timedelta(hours=3))
        gb.update_or_create_assignment(SECOND)
        for student, when in times.items():
            gb.update_or_create_student(student)
            gb.add_submission(FIRST, student, timestamp=when)
            gb.add_submission(SECOND, student, timestamp=when)
    text = report_of(
        course,
        [graded(s, lesson) for s in times for lesson in (FIRST, SECOND)] + [graded("dee", FIRST)],
    )
    page = soup(text)
    first = words(page.select_one(f"section#lesson-{FIRST} p.timing"))
    # ben submitted 2 h after `after`, which is at most a few seconds after the release.
    assert first.startswith("Median time from release to submission: 2 h 00 min (3 submissions;")
    assert first.endswith("1 of 3 submitted late.")
    second = words(page.select_one(f"section#lesson-{SECOND} p.timing"))
    assert second.startswith(
        "Median time from release to submission: not available: no release time"
    )
    assert str(exchange / "activation-functions" / "outbound") in second


def test_without_submission_times_the_page_says_so(course):
    timing = words(soup(report_of(course, [graded("ada", FIRST)])).select_one("p.timing"))
    assert timing.startswith(
        "Median time from release to submission: not available: no submission times"
    )


def test_no_or_broken_grades_json_is_a_clear_error_and_keeps_the_last_report(course, capsys):
    """`autograder report` before grading, or on a damaged grades.json: one line, exit 2, and an
    earlier report is left as it was."""
    assert cli(["--course", str(course), "report"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("autograder: no grades.json in") and "(autograder grade)" in error
    report_of(course, [graded("ada", FIRST)])
    before = (course / "report" / "index.html").read_bytes()
    for damaged in ('{"schema_version": 2, "submissions": [{"student": "x"}]}', '{"submis', "[]"):
        (course / "grades.json").write_text(damaged)
        assert cli(["--course", str(course), "report"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("autograder: ") and "could not be read" in error, error
        assert len(error.strip().splitlines()) == 1, "one line, no traceback"
        assert (course / "report" / "index.html").read_bytes() == before


def test_report_command_prints_where_the_page_is(course):
    """`autograder report`, as an instructor types it: the page's path on one line."""
    write_grades_json(course / "grades.json", [graded("ada", FIRST)])
    run = subprocess.run(
        [AUTOGRADER, "--course", str(course), "report"], check=False, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"class report: {course / 'report' / 'index.html'}"


def test_every_id_the_grader_gives_has_a_description():
    """Each misconception id the grader names by itself (trusted/tests.py, trusted/executor.py, the
    defaults of autograder.checks) has a line the report can show."""
    given = set()
    for path in ("autograder/trusted/tests.py", "autograder/trusted/executor.py"):
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Tuple)
                and len(node.value.elts) >= 3
            ):
                third = node.value.elts[2]
                if isinstance(third, ast.Constant) and isinstance(third.value, str):
                    given.add(third.value)
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "_failed"
                and len(node.args) == 3
                and isinstance(node.args[2], ast.Constant)
            ):
                given.add(node.args[2].value)
    for node in ast.walk(ast.parse((REPO / "autograder/checks.py").read_text())):
        if isinstance(node, ast.FunctionDef):
            arguments = node.args.kwonlyargs
            for argument, default in zip(arguments, node.args.kw_defaults):
                if (
                    argument.arg.endswith("why")
                    and isinstance(default, ast.Constant)
                    and isinstance(default.value, str)
                ):
                    given.add(default.value)
    assert {"not-attempted", "answer-not-defined", "wrong-shape"} <= given, (
        "the scan finds the grader's ids"
    )
    assert given <= set(GRADER), (
        f"no description for {sorted(given - set(GRADER))}: add one to GRADER in "
        "autograder/report/misconceptions.py (and the id to NOT_AN_IDEA if it says "
        "nothing about a lesson's ideas, like not-attempted)"
    )


@pytest.mark.slow
def test_misconception_descriptions_stay_out_of_the_learner_release(course):
    """`autograder build` keeps the descriptions in source/, out of notebooks/ and solutions/."""
    from autograder.build import build

    source = course / "source" / FIRST / f"{FIRST}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.metadata["autograder"] = {
        "misconceptions": {"int-tensor": "Whole numbers make an int64 tensor."}
    }
    nbformat.write(nb, source)
    build(Course.find(course))
    for folder in ("notebooks", "solutions"):
        built = nbformat.read(course / folder / FIRST / f"{FIRST}.ipynb", as_version=4)
        assert (
            "autograder" not in built.metadata
            and "int64 tensor" not in (course / folder / FIRST / f"{FIRST}.ipynb").read_text()
        )
    assert nbformat.read(source, as_version=4).metadata["autograder"]["misconceptions"]


def test_the_report_folder_is_never_committed():
    """report/ names learners: git ignores it in a course (not the package's report module)."""

    def ignored(path: str) -> bool:
        return (
            subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False).returncode
            == 0
        )

    assert ignored("report/index.html")
    assert not ignored("autograder/report/__init__.py")


@pytest.mark.parametrize("lesson", lessons())
def test_exercises_and_the_sections_to_revisit_come_from_the_release(lesson):
    """Does each exercise hold the test cells between its answer cell and the next, and quote the
    lesson from the last `#`/`##` heading above its answer cell, without answer or test cells?"""
    from nbgrader.utils import is_grade, is_solution

    from autograder.report.exercises import exercises

    nb = nbformat.read(REPO / "notebooks" / lesson / f"{lesson}.ipynb", as_version=4)
    found = {e.key: e for e in exercises(nb, lesson, lesson)}
    answer, heading, expected = None, None, {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if re.match(r"#{1,2}\s", line):
                    heading = line.lstrip("#").strip()
        if is_solution(cell) and not is_grade(cell):
            answer = cell.metadata.nbgrader.grade_id
            expected[answer] = {"tests": [], "section": heading}
        elif is_grade(cell):
            expected[answer]["tests"].append(cell.metadata.nbgrader.grade_id)
    assert {key: e.tests for key, e in found.items()} == {
        k: v["tests"] for k, v in expected.items()
    }
    graded_sources = [c.source.strip() for c in nb.cells if is_solution(c) or is_grade(c)]
    for key, exercise in found.items():
        text = html.unescape(re.sub(r"<[^>]+>", "", exercise.excerpt))
        section = re.sub(r"[`*$]", "", expected[key]["section"])
        assert section in re.sub(r"[`*$]", "", text), (key, section)
        assert not [s for s in graded_sources if s and s in text], key


def test_readme_shows_the_report_and_the_command():
    """The README's section on the report has its screenshot (a small PNG) and its command."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### What the class got wrong: the class report") :]
    section = section[: section.index("\n### ", 10)]
    assert "](docs/report.png)" in section and "autograder report" in section
    picture = REPO / "docs" / "report.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size < 200_000


def test_a_class_with_nothing_graded_and_no_release_still_gets_a_page(course):
    """No graded notebook, and a lesson whose release was never built: the page says so, no
    error."""
    import shutil

    shutil.rmtree(course / "notebooks" / SECOND)
    page = soup(report_of(course, [ungradable("ada", FIRST, "the notebook file is empty")]))
    assert words(page.select_one(f"section#lesson-{FIRST} .none")) == "No graded notebooks."
    graded = [int(a["data-graded"]) for a in page.select(f"section#lesson-{FIRST} article")]
    assert graded and set(graded) == {0}, "every exercise is listed, with no one graded"
    assert (
        words(page.select_one(f"section#lesson-{SECOND} .tally"))
        == "0 graded 0 ungradable 1 missing"
    )
