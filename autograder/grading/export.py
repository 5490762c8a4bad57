"""grades.csv: nbgrader's CSV export, written with the csv module and safe to open in a spreadsheet.

nbgrader's own CsvExportPlugin joins fields with commas by `str.format`: a learner folder named
with a comma or a newline forges columns or whole rows, and one starting with `=` becomes a
formula. This plugin writes the same columns and rows, quoted by the csv module, with every text
field that a spreadsheet would read as a formula prefixed by an apostrophe.
`nbgrader export --exporter=autograder.grading.export.SafeCsvExportPlugin` uses it too.
"""

from __future__ import annotations

import csv

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin

COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
           "raw_score", "late_submission_penalty", "score", "max_score"]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """`value` as text a spreadsheet shows as text: a leading formula character is escaped."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class SafeCsvExportPlugin(ExportPlugin):
    """nbgrader's CSV export, quoted properly and with formulas neutralised."""

    def export(self, gradebook) -> None:
        students = [str(s) for s in self.student]
        assignments = [str(a) for a in self.assignment]
        with open(self.to or "grades.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    writer.writerow(
                        [spreadsheet_safe(v) for v in self._row(gradebook, assignment, student)]
                    )

    @staticmethod
    def _row(gradebook, assignment, student) -> list:
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            timestamp, raw, penalty, score = "", 0.0, 0.0, 0.0
        else:
            timestamp, raw = submission.timestamp, submission.score
            penalty = submission.late_submission_penalty
            score = max(0.0, submission.score - penalty)
        return [assignment.name, assignment.duedate, timestamp, student.id,
                student.last_name, student.first_name, student.email,
                raw, penalty, score, assignment.max_score]  # fmt: skip
