"""Do nbgrader's Validate, `autograder check` and `autograder grade` give a learner one verdict?

For the reference answers, the untouched release and every known answer (tests/lessons/variants/)
of every lesson, typed into the learner's notebook, each visible test cell gets the same pass or
fail from:

- nbgrader's Validator, as JupyterLab's Validate button runs it: the whole notebook in the
  learner's own kernel, test cells included;
- `autograder check` (`check_notebook`): learner cells in the sandbox, test cells in this process;
- `autograder grade`: the class graded once by the `graded_lessons` fixture. There a test cell also
  runs its hidden part, so a failure must be the visible part's (the very message `check` gives)
  or come from the hidden part (as the same notebook run here shows, with the same message).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, answered, lessons, release_notebook
from known_answers import all_variants, is_test, run_in_process, source_with, student

pytestmark = pytest.mark.slow


def notebooks() -> list[tuple[str, str, dict]]:
    """(learner, lesson, answers) of every notebook the graded class holds."""
    found = []
    for lesson in lessons():
        found += [("solution", lesson, {}), ("untouched", lesson, None)]
    found += [
        (student(index), lesson, {variant["exercise"]: variant["code"]})
        for lesson, index, variant in all_variants()
    ]
    return found


_LAUNCHER = []  # one sandbox launcher per process of the pool below, reused for every notebook


def _launcher():
    if not _LAUNCHER:
        from autograder.course import load_config
        from autograder.sandbox.launcher import KernelLauncher
        from autograder.sandbox.limits import Sandboxing

        _LAUNCHER.append(KernelLauncher(Sandboxing.resolve(load_config(REPO))))
    return _LAUNCHER[0]


def visible_verdicts(path: str) -> dict:
    """grade_id -> {"validate": passed, "check": (passed, message)} for one learner notebook."""
    from nbgrader.validator import Validator

    from autograder.check import check_notebook
    from autograder.course import load_config

    nb = nbformat.read(path, as_version=4)
    by_source = {
        cell.source.strip(): cell.metadata.nbgrader.grade_id for cell in nb.cells if is_test(cell)
    }
    validator = Validator(config=load_config(REPO))
    results = validator.validate(path)
    assert set(results) <= {"failed"}, f"Validate did not validate: {sorted(results)}"
    failed = {by_source[cell["source"]] for cell in results.get("failed", [])}
    results, _ = check_notebook(Path(path), launcher=_launcher())
    checked = {result.grade_id: (result.passed, result.message) for result in results}
    assert set(checked) == set(by_source.values())
    return {
        grade_id: {"validate": grade_id not in failed, "check": checked[grade_id]}
        for grade_id in by_source.values()
    }


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict:
    """(learner, lesson) -> visible_verdicts, for every notebook, two at a time."""
    folder = tmp_path_factory.mktemp("validate")
    paths = {}
    for learner, lesson, answers in notebooks():
        nb = release_notebook(lesson) if answers is None else answered(lesson, answers)
        path = folder / learner / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        paths[(learner, lesson)] = str(path)
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {key: pool.submit(visible_verdicts, path) for key, path in paths.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize(
    "learner, lesson, answers",
    [
        pytest.param(learner, lesson, answers, id=f"{lesson}:{learner}")
        for learner, lesson, answers in notebooks()
    ],
)
def test_validate_check_and_grade_agree_on_every_visible_test(
    verdicts, graded_lessons, learner, lesson, answers
):
    graded = {t["grade_id"]: t for t in graded_lessons[(learner, lesson)]["tests"]}
    here = None
    for grade_id, verdict in verdicts[(learner, lesson)].items():
        validated, (checked, message) = verdict["validate"], verdict["check"]
        assert validated == checked, (
            f"{grade_id}: Validate says {validated}, check says {checked}: {message}"
        )
        test = graded[grade_id]
        if not checked:
            assert not test["passed"] and test["message"] == message, (
                f"{grade_id}: check failed it ({message}); grade said {test['message']}"
            )
        elif not test["passed"]:
            assert answers is not None, f"{grade_id}: the untouched release passed check"
            if here is None:
                here = run_in_process(source_with(lesson, answers))
            assert here[grade_id].hidden and here[grade_id].message == test["message"], (
                f"{grade_id}: its visible part passed check but failed grading: {test['message']}"
            )
