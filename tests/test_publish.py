"""`autograder publish DIR`: is the learner-only copy complete, and does it hold nothing secret?"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, lessons

from autograder.course import Course, CourseError
from autograder.publish import MANIFEST, publish

LEARNER_FILES = {
    "README.md",
    "notebooks",
    "environment.yml",
    "pyproject.toml",
    "constraints.txt",
    "nbgrader_config.py",
    "autograder",
    MANIFEST,
}
BEGIN = re.compile(r"^\s*### BEGIN (SOLUTION|HIDDEN TESTS)\s*$")
END = re.compile(r"^\s*### END (SOLUTION|HIDDEN TESTS)\s*$")


def marked_lines(source_notebook: Path) -> tuple[set[str], set[str]]:
    """Lines between BEGIN and END markers of a source notebook, and all its other lines."""
    inside, outside = set(), set()
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        within = False
        for line in cell.source.splitlines():
            if BEGIN.match(line):
                within = True
            elif END.match(line):
                within = False
            elif line.strip():
                (inside if within else outside).add(line.strip())
    return inside, outside


def hidden_lines(sources: list[Path]) -> set[str]:
    """Lines only ever written between markers in `sources`; short or comment lines ("return z",
    "# YOUR CODE HERE") give nothing away."""
    inside, outside = set(), set()
    for path in sources:
        secret, public = marked_lines(path)
        inside |= secret
        outside |= public
    return {line for line in inside - outside if not line.startswith("#") and len(line) >= 12}


@pytest.fixture
def course_dir(course_dir) -> Path:
    """The course copy, with the environment files a clone of this repository has beside it."""
    for name in ("environment.yml", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, course_dir / name)
    return course_dir


@pytest.fixture
def published(course_dir, tmp_path) -> Path:
    target = tmp_path / "learner-repo"
    publish(Course.find(course_dir), target)
    return target


def test_publish_holds_no_solution_or_hidden_test_line(published, course_dir):
    """Does any line a learner must not see (solutions, hidden tests) reach any published file?"""
    secret = hidden_lines(sorted((course_dir / "source").glob("*/*.ipynb")))
    assert len(secret) > 50, "the source notebooks should hold many solution and hidden-test lines"
    found = []
    for path in (p for p in published.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":  # the cells' sources, as a reader of the notebook sees them
            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        found += [
            f"{path.relative_to(published)}: {line}"
            for line in {line.strip() for line in text.splitlines()} & secret
        ]
    assert not found, "\n".join(found)


def test_publish_is_the_learner_files_and_nothing_else(published):
    """Are the notebooks, the environment files, the package and a README there, and no source,
    solutions, tests or gradebook?"""
    assert {p.name for p in published.iterdir()} == LEARNER_FILES
    assert sorted(
        p.relative_to(published).as_posix() for p in (published / "notebooks").rglob("*.ipynb")
    ) == [f"notebooks/{lesson}/{lesson}.ipynb" for lesson in lessons()]
    for lesson in lessons():
        assert (published / "notebooks" / lesson / f"{lesson}.ipynb").read_bytes() == (
            REPO / "notebooks" / lesson / f"{lesson}.ipynb"
        ).read_bytes()
    for name in ("environment.yml", "pyproject.toml", "constraints.txt"):
        assert (published / name).read_bytes() == (REPO / name).read_bytes(), name
    readme = (published / "README.md").read_text()
    for lesson in lessons():
        assert f"(notebooks/{lesson}/{lesson}.ipynb)" in readme
    assert "pip install -c constraints.txt -e ." in readme


def test_learner_environment_built_from_the_publish_has_the_whole_package(published, tmp_path):
    """Does installing the publish give learners every module of `autograder` (`autograder check`,
    and any helper a test cell imports), as pip builds it from pyproject.toml?"""
    target = tmp_path / "site"
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(target),
        *offline,
        str(published),
    ]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    def files(package: Path) -> set[str]:
        return {
            p.relative_to(package).as_posix()
            for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    assert files(target / "autograder") == files(REPO / "autograder") - {"demo/sample_class.yml"}
    code = (
        "import autograder.check, autograder.cli, autograder.grading.batch, autograder.report;"
        " print(autograder.__file__)"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(target)},
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0 and str(target) in probe.stdout, probe.stderr[-2000:]


def test_a_planted_solution_line_stops_the_publish_and_writes_nothing(course_dir, tmp_path):
    """If a reference answer slipped into the release, is the publish refused with the line named,
    and is the target left as it was?"""
    lesson = lessons()[0]
    secret = max(hidden_lines([course_dir / "source" / lesson / f"{lesson}.ipynb"]), key=len)
    path = course_dir / "notebooks" / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source += "\n" + secret
    nbformat.write(nb, path)
    target = tmp_path / "learner-repo"
    (target / ".git").mkdir(parents=True)
    with pytest.raises(CourseError, match=re.escape(secret)):
        publish(Course.find(course_dir), target)
    assert [p.name for p in target.iterdir()] == [".git"]


def test_republish_replaces_its_own_files_and_keeps_the_rest(published, course_dir):
    """Can the publish be redone into the learner repository it made, keeping .git and files the
    course never wrote, and dropping a lesson that no longer exists?"""
    (published / ".git").mkdir()
    (published / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (published / "CODE_OF_CONDUCT.md").write_text("be kind\n")
    stale = published / "notebooks" / "00-gone" / "00-gone.ipynb"
    stale.parent.mkdir()
    stale.write_text("{}")
    manifest = json.loads((published / MANIFEST).read_text())
    manifest["files"].append("notebooks/00-gone/00-gone.ipynb")
    (published / MANIFEST).write_text(json.dumps(manifest))
    publish(Course.find(course_dir), published)
    assert (published / ".git" / "HEAD").is_file() and (published / "CODE_OF_CONDUCT.md").is_file()
    assert not stale.parent.exists()
    assert (published / "notebooks" / lessons()[0] / f"{lessons()[0]}.ipynb").is_file()


def test_publish_refuses_a_folder_it_did_not_write_or_the_course_itself(course_dir, tmp_path):
    """Is a non-empty folder without an earlier publish, or a folder inside the course, refused
    with a clear error and left untouched?"""
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(CourseError, match="not empty"):
        publish(Course.find(course_dir), other)
    assert [p.name for p in other.iterdir()] == ["thesis.tex"]
    with pytest.raises(CourseError, match="overlaps the course folder"):
        publish(Course.find(course_dir), course_dir / "public")
    assert not (course_dir / "public").exists()


def test_cli_publish(course_dir, tmp_path):
    """Does `autograder publish DIR` write the publish and say so?"""
    argv = [
        str(Path(sys.executable).parent / "autograder"),
        "--course",
        str(course_dir),
        "publish",
        str(tmp_path / "out"),
    ]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "published" in done.stdout and (tmp_path / "out" / "README.md").is_file()
