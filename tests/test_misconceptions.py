"""Does every failure a lesson's tests can report name a misconception the lesson lists, and does
every listed misconception have a known wrong answer that shows it?

Test cells fail only through `autograder.checks`, whose Mistakes carry a misconception id written
next to the message in source/ (`why="softmax-dim"`), so that a class report can group a class's
failures by idea. Each lesson's ids, with one line each, are in its source notebook's metadata
(`autograder.misconceptions`); its known wrong answers are in tests/lessons/variants/<lesson>.yml.
"""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from conftest import lessons, source_notebook
from known_answers import is_test, load, per_test

from autograder import checks

CHECKS = {"expect", "expect_tensor", "expect_close", "call", "not_defined"}
KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def cells_of(lesson):
    cells = source_notebook(lesson).cells
    return {c.metadata.nbgrader.grade_id: c.source for c in cells if is_test(c)}


def ids_reported(source: str) -> set[str]:
    """Every misconception id a test cell's checks can report, read from its source."""
    found = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):  # hints={ExceptionType: (hint, id)}
            found |= {
                value.elts[1].value
                for value in node.values
                if isinstance(value, ast.Tuple)
                and len(value.elts) == 2
                and isinstance(value.elts[1], ast.Constant)
                and isinstance(value.elts[1].value, str)
            }
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in CHECKS):
            continue
        given = {k.arg: k.value for k in node.keywords}
        for name, parameter in inspect.signature(getattr(checks, node.func.id)).parameters.items():
            if not name.endswith("why"):
                continue
            if name != "why" and name[: -len("_why")] not in given:
                continue  # expect_tensor(shape=...) is what makes shape_why reachable
            value = given.get(name)
            if value is None:
                assert isinstance(parameter.default, str), (
                    f"line {node.lineno}: {node.func.id}(...) needs {name}= naming an idea"
                )
                found.add(parameter.default)
            else:
                choices = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                for choice in choices:  # an id, or `"id" if condition else "other-id"`
                    assert isinstance(choice, ast.Constant) and isinstance(choice.value, str), (
                        f"line {node.lineno}: {name}= must be a literal id, for a report to find"
                    )
                    found.add(choice.value)
    return found


@pytest.mark.parametrize("lesson", lessons())
def test_test_cells_fail_only_through_checks_that_name_a_misconception(lesson):
    for grade_id, source in cells_of(lesson).items():
        tree = ast.parse(source)
        bare = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Assert)
            or (isinstance(n, ast.Raise) and "AssertionError" in ast.unparse(n))
        ]
        assert not bare, f"{grade_id}: lines {bare} fail without a misconception id"
        assert ids_reported(source), f"{grade_id} checks nothing through autograder.checks"


@pytest.mark.parametrize("lesson", lessons())
def test_every_misconception_a_test_can_report_is_listed_with_a_description(lesson):
    listed = load(lesson)["misconceptions"]
    reported = set().union(*(ids_reported(source) for source in cells_of(lesson).values()))
    assert reported - set(listed) == set(), f"{lesson}: ids reported but not listed"
    assert all(KEBAB.fullmatch(name) for name in listed), "ids are short kebab-case slugs"
    assert all(isinstance(text, str) and text.strip() for text in listed.values()), "one line each"
    assert set(listed) - reported == set(), f"{lesson}: listed ids no test can report"


@pytest.mark.parametrize("lesson", lessons())
def test_every_listed_misconception_has_a_known_wrong_answer(lesson):
    known = load(lesson)
    shown = {
        per_test(v, "why", grade_id)
        for v in known["variants"]
        if v["kind"] == "wrong"
        for grade_id in v["fails"]
    }
    assert set(known["misconceptions"]) - shown == set(), f"{lesson}: no wrong answer shows these"
    assert shown - set(known["misconceptions"]) == set(), f"{lesson}: variants name unlisted ids"


@pytest.mark.parametrize("lesson", lessons())
def test_every_exercise_has_known_answers_and_every_variant_is_well_formed(lesson):
    cells = source_notebook(lesson).cells
    exercises = {
        c.metadata.nbgrader.grade_id
        for c in cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    tests = set(cells_of(lesson))
    listed = load(lesson)["variants"]
    assert {v["exercise"] for v in listed if v["kind"] == "wrong"} == exercises
    assert {v["exercise"] for v in listed if v["kind"] == "correct"} == exercises
    for variant in listed:
        assert variant["kind"] in ("correct", "wrong"), variant["name"]
        assert variant["code"].strip() and variant["name"]
        if variant["kind"] == "wrong":
            assert variant["fails"] and set(variant["fails"]) <= tests, variant["name"]
            for key in ("message", "why"):
                value = variant[key]
                assert set(value) == set(variant["fails"]) if isinstance(value, dict) else value, (
                    f"{variant['name']}: {key} for each test in fails"
                )
    names = [(v["exercise"], v["name"]) for v in listed]
    assert len(names) == len(set(names)), "variant names are unique within an exercise"


def test_the_reader_of_test_cells_finds_every_id_and_refuses_a_check_without_one():
    cell = (
        "got = call(f, z, what='f(z)', hints={TypeError: ('use torch.exp', 'use-torch-exp')})\n"
        "got = expect_tensor(got, 'f(z)', shape=(3,))\n"
        "expect_close(got, [1., 2., 3.], 'wrong', why='formula')\n"
    )
    assert ids_reported(cell) == {
        "raises-an-error",
        "use-torch-exp",
        "not-a-tensor",
        "wrong-shape",
        "formula",
    }
    with pytest.raises(AssertionError, match="needs why="):
        ids_reported("expect(x > 0, 'x should be positive')")
    with pytest.raises(AssertionError, match="literal id"):
        ids_reported("expect(x > 0, 'x should be positive', why=idea)")
    assert ids_reported("expect(x > 0, 'm', why='positive' if ok else 'needs-earlier-answer')") == {
        "positive",
        "needs-earlier-answer",
    }
