"""One result type from where a verdict is made to where it is written.

The trusted runner makes a `TestResult` for each test cell; the executor keeps it on the cell;
the worker reads it back with the points nbgrader gave; `grade`, `check`, the class report and
`grades.json` all use these types. `grades.json` is their JSON form, with a schema version
(docs/grades.schema.json describes it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

SCHEMA_VERSION = 2
GRADED, UNGRADABLE = "graded", "ungradable"


@dataclass
class TestResult:
    """One test cell's verdict: what it is worth, whether it passed, what the learner reads."""

    __test__ = False  # not a pytest test class

    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str
    misconception: str | None = None  # the idea a failure shows (autograder.checks), if named

    @classmethod
    def from_dict(cls, data: dict) -> TestResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class NotebookResult:
    """One expected notebook of one learner's lesson, graded or ungradable with a reason."""

    student: str
    assignment: str
    notebook: str
    status: str  # GRADED | UNGRADABLE
    reason: str | None
    score: float
    max_score: float
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detail: str | None = None  # instructor only, not in grades.json: grader errors, test-cell notes
    grader_error: bool = False  # ungradable because of the grader, not the submission

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.student, self.assignment, self.notebook)

    def to_json(self) -> dict:
        data = asdict(self)
        del data["detail"], data["grader_error"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> NotebookResult:
        tests = [TestResult.from_dict(t) for t in data.get("tests", [])]
        known = {f.name for f in fields(cls)} - {"tests"}
        return cls(**{k: v for k, v in data.items() if k in known}, tests=tests)


def write_grades_json(path: Path, results: list[NotebookResult]) -> None:
    """`grades.json`: every notebook found, sorted, with the schema version."""
    ordered = sorted(results, key=lambda r: r.key)
    document = {"schema_version": SCHEMA_VERSION, "submissions": [r.to_json() for r in ordered]}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    temporary.replace(path)  # a reader never sees half a file, a crash never leaves one


def read_grades_json(path: Path) -> list[NotebookResult]:
    """The results in a `grades.json`; an unreadable or missing file has none."""
    try:
        return load_grades_json(path)
    except (OSError, ValueError):
        return []


def load_grades_json(path: Path) -> list[NotebookResult]:
    """The results in a `grades.json`; OSError if it cannot be read, ValueError if it is not one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    try:
        return [NotebookResult.from_json(entry) for entry in document["submissions"]]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"it is not grades.json as `autograder grade` writes it "
            f"({type(error).__name__}: {error})"
        ) from error
