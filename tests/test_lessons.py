"""Do the lessons' tests test the right things?

Solutions get full marks, untouched releases get nothing, every known-correct answer in
tests/lessons/variants/ keeps full marks and every known-wrong one loses the points of the tests
it names, with a message naming its mistake. All of it is graded once, as one class, by the real
grader (sandboxed kernels, trusted tests).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.course import Course
from autograder.grading.batch import grade_class
from conftest import REPO, answered, copy_course, grades, lessons, release_notebook, source_notebook, submit

pytestmark = pytest.mark.slow
VARIANTS = REPO / "tests" / "lessons" / "variants"


def variants():
    for lesson in lessons():
        for index, variant in enumerate(yaml.safe_load((VARIANTS / f"{lesson}.yml").read_text())):
            yield pytest.param(lesson, index, variant, id=f"{lesson}:{variant['kind']}:{variant['name']}")


ALL_VARIANTS = list(variants())


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("lessons") / "course")
    for lesson in lessons():
        submit(course, "solution", lesson, answered(lesson))
        submit(course, "untouched", lesson, release_notebook(lesson))
    for param in ALL_VARIANTS:
        lesson, index, variant = param.values
        submit(course, f"v{index:02d}", lesson, answered(lesson, {variant["exercise"]: variant["code"]}))
    grade_class(course=Course.find(course), jobs=2, feedback=False)
    return grades(course)


def test_every_lesson_has_known_answers_for_every_exercise():
    for lesson in lessons():
        exercises = {c.metadata.nbgrader.grade_id for c in source_notebook(lesson).cells
                     if c.metadata.get("nbgrader", {}).get("solution")}
        listed = yaml.safe_load((VARIANTS / f"{lesson}.yml").read_text())
        wrong = {v["exercise"] for v in listed if v["kind"] == "wrong"}
        assert exercises <= wrong, f"{lesson}: no known-wrong answer for {sorted(exercises - wrong)}"
        assert {v["exercise"] for v in listed} <= exercises, f"{lesson}: variants name unknown exercises"


@pytest.mark.parametrize("lesson", lessons())
def test_solution_gets_full_marks(graded_class, lesson):
    result = graded_class[("solution", lesson)]
    failing = [(t["grade_id"], t["message"]) for t in result["tests"] if not t["passed"]]
    assert result["status"] == "graded" and not failing
    assert result["score"] == result["max_score"] > 0


@pytest.mark.parametrize("lesson", lessons())
def test_untouched_release_gets_nothing(graded_class, lesson):
    result = graded_class[("untouched", lesson)]
    assert result["status"] == "graded" and result["score"] == 0
    assert all(not t["passed"] for t in result["tests"])
    for test in result["tests"]:
        assert "NotImplementedError" in test["message"] or "is not defined" in test["message"], test


@pytest.mark.parametrize("lesson, index, variant", ALL_VARIANTS)
def test_known_answer(graded_class, lesson, index, variant):
    result = graded_class[(f"v{index:02d}", lesson)]
    assert result["status"] == "graded", result["reason"]
    by_id = {t["grade_id"]: t for t in result["tests"]}
    if variant["kind"] == "correct":
        failing = {t["grade_id"]: t["message"] for t in result["tests"] if not t["passed"]}
        assert not failing, f"a correct answer lost points: {failing}"
        assert result["score"] == result["max_score"]
        return
    assert result["score"] < result["max_score"]
    for grade_id in variant["fails"]:
        test = by_id[grade_id]
        assert test["points"] == 0, f"{grade_id} gave {test['points']} points to a known-wrong answer"
        assert variant["message"].lower() in test["message"].lower(), (
            f"{grade_id} should name the mistake ({variant['message']!r}) but said: {test['message']}")
        assert "This test could not check your answer" not in test["message"]


@pytest.mark.parametrize("lesson", lessons())
def test_nbgrader_validate_agrees(lesson, tmp_path):
    """Plain nbgrader, in a normal kernel: the source passes, the release fails every test."""
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    source = REPO / "source" / lesson / f"{lesson}.ipynb"
    release = REPO / "notebooks" / lesson / f"{lesson}.ipynb"
    passed = subprocess.run([nbgrader, "validate", str(source)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "Success! Your notebook passes all the tests." in passed.stdout, passed.stdout[-2000:]
    inverted = subprocess.run([nbgrader, "validate", "--invert", str(release)], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
    assert "Success! The notebook does not pass any tests." in inverted.stdout, inverted.stdout[-2000:]
