"""Does every broken or misplaced submission get a status and a reason a learner can act on?"""

import json
import os

import nbformat
import pytest
from conftest import answered, lessons, release_notebook, submit

from autograder.course import Course
from autograder.grading.intake import find_submissions, stage

LESSON = lessons()[0]


def inspect(course_dir, student="learner"):
    subs = find_submissions(Course.find(course_dir), course_dir / "submitted", students=[student])
    assert len(subs) == 1, "one entry per expected notebook"
    return subs[0]


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["empty"]),
        (b'{"cells": [', ["damaged", "not valid JSON"]),
        (os.urandom(4096), ["not a notebook"]),
        ("{}".encode("utf-16"), ["not a notebook"]),
        (b"[1, 2, 3]", ["not a Jupyter notebook"]),
        (
            json.dumps(
                {"cells": "nope", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            ).encode(),
            ["damaged"],
        ),
    ],
)
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
    assert (
        f"{LESSON}.ipynb" in sub.problem
        and "my copy.ipynb" in sub.problem
        and "rename" in sub.problem
    )


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
    assert (
        f"`{answer.metadata.nbgrader.grade_id}` appears 2 times" in notes and "was graded" in notes
    )


def test_nbformat_3_is_converted_and_graded(course_dir, tmp_path):
    v3 = nbformat.convert(answered(LESSON), 3)
    submit(course_dir, "learner", LESSON, nbformat.writes(v3, version=3).encode())
    sub = inspect(course_dir)
    assert sub.gradable
    stage([sub], tmp_path / "staged")
    staged = nbformat.read(
        tmp_path / "staged" / "learner" / LESSON / f"{LESSON}.ipynb", as_version=4
    )
    assert staged.nbformat == 4


def test_only_the_expected_notebook_is_staged(course_dir, tmp_path):
    path = submit(course_dir, "learner", LESSON, answered(LESSON))
    (path.parent / "torch.py").write_text("raise SystemExit('shadowed')")
    (path.parent / "notes.ipynb").write_text("{}")
    stage([inspect(course_dir)], tmp_path / "staged")
    assert sorted(p.name for p in (tmp_path / "staged" / "learner" / LESSON).iterdir()) == [
        f"{LESSON}.ipynb"
    ]


@pytest.mark.parametrize("student", ["*", "a?b", "[abc]", "-rf", "tab\tname", " padded"])
def test_a_learner_folder_nbgrader_would_read_as_a_pattern_is_refused_with_a_reason(
    course_dir, student
):
    submit(course_dir, student, LESSON, answered(LESSON))
    submit(course_dir, "honest", LESSON, answered(LESSON))
    subs = {
        s.student: s for s in find_submissions(Course.find(course_dir), course_dir / "submitted")
    }
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
    staged = nbformat.read(
        tmp_path / "staged" / "learner" / LESSON / f"{LESSON}.ipynb", as_version=4
    )
    assert staged.nbformat_minor >= 5 and all(cell.get("id") for cell in staged.cells)
    nbformat.validate(staged)


def test_a_missing_notebook_of_a_two_notebook_lesson_is_not_blamed_on_the_other(course_dir):
    """Submitting one of a lesson's two notebooks: the other is missing, nothing needs renaming."""
    source = course_dir / "source" / LESSON
    (source / "extra.ipynb").write_text((source / f"{LESSON}.ipynb").read_text())
    submit(course_dir, "learner", LESSON, answered(LESSON))
    found = find_submissions(Course.find(course_dir), course_dir / "submitted")
    subs = {s.notebook: s for s in found}
    assert subs[LESSON].gradable
    assert subs["extra"].problem == "`extra.ipynb` is missing from your submission"


def set_kernel(path, language):
    nb = nbformat.read(path, as_version=4)
    if language is None:
        nb.metadata.pop("kernelspec", None)
    else:
        nb.metadata.kernelspec = {
            "display_name": language,
            "language": language,
            "name": language.lower(),
        }
    nbformat.write(nb, path)


def test_the_lessons_kernel_is_the_one_that_counts_as_in_nbgrader(course_dir):
    """nbgrader runs a submission with its source notebook's kernel, whatever the learner saved."""
    set_kernel(submit(course_dir, "learner", LESSON, answered(LESSON)), "R")
    assert inspect(course_dir).gradable


def test_a_notebook_for_another_language_is_refused_with_a_way_out(course_dir):
    set_kernel(course_dir / "source" / LESSON / f"{LESSON}.ipynb", None)
    set_kernel(submit(course_dir, "learner", LESSON, answered(LESSON)), "R")
    sub = inspect(course_dir)
    assert "`R` kernel" in sub.problem and "Change Kernel" in sub.problem and not sub.grader_error


def test_a_lesson_in_another_language_is_the_instructors_to_know(course_dir):
    set_kernel(course_dir / "source" / LESSON / f"{LESSON}.ipynb", "Julia")
    submit(course_dir, "learner", LESSON, answered(LESSON))
    sub = inspect(course_dir)
    assert sub.grader_error and "Julia" in sub.detail and "Julia" not in sub.problem


def test_learners_nbgrader_is_told_to_exclude_are_not_graded(course_dir):
    with open(course_dir / "nbgrader_config.py", "a") as config:
        config.write("\nc.CourseDirectory.student_id_exclude = 'teacher,tester'\n")
    for student in ("learner", "teacher", "tester"):
        submit(course_dir, student, LESSON, answered(LESSON))
    found = find_submissions(Course.find(course_dir), course_dir / "submitted")
    assert [s.student for s in found] == ["learner"]


def test_an_empty_timestamp_is_kept_and_read_as_none(course_dir, tmp_path):
    """As nbgrader: the file is copied, no late penalty, and nothing to tell the learner."""
    path = submit(course_dir, "learner", LESSON, answered(LESSON))
    (path.parent / "timestamp.txt").write_text("  \n")
    sub = inspect(course_dir)
    assert sub.notes == []
    stage([sub], tmp_path / "staged")
    assert (tmp_path / "staged" / "learner" / LESSON / "timestamp.txt").read_text() == ""


def test_graded_cells_put_back_from_an_old_release_get_cell_ids(course_dir, tmp_path):
    """A release saved as nbformat 4.0 (no cell ids), an empty submission: all cells put back."""
    release = course_dir / "notebooks" / LESSON / f"{LESSON}.ipynb"
    nb = nbformat.read(release, as_version=4)
    nb.nbformat_minor = 0
    for cell in nb.cells:
        cell.pop("id", None)
    release.write_text(json.dumps(nb))
    submit(course_dir, "learner", LESSON, nbformat.v4.new_notebook())
    sub = inspect(course_dir)
    assert sub.gradable and sub.notes, sub.problem
    stage([sub], tmp_path / "staged")
    staged = tmp_path / "staged" / "learner" / LESSON / f"{LESSON}.ipynb"
    nbformat.validate(nbformat.read(staged, as_version=4))
