"""The course as taught: a real JupyterHub (deploy/hub/), a learner and an instructor in Chromium.

The hub runs as `make hub` runs it, with accounts made for this test (`hub-<random>-learner1`...,
removed afterwards) and a course folder only the grader account can read. A learner logs in,
fetches 01-lemur from the Assignment List, types a known-wrong answer, sees its misconception in
the test cell and in Validate, fixes it, submits. A second learner submits from a terminal with
the same exchange code. The instructor collects, grades with `autograder grade` and releases
feedback as the grader account; the learner fetches the feedback and reads it in the browser;
the instructor opens the Formgrader, sees both learners' scores and gives a cell manual points.
Screenshots of each step go to artifacts/hub/; the time from submit to fetchable feedback is
printed and written to artifacts/hub/timing.txt.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO
from known_answers import variants

pytest.importorskip(
    "playwright.sync_api", reason="playwright drives the browser: pip install -e '.[test]'"
)
from browser.notebook import NotebookPage
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, failure_message

sys.path.insert(0, str(REPO / "deploy" / "hub"))
import launch

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO / "artifacts" / "hub"
LESSON = "01-lemur"
WRONG = (
    "whole numbers make an int64 tensor"  # a `kind: wrong` answer whose test fails a visible check
)
SPAWN_TIMEOUT = 300_000  # ms: a single-user JupyterLab starting on a loaded 2-core machine
STEP_TIMEOUT = 120_000


def why_no_hub() -> str | None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return (
            "the hub starts servers as their own OS accounts: needs root on Linux (CI runs as root)"
        )
    for tool in ("useradd", "userdel", "chpasswd", "setpriv", launch.PROXY):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (.ci/run installs it)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def hub(artifacts):
    """The course hub with a grader, an instructor and two learners; everything removed after."""
    reason = why_no_hub()
    if reason:
        pytest.skip(reason)
    env = launch.build_environment(launch.reusable_environment_dir())  # built once, then reused
    root = Path(tempfile.mkdtemp(prefix="course-hub-"))
    prefix = f"hub-{secrets.token_hex(3)}"
    process = None
    try:
        course_hub = launch.demo_hub(root, env, 0, prefix=prefix)  # any port, chosen at start
        launch.lay_out(course_hub)
        launch.release(course_hub, [LESSON])
        process = launch.start(course_hub, course_hub.state / "jupyterhub.log")
        yield course_hub
    finally:
        if process is not None:
            launch.stop(process)
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(root / "state" / "jupyterhub.log", artifacts / "jupyterhub.log")
        for group in launch.demo_names(prefix).values():
            for name in group:
                launch.remove_account(name)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def people(browser, artifacts, request):
    """A browser context per person (their own cookies), generous timeouts for a loaded machine;
    if the test fails, what each page showed last is kept as FAILED-<n>.png."""
    contexts = []

    def new_person():
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(STEP_TIMEOUT)
        context.set_default_navigation_timeout(SPAWN_TIMEOUT)
        contexts.append(context)
        return context

    failures = request.session.testsfailed
    yield new_person
    for number, page in enumerate(p for c in contexts for p in c.pages):
        if request.session.testsfailed > failures:
            with contextlib.suppress(PlaywrightError):
                page.screenshot(path=artifacts / f"FAILED-{number}.png")
    for context in contexts:
        with contextlib.suppress(PlaywrightError):
            context.close()


class HubLab:
    """What NotebookPage needs of a server: the URL that opens a notebook, here a hub user's."""

    def __init__(self, hub: launch.Hub, account: launch.Account):
        self.base = f"{hub.url}/user/{account.name}"

    def page_url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset"


def log_in(page, hub: launch.Hub, account: launch.Account, shot: Path, next_url: str = "") -> None:
    """Fill in the hub's login form as `account` (its OS password, checked by PAM)."""
    page.goto(f"{hub.url}/hub/login" + (f"?next={next_url}" if next_url else ""))
    page.locator("#username_input").fill(account.name)
    page.locator("#password_input").fill(account.password)
    page.screenshot(path=shot)
    page.locator("#login_submit").click()


def wait_for_lab(page) -> None:
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=SPAWN_TIMEOUT)
    expect(page.locator(".lm-MenuBar-item", has_text=re.compile("^Nbgrader$"))).to_be_visible(
        timeout=STEP_TIMEOUT
    )


def open_assignment_list(page) -> None:
    page.locator(".lm-MenuBar-item", has_text=re.compile("^Nbgrader$")).click()
    page.locator(
        ".lm-Menu-item",
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Assignment List$")),
    ).click()
    expect(page.locator("#nbgrader-assignment-list")).to_be_visible(timeout=STEP_TIMEOUT)


def assignment(page, section: str):
    """The lesson's row in a section of the Assignment List: released, fetched or submitted."""
    return page.locator(
        f"#{section}_assignments_list .list_item:not(.nested_list_item)", has_text=LESSON
    )


def known_wrong_answer() -> dict:
    return next(v for v in variants(LESSON) if v["name"] == WRONG and v["kind"] == "wrong")


def first_wrong_failing_one_test() -> dict:
    return next(
        v
        for v in variants(LESSON)
        if v["kind"] == "wrong" and len(v["fails"]) == 1 and v["name"] != WRONG
    )


def text_of(page) -> str:
    return " ".join(page.locator("body").inner_text().split())


def test_learner_loop_in_the_browser_and_grades_in_the_formgrader(hub, people, artifacts):
    """Can a learner fetch, get a misconception from Validate, fix it, submit and read their
    feedback, all in the browser on the hub; and does the instructor's Formgrader show the same
    scores for both learners and take manual points?"""
    from autograder.course import Course, load_config

    course = Course(REPO, load_config(REPO))
    answers = course.lesson(LESSON).reference_answers()
    wrong, mistake = known_wrong_answer(), first_wrong_failing_one_test()
    learner, other = hub.learners
    shot = lambda name: artifacts / name  # noqa: E731

    # --- the course folder is the grader's alone
    peek = learner.run(
        ["ls", str(hub.course_dir)], python_env=hub.python_env, config=hub.config_dir("learner")
    )
    assert peek.returncode != 0, "a learner can list the course folder (source/, gradebook)"

    # === learner: log in, fetch from the Assignment List
    context = people()
    page = context.new_page()
    log_in(page, hub, learner, shot("01-login.png"))
    page.wait_for_url(re.compile(rf"/user/{re.escape(learner.name)}/lab"), timeout=SPAWN_TIMEOUT)
    wait_for_lab(page)
    page.screenshot(path=shot("02-jupyterlab.png"))
    page.locator(".lm-MenuBar-item", has_text=re.compile("^Nbgrader$")).click()
    tools = {label.strip() for label in page.locator(".lm-Menu-itemLabel").all_inner_texts()}
    assert "Assignment List" in tools and not tools & {"Formgrader", "Course List"}, tools
    page.keyboard.press("Escape")
    open_assignment_list(page)
    expect(assignment(page, "released")).to_be_visible(timeout=STEP_TIMEOUT)
    page.screenshot(path=shot("03-assignment-list.png"))
    assignment(page, "released").get_by_role("button", name="Fetch").click()
    expect(assignment(page, "fetched")).to_be_visible(timeout=STEP_TIMEOUT)
    page.screenshot(path=shot("04-fetched.png"))
    fetched = learner.home / LESSON / f"{LESSON}.ipynb"
    assert fetched.stat().st_uid == learner.uid
    assert fetched.read_bytes() == (REPO / "notebooks" / LESSON / f"{LESSON}.ipynb").read_bytes()

    # === learner: every exercise answered, one of them with a known mistake; run, Validate
    nb = nbformat.read(fetched, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    notebook = NotebookPage.open(
        page, HubLab(hub, learner), f"{LESSON}/{LESSON}.ipynb", cells=len(nb.cells)
    )
    for exercise, code in answers.items():
        notebook.type_into(
            ids.index(exercise), wrong["code"] if exercise == wrong["exercise"] else code
        )
    shown = notebook.run_all()
    test = ids.index(wrong["fails"][0])
    notebook.screenshot_outputs(test, shot("05-wrong-answer-test-output.png"))
    message = failure_message(shown[test].text)
    assert message and wrong["message"].lower() in message.lower(), shown[test].text[-2000:]
    verdict = notebook.validate(screenshot=shot("06-validate-wrong.png"))
    assert not verdict.passed and any(message in error for error in verdict.errors), verdict.text[
        -2000:
    ]

    notebook.type_into(ids.index(wrong["exercise"]), answers[wrong["exercise"]])
    verdict = notebook.validate(screenshot=shot("07-validate-fixed.png"))
    assert verdict.passed, verdict.text[-2000:]

    # === learner: submit from the Assignment List
    open_assignment_list(page)
    assignment(page, "fetched").get_by_role("button", name="Submit").click()
    expect(assignment(page, "submitted")).to_be_visible(timeout=STEP_TIMEOUT)
    submitted_at = time.monotonic()
    page.screenshot(path=shot("08-submitted.png"))

    # --- the second learner works in a terminal: same exchange, their own account
    def as_other(*argv: str) -> str:
        done = other.run(list(argv), python_env=hub.python_env, config=hub.config_dir("learner"))
        assert done.returncode == 0, (argv, done.stdout + done.stderr)
        return done.stdout + done.stderr

    as_other("nbgrader", "fetch_assignment", LESSON)
    theirs = nbformat.read(other.home / LESSON / f"{LESSON}.ipynb", as_version=4)
    for cell in theirs.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = mistake["code"] if grade_id == mistake["exercise"] else answers[grade_id]
    path = other.home / LESSON / f"{LESSON}.ipynb"
    path.write_text(nbformat.writes(theirs), encoding="utf-8")
    os.chown(path, other.uid, other.gid)
    as_other("nbgrader", "submit", LESSON)

    # === instructor (the grader account, as in the course service's terminal)
    hub.as_grader("nbgrader", "collect", LESSON)
    graded = hub.as_grader("autograder", "grade", "--jobs", "1")
    assert "isolation: bubblewrap sandbox in a user namespace" in " ".join(graded.split()), (
        f"grading by the grader account must be sandboxed (docs/hub.md):\n{graded[-3000:]}"
    )
    hub.as_grader("nbgrader", "release_feedback", LESSON)
    to_feedback = time.monotonic() - submitted_at
    print(
        f"submit to fetchable feedback: {to_feedback:.1f} s "
        "(collect, autograder grade, release_feedback)"
    )
    (artifacts / "timing.txt").write_text(f"submit to fetchable feedback: {to_feedback:.1f} s\n")

    results = {
        (r["student"], r["assignment"]): r
        for r in json.loads((hub.course_dir / "grades.json").read_text())["submissions"]
    }
    mine, theirs_result = results[(learner.name, LESSON)], results[(other.name, LESSON)]
    assert mine["score"] == mine["max_score"], mine["tests"]
    failed = [t for t in theirs_result["tests"] if not t["passed"]]
    assert [t["grade_id"] for t in failed] == mistake["fails"], theirs_result["tests"]
    assert theirs_result["score"] == theirs_result["max_score"] - failed[0]["max_points"]

    # === learner: fetch the feedback and read it
    page.locator("#refresh_assignments_list").click()
    assignment(page, "submitted").get_by_role("button", name="Fetch Feedback").click()
    view = assignment(page, "submitted").get_by_text("(view feedback)")
    expect(view).to_be_visible(timeout=STEP_TIMEOUT)
    view.click()
    page.screenshot(path=shot("09-feedback-fetched.png"))
    pages = sorted(learner.home.glob(f"{LESSON}/feedback/*/{LESSON}.html"))
    assert len(pages) == 1, pages
    relative = pages[0].relative_to(learner.home).as_posix()
    feedback = context.new_page()
    feedback.goto(f"{hub.url}/user/{learner.name}/files/{relative}")
    heading = feedback.locator("h4", has_text=f"{LESSON} (Score:")
    expect(heading).to_be_visible(timeout=STEP_TIMEOUT)
    feedback.screenshot(path=shot("10-feedback.png"), full_page=True)
    score = re.search(r"\(Score: ([0-9.]+) / ([0-9.]+)\)", heading.inner_text())
    assert (float(score[1]), float(score[2])) == (mine["score"], mine["max_score"])
    shown_text = text_of(feedback)
    solved = nbformat.read(REPO / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    ticks = [
        line.strip()
        for c in solved.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
        for line in o["text"].splitlines()
        if line.startswith("✓")
    ]
    assert ticks, "the worked solution's test cells print ✓ lines"
    missing = [tick for tick in ticks if " ".join(tick.split()) not in shown_text]
    assert not missing, f"the feedback page does not show: {missing}"

    # === instructor: the Formgrader, as a hub service, shows both learners' scores
    page = people().new_page()
    formgrader = f"/services/{hub.course_id}/formgrader"
    log_in(
        page,
        hub,
        hub.instructors[0],
        shot("11-instructor-login.png"),
        next_url=f"{formgrader}/manage_students",
    )
    page.wait_for_url(re.compile(re.escape(f"{formgrader}/manage_students")), timeout=SPAWN_TIMEOUT)
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2, timeout=STEP_TIMEOUT)
    page.screenshot(path=shot("12-formgrader-students.png"))
    listed = {
        row.locator(".id").inner_text().strip(): row.locator(".score").inner_text().strip()
        for row in rows.all()
    }
    want = {r["student"]: f"{r['score']:g} / {r['max_score']:g}" for r in (mine, theirs_result)}
    assert listed == want, (listed, want)

    # === instructor: manual points for the other learner's failed test
    page.goto(f"{hub.url}{formgrader}/gradebook/{LESSON}/{LESSON}")
    link = page.locator("tbody tr", has_text=other.name).locator("a.name-shown")
    expect(link).to_have_count(1, timeout=STEP_TIMEOUT)
    page.goto(f"{hub.url}{link.get_attribute('href')}")  # names are hidden until revealed
    box = page.locator(f"input.score#{failed[0]['grade_id']}")
    # The page's script binds the box to its grade once the grades have loaded, and then shows the
    # automatic score as the box's placeholder: typing before that would not be saved.
    expect(box).to_have_attribute("placeholder", f"{failed[0]['points']:g}", timeout=STEP_TIMEOUT)
    points = failed[0]["max_points"] / 2
    with page.expect_response(
        lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT",
        timeout=STEP_TIMEOUT,
    ) as saved:
        box.fill(f"{points:g}")
        box.press("Tab")
    assert saved.value.ok, saved.value.status
    page.screenshot(path=shot("13-formgrader-manual-points.png"))
    page.goto(f"{hub.url}{formgrader}/manage_students")
    row = page.locator("tbody tr", has_text=other.name)
    expect(row.locator(".score")).to_have_text(
        f"{theirs_result['score'] + points:g} / {theirs_result['max_score']:g}",
        timeout=STEP_TIMEOUT,
    )
    page.screenshot(path=shot("14-formgrader-after-manual-points.png"))

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.course_dir / 'gradebook.db'}") as gb:
        grade = gb.find_grade(failed[0]["grade_id"], LESSON, LESSON, other.name)
        assert grade.manual_score == points and grade.score == points
        assert gb.find_submission(LESSON, other.name).score == theirs_result["score"] + points
