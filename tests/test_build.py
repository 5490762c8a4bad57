"""Is the learner release generated, current, free of secrets and outputs, and are solutions
executed?"""

import json
import re
import shutil

import nbformat
import pytest
from conftest import REPO, copy_course, lessons

from autograder.build import build, find_leaks
from autograder.course import Course


@pytest.mark.slow
def test_committed_release_and_solutions_are_current(tmp_path):
    """`autograder build --check` on a copy of this course: nothing stale (deterministic build)."""
    report = build(Course.find(copy_course(tmp_path / "course")), check=True)
    assert report.lessons == lessons()
    assert report.stale == [], "run `autograder build` and commit notebooks/ and solutions/"


@pytest.mark.parametrize("lesson", lessons())
def test_release_has_no_outputs_solutions_or_hidden_tests(lesson):
    text = (REPO / "notebooks" / lesson / f"{lesson}.ipynb").read_text()
    for marker in (
        "BEGIN SOLUTION",
        "END SOLUTION",
        "BEGIN HIDDEN TESTS",
        "END HIDDEN TESTS",
        '"output_type"',
    ):
        assert marker not in text
    nb = nbformat.reads(text, as_version=4)
    assert all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("lesson", lessons())
def test_committed_notebooks_carry_no_machine_details(lesson):
    for folder in ("notebooks", "solutions"):
        text = (REPO / folder / lesson / f"{lesson}.ipynb").read_text()
        for pattern in (
            r"/home/\w+",
            r"/root/",
            r"/tmp/ipykernel",
            r"/work/",
            r'"execution": \{',
            r"\d{4}-\d\d-\d\dT\d\d:",
        ):
            assert not re.search(pattern, text), f"{folder}/{lesson}: {pattern}"


def test_solutions_show_the_seed_outputs():
    outputs = {}
    for lesson in lessons():
        nb = nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
        outputs[lesson] = json.dumps([c.get("outputs", []) for c in nb.cells])
    everything = " ".join(outputs.values())
    assert "tensor([[0.9975]])" in everything
    assert "tensor([[0.1392, 0.8420, 0.0188]])" in everything
    assert "image/png" in outputs[lessons()[0]], "the first lesson plots the sigmoid"


def test_solutions_hide_the_hidden_tests():
    for lesson in lessons():
        assert (
            "BEGIN HIDDEN TESTS"
            not in (REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text()
        )


def test_leak_check_finds_a_solution_line_in_the_release(tmp_path):
    course = Course.find(copy_course(tmp_path / "course"))
    lesson = lessons()[0]
    source = nbformat.read(course.source_notebook(lesson, lesson), as_version=4)
    answer = next(c for c in source.cells if "### BEGIN SOLUTION" in c.source)
    secret = next(
        line.strip()
        for line in answer.source.splitlines()
        if len(line.strip()) >= 12
        and "###" not in line
        and not line.strip().startswith("#")
        and line.strip() not in _public_lines(source)
    )
    release = tmp_path / "release"
    shutil.copytree(course.release, release)
    path = release / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert find_leaks(course, release) == []
    nb.cells.append(nbformat.v4.new_code_cell(secret))
    nbformat.write(nb, path)
    assert find_leaks(course, release) == [f"{lesson}/{lesson}.ipynb: {secret}"]


def _public_lines(nb):
    from autograder.lessons import split_secret

    return {line for c in nb.cells for line in split_secret(c.source)[1]}


@pytest.mark.slow
def test_text_printed_in_pieces_is_one_output_in_the_solution(tmp_path):
    """Does a cell whose text reaches the notebook in pieces give one output, every time?"""
    root = copy_course(tmp_path / "course")
    for folder in ("source", "notebooks", "solutions"):
        shutil.rmtree(root / folder)
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('print("first", flush=True)\nprint("second", flush=True)')]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    (root / "source" / "00-pieces").mkdir(parents=True)
    nbformat.write(nb, root / "source" / "00-pieces" / "00-pieces.ipynb")
    build(Course.find(root))
    solved = nbformat.read(root / "solutions" / "00-pieces" / "00-pieces.ipynb", as_version=4)
    outputs = solved.cells[0].outputs
    assert [(o.output_type, o.text) for o in outputs] == [("stream", "first\nsecond\n")]
