"""Does the command line speak one way: errors as one line and exit 2, --version, --course
anywhere?"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import answered, copy_course, lessons, submit

from autograder import __version__
from autograder.cli import main

AUTOGRADER = str(Path(sys.executable).parent / "autograder")


def test_version_is_printed(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and __version__ in capsys.readouterr().out


def test_a_course_error_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["grade", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autograder: no nbgrader_config.py") and err.count("\n") == 1
    assert "Traceback" not in err


def test_course_is_accepted_before_and_after_the_subcommand(tmp_path, capsys):
    course = copy_course(tmp_path / "course")
    for argv in (
        ["--course", str(course), "grade", "-a", "99-nope"],
        ["grade", "-a", "99-nope", "--course", str(course)],
    ):
        assert main(argv) == 2
        assert "no such lesson: 99-nope" in capsys.readouterr().err  # the course was found and read


def test_grade_and_check_agree_on_a_right_answer(tmp_path, capsys):
    """The fast loop's end-to-end check: one notebook graded, and the same notebook checked."""
    course = copy_course(tmp_path / "course")
    first = lessons()[0]
    path = submit(course, "ada", first, answered(first))
    assert main(["grade", "--course", str(course), "--jobs", "1", "--no-feedback"]) == 0
    entry = json.loads((course / "grades.json").read_text())["submissions"][0]
    assert entry["status"] == "graded" and entry["score"] == entry["max_score"] > 0
    capsys.readouterr()
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert all(f"✓ {t['grade_id']}" in out for t in entry["tests"])


def test_unknown_lesson_is_refused_with_the_known_ones(tmp_path, capsys):
    course = copy_course(tmp_path / "course")
    assert main(["grade", "--course", str(course), "--assignment", "99-nope"]) == 2
    err = capsys.readouterr().err
    assert "no such lesson: 99-nope" in err and lessons()[0] in err


def test_verbose_shows_the_traceback_of_an_instructor_error(tmp_path, capsys):
    assert main(["grade", "-v", "--course", str(tmp_path)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_check_of_a_missing_notebook_is_a_clear_error(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


@pytest.mark.slow
def test_grade_exits_non_zero_when_a_notebook_hit_a_grader_error(tmp_path):
    """A course whose grading process cannot start: every notebook is a grader error, exit 1."""
    course = copy_course(tmp_path / "course")
    first = lessons()[0]
    submit(course, "ada", first, answered(first))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(
            '\nc.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute", '
            '"no_such_module.Preprocessor"]\n'
        )
    run = subprocess.run(
        [AUTOGRADER, "grade", "--course", str(course), "--jobs", "1"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, (run.stdout[-2000:], run.stderr[-2000:])
    assert "hit a grader error" in run.stdout and "ada" in run.stdout
