"""What nbgrader knows beyond grades.json: the roster, due dates, submission and release times.

The gradebook holds the learners (including those who handed nothing in), each lesson's due date
and, for each graded submission collected through the exchange, the time it was submitted
(`timestamp.txt`). nbgrader records no release time; `nbgrader release_assignment` writes the
lesson's folder in the exchange's `outbound/`, so that folder's status-change time is when it was
last released (on this machine's exchange only). Every time is naive UTC, as nbgrader keeps them.
Whatever cannot be read is left out, with a note saying why.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..course import Course


@dataclass
class Records:
    """The gradebook's and the exchange's facts about a class."""

    learners: set[str] = field(default_factory=set)  # every student in the gradebook
    names: dict[str, list[str]] = field(default_factory=dict)  # id -> first name, last name, email
    due: dict[str, datetime] = field(default_factory=dict)  # lesson -> due date
    # (learner, lesson) -> when the graded submission was handed in
    submitted: dict[tuple[str, str], datetime] = field(default_factory=dict)
    released: dict[str, datetime] = field(default_factory=dict)  # lesson -> last release
    outbound: Path | None = None  # the exchange's folder of released lessons, if the course has one
    notes: list[str] = field(default_factory=list)  # what could not be read, and why


def read_records(course: Course, lessons: list[str]) -> Records:
    """The gradebook's roster, due dates and submission times, and the exchange's release times."""
    records = Records()
    _read_gradebook(course, records)
    _read_exchange(course, lessons, records)
    return records


def _read_gradebook(course: Course, records: Records) -> None:
    url = course.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        records.notes.append(
            "there is no gradebook yet, so no roster, due dates or submission times"
        )
        return
    from ..grading.gradebook import open_gradebook, quiet

    quiet()
    try:
        with open_gradebook(course) as gb:
            for student in gb.students:
                records.learners.add(student.id)
                records.names[student.id] = [
                    n for n in (student.first_name, student.last_name, student.email) if n
                ]
            for assignment in gb.assignments:
                if assignment.duedate is not None:
                    records.due[assignment.name] = assignment.duedate
                for submission in assignment.submissions:
                    if submission.timestamp is not None:
                        records.submitted[(submission.student_id, assignment.name)] = (
                            submission.timestamp
                        )
    except Exception as error:
        records.notes.append(f"the gradebook could not be read ({type(error).__name__}: {error})")


def _read_exchange(course: Course, lessons: list[str], records: Records) -> None:
    from nbgrader.exchange.default.exchange import Exchange

    course_id = course.coursedir.course_id
    if not course_id:
        return
    records.outbound = Path(Exchange(config=course.config).root) / course_id / "outbound"
    for lesson in lessons:
        try:
            status = os.stat(records.outbound / lesson)
        except OSError:
            continue
        if not stat.S_ISDIR(status.st_mode):
            continue
        records.released[lesson] = datetime.fromtimestamp(status.st_ctime, UTC).replace(tzinfo=None)
