"""`autograder demo` (what `make demo` runs): build the course, grade a sample class, show the
result.

The sample class is laid out in `.demo/` beside the course, so the course's own gradebook and
submissions are untouched:

- **ada** answers every lesson with the reference solutions (full marks);
- **ben** and most others make known mistakes, several of them the same ones;
- **cy** hands in a damaged notebook, a renamed one and an empty one (ungradable, with reasons);
- **dee** tampers: patches torch's checkers, poisons the reference, reads the gradebook and hidden
  tests, probes the network;
- **eve** hands in two lessons untouched and skips one.

`sample_class.yml` says what each learner hands in and what grading must find; the demo ends
with the class report (`autograder report`) of what the class got wrong.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import yaml

from ..build import build
from ..course import Course
from ..grading.batch import grade_class
from ..report import write_report
from ..terminal import line, make_console, print_summary, progress_bar, shown

SAMPLE_CLASS = Path(__file__).with_name("sample_class.yml")
TAMPERING = """\
# Everything a learner might try to earn points they did not earn.
import os, socket, torch, numpy as np
torch.allclose = lambda *a, **k: True            # patch the checkers
torch.testing.assert_close = lambda *a, **k: None
np.allclose = lambda *a, **k: True
torch.sigmoid = lambda t: t                      # poison the reference
for path in ["../../../gradebook.db", "../../../source", os.path.expanduser("~/.."), \
"/work", "/home"]:
    print(path, "->", os.listdir(path) if os.path.isdir(path) else os.path.exists(path))
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
except OSError as error:
    print("no network:", error)
"""


def sample_class() -> dict:
    """learner -> {"about", "hands_in", "lessons": {lesson: {answers, untouched, file, tampering,
    fails}}} from sample_class.yml (its header explains each key)."""
    return yaml.safe_load(SAMPLE_CLASS.read_text(encoding="utf-8"))


def main(*, course_dir: str | None = None) -> int:
    console = make_console()
    course = Course.find(course_dir)
    console.rule("1. build the course")
    report = build(course)
    console.print(
        f"built {len(report.lessons)} lessons into notebooks/ and solutions/ in "
        f"{report.seconds:.0f} s"
    )
    console.rule("2. lay out a sample class")
    demo = lay_out(course, course.root / ".demo")
    for name, learner in sample_class().items():
        console.print(line(f"  {name}: ", shown(learner.get("about", ""))))
    console.rule("3. grade it: autograder grade --course .demo")
    graded = Course.find(demo)
    outcome = grade_class(course=graded, jobs=os.cpu_count() or 1,
                          progress=lambda total: progress_bar(console, total))  # fmt: skip
    print_summary(console, outcome)
    console.rule("what ben reads in his feedback")
    for result in outcome.results:
        if result.student == "ben":
            for test in result.tests:
                if not test.passed:
                    console.print(
                        line(f"  {result.assignment} / {test.grade_id}: ", shown(test.message))
                    )
                    break
    console.rule("4. what the class got wrong: autograder report --course .demo")
    console.print(line("class report: ", shown(write_report(graded))))
    return 1 if outcome.grader_errors else 0


def lay_out(course: Course, target: Path) -> Path:
    """A copy of the course with the sample class in submitted/; returns its folder."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(course.root / "nbgrader_config.py", target)
    for folder in (course.source, course.release):
        shutil.copytree(folder, target / folder.name)
    lessons = course.lessons
    for name, learner in sample_class().items():
        for lesson in learner.get("hands_in") or lessons:
            _hand_in(course, target, name, lesson, (learner.get("lessons") or {}).get(lesson) or {})
    return target


def _hand_in(course: Course, target: Path, student: str, lesson: str, spec: dict) -> None:
    """One learner's lesson as sample_class.yml describes it."""
    folder = _folder(target, student, lesson)
    if spec.get("untouched"):
        nb = nbformat.read(course.release / lesson / f"{lesson}.ipynb", as_version=4)
    else:
        nb = course.answered(lesson, spec.get("answers") or {})
    if spec.get("tampering"):
        nb.cells.insert(1, nbformat.v4.new_code_cell(TAMPERING))
    broken = spec.get("file")
    if broken is None:
        nbformat.write(nb, folder / f"{lesson}.ipynb")
    elif broken == "damaged":  # cut off halfway, as when a save is interrupted
        text = nbformat.writes(nb)
        (folder / f"{lesson}.ipynb").write_text(text[: len(text) // 2])
    elif broken == "renamed":
        nbformat.write(nb, folder / "Untitled.ipynb")
    elif broken == "empty":
        (folder / f"{lesson}.ipynb").write_bytes(b"")
    else:
        raise ValueError(f"{SAMPLE_CLASS}: {student} / {lesson}: unknown file: {broken!r}")


def _folder(course: Path, student: str, lesson: str) -> Path:
    folder = course / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder
