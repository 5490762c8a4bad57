"""Does the class report of the demo's sample class say what sample_class.yml says it must?

The demo runs once, as `make demo` runs it, in a copy of the course: it builds, grades the sample
class and writes the report. Everything expected here is computed from sample_class.yml (which
learners hand in what, and which test must fail naming which misconception) and from the lessons'
test points, never from the report: completion, scores, pass rates, the failing learners grouped
by misconception with their counts, the misconceptions to re-teach and the learners who may need
help. Then Chromium opens the page offline, and a page full of hostile names.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_course, lessons
from test_report import HOSTILE, Page, hostile_class, soup, words

from autograder.course import Course
from autograder.lessons import Lesson
from autograder.report import write_report
from autograder.report.aggregate import HELP_AT, RETEACH, class_report
from autograder.report.misconceptions import worth_reteaching
from autograder.report.records import read_records
from autograder.results import load_grades_json, write_grades_json

pytestmark = pytest.mark.slow

SAMPLE_CLASS = REPO / "autograder" / "demo" / "sample_class.yml"
ARTIFACTS = REPO / "artifacts" / "report"
LESSONS = lessons()


class Expected:
    """What sample_class.yml says grading must find, lesson by lesson."""

    def __init__(self):
        self.learners = yaml.safe_load(SAMPLE_CLASS.read_text())
        self.points = {
            lesson: Lesson(REPO / "source" / lesson / f"{lesson}.ipynb").test_points()
            for lesson in LESSONS
        }

    def spec(self, learner: str, lesson: str) -> dict | None:
        """The learner's hand-in for the lesson, or None if they hand in nothing."""
        entry = self.learners[learner]
        if lesson not in (entry.get("hands_in") or LESSONS):
            return None
        return (entry.get("lessons") or {}).get(lesson) or {}

    def missing(self, lesson: str) -> set[str]:
        return {name for name in self.learners if self.spec(name, lesson) is None}

    def ungradable(self, lesson: str) -> set[str]:
        return {name for name in self.learners if (self.spec(name, lesson) or {}).get("file")}

    def graded(self, lesson: str) -> set[str]:
        return set(self.learners) - self.missing(lesson) - self.ungradable(lesson)

    def fails(self, learner: str, lesson: str) -> dict[str, str | None]:
        return dict((self.spec(learner, lesson) or {}).get("fails") or {})

    def score(self, learner: str, lesson: str) -> float:
        points = self.points[lesson]
        return sum(points.values()) - sum(points[test] for test in self.fails(learner, lesson))

    def groups(self, lesson: str, tests: list[str]) -> dict[str | None, set[str]]:
        """misconception -> learners, for the failures of these tests."""
        found = defaultdict(set)
        for learner in self.graded(lesson):
            for test, why in self.fails(learner, lesson).items():
                if test in tests:
                    found[why].add(learner)
        return dict(found)

    def across_course(self) -> dict[str, set[str]]:
        found = defaultdict(set)
        for lesson in LESSONS:
            for learner in self.graded(lesson):
                for why in self.fails(learner, lesson).values():
                    if worth_reteaching(why):
                        found[why].add(learner)
        return dict(found)

    def needs_help(self) -> set[str]:
        flagged = set()
        for learner in self.learners:
            bad = sum(1 for lesson in LESSONS if learner in self.ungradable(lesson))
            bad += sum(
                1
                for lesson in LESSONS
                if learner in self.graded(lesson) and self.score(learner, lesson) == 0
            )
            if bad >= HELP_AT:
                flagged.add(learner)
        return flagged


@pytest.fixture(scope="module")
def expected() -> Expected:
    return Expected()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`autograder demo` in a copy of the course: (its output, the graded class's folder)."""
    course = copy_course(tmp_path_factory.mktemp("report-class") / "course")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "--course", str(course), "demo"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout, course / ".demo"


@pytest.fixture(scope="module")
def page(demo):
    return soup((demo[1] / "report" / "index.html").read_text(encoding="utf-8"))


def test_demo_ends_by_printing_where_the_report_is(demo):
    out, folder = demo
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert last == f"class report: {folder / 'report' / 'index.html'}"
    assert (folder / "report" / "index.html").is_file()


def test_completion_per_lesson(page, expected):
    """Graded, ungradable and missing learners of each lesson, as sample_class.yml hands them in."""
    for lesson in LESSONS:
        section = page.select_one(f"section#lesson-{lesson}")
        counts = {
            span["class"][0]: int(span["data-count"]) for span in section.select(".tally span")
        }
        assert counts == {
            "graded": len(expected.graded(lesson)),
            "ungradable": len(expected.ungradable(lesson)),
            "missing": len(expected.missing(lesson)),
        }, lesson
        listed = {td.get_text() for td in section.select("table.ungradable-list td.learner")}
        assert listed == expected.ungradable(lesson), lesson
        missing = {span.get_text() for span in section.select("p.missing-list span.learner")}
        assert missing == expected.missing(lesson), lesson


def test_scores_behind_the_histograms(demo, expected, page):
    """Each graded learner's lesson score, and the median the overview shows."""
    course = Course.find(demo[1])
    results = load_grades_json(demo[1] / "grades.json")
    report = class_report(course, results, read_records(course, LESSONS), generated=None)
    for lesson in report.lessons:
        want = {
            learner: expected.score(learner, lesson.name)
            for learner in expected.graded(lesson.name)
        }
        assert lesson.scores == want, lesson.name
        assert lesson.max_score == sum(expected.points[lesson.name].values())
        median = page.select_one(f'tr[data-lesson="{lesson.name}"] td.median-score')
        assert words(median) == f"{statistics.median(want.values()):g} / {lesson.max_score:g}"


def test_pass_rates_and_misconception_groups_per_exercise(page, expected):
    """For every exercise: how many graded learners passed, and who failed, grouped by the
    misconception their failure names, with the count."""
    seen_tests = set()
    for lesson in LESSONS:
        articles = page.select(f"section#lesson-{lesson} article.exercise")
        assert articles, lesson
        for article in articles:
            tests = article["data-tests"].split()
            seen_tests.update((lesson, test) for test in tests)
            groups = expected.groups(lesson, tests)
            failed = set().union(*groups.values())
            graded = len(expected.graded(lesson))
            shown = (int(article["data-graded"]), int(article["data-passed"]))
            assert shown == (graded, graded - len(failed)), (lesson, tests)
            shown = {
                tr["data-misconception"] or None: (
                    int(tr["data-learners"]),
                    {span.get_text() for span in tr.select("td.who span.learner")},
                )
                for tr in article.select("tr.group")
            }
            want = {why: (len(people), people) for why, people in groups.items()}
            assert shown == want, (lesson, tests)
    every_test = {(lesson, test) for lesson in LESSONS for test in expected.points[lesson]}
    assert seen_tests == every_test, "every test cell belongs to one exercise of the report"


def test_the_misconceptions_to_reteach_first(page, expected):
    """The top of the page names the misconceptions that affected the most learners, with the number
    of learners each, counted across lessons."""
    counts = {why: len(people) for why, people in expected.across_course().items()}
    top = [
        (li["data-misconception"], int(li["data-learners"]))
        for li in page.select("ol.reteach > li")
    ]
    assert len(top) == min(RETEACH, len(counts))
    for why, n in top:
        assert counts[why] == n, why
    assert [n for _, n in top] == sorted((n for _, n in top), reverse=True)
    if top:
        left_out = [n for why, n in counts.items() if why not in dict(top)]
        assert max(left_out, default=0) <= top[-1][1]
    else:
        assert words(page.select_one("#reteach p.none")) == (
            "No failing test named a misconception to re-teach."
        )


def test_learners_who_may_need_help(page, expected):
    flagged = {tr["data-learner"] for tr in page.select("section#help tr[data-learner]")}
    assert flagged == expected.needs_help()
    assert expected.needs_help(), "the sample class has learners who need help"


def test_example_messages_name_no_learner(page, expected):
    messages = [td.get_text() for td in page.select("td.message")]
    assert messages
    for message in messages:
        named = [
            n for n in expected.learners if re.search(rf"(?<!\w){n}(?!\w)", message, re.IGNORECASE)
        ]
        assert not named, message


# ----------------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def chromium():
    pytest.importorskip(
        "playwright.sync_api", reason="playwright drives the browser: pip install -e '.[test]'"
    )
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Visit:
    """A tab that opens a file offline and records every request, console error and dialog."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
        self.page = self.context.new_page()
        self.requests, self.errors, self.dialogs = [], [], []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on(
            "console", lambda message: message.type == "error" and self.errors.append(message.text)
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss())
        )

    def open(self, path: Path):
        self.page.goto(path.as_uri(), wait_until="load")
        return self.page

    def close(self):
        self.context.close()


@pytest.mark.browser
def test_report_in_chromium_offline(demo, chromium):
    """Opened from disk with the network off, does the page load nothing else, show every histogram,
    and lead from an exercise to the lesson section to revisit? Screenshots: artifacts/report/."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = demo[1] / "report" / "index.html"
    visit = Visit(chromium)
    try:
        page = visit.open(path)
        images = page.evaluate(
            "[...document.images].map(i => ({ok: i.complete, w: i.naturalWidth}))"
        )
        assert len(images) == len(LESSONS) and all(i["ok"] and i["w"] > 400 for i in images), images
        page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
        box = page.locator("#lesson-04-softmax").bounding_box()  # the README's picture: one lesson
        page.screenshot(
            path=ARTIFACTS / "readme.png",
            full_page=True,
            clip={
                "x": 0,
                "y": box["y"] - 8,
                "width": 1280,
                "height": min(box["height"] + 16, 1180),
            },
        )

        lesson = LESSONS[-1]
        page.click(f'nav a[href="#lesson-{lesson}"]')
        page.wait_for_function(f"location.hash === '#lesson-{lesson}'")
        expect(page.locator(f"#lesson-{lesson} > h2")).to_be_in_viewport()

        revisit = page.locator(f"#lesson-{lesson} details.revisit").first
        assert not revisit.locator(".excerpt").is_visible()
        revisit.locator("summary").click()
        excerpt = revisit.locator(".excerpt")
        assert excerpt.is_visible()
        assert excerpt.locator("h2, h3").count() >= 1, "the section's headings, as in the lesson"
        excerpt.screenshot(path=ARTIFACTS / "revisit.png")

        external = [url for url in visit.requests if not url.startswith(("file:", "data:"))]
        assert not external and not visit.errors and not visit.dialogs, (
            external,
            visit.errors,
            visit.dialogs,
        )
    finally:
        visit.close()


@pytest.mark.browser
def test_hostile_names_run_nothing_in_chromium(chromium, tmp_path):
    """Learners named with HTML and script: nothing runs, and the names read as typed."""
    course = copy_course(tmp_path / "course")
    write_grades_json(course / "grades.json", hostile_class(HOSTILE, "<svg onload=alert(9)>"))
    path = write_report(Course.find(course))
    visit = Visit(chromium)
    try:
        page = visit.open(path)
        text = page.inner_text("body")
        page.screenshot(path=tmp_path / "hostile.png", full_page=True)
        assert not visit.dialogs and not visit.errors, (visit.dialogs, visit.errors)
        assert all(name in text for name in HOSTILE) and "<svg onload=alert(9)>" in text
        assert (
            page.evaluate(
                "document.querySelectorAll('script, iframe, svg, [onerror], [onload]').length"
            )
            == 0
        )
        assert Page(path.read_text()).all_text.count(HOSTILE[0]) >= 3
    finally:
        visit.close()
