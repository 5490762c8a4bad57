"""Does every lesson work for a learner in JupyterLab, Validate button included?

Chromium opens each lesson's learner release with the reference answers filled in and runs all
cells: the page must show the lesson's plots as images, every visible test's "✓" line and no error,
and nbgrader's Validate button must call the saved notebook passing. Once, a known-wrong answer is
typed into its cell: the page must show its test's misconception message, and Validate must fail
with it. Screenshots land in artifacts/browser/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, answered, lessons, solution_notebook
from known_answers import variants

pytest.importorskip(
    "playwright.sync_api", reason="playwright drives the browser: pip install -e '.[test]'"
)
from browser.jupyterlab import running_jupyterlab
from browser.notebook import NotebookPage
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Headless, and quiet: without the background-networking flags Chromium calls Google at start-up.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
# The wrong answer typed in the browser: (lesson, name of a `kind: wrong` entry in
# tests/lessons/variants/). Its first failing test must fail on a visible check (hidden ones are
# not in the release): Run All stops there.
WRONG = ("01-lemur", "whole numbers make an int64 tensor")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `make lab` runs it: started in the course folder, serving the learner's
    notebooks."""
    base = tmp_path_factory.mktemp("browser")
    course = base / "course"
    (course / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    with running_jupyterlab(root=course / "notebooks", cwd=course, home=base / "home") as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, lab, artifacts, request):
    """A fresh tab; if the test fails, what it showed last and the server's log are kept as
    artifacts."""
    failures = request.session.testsfailed
    page = browser.new_page()
    yield page
    if request.session.testsfailed > failures:
        name = re.sub(r"[^\w.-]+", "-", request.node.name)
        with contextlib.suppress(PlaywrightError):
            page.screenshot(path=artifacts / f"FAILED-{name}.png")
        shutil.copy(lab.log, artifacts / "jupyterlab.log")
    page.close()
    lab.shut_down_kernels()


def put(lab, folder: str, nb: nbformat.NotebookNode, name: str, lesson: str | None = None) -> str:
    """Write `nb` into the served folder, beside the files released with `lesson` (as `make lab`
    copies them, 06-train's animals.csv); return its path as JupyterLab names it."""
    path = lab.root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    for released in sorted((REPO / "notebooks" / lesson).iterdir()) if lesson else []:
        if released.suffix != ".ipynb":
            shutil.copy(released, path.parent / released.name)
    return f"{folder}/{name}"


def grade_ids(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells]


def outputs_images(nb: nbformat.NotebookNode) -> set[str]:
    return {
        cell.metadata["nbgrader"]["grade_id"]
        for cell in nb.cells
        if cell.cell_type == "code"
        and any("image/png" in out.get("data", {}) for out in cell.outputs)
    }


def failure_message(text: str) -> str | None:
    """The message of the failed check an output shows, if any (a Mistake is an AssertionError)."""
    match = re.search(r"^(?:AssertionError|Mistake): (.*)", text, re.M | re.S)
    return match.group(1).strip() if match else None


@pytest.mark.parametrize("lesson", lessons())
def test_lesson_with_reference_answers_runs_plots_and_validates(lesson, lab, page, artifacts):
    """With the reference answers, does every cell run, every plot show, every visible test pass,
    and does Validate agree?"""
    nb = answered(lesson)
    ids = grade_ids(nb)
    path = put(lab, lesson, nb, f"{lesson}.ipynb", lesson)
    notebook = NotebookPage.open(page, lab, path, cells=len(nb.cells))
    shown = dict(zip(ids, notebook.run_all()))
    notebook.screenshot_pages(artifacts / f"{lesson}-notebook")

    not_run = [
        gid for gid, cell in zip(ids, nb.cells) if cell.cell_type == "code" and not shown[gid].ran
    ]
    assert not not_run, f"Run All stopped before {not_run}: " + "\n".join(
        f"[{gid}] {cell.text[-1500:]}" for gid, cell in shown.items() if cell.stderr
    )
    errors = {gid: cell.stderr for gid, cell in shown.items() if cell.stderr}
    assert not errors, f"the reference answers show errors or warnings: {errors}"

    tests = [gid for gid, cell in zip(ids, nb.cells) if cell.metadata["nbgrader"].get("grade")]
    assert tests, f"{lesson} has no test cells"
    for gid in tests:
        assert any(line.startswith("✓") for line in shown[gid].text.splitlines()), (
            f"visible test {gid} shows no ✓ line: {shown[gid].text!r}"
        )

    plots = {gid for gid, cell in shown.items() if cell.images}
    assert plots == outputs_images(solution_notebook(lesson)), (
        "the page's images differ from the worked solution's"
    )
    for gid in sorted(plots):
        assert all(img["complete"] and img["width"] > 0 for img in shown[gid].images), (
            f"{gid}: a broken image"
        )
        notebook.screenshot_outputs(ids.index(gid), artifacts / f"{lesson}-plot-{gid}.png")

    verdict = notebook.validate(screenshot=artifacts / f"{lesson}-validate.png")
    assert verdict.passed, (
        f"Validate calls the reference answers failing: {verdict.title}\n{verdict.text[-3000:]}"
    )
    assert "Success! Your notebook passes all the tests." in verdict.text


def test_wrong_answer_typed_in_shows_its_misconception_and_fails_validate(lab, page, artifacts):
    """Does a learner who types a known-wrong answer read its misconception, in the page and in
    Validate?"""
    lesson, name = WRONG
    variant = next(v for v in variants(lesson) if v["name"] == name and v["kind"] == "wrong")
    nb = answered(lesson)
    ids = grade_ids(nb)
    answer, test = ids.index(variant["exercise"]), ids.index(variant["fails"][0])
    path = put(lab, "wrong-answer", nb, f"{lesson}.ipynb", lesson)
    notebook = NotebookPage.open(page, lab, path, cells=len(nb.cells))

    notebook.type_into(answer, variant["code"])
    shown = notebook.run_all()
    notebook.screenshot_outputs(test, artifacts / f"wrong-{lesson}-{variant['fails'][0]}.png")
    message = failure_message(shown[test].text)
    assert message is not None, f"{ids[test]} shows no AssertionError: {shown[test].text[-2000:]!r}"
    assert variant["message"].lower() in message.lower(), (
        f"{ids[test]} should name the mistake ({variant['message']!r}) but says: {message}"
    )

    verdict = notebook.validate(screenshot=artifacts / f"wrong-{lesson}-validate.png")
    assert not verdict.passed, f"Validate passes a known-wrong answer: {verdict.text[-2000:]}"
    assert any(message in error for error in verdict.errors), (
        f"Validate's dialog does not show the message {message!r}: {verdict.text[-3000:]}"
    )
    saved = nbformat.read(lab.root / path, as_version=4)
    assert saved.cells[answer].source.strip() == variant["code"].strip(), (
        "Validate did not save the typed answer"
    )
