"""Grades into an LMS: an nbgrader export plugin writing a Canvas-style gradebook CSV.

nbgrader's own CSV has one row per learner and lesson; Canvas, Moodle and Blackboard import one
row per learner and one column per assignment, keyed by the learner's login, with the points
possible in a second row. Run it with nbgrader's own command:

    nbgrader export --exporter=autograder.lms.CanvasExportPlugin --to grades-canvas.csv \
        --CanvasExportPlugin.roster=roster.csv

The roster (optional) maps nbgrader student ids to LMS login ids: a CSV with the columns
`student_id` and `login_id`, and optionally `name` and `section`. Learners on the roster who
never submitted get a row of zeros; learners in the gradebook but not on the roster keep their
row, under their nbgrader id, and are named in a warning.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

KEY_COLUMNS = ["Student", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RosterError(ValueError):
    """The roster file cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Person:
    student_id: str
    login_id: str
    name: str
    section: str


class CanvasExportPlugin(ExportPlugin):
    """One row per learner, one column per lesson (points possible in the second row), keyed by
    the learner's LMS login."""

    roster = Unicode(
        "",
        help="CSV mapping nbgrader ids to LMS logins: student_id, login_id[, name, section]",
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        dest = Path(self.to or "grades-canvas.csv")
        try:
            people = read_roster(Path(self.roster)) if self.roster else {}
        except RosterError as error:
            self.log.error("%s; nothing was exported", error)
            raise SystemExit(1) from None
        lessons = [
            a for a in gradebook.assignments if not self.assignment or a.name in self.assignment
        ]
        rows, unlisted = gradebook_rows(
            gradebook, lessons, people, only=[str(s) for s in self.student]
        )
        if people and unlisted:
            self.log.warning(
                "not on the roster %s, exported under their nbgrader id: %s",
                self.roster,
                ", ".join(unlisted),
            )
        header = KEY_COLUMNS + [a.name for a in lessons]
        points = [POINTS_POSSIBLE, "", ""] + [_number(a.max_score) for a in lessons]
        write_csv(dest, [header, points, *rows])
        self.log.info("Exported %d learners x %d lessons to %s", len(rows), len(lessons), dest)


def gradebook_rows(
    gradebook: Gradebook, lessons: list, people: dict[str, Person], only: list[str] | None = None
) -> tuple[list[list[str]], list[str]]:
    """One row per learner (roster order, then learners the roster lacks), and the ids of the
    learners in the gradebook who are not on the roster."""
    known = [s.id for s in gradebook.students]
    unlisted = [sid for sid in known if sid not in people]
    order = list(people) + unlisted
    rows = []
    for sid in order:
        if only and sid not in only:
            continue
        person = people.get(sid) or _from_gradebook(gradebook, sid)
        scores = []
        for lesson in lessons:
            try:
                submission = gradebook.find_submission(lesson.name, sid)
            except MissingEntry:  # never submitted, or not in the gradebook at all
                scores.append(_number(0.0))
            else:
                penalty = submission.late_submission_penalty or 0.0
                scores.append(_number(max(0.0, submission.score - penalty)))
        rows.append(
            [
                neutralise(person.name),
                neutralise(person.login_id),
                neutralise(person.section),
                *scores,
            ]
        )
    return rows, unlisted


def read_roster(path: Path) -> dict[str, Person]:
    """student_id -> Person, in the roster's order; a clear RosterError for anything unusable."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"student_id", "login_id"} - set(reader.fieldnames or [])
            if missing:
                raise RosterError(
                    f"{path}: missing column(s) {', '.join(sorted(missing))} "
                    "(the header must name student_id and login_id)"
                )
            people: dict[str, Person] = {}
            logins: dict[str, str] = {}
            for number, row in enumerate(reader, start=2):
                sid, login = (
                    (row.get("student_id") or "").strip(),
                    (row.get("login_id") or "").strip(),
                )
                if not sid or not login:
                    raise RosterError(
                        f"{path}, line {number}: student_id and login_id must both be filled in"
                    )
                if sid in people:
                    raise RosterError(f"{path}, line {number}: student_id {sid!r} appears twice")
                if login in logins:
                    raise RosterError(
                        f"{path}, line {number}: login_id {login!r} is also {logins[login]!r}'s"
                    )
                logins[login] = sid
                people[sid] = Person(
                    sid,
                    login,
                    (row.get("name") or "").strip() or sid,
                    (row.get("section") or "").strip(),
                )
    except FileNotFoundError as error:
        raise RosterError(f"no roster at {path}") from error
    except UnicodeDecodeError as error:
        raise RosterError(f"{path} is not UTF-8 text: save it as CSV (UTF-8)") from error
    except csv.Error as error:
        raise RosterError(f"{path} is not a readable CSV file: {error}") from error
    return people


def neutralise(value: str) -> str:
    """A learner-controlled cell that a spreadsheet would run as a formula becomes plain text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_csv(dest: Path, rows: list[list[str]]) -> None:
    """Write all rows, or nothing: an earlier export at `dest` survives a failure."""
    dest = dest.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _from_gradebook(gradebook: Gradebook, sid: str) -> Person:
    student = gradebook.find_student(sid)
    name = " ".join(n for n in (student.first_name, student.last_name) if n) or sid
    return Person(sid, sid, name, "")


def _number(value: float | None) -> str:
    value = float(value or 0.0)
    return str(int(value)) if value.is_integer() else f"{value:g}"
