"""What was submitted: find each learner's notebooks, and say plainly what is wrong with broken ones.

Every expected notebook of every submitted lesson folder becomes one `Submission`. A file that
cannot be graded (empty, not JSON, not UTF-8, renamed, another lesson's notebook, too large,
damaged structure) gets a reason written for the learner; the rest are copied, alone and
normalised to nbformat 4, into a staging folder that is all nbgrader ever reads. Nothing in the
learner's folder is modified.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Course

MAX_NOTEBOOK_BYTES = 20 * 1024**2


@dataclass
class Submission:
    student: str
    lesson: str
    notebook: str
    path: Path | None = None
    problem: str | None = None  # why it cannot be graded, for the learner
    notes: list[str] = field(default_factory=list)  # graded anyway, but worth saying

    @property
    def gradable(self) -> bool:
        return self.problem is None


def find_submissions(course: Course, submitted: Path, *, lessons: list[str] | None = None,
                     students: list[str] | None = None) -> list[Submission]:
    """One Submission per expected notebook of every <student>/<lesson>/ folder found."""
    known = course.lessons
    expected = {lesson: course.notebooks(lesson) for lesson in known}
    graded_ids = {(lesson, nb): _graded_ids(course.source_notebook(lesson, nb))
                  for lesson in known for nb in expected[lesson]}
    found: list[Submission] = []
    if not submitted.is_dir():
        return found
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if students and student_dir.name not in students:
            continue
        for lesson_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            lesson = lesson_dir.name
            if lessons and lesson not in lessons:
                continue
            if lesson not in expected:
                found.append(Submission(student_dir.name, lesson, "", lesson_dir,
                                        f"there is no lesson called `{lesson}` (lessons: {', '.join(known)}); "
                                        "submit your work in the folder of its lesson"))
                continue
            for notebook in expected[lesson]:
                found.append(_inspect(student_dir.name, lesson, notebook, lesson_dir, expected,
                                      graded_ids[(lesson, notebook)]))
    return found


def stage(submissions: list[Submission], staging: Path) -> None:
    """Copy each gradable notebook, normalised, to staging/<student>/<lesson>/<notebook>.ipynb."""
    for sub in submissions:
        if not sub.gradable:
            continue
        target = staging / sub.student / sub.lesson
        target.mkdir(parents=True, exist_ok=True)
        nb = _read(sub.path)
        (target / f"{sub.notebook}.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
        timestamp = sub.path.parent / "timestamp.txt"
        if timestamp.is_file() and timestamp.stat().st_size < 200:
            shutil.copy(timestamp, target / "timestamp.txt")


# --------------------------------------------------------------------------------- details

def _graded_ids(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution")]


def _inspect(student, lesson, notebook, folder, expected, graded_ids) -> Submission:
    sub = Submission(student, lesson, notebook)
    path = folder / f"{notebook}.ipynb"
    if not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        owners = {f"{nb}.ipynb": other for other, nbs in expected.items() for nb in nbs if other != lesson}
        if len(others) == 1 and others[0] in owners:
            sub.problem = (f"`{others[0]}` is the notebook of lesson `{owners[others[0]]}`, but it was submitted "
                           f"for lesson `{lesson}`; submit `{notebook}.ipynb` here instead")
        elif others:
            sub.problem = (f"expected a notebook named `{notebook}.ipynb` but found {', '.join(f'`{o}`' for o in others)}; "
                           f"rename your notebook back to `{notebook}.ipynb` and submit again")
        else:
            sub.problem = f"`{notebook}.ipynb` is missing from your submission"
        return sub
    sub.path = path
    sub.problem = _problem(path)
    if sub.problem is None:
        ids = Counter(c.metadata.get("nbgrader", {}).get("grade_id") for c in _read(path).cells
                      if "nbgrader" in c.metadata)
        for grade_id in graded_ids:
            if ids[grade_id] == 0:
                sub.notes.append(f"graded cell `{grade_id}` is missing; was it deleted? It was graded as empty")
            elif ids[grade_id] > 1:
                sub.notes.append(f"graded cell `{grade_id}` appears {ids[grade_id]} times; only the first copy was graded")
    return sub


def _problem(path: Path) -> str | None:
    """Why this file cannot be graded, in words a learner can act on; None if it can."""
    size = path.stat().st_size
    if size == 0:
        return "the notebook file is empty (0 bytes); open it in JupyterLab, save it, and submit again"
    if size > MAX_NOTEBOOK_BYTES:
        return (f"the notebook is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB limit; "
                "clear all outputs (Edit > Clear Outputs of All Cells), save, and submit again")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ("the file is not a notebook (it is not UTF-8 text; it may be damaged or another kind of file); "
                "download your notebook from JupyterLab again and submit that")
    try:
        data = json.loads(text)
    except ValueError as error:
        return (f"the notebook file is damaged: it is not valid JSON (line {getattr(error, 'lineno', '?')}); "
                "it may have been cut off while saving. Open it in JupyterLab; if it does not open, "
                "use File > Revert to checkpoint or redo the lesson from a fresh copy")
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return "the file is JSON but not a Jupyter notebook; submit the lesson's .ipynb file"
    try:
        nb = _read(path)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several kinds for damaged notebooks
        return (f"the notebook's structure is damaged ({type(error).__name__}); open it in JupyterLab, "
                "save it, and submit again")
    return None


def _read(path: Path) -> nbformat.NotebookNode:
    """Read any notebook version nbformat understands, as version 4."""
    return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
