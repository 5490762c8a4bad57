"""Does every broken or misplaced submission get a status and a reason a learner can act on?"""
import json
import os

import nbformat
import pytest

from autograder.course import Course
from autograder.grading.intake import find_submissions, stage
from conftest import answered, lessons, release_notebook, submit

LESSON = lessons()[0]


def inspect(course_dir, student="learner"):
    subs = find_submissions(Course.find(course_dir), course_dir / "submitted", students=[student])
    assert len(subs) == 1, "one entry per expected notebook"
    return subs[0]


@pytest.mark.parametrize("content, words", [
    (b"", ["empty"]),
    (b'{"cells": [', ["damaged", "not valid JSON"]),
    (os.urandom(4096), ["not a notebook"]),
    ("{}".encode("utf-16"), ["not a notebook"]),
    (b"[1, 2, 3]", ["not a Jupyter notebook"]),
    (json.dumps({"cells": "nope", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode(), ["damaged"]),
])
def test_broken_files_are_ungradable_with_a_reason(course_dir, content, words):
    submit(course_dir, "learner", LESSON, content)
    sub = inspect(course_dir)
    assert sub.problem is not None
    for word in words:
        assert word.lower() in sub.problem.lower()


def test_huge_notebook_is_refused_with_a_way_out(course_dir):
    nb = release_notebook(LESSON)
    nb.cells[0].outputs = []
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (21 * 2**20)))
    submit(course_dir, "learner", LESSON, nb)
    problem = inspect(course_dir).problem
    assert "20 MB" in problem and "clear all outputs" in problem.lower()


def test_renamed_notebook_is_named_in_the_reason(course_dir):
    submit(course_dir, "learner", LESSON, answered(LESSON), name="my copy.ipynb")
    sub = inspect(course_dir)
    assert f"{LESSON}.ipynb" in sub.problem and "my copy.ipynb" in sub.problem and "rename" in sub.problem


def test_another_lessons_notebook_is_recognised(course_dir):
    others = lessons()[1:]
    if not others:
        pytest.skip("needs two lessons")
    submit(course_dir, "learner", LESSON, answered(others[0]), name=f"{others[0]}.ipynb")
    problem = inspect(course_dir).problem
    assert f"lesson `{others[0]}`" in problem and f"{LESSON}.ipynb" in problem


def test_missing_notebook_is_reported(course_dir):
    (course_dir / "submitted" / "learner" / LESSON).mkdir(parents=True)
    assert "missing" in inspect(course_dir).problem


def test_unknown_lesson_folder_is_reported(course_dir):
    submit(course_dir, "learner", "lesson-99", answered(LESSON), name="x.ipynb")
    assert "no lesson called `lesson-99`" in inspect(course_dir).problem


def test_deleted_and_duplicated_graded_cells_are_graded_with_a_note(course_dir):
    nb = answered(LESSON)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    nb.cells.remove(graded[0])
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(answer))))
    submit(course_dir, "learner", LESSON, nb)
    sub = inspect(course_dir)
    assert sub.gradable
    notes = " ".join(sub.notes)
    assert f"`{graded[0].metadata.nbgrader.grade_id}` is missing; was it deleted?" in notes
    assert f"`{answer.metadata.nbgrader.grade_id}` appears 2 times" in notes and "was graded" in notes


def test_nbformat_3_is_converted_and_graded(course_dir, tmp_path):
    v3 = nbformat.convert(answered(LESSON), 3)
    submit(course_dir, "learner", LESSON, nbformat.writes(v3, version=3).encode())
    sub = inspect(course_dir)
    assert sub.gradable
    stage([sub], tmp_path / "staged")
    staged = nbformat.read(tmp_path / "staged" / "learner" / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert staged.nbformat == 4


def test_only_the_expected_notebook_is_staged(course_dir, tmp_path):
    path = submit(course_dir, "learner", LESSON, answered(LESSON))
    (path.parent / "torch.py").write_text("raise SystemExit('shadowed')")
    (path.parent / "notes.ipynb").write_text("{}")
    stage([inspect(course_dir)], tmp_path / "staged")
    assert sorted(p.name for p in (tmp_path / "staged" / "learner" / LESSON).iterdir()) == [f"{LESSON}.ipynb"]


@pytest.mark.parametrize("student", ["*", "a?b", "[abc]", "-rf", "tab\tname", " padded"])
def test_a_learner_folder_nbgrader_would_read_as_a_pattern_is_refused_with_a_reason(course_dir, student):
    submit(course_dir, student, LESSON, answered(LESSON))
    submit(course_dir, "honest", LESSON, answered(LESSON))
    subs = {s.student: s for s in find_submissions(Course.find(course_dir), course_dir / "submitted")}
    assert subs["honest"].gradable
    assert not subs[student].gradable and "cannot be a learner id" in subs[student].problem


def test_an_old_notebook_without_cell_ids_is_upgraded_and_graded(course_dir, tmp_path):
    nb = nbformat.from_dict(answered(LESSON))
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
    folder = course_dir / "submitted" / "learner" / LESSON
    folder.mkdir(parents=True)
    (folder / f"{LESSON}.ipynb").write_text(json.dumps(nb))
    sub = inspect(course_dir)
    assert sub.gradable, sub.problem
    stage([sub], tmp_path / "staged")
    staged = nbformat.read(tmp_path / "staged" / "learner" / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert staged.nbformat_minor >= 5 and all(cell.get("id") for cell in staged.cells)
    nbformat.validate(staged)
