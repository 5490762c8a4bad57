"""Do the lessons' tests test the right things?

Solutions get full marks, untouched releases get nothing, every known-correct answer in
tests/lessons/variants/ keeps full marks and every known-wrong one loses the points of the tests
it names, with a message naming its mistake and its misconception, and no message shows the
reference answer's code. All of it is graded once, as one class, by the real grader (sandboxed
kernels, trusted tests): the `graded_lessons` fixture.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, lessons
from known_answers import (
    all_variants,
    per_test,
    reference_fragments,
    run_in_process,
    source_with,
    student,
)

pytestmark = pytest.mark.slow


def variant_params():
    return [
        pytest.param(lesson, index, variant, id=f"{lesson}:{variant['kind']}:{variant['name']}")
        for lesson, index, variant in all_variants()
    ]


@pytest.mark.parametrize("lesson", lessons())
def test_solution_gets_full_marks(graded_lessons, lesson):
    result = graded_lessons[("solution", lesson)]
    failing = [(t["grade_id"], t["message"]) for t in result["tests"] if not t["passed"]]
    assert result["status"] == "graded" and not failing
    assert result["score"] == result["max_score"] > 0


@pytest.mark.parametrize("lesson", lessons())
def test_untouched_release_gets_nothing(graded_lessons, lesson):
    result = graded_lessons[("untouched", lesson)]
    assert result["status"] == "graded" and result["score"] == 0
    assert all(not t["passed"] for t in result["tests"])
    for test in result["tests"]:
        assert "NotImplementedError" in test["message"] or "is not defined" in test["message"], test


@pytest.mark.parametrize("lesson, index, variant", variant_params())
def test_known_answer(graded_lessons, lesson, index, variant):
    """Full marks for a correct answer; for a wrong one, 0 on each test it names, whose message
    names the mistake and whose Mistake carries the misconception id the variant expects."""
    if variant.get("xfail"):
        pytest.xfail(variant["xfail"])
    result = graded_lessons[(student(index), lesson)]
    assert result["status"] == "graded", result["reason"]
    by_id = {t["grade_id"]: t for t in result["tests"]}
    if variant["kind"] == "correct":
        failing = {t["grade_id"]: t["message"] for t in result["tests"] if not t["passed"]}
        assert not failing, f"a correct answer lost points: {failing}"
        assert result["score"] == result["max_score"]
        return
    assert result["score"] < result["max_score"]
    # The grader does not write down a test's misconception id: run the same notebook here, where
    # the failing test's Mistake can be read, and check it said the same as the grader.
    here = run_in_process(source_with(lesson, {variant["exercise"]: variant["code"]}))
    for grade_id in variant["fails"]:
        test = by_id[grade_id]
        assert test["points"] == 0, f"{grade_id} gave {test['points']} points to a wrong answer"
        message = per_test(variant, "message", grade_id)
        assert message.lower() in test["message"].lower(), (
            f"{grade_id} should name the mistake ({message!r}) but said: {test['message']}"
        )
        assert "This test could not check your answer" not in test["message"]
        assert here[grade_id].message == test["message"], "the grader and this process disagree"
        assert here[grade_id].misconception == per_test(variant, "why", grade_id), (
            f"{grade_id} names the misconception {here[grade_id].misconception!r}"
        )


@pytest.mark.parametrize("lesson", lessons())
def test_no_failure_message_shows_the_reference_answer(graded_lessons, lesson):
    """A message says what is wrong and which idea to revisit; it never hands out the answer."""
    fragments = reference_fragments(lesson)
    assert fragments, "the reference answers have code"
    messages = {
        (who, t["grade_id"]): t["message"]
        for (who, name), result in graded_lessons.items()
        if name == lesson
        for t in result["tests"]
        if not t["passed"]
    }
    assert len(messages) > len(lessons()), "known-wrong answers were graded"
    shown = {
        key: [f for f in fragments if f in "".join(message.split())]
        for key, message in messages.items()
    }
    assert not {key: found for key, found in shown.items() if found}


@pytest.mark.parametrize("lesson", lessons())
def test_nbgrader_validate_agrees(lesson, tmp_path):
    """Plain nbgrader, in a normal kernel: the source passes, the release fails every test."""
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    source = REPO / "source" / lesson / f"{lesson}.ipynb"
    release = REPO / "notebooks" / lesson / f"{lesson}.ipynb"
    passed = subprocess.run(
        [nbgrader, "validate", str(source)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert "Success! Your notebook passes all the tests." in passed.stdout, passed.stdout[-2000:]
    inverted = subprocess.run(
        [nbgrader, "validate", "--invert", str(release)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert "Success! The notebook does not pass any tests." in inverted.stdout, inverted.stdout[
        -2000:
    ]
