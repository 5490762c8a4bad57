"""What a misconception id means: the lesson author's line for it, or the grader's own.

Lesson test cells name the idea a failure shows (`expect(..., why="softmax-dim")`); the grader
itself names failures that are not about the lesson's ideas (an answer never attempted, a notebook
that stopped). A lesson's descriptions live in its source notebook's metadata, written by its
author (docs/authoring.md, "Misconceptions in the class report"); `autograder build` removes them
from the release, so they never reach learners.
"""

from __future__ import annotations

from ..build import INSTRUCTOR_METADATA  # its "misconceptions" maps an id to one line
from ..course import Course

UNNAMED = None  # a failing test that names no misconception (a plain assert)

# Ids the grader gives, and checks.py's defaults for value checks.
GRADER = {
    "not-attempted": "The answer still raises NotImplementedError: not attempted.",
    "answer-not-defined": (
        "The answer's name is not defined when the test runs (its cell raised or was not run)."
    ),
    "raises-an-error": "The learner's function raised an error on the test's input.",
    "unreadable-answer": (
        "The answer is not a value the grader can read (not a tensor, number, function or layer)."
    ),
    "could-not-check": (
        "The test could not check the answer: it is not the kind of value the exercise asks for."
    ),
    "notebook-stopped": "The notebook stopped (a crash, exit, time or memory limit) first.",
    "test-timeout": "Checking the answer took longer than the test's time limit.",
    "wrong-shape": "A tensor of the wrong shape.",
    "wrong-dtype": "A tensor of the wrong dtype.",
    "not-a-tensor": "Not a tensor where a tensor is asked for.",
    "changes-input-in-place": (
        "The function changed an argument it was given (its values, requires_grad or .grad)."
    ),
}
# Failures that say nothing about an idea to re-teach: counted per exercise, never in the top three.
NOT_AN_IDEA = frozenset({
    "not-attempted", "answer-not-defined", "raises-an-error", "unreadable-answer",
    "could-not-check", "notebook-stopped", "test-timeout",
})  # fmt: skip


def worth_reteaching(misconception: str | None) -> bool:
    """Whether failures with this id show a misunderstood idea (not a missing or broken answer)."""
    return misconception is not UNNAMED and misconception not in NOT_AN_IDEA


def lesson_descriptions(course: Course, lesson: str) -> dict[str, str]:
    """id -> one line, from the lesson's source notebooks' metadata (malformed entries skipped)."""
    import nbformat

    found: dict[str, str] = {}
    for notebook in course.notebooks(lesson):
        try:
            nb = nbformat.read(course.source_notebook(lesson, notebook), as_version=4)
        except (OSError, ValueError):  # the build reports a broken source notebook
            continue
        section = nb.metadata.get(INSTRUCTOR_METADATA)
        entries = section.get("misconceptions") if isinstance(section, dict) else None
        for key, text in entries.items() if isinstance(entries, dict) else ():
            if isinstance(key, str) and isinstance(text, str) and text.strip():
                found[key] = " ".join(text.split())
    return found


def describe(misconception: str | None, lesson: dict[str, str]) -> str | None:
    """The lesson's line for an id, else the grader's, else None."""
    if misconception is UNNAMED:
        return None
    return lesson.get(misconception) or GRADER.get(misconception)
