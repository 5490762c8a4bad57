"""Does `autograder grade` turn a class folder into agreeing grades, feedback and CSV,
repeatably?"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    REPO,
    answered,
    copy_course,
    grades,
    lessons,
    release_notebook,
    submit,
)
from nbgrader.api import Gradebook

from autograder.course import Course
from autograder.grading.batch import grade_class

pytestmark = pytest.mark.slow
FIRST, LAST = lessons()[0], lessons()[-1]


def gradebook_rows(course: Path) -> dict:
    """(student, lesson, grade_id) -> (auto_score, max_score) for every grade in the gradebook."""
    rows = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        rows[(submission.student.id, assignment.name, grade.name)] = (
                            grade.auto_score,
                            grade.max_score,
                        )
    return rows


def wrong_answer(lesson):
    """The first known-wrong variant of the lesson, as (exercise, code)."""
    from known_answers import variants

    variant = next(v for v in variants(lesson) if v["kind"] == "wrong")
    return variant


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("grade") / "course")
    for lesson in (FIRST, LAST):
        submit(course, "alice", lesson, answered(lesson))
    submit(course, "bob", FIRST, release_notebook(FIRST))
    variant = wrong_answer(LAST)
    submit(course, "bob", LAST, answered(LAST, {variant["exercise"]: variant["code"]}))
    submit(course, "carol", FIRST, b"\x89PNG\r\n\x1a\n not a notebook")
    submit(course, "dave", LAST, answered(LAST), name="Copy1.ipynb")
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "autograder"),
            "--course",
            str(course),
            "grade",
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    course.joinpath("first-run.txt").write_text(run.stdout)
    return course


def test_every_notebook_found_appears_once_with_a_status(course):
    data = json.loads((course / "grades.json").read_text())["submissions"]
    keys = [(s["student"], s["assignment"], s["notebook"]) for s in data]
    assert sorted(keys) == sorted(
        {
            ("alice", FIRST, FIRST),
            ("alice", LAST, LAST),
            ("bob", FIRST, FIRST),
            ("bob", LAST, LAST),
            ("carol", FIRST, FIRST),
            ("dave", LAST, LAST),
        }
    )
    by = grades(course)
    assert by[("alice", FIRST)]["score"] == by[("alice", FIRST)]["max_score"] > 0
    assert by[("bob", FIRST)]["score"] == 0
    assert (
        by[("carol", FIRST)]["status"] == "ungradable"
        and "not a notebook" in by[("carol", FIRST)]["reason"]
    )
    assert (
        by[("dave", LAST)]["status"] == "ungradable"
        and "Copy1.ipynb" in by[("dave", LAST)]["reason"]
    )


def test_known_mistake_costs_exactly_its_tests(course):
    variant = wrong_answer(LAST)
    bob = grades(course)[("bob", LAST)]
    lost = {t["grade_id"] for t in bob["tests"] if not t["passed"]}
    assert lost == set(variant["fails"])
    assert bob["score"] == bob["max_score"] - sum(
        t["max_points"] for t in bob["tests"] if t["grade_id"] in lost
    )


def test_grades_json_gradebook_and_csv_agree(course):
    by = grades(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for (student, lesson), entry in by.items():
            if entry["status"] == "graded":
                assert gb.find_submission(lesson, student).score == pytest.approx(entry["score"])
                for test in entry["tests"]:
                    grade = gb.find_grade(test["grade_id"], lesson, lesson, student)
                    assert grade.score == pytest.approx(test["points"])
    with open(course / "grades.csv") as f:
        for row in csv.DictReader(f):
            entry = by.get((row["student_id"], row["assignment"]))
            expected = entry["score"] if entry and entry["status"] == "graded" else 0.0
            assert float(row["score"]) == pytest.approx(expected), row


def test_feedback_has_the_messages_and_no_hidden_tests(course):
    html = (course / "feedback" / "bob" / LAST / f"{LAST}.html").read_text()
    failing = [t for t in grades(course)[("bob", LAST)]["tests"] if not t["passed"]]
    assert failing and all(_html_text(t["message"][:40]) in html for t in failing)
    hidden = _hidden_lines(LAST)
    assert hidden and not [line for line in hidden if _html_text(line) in html]
    assert not (course / "feedback" / "carol").exists()


def test_summary_names_the_ungradable_and_the_outputs(course):
    out = (course / "first-run.txt").read_text()
    assert "ungradable" in out and "carol" in out and "grades.json" in out and "feedback" in out


def test_grading_ends_with_where_the_class_report_is(course):
    """Does `autograder grade` write the class report and say where, in one line of its summary?"""
    report = course / "report" / "index.html"
    out = (course / "first-run.txt").read_text().splitlines()
    lines = [line for line in out if line.strip().startswith("report ")]
    assert lines == [f"  report      {report}"]
    assert report.is_file() and "carol" in report.read_text()


@pytest.fixture
def own_copy(course, tmp_path):
    """A copy of the graded class for a test that changes it: the shared class stays as graded."""
    import shutil

    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    return copy


def test_grading_again_changes_nothing(own_copy):
    course = own_copy
    before = (course / "grades.json").read_text(), gradebook_rows(course)
    grade_class(course=Course.find(course), jobs=2)
    assert (course / "grades.json").read_text() == before[0]
    assert gradebook_rows(course) == before[1]


def test_regrading_one_learner_leaves_the_others_alone(own_copy):
    course = own_copy
    others = {k: v for k, v in gradebook_rows(course).items() if k[0] != "bob"}
    submit(course, "bob", FIRST, answered(FIRST))
    grade_class(course=Course.find(course), students=["bob"], jobs=2)
    rows = gradebook_rows(course)
    assert {k: v for k, v in rows.items() if k[0] != "bob"} == others
    bob = grades(course)[("bob", FIRST)]
    assert bob["score"] == bob["max_score"], "the new submission was graded"
    assert ("alice", FIRST) in grades(course), "grades.json still lists the learners not regraded"


def test_a_submission_broken_on_resubmission_keeps_no_stale_grades(own_copy):
    course = own_copy
    submit(course, "alice", FIRST, b"")
    grade_class(course=Course.find(course), students=["alice"], assignments=[FIRST], jobs=1)
    entry = grades(course)[("alice", FIRST)]
    assert entry["status"] == "ungradable" and "empty" in entry["reason"]
    assert not [k for k in gradebook_rows(course) if k[:2] == ("alice", FIRST)]
    assert not (course / "autograded" / "alice" / FIRST).exists()


def _hidden_lines(lesson):
    """Hidden-test lines that appear nowhere public in the lesson (so seeing one is a leak)."""
    from autograder.lessons import Lesson

    return Lesson(REPO / "source" / lesson / f"{lesson}.ipynb").hidden_test_lines()


def _html_text(text):
    import html

    return html.escape(text, quote=False)


def test_grades_json_follows_its_published_schema(course):
    import jsonschema
    from conftest import REPO

    schema = json.loads((REPO / "docs" / "grades.schema.json").read_text())
    document = json.loads((course / "grades.json").read_text())
    jsonschema.validate(document, schema)
    assert document["submissions"], "the schema check saw real entries"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "schema_version": 1}, schema)


def test_a_test_cell_that_cannot_cross_the_sandbox_is_reported_to_the_instructor_only(tmp_path):
    """A test cell that rebinds a learner's function: learner code would not see it, so grading says
    so in the summary and the log, with the cell, and not in what the learner reads."""
    import html

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    def cell(source, **nbgrader):
        made = new_code_cell(source)
        made.metadata["nbgrader"] = dict(schema_version=3, locked=False, **nbgrader)
        return made

    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    answer = "def squares(n):\n    return [i * i for i in range(1, n + 1)]"
    stub = "def squares(n):\n    return []\nprint('stubbed')"
    nb = new_notebook(
        cells=[
            cell(answer, grade=False, solution=True, grade_id="answer"),
            cell(stub, grade=True, solution=False, grade_id="check", points=1),
        ]
    )
    nb.cells[1]["id"] = "stubbing-cell"
    nbformat.write(nb, course / "source" / "ps1" / "p1.ipynb")
    submit(course, "ann", "ps1", nb, name="p1.ipynb")
    command = [str(Path(sys.executable).parent / "autograder"), "--course", str(course), "grade"]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = " ".join(run.stdout.split())  # as printed, wrapped to the terminal's width
    note = "a name in the learner's kernel"
    assert "For you, not the learners" in summary and "stubbing-cell" in summary and note in summary
    assert "stubbing-cell" in run.stderr and note in run.stderr  # the worker's log
    assert note not in (course / "grades.json").read_text()
    assert note not in html.unescape((course / "feedback" / "ann" / "ps1" / "p1.html").read_text())
