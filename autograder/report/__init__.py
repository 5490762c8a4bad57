"""`autograder report`: what the class got wrong, as one page for the instructor.

Reads `grades.json` (each failing test's misconception id and message), the gradebook (the
roster, due dates, submission times), the exchange (release times) and the lessons' release and
source notebooks (exercise headings, sections, misconception descriptions), and writes
`report/index.html` in the course folder: self-contained, so it opens offline and fetches nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..course import Course
from ..errors import CourseError
from ..results import load_grades_json

REPORT = Path("report") / "index.html"


def write_report(course: Course) -> Path:
    """Write the class report for the course's grades.json; returns its path."""
    from .aggregate import class_report
    from .records import read_records
    from .render import render

    grades = course.root / "grades.json"
    if not grades.exists():
        raise CourseError(
            f"no grades.json in {course.root}: grade the class first (autograder grade)"
        )
    try:
        results = load_grades_json(grades)
    except (OSError, ValueError) as error:
        raise CourseError(f"{grades} could not be read: {error}") from error
    records = read_records(course, course.lessons)
    page = render(class_report(course, results, records, datetime.now(UTC).replace(tzinfo=None)))
    target = course.root / REPORT
    target.parent.mkdir(exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(target)
    return target


def main(*, course: Course) -> int:
    """`autograder report`: write the page and say where it is."""
    from ..terminal import line, make_console, shown

    path = write_report(course)
    make_console().print(line("class report: ", shown(path)))
    return 0
