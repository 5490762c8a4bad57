"""The course folder: where it is, its nbgrader configuration and folders, its lessons."""

from __future__ import annotations

import copy
import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .errors import CourseError

CONFIG_FILE = "nbgrader_config.py"


@functools.cache
def alembic_head() -> str:
    """The schema revision nbgrader's migrations end at (what `alembic heads` prints)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = AlembicConfig()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def use_alembic_api() -> None:
    """nbgrader runs the `alembic` executable to learn the schema version when it creates a
    gradebook; make it call alembic's API instead (no subprocess, no PATH to set up)."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head


@dataclass
class Course:
    """A course folder holding nbgrader_config.py; folders come from nbgrader's CourseDirectory."""

    root: Path
    config: Config
    _coursedir: object = field(default=None, repr=False, compare=False)

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Course:
        """The course whose nbgrader_config.py is in `start` or the nearest folder above it."""
        here = Path(start or os.getcwd()).resolve()
        for folder in [here, *here.parents]:
            if (folder / CONFIG_FILE).is_file():
                return cls(folder, load_config(folder))
        raise CourseError(f"no {CONFIG_FILE} in {here} or any folder above it; pass --course DIR")

    @property
    def coursedir(self):
        """nbgrader's CourseDirectory for this course (its defaults, this course's settings)."""
        if self._coursedir is None:
            from nbgrader.coursedir import CourseDirectory

            config = copy.deepcopy(self.config)
            config.CourseDirectory.root = str(self.root)
            self._coursedir = CourseDirectory(config=config)
        return self._coursedir

    def folder(self, name: str) -> Path:
        """One of nbgrader's course folders by its setting name, e.g. 'submitted_directory'."""
        return self.root / getattr(self.coursedir, name)

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
        return self.coursedir.db_url

    @property
    def lessons(self) -> list[str]:
        """Assignment ids, one per folder of source/, in order."""
        if not self.source.is_dir():
            raise CourseError(f"{self.source} does not exist")
        return sorted(
            p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def notebooks(self, lesson: str) -> list[str]:
        """Notebook names (without .ipynb) of a lesson, as nbgrader will know them."""
        return sorted(p.stem for p in (self.source / lesson).glob("*.ipynb"))

    def source_notebook(self, lesson: str, notebook: str) -> Path:
        return self.source / lesson / f"{notebook}.ipynb"

    def lesson(self, lesson: str, notebook: str | None = None):
        """What the source notebook of `lesson` says (see lessons.Lesson)."""
        from .lessons import Lesson

        return Lesson(self.source_notebook(lesson, notebook or lesson))

    def answered(self, lesson: str, replace: dict[str, str] | None = None):
        """The learner release of `lesson` with the reference answers typed in, except `replace`."""
        import nbformat

        from .lessons import answered

        answers = dict(self.lesson(lesson).reference_answers(), **(replace or {}))
        return answered(
            nbformat.read(self.release / lesson / f"{lesson}.ipynb", as_version=4), answers
        )

    def instructor_files(self, lesson: str) -> list[str]:
        """The lesson's files besides its notebooks (data, helper modules), relative to its
        folder."""
        from nbgrader.utils import find_all_files

        folder = self.source / lesson
        ignore = list(self.coursedir.ignore) + ["*.ipynb"]
        return sorted(os.path.relpath(path, folder) for path in find_all_files(str(folder), ignore))

    def api(self, *, settings: dict | None = None, **coursedir):
        """nbgrader's API for this course; `coursedir` overrides CourseDirectory settings and
        `settings` other sections ({"Autograde": {"autograde_preprocessors": [...]}})."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        use_alembic_api()
        config = self.nbgrader_config(settings=settings, **coursedir)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel(logging.ERROR)
        return api

    def nbgrader_config(self, *, settings: dict | None = None, **coursedir) -> Config:
        """A copy of the course's configuration with some settings changed."""
        config = copy.deepcopy(self.config)
        config.CourseDirectory.root = str(self.root)
        for key, value in coursedir.items():
            setattr(config.CourseDirectory, key, value)
        for section, values in (settings or {}).items():
            for key, value in values.items():
                setattr(getattr(config, section), key, value)
        return config


def load_config(root: Path) -> Config:
    loader = PyFileConfigLoader(CONFIG_FILE, path=str(root))
    try:
        return upgraded(loader.load_config())
    except Exception as error:  # a broken config file is the instructor's to fix
        raise CourseError(
            f"{root / CONFIG_FILE} could not be read: {type(error).__name__}: {error}"
        ) from error


# Sections nbgrader's commands still read under older names (and say so), e.g. AutogradeApp.*
OUTDATED = {"NbGraderConfig", "BasicConfig", "BaseNbGraderApp", "BaseApp", "TransferApp",
            "BaseNbConvertApp", "NbGrader", "Exchange", "AutogradeApp", "GenerateAssignmentApp",
            "GenerateFeedbackApp"}  # fmt: skip


def upgraded(config: Config) -> Config:
    """`config` as nbgrader's autograde, generate_assignment and generate_feedback read it: their
    own code moves settings from outdated names to the current ones (with a warning)."""
    if OUTDATED.isdisjoint(config):
        return config
    from nbgrader.apps import AutogradeApp, GenerateAssignmentApp, GenerateFeedbackApp

    for app in (AutogradeApp, GenerateAssignmentApp, GenerateFeedbackApp):
        app(config=config)  # an nbgrader app rewrites the configuration it is given, in place
    return config
