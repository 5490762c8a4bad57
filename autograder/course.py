"""The course folder: where it is, its nbgrader configuration, its lessons."""
from __future__ import annotations

import copy
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"


class CourseError(RuntimeError):
    """Something about the course folder that the instructor has to fix."""


@dataclass
class Course:
    root: Path
    config: Config

    def __post_init__(self) -> None:
        put_alembic_on_path()  # every gradebook access needs it, not only the API's

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> "Course":
        """The course whose nbgrader_config.py is in `start` or the nearest folder above it."""
        here = Path(start or os.getcwd()).resolve()
        for folder in [here, *here.parents]:
            if (folder / CONFIG_FILE).is_file():
                return cls(folder, load_config(folder))
        raise CourseError(f"no {CONFIG_FILE} in {here} or any folder above it; pass --course DIR")

    # ---------------------------------------------------------------- folders
    def folder(self, name: str) -> Path:
        value = self.config.CourseDirectory.get(name, {"source_directory": "source",
                                                       "release_directory": "release",
                                                       "solution_directory": "solution",
                                                       "submitted_directory": "submitted",
                                                       "autograded_directory": "autograded",
                                                       "feedback_directory": "feedback"}[name])
        return self.root / value

    @property
    def source(self) -> Path:
        return self.folder("source_directory")

    @property
    def release(self) -> Path:
        return self.folder("release_directory")

    @property
    def solutions(self) -> Path:
        return self.folder("solution_directory")

    @property
    def db_url(self) -> str:
        return self.config.CourseDirectory.get("db_url", "sqlite:///" + str(self.root / "gradebook.db"))

    @property
    def lessons(self) -> list[str]:
        """Assignment ids, one per folder of source/, in order."""
        if not self.source.is_dir():
            raise CourseError(f"{self.source} does not exist")
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith("."))

    def notebooks(self, lesson: str) -> list[str]:
        """Notebook names (without .ipynb) of a lesson, as nbgrader will know them."""
        return sorted(p.stem for p in (self.source / lesson).glob("*.ipynb"))

    def source_notebook(self, lesson: str, notebook: str) -> Path:
        return self.source / lesson / f"{notebook}.ipynb"

    def exercises(self, lesson: str) -> dict[str, str]:
        """grade_id -> reference answer (solution markers removed) of each answer cell, in order."""
        import nbformat
        source = nbformat.read(self.source_notebook(lesson, lesson), as_version=4)
        return {c.metadata["nbgrader"]["grade_id"]: _without_markers(c.source) for c in source.cells
                if c.metadata.get("nbgrader", {}).get("solution")}

    def answered(self, lesson: str, replace: dict[str, str] | None = None):
        """The learner release of `lesson` with the reference answers typed in, except `replace`."""
        import nbformat
        answers = dict(self.exercises(lesson), **(replace or {}))
        nb = nbformat.read(self.release / lesson / f"{lesson}.ipynb", as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = _without_markers(answers[grade_id])
        return nb

    # ------------------------------------------------------------------ nbgrader
    def api(self, *, settings: dict | None = None, **coursedir) -> "NbGraderAPI":  # noqa: F821
        """nbgrader's API for this course; `coursedir` overrides CourseDirectory settings and
        `settings` other sections ({"Autograde": {"autograde_preprocessors": [...]}})."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        config = copy.deepcopy(self.config)
        config.CourseDirectory.root = str(self.root)
        for key, value in coursedir.items():
            setattr(config.CourseDirectory, key, value)
        for section, values in (settings or {}).items():
            for key, value in values.items():
                setattr(getattr(config, section), key, value)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel(logging.ERROR)
        return api


def _without_markers(code: str) -> str:
    return "\n".join(line for line in code.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def load_config(root: Path) -> Config:
    loader = PyFileConfigLoader(CONFIG_FILE, path=str(root))
    return loader.load_config()


def put_alembic_on_path() -> None:
    """nbgrader runs the `alembic` executable for the gradebook; a venv need not be activated."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if shutil.which("alembic") is None and scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + path
