"""What was submitted: find each learner's notebooks, say plainly what is wrong, repair the
structure.

Every expected notebook of every submitted lesson folder becomes one `Submission`. A file that
cannot be graded (empty, not JSON, not UTF-8, a link, renamed, another lesson's notebook, too
large, damaged) gets a reason written for the learner. The rest are read once, their graded
cells checked against the learner release (metadata restored, duplicates and impostors
demoted to ordinary cells, deleted ones put back empty, each with a note), and written alone,
as nbformat 4.5, into a staging folder that is all nbgrader ever reads. Nothing in the
learner's folder is modified, and nothing in one submission can stop the others from being read:
whatever goes wrong with one notebook makes that notebook ungradable, with a reason.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..course import Course

MAX_NOTEBOOK_BYTES = 20 * 1024**2
UNREADABLE = ("the grader could not read this notebook because of an error on its side; your "
              "instructor has the details and will grade it")  # fmt: skip


@dataclass
class Submission:
    student: str
    lesson: str
    notebook: str
    problem: str | None = None  # why it cannot be graded, for the learner
    notes: list[str] = field(default_factory=list)  # graded anyway, but worth saying
    staged: nbformat.NotebookNode | None = field(
        default=None, repr=False
    )  # what nbgrader will grade
    timestamp: str | None = None
    secret: str | None = field(
        default=None, repr=False
    )  # nbgrader's submission_secret.txt, for feedback
    detail: str | None = None  # for the instructor: what went wrong on the grader's side
    grader_error: bool = False

    @property
    def gradable(self) -> bool:
        return self.problem is None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.student, self.lesson, self.notebook)


def find_submissions(
    course: Course,
    submitted: Path,
    *,
    lessons: list[str] | None = None,
    students: list[str] | None = None,
) -> list[Submission]:
    """One Submission per expected notebook of every <student>/<lesson>/ folder found."""
    known = course.lessons
    expected = {lesson: course.notebooks(lesson) for lesson in known}
    excluded = set(course.coursedir.student_id_exclude.split(",")) - {""}  # nbgrader's setting
    found: list[Submission] = []
    if not submitted.is_dir():
        return found
    for student_dir in sorted(
        p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        if students and student_dir.name not in students or student_dir.name in excluded:
            continue
        for lesson_dir in sorted(
            p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            lesson = lesson_dir.name
            if lessons and lesson not in lessons:
                continue
            refused = unusable_name(student_dir.name)
            if refused and lesson in expected:
                found += [
                    Submission(student_dir.name, lesson, notebook, refused)
                    for notebook in expected[lesson]
                ]
                continue
            if lesson not in expected:
                found.append(Submission(
                    student_dir.name, lesson, "",
                    f"there is no lesson called `{lesson}` (lessons: {', '.join(known)}); "
                    "submit your work in the folder of its lesson"))  # fmt: skip
                continue
            for notebook in expected[lesson]:
                found.append(
                    _inspect_safely(
                        course, student_dir.name, lesson, notebook, lesson_dir, expected
                    )
                )
    return found


def unusable_name(name: str) -> str | None:
    """Why a learner folder's name cannot be an nbgrader student id, if it cannot."""
    if any(ch in name for ch in "*?[]"):
        return (f"the folder name `{name}` contains characters nbgrader reads as a pattern "
                "(* ? [ ]), so it cannot be a learner id; submit from a folder named with "
                "your login")  # fmt: skip
    if any(not ch.isprintable() for ch in name) or name != name.strip() or name.startswith("-"):
        return ("the folder name contains control characters, surrounding spaces or a "
                "leading dash, so it cannot be a learner id; submit from a folder named "
                "with your login")  # fmt: skip
    return None


def _inspect_safely(course, student, lesson, notebook, folder, expected) -> Submission:
    """`_inspect`, with any failure of the grader's own code turned into this notebook's status."""
    try:
        return _inspect(course, student, lesson, notebook, folder, expected)
    except Exception as error:  # nothing in one submission may stop the class
        return Submission(student, lesson, notebook, UNREADABLE,
                          detail=f"intake: {type(error).__name__}: {error}",
                          grader_error=True)  # fmt: skip


def stage(submissions: list[Submission], staging: Path) -> None:
    """Write each gradable notebook, repaired, to staging/<student>/<lesson>/<notebook>.ipynb."""
    for sub in submissions:
        if not sub.gradable:
            continue
        target = staging / sub.student / sub.lesson
        target.mkdir(parents=True, exist_ok=True)
        try:
            text = nbformat.writes(sub.staged)
        except Exception as error:  # a value nbformat cannot write back: this notebook only
            sub.problem, sub.grader_error = UNREADABLE, True
            sub.detail = f"staging: {type(error).__name__}: {error}"
            continue
        (target / f"{sub.notebook}.ipynb").write_text(text, encoding="utf-8")
        if sub.timestamp is not None:  # an empty one too: nbgrader reads it as no timestamp
            (target / "timestamp.txt").write_text(sub.timestamp)
        if sub.secret:  # nbgrader carries it to feedback/, where release_feedback needs it
            (target / "submission_secret.txt").write_text(sub.secret)


# --------------------------------------------------------------------------------- details


def _inspect(course, student, lesson, notebook, folder, expected) -> Submission:
    sub = Submission(student, lesson, notebook)
    path = folder / f"{notebook}.ipynb"
    if not os.path.lexists(path):
        ours = {f"{nb}.ipynb" for nb in expected[lesson]}  # a sibling notebook is not misnamed
        others = sorted(p.name for p in folder.glob("*.ipynb") if p.name not in ours)
        owners = {
            f"{nb}.ipynb": other for other, nbs in expected.items() for nb in nbs if other != lesson
        }
        if len(others) == 1 and others[0] in owners:
            sub.problem = (
                f"`{others[0]}` is the notebook of lesson `{owners[others[0]]}`, but it was "
                f"submitted for lesson `{lesson}`; submit `{notebook}.ipynb` here instead"
            )
        elif others:
            sub.problem = (
                f"expected a notebook named `{notebook}.ipynb` but found "
                f"{', '.join(f'`{o}`' for o in others)}; "
                f"rename your notebook back to `{notebook}.ipynb` and submit again"
            )
        else:
            sub.problem = f"`{notebook}.ipynb` is missing from your submission"
        return sub
    sub.problem = _problem(path)
    if sub.problem is None:
        nb = _read(path)
        if _refused_language(course, sub, nb):
            return sub
        release = course.release / lesson / f"{notebook}.ipynb"
        if release.is_file():
            sub.notes += repair(nb, _read(release))  # cells put back from it need ids too
        sub.staged = nb
        sub.timestamp, note = _timestamp(folder / "timestamp.txt")
        sub.notes += [note] if note else []
        sub.secret = _small_text(folder / "submission_secret.txt")
    return sub


def _refused_language(course: Course, sub: Submission, nb: nbformat.NotebookNode) -> bool:
    """Refuse a notebook that nbgrader would run in a kernel of another language than Python.

    nbgrader runs a submission with the kernel its source notebook names (the learner's choice
    counts only where the source names none); the grader's kernels run Python only.
    """
    source = course.source_notebook(sub.lesson, sub.notebook)
    language = _source_language(str(source), source.stat().st_mtime_ns)
    if _is_python(language or _language(nb)):
        return False
    if language:  # the lesson itself: the instructor's to know, nothing the learner can change
        sub.problem, sub.grader_error = UNREADABLE, True
        sub.detail = (
            f"the source notebook {sub.lesson}/{sub.notebook}.ipynb runs a "
            f"`{language}` kernel; the grader runs Python notebooks only (grade this "
            "lesson with nbgrader)"
        )
        return True
    sub.problem = (
        f"the notebook was saved with a `{_language(nb)}` kernel, but this lesson is "
        "graded in Python; in JupyterLab choose Kernel > Change Kernel > Python 3, run "
        "it, save it and submit again"
    )
    return True


@functools.lru_cache(maxsize=64)
def _source_language(path: str, mtime: int) -> str | None:
    return _language(nbformat.read(path, as_version=4))


def _language(nb: nbformat.NotebookNode) -> str | None:
    """The language of the kernel a notebook names, if it names one."""
    spec = nb.metadata.get("kernelspec")
    if not isinstance(spec, dict) or not spec:
        return None
    language = spec.get("language") or spec.get("name")
    return str(language)[:100] if language else None


def _is_python(language: str | None) -> bool:
    return language is None or language.strip().lower().startswith("python")


def _problem(path: Path) -> str | None:
    """Why this file cannot be graded, in words a learner can act on; None if it can."""
    for link in (path, path.parent, path.parent.parent):
        if link.is_symlink():
            return (
                f"`{link.name}` is a link, not your own file or folder; "
                "submit the notebook file itself"
            )
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        return "the submission is not a regular file; submit the notebook file itself"
    if info.st_size == 0:
        return (
            "the notebook file is empty (0 bytes); open it in JupyterLab, save it, and submit again"
        )
    if info.st_size > MAX_NOTEBOOK_BYTES:
        return (
            f"the notebook is {info.st_size / 2**20:.0f} MB, "
            f"over the {MAX_NOTEBOOK_BYTES // 2**20} MB limit; "
            "clear all outputs (Edit > Clear Outputs of All Cells), save, and submit again"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return (
            "the file is not a notebook (it is not UTF-8 text; it may be damaged or another "
            "kind of file); download your notebook from JupyterLab again and submit that"
        )
    try:
        data = json.loads(text)
    except ValueError as error:
        return (
            "the notebook file is damaged: it is not valid JSON "
            f"(line {getattr(error, 'lineno', '?')}); "
            "it may have been cut off while saving. Open it in JupyterLab; if it does not open, "
            "use File > Revert to checkpoint or redo the lesson from a fresh copy"
        )
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return "the file is JSON but not a Jupyter notebook; submit the lesson's .ipynb file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # nbformat warns of what it repairs (duplicate ids): repair does that
            nbformat.validate(_read(path))
    except Exception as error:  # nbformat raises several kinds for damaged notebooks
        return (
            f"the notebook's structure is damaged ({type(error).__name__}); open it in JupyterLab, "
            "save it, and submit again"
        )
    return None


def repair(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Make the graded cells of `nb` those of the release; return a note per repair, for the
    learner.

    Graded cells are identified by their grade_id. The first cell with a known id gets the
    release's nbgrader metadata and cell type back; later copies, and cells claiming an id the
    lesson does not have, become ordinary cells; graded cells that are missing are put back, as
    in the release, after the graded cell that precedes them there.
    """
    reference = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in release.cells
        if c.metadata.get("nbgrader", {}).get("grade_id")
    }
    graded = [
        grade_id
        for grade_id, c in reference.items()
        if c.metadata["nbgrader"].get("grade") or c.metadata["nbgrader"].get("solution")
    ]
    notes = []
    candidates: dict = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta:
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if grade_id in reference:
                candidates.setdefault(grade_id, []).append(index)
            else:
                del cell.metadata["nbgrader"]  # claims an id the lesson does not have: learner code
    # Of several copies, grade the one in the lesson's place: the first after the graded copy
    # of the cell before it in the release (a copy pasted at the top would run too early).
    chosen, last = {}, -1
    for grade_id in reference:
        indices = candidates.get(grade_id, [])
        if indices:
            chosen[grade_id] = next((i for i in indices if i > last), indices[0])
            last = chosen[grade_id]
    for grade_id, indices in candidates.items():
        original = reference[grade_id]
        for index in indices:
            cell = nb.cells[index]
            if index != chosen[grade_id]:
                del cell.metadata["nbgrader"]
                continue
            cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
            if cell.cell_type != original.cell_type:
                _retype(cell, original.cell_type)
        if len(indices) > 1:
            before = [g for g, i in chosen.items() if i < chosen[grade_id]]
            place = (
                f"the copy after `{max(before, key=chosen.get)}`" if before else "the first copy"
            )
            notes.append(
                f"graded cell `{grade_id}` appears {len(indices)} times; {place} was graded, "
                "the others ran as ordinary cells"
            )
    seen = set(chosen)
    position = {}
    for index, cell in enumerate(nb.cells):
        grade_id = _grade_id(cell)
        if grade_id:
            position[grade_id] = index
    previous = None
    for grade_id in reference:
        if grade_id in graded and grade_id not in seen:
            at = position[previous] + 1 if previous in position else 0
            nb.cells.insert(at, copy.deepcopy(reference[grade_id]))
            position = {k: (v + 1 if v >= at else v) for k, v in position.items()}
            position[grade_id] = at
            notes.append(
                f"graded cell `{grade_id}` is missing; was it deleted? It was put back as in the "
                "lesson and graded"
            )
        if grade_id in position:
            previous = grade_id
    ids = set()
    for cell in nb.cells:  # copies keep their cell id; nbformat wants them unique
        while cell.get("id") in ids:
            cell["id"] = f"{cell['id']}-copy"[-64:]
        ids.add(cell.get("id"))
    return notes


def _grade_id(cell) -> str | None:
    """The cell's nbgrader grade id, if its metadata has the shape nbgrader writes."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) and grade_id else None


def _retype(cell: nbformat.NotebookNode, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    cell.pop("attachments", None)


def _timestamp(path: Path) -> tuple[str | None, str | None]:
    """The submission time nbgrader's exchange wrote, if it is readable."""
    if not path.is_file() or path.is_symlink():
        return None, None
    from nbgrader.utils import parse_utc

    text = path.read_text(errors="replace").strip()[:100]
    if not text:
        return "", None
    try:
        parse_utc(text)
    except Exception:  # dateutil raises several kinds
        return (
            None,
            "the submission's timestamp.txt could not be read, so no late penalty was computed",
        )
    return text, None


def _small_text(path: Path) -> str | None:
    if path.is_file() and not path.is_symlink() and path.stat().st_size < 1000:
        return path.read_text(errors="replace")
    return None


def _read(path: Path) -> nbformat.NotebookNode:
    """Read any notebook version nbformat understands, as version 4.5 (cells with ids)."""
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    minor = nb.get("nbformat_minor", 0)
    if not isinstance(minor, int) or minor < 5:
        nb = nbformat.v4.upgrade(
            nb, from_version=4, from_minor=minor if isinstance(minor, int) else 0
        )
        for index, cell in enumerate(
            nb.cells
        ):  # deterministic ids: a regrade writes the same files
            cell["id"] = f"cell-{index}"
    return nb
