"""Grades into an LMS: `nbgrader export --exporter=autograder.lms.CanvasExportPlugin`.

A real nbgrader gradebook is filled through nbgrader's API with known scores, then nbgrader's own
`export` command runs the plugin; the CSV is read back with the csv module and compared with what
those scores must give.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from nbgrader.api import Gradebook

from autograder.course import use_alembic_api

NBGRADER = str(Path(sys.executable).parent / "nbgrader")
EXPORTER = "autograder.lms.CanvasExportPlugin"
LESSONS = {
    "01-lemur": {"a": 2.0, "b": 3.0},
    "02-sigmoid": {"c": 4.5},
}  # lesson -> test cell -> points
# What each learner scored, per test cell; a learner absent from a lesson never submitted it.
SCORES = {
    "ada": {"01-lemur": {"a": 2.0, "b": 1.0}, "02-sigmoid": {"c": 4.5}},
    "zed": {"01-lemur": {"a": 0.0, "b": 3.0}},  # in the gradebook, not on the roster
    "eve": {"02-sigmoid": {"c": 0.5}},  # her LMS name is a spreadsheet formula
    "bo": {},  # in the gradebook (nbgrader db student add), never submitted
}
ROSTER = [
    {
        "student_id": "ada",
        "login_id": "ada.lovelace@uni.example",
        "name": "Ada Lovelace",
        "section": "A",
    },
    {
        "student_id": "cy",
        "login_id": "cy@uni.example",
        "name": "Cy Young",
        "section": "B",
    },  # no submissions
    {"student_id": "bo", "login_id": "bo@uni.example", "name": "Bo", "section": "A"},
    {
        "student_id": "eve",
        "login_id": "eve@uni.example",
        "name": '=HYPERLINK("http://x.example","hi")',
        "section": "@B",
    },
]


@pytest.fixture
def gradebook(tmp_path) -> str:
    """A gradebook with the two lessons and the scores above, made through nbgrader's API."""
    use_alembic_api()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        for lesson, cells in LESSONS.items():
            gb.add_assignment(lesson)
            gb.add_notebook(lesson, lesson)
            for cell, points in cells.items():
                gb.add_grade_cell(cell, lesson, lesson, max_score=points, cell_type="code")
        for student, lessons in SCORES.items():
            gb.add_student(student)
            for lesson, cells in lessons.items():
                gb.add_submission(lesson, student)
                for cell, score in cells.items():
                    grade = gb.find_grade(cell, lesson, lesson, student)
                    grade.auto_score = score
                gb.db.commit()
    return url


def write_roster(
    path: Path, rows: list[dict], header=("student_id", "login_id", "name", "section")
) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    return path


def export(tmp_path: Path, db: str, dest: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [NBGRADER, "export", f"--exporter={EXPORTER}", f"--db={db}", f"--to={dest}", *extra]
    return subprocess.run(
        argv, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=300
    )


def read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_one_row_per_learner_one_column_per_lesson_keyed_by_login(tmp_path, gradebook):
    """Does every learner on the roster or in the gradebook get one row, under their LMS login, with
    each lesson's score (0 where nothing was submitted), and the points possible below the
    header?"""
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    dest = tmp_path / "canvas.csv"
    done = export(tmp_path, gradebook, dest, f"--CanvasExportPlugin.roster={roster}")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read(dest)
    assert rows[0] == ["Student", "SIS Login ID", "Section", "01-lemur", "02-sigmoid"]
    assert rows[1] == ["Points Possible", "", "", "5", "4.5"]
    assert rows[2:] == [
        ["Ada Lovelace", "ada.lovelace@uni.example", "A", "3", "4.5"],
        ["Cy Young", "cy@uni.example", "B", "0", "0"],
        ["Bo", "bo@uni.example", "A", "0", "0"],
        ['\'=HYPERLINK("http://x.example","hi")', "eve@uni.example", "'@B", "0", "0.5"],
        ["zed", "zed", "", "3", "0"],
    ]
    assert "not on the roster" in done.stderr and "zed" in done.stderr, done.stderr[-2000:]


def test_without_a_roster_the_nbgrader_id_is_the_login(tmp_path, gradebook):
    """Without a roster, is every gradebook learner exported under their nbgrader id, silently?"""
    dest = tmp_path / "canvas.csv"
    done = export(tmp_path, gradebook, dest, "--assignment=['02-sigmoid']")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read(dest)
    assert rows[0] == ["Student", "SIS Login ID", "Section", "02-sigmoid"]
    assert sorted(rows[2:]) == sorted(
        [
            ["ada", "ada", "", "4.5"],
            ["zed", "zed", "", "0"],
            ["eve", "eve", "", "0.5"],
            ["bo", "bo", "", "0"],
        ]
    )
    assert "not on the roster" not in done.stderr


def test_a_learner_id_that_is_a_formula_is_neutralised(tmp_path):
    """Is an nbgrader id (an OS or LMS user name, so learner-chosen) that a spreadsheet would run
    as a formula written as text?"""
    use_alembic_api()
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.add_assignment("01-lemur")
        for sid in ("+1", "-2+3", "=cmd|' /C calc'!A0"):
            gb.add_student(sid)
    dest = tmp_path / "canvas.csv"
    assert export(tmp_path, db, dest).returncode == 0
    keys = {row[1] for row in read(dest)[2:]}
    assert keys == {"'+1", "'-2+3", "'=cmd|' /C calc'!A0"}


@pytest.mark.parametrize(
    "roster_rows, header, complaint",
    [
        (
            [{"student_id": "ada", "name": "Ada"}],
            ("student_id", "name"),
            "missing column(s) login_id",
        ),
        (
            [{"student_id": "ada", "login_id": "a"}, {"student_id": "ada", "login_id": "b"}],
            ("student_id", "login_id"),
            "student_id 'ada' appears twice",
        ),
        (
            [{"student_id": "ada", "login_id": "a"}, {"student_id": "bo", "login_id": "a"}],
            ("student_id", "login_id"),
            "login_id 'a' is also 'ada'",
        ),
        (
            [{"student_id": "ada", "login_id": ""}],
            ("student_id", "login_id"),
            "must both be filled in",
        ),
    ],
)
def test_a_bad_roster_is_refused_and_the_last_export_survives(
    tmp_path, gradebook, roster_rows, header, complaint
):
    """Does a roster the export cannot trust stop it with a message saying what to fix, leaving an
    earlier export untouched?"""
    roster = write_roster(tmp_path / "roster.csv", roster_rows, header)
    dest = tmp_path / "canvas.csv"
    dest.write_text("the export from last week\n")
    done = export(tmp_path, gradebook, dest, f"--CanvasExportPlugin.roster={roster}")
    assert done.returncode != 0
    assert complaint in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert dest.read_text() == "the export from last week\n"


def test_a_missing_roster_is_named(tmp_path, gradebook):
    done = export(
        tmp_path, gradebook, tmp_path / "canvas.csv", "--CanvasExportPlugin.roster=nowhere.csv"
    )
    assert done.returncode != 0 and "no roster at nowhere.csv" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "canvas.csv").exists()


def test_readme_gives_the_tested_command():
    readme = (REPO / "README.md").read_text()
    assert f"--exporter={EXPORTER}" in readme and "--CanvasExportPlugin.roster=" in readme
