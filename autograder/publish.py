"""`autograder publish DIR`: the learner-only copy of the course, safe to make public.

This repository holds the hidden tests and reference solutions, so nothing public (Binder,
nbgitpuller links, a lesson site) may point at it. `publish` writes what learners may see into
DIR: the released notebooks, the environment files, this package (so a learner environment built
from DIR has `autograder check` and any helper a test cell imports), nbgrader's settings for the
Validate button, and a README for learners. The build's leak check runs on the result, and every
file written is scanned for solution and hidden-test lines of source/.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nbformat

from .build import find_leaks
from .course import CONFIG_FILE, Course
from .errors import CourseError
from .lessons import telling

MANIFEST = (
    ".autograder-publish.json"  # what the last publish wrote, so a republish replaces only that
)
ENVIRONMENT_FILES = ("environment.yml", "pyproject.toml", "constraints.txt")
PACKAGE = Path(__file__).resolve().parent
NOT_PUBLISHED = {"demo/sample_class.yml"}  # the demo's learners' answers
# Lines shorter than this, or comments, say nothing secret ("return z", "# YOUR CODE HERE").


def main(*, course: Course, target: str | Path) -> int:
    """Write the learner-only copy of `course` into `target`; print what was written."""
    written = publish(course, Path(target))
    print(f"published {len(written)} files for learners into {Path(target).resolve()}")
    return 0


def publish(course: Course, target: Path) -> list[str]:
    """Write the publish into `target` (empty, or an earlier publish); return its files."""
    target = target.resolve()
    _refuse_unsafe_target(course, target)
    previous = _previous_files(target)
    with tempfile.TemporaryDirectory(prefix="autograder-publish-") as tmp:
        staged = Path(tmp) / "publish"
        _stage(course, staged)
        leaks = find_leaks(course, staged / "notebooks") + scan_for_secrets(course, staged)
        if leaks:
            raise CourseError(
                "secret text would be published; nothing was written:\n" + "\n".join(leaks)
            )
        files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        target.mkdir(parents=True, exist_ok=True)
        for name in previous:
            (target / name).unlink(missing_ok=True)
        _remove_empty_folders(target, previous)
        for name in files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(staged / name, target / name)
    (target / MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n")
    return files


def _stage(course: Course, out: Path) -> None:
    """Lay out the publish in `out`."""
    release = course.release
    missing = [
        lesson for lesson in course.lessons if not (release / lesson / f"{lesson}.ipynb").is_file()
    ]
    if missing:
        raise CourseError(
            f"no learner release of {', '.join(missing)} in {release}; run `autograder build`"
        )
    out.mkdir(parents=True)
    for lesson in course.lessons:
        for notebook in course.notebooks(lesson):
            src = release / lesson / f"{notebook}.ipynb"
            (out / "notebooks" / lesson).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / "notebooks" / lesson / src.name)
    for name in ENVIRONMENT_FILES:
        if not (course.root / name).is_file():
            raise CourseError(
                f"{course.root / name} is missing: learners need it to build their environment"
            )
        shutil.copy2(course.root / name, out / name)
    shutil.copy2(course.root / CONFIG_FILE, out / CONFIG_FILE)  # Validate reads it; limits only
    for source in package_files():
        (out / "autograder" / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE / source, out / "autograder" / source)
    (out / "README.md").write_text(learner_readme(course), encoding="utf-8")


def package_files() -> list[Path]:
    """The files of this package a learner gets, relative to it: every module of every
    subpackage (`autograder check` runs the sandbox and the grader's side too) and the report's
    template; not the demo's sample class, whose learners' answers include right ones."""
    return sorted(
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(PACKAGE).as_posix() not in NOT_PUBLISHED
    )


def learner_readme(course: Course) -> str:
    """The README of the publish: what the lessons are and how to work through them."""
    lessons = []
    for lesson in course.lessons:
        nb = nbformat.read(course.release / lesson / f"{lesson}.ipynb", as_version=4)
        title = next(
            (
                line.lstrip("# ").strip()
                for cell in nb.cells
                if cell.cell_type == "markdown"
                for line in cell.source.splitlines()
                if line.startswith("# ")
            ),
            lesson,
        )
        lessons.append(f"{len(lessons) + 1}. [{title}](notebooks/{lesson}/{lesson}.ipynb)")
    return f"""# Activation functions with PyTorch: the lessons

{chr(10).join(lessons)}

Each lesson explains, then asks: fill in the cells that say `raise NotImplementedError()` and
run the test cell below each one. A passing test prints a ✓ line; a failing one says what is
wrong and what to try. The **Validate** button in JupyterLab's toolbar runs every test of the
saved notebook at once. Your course may also grade hidden tests (other inputs, batches, dtypes),
so answer the question asked rather than the visible example.

## Working on your own machine

```bash
python3 -m venv .venv
.venv/bin/pip install -c constraints.txt -e .
.venv/bin/jupyter lab notebooks/
```

Conda: `conda env create -f environment.yml && conda activate activation-functions`, then
`jupyter lab notebooks/`. Python 3.11 or 3.12; `constraints.txt` pins torch 2.13.0 (CPU) so
that you see the same numbers as the lessons.

From a terminal, `autograder check notebooks/01-lemur/01-lemur.ipynb` prints the verdict of
each visible test of a notebook.
"""


def scan_for_secrets(course: Course, folder: Path) -> list[str]:
    """Solution or hidden-test lines of source/ that appear in any text file under `folder`."""
    secret, public = set(), set()
    for lesson in course.lessons:
        for notebook in course.notebooks(lesson):
            inside, outside = course.lesson(lesson, notebook).region_lines()
            secret |= inside
            public |= outside
    secret = telling(secret, public)  # a line public in any lesson is published anyway
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        found = {line.strip() for line in text.splitlines()} & secret
        leaks += [f"{path.relative_to(folder)}: {line}" for line in sorted(found)]
    return leaks


def _refuse_unsafe_target(course: Course, target: Path) -> None:
    """A publish goes beside the course, never into or over it, and never over someone's files."""
    root = course.root.resolve()
    if target == root or target in root.parents or root in target.parents:
        raise CourseError(
            f"{target} overlaps the course folder {root}: publish into a folder outside it"
        )
    if target.exists() and not target.is_dir():
        raise CourseError(f"{target} is a file, not a folder")
    if target.is_dir() and not (target / MANIFEST).is_file():
        others = [p.name for p in target.iterdir() if p.name != ".git"]
        if others:
            raise CourseError(
                f"{target} is not empty and holds no earlier publish ({MANIFEST}); "
                "publish into an empty folder or a repository made by an earlier publish"
            )


def _previous_files(target: Path) -> list[str]:
    """Files the previous publish into `target` wrote (none for a new folder)."""
    manifest = target / MANIFEST
    if not manifest.is_file():
        return []
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise CourseError(
            f"{manifest} is damaged ({error}); remove it and the files it listed"
        ) from error
    safe = [
        f
        for f in files
        if isinstance(f, str) and ".." not in Path(f).parts and not Path(f).is_absolute()
    ]
    return [f for f in safe if (target / f).is_file() and not (target / f).is_symlink()]


def _remove_empty_folders(target: Path, files: list[str]) -> None:
    for folder in sorted(
        {p for f in files for p in Path(f).parents if p != Path(".")}, key=lambda p: -len(p.parts)
    ):
        path = target / folder
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
