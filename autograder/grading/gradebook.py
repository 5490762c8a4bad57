"""nbgrader's gradebook, as grading uses it: lessons registered, learners known, stale grades
gone."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings

from ..course import Course, use_alembic_api
from ..errors import CourseError

# beside the course: the source fingerprint each lesson was registered at
RECORD = ".gradebook-sources.json"


def quiet() -> None:
    """nbgrader's gradebook code trips SQLAlchemy warnings that say nothing to an instructor."""
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)


def open_gradebook(course: Course):
    from nbgrader.api import Gradebook

    use_alembic_api()
    return Gradebook(course.db_url, course.coursedir.course_id)


def prepare(course: Course, lessons: list[str], students: list[str]) -> None:
    """Make the gradebook know the current version of each lesson and every learner.

    nbgrader's generate_assignment stores each lesson's cells (hidden tests included) in the
    gradebook; it costs seconds per lesson, so it runs only for lessons whose source changed
    since the last time (a fingerprint is kept beside the course) or that the gradebook lacks.
    """
    from nbgrader.api import MissingEntry

    known = _read_record(course)
    stale = []
    with open_gradebook(course) as gb:
        for lesson in lessons:
            try:
                registered = sorted(nb.name for nb in gb.find_assignment(lesson).notebooks)
            except MissingEntry:
                registered = []
            fingerprint = source_fingerprint(course, lesson)
            if (
                registered != course.notebooks(lesson)
                or known.get(course.db_url, {}).get(lesson) != fingerprint
            ):
                stale.append((lesson, fingerprint))
    if stale:
        with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
            api = course.api(release_directory=tmp)
            for lesson, _fingerprint in stale:
                result = api.generate_assignment(lesson, force=True, create=True)
                if not result.get("success"):
                    log = (result.get("log") or "")[-2000:]
                    raise CourseError(f"nbgrader could not register lesson {lesson}:\n{log}")
        remember_registered(course, [lesson for lesson, _ in stale])
    with open_gradebook(course) as gb:
        for student in students:
            gb.update_or_create_student(student)


def remember_registered(course: Course, lessons: list[str]) -> None:
    """Note that the gradebook holds the current source of `lessons` (nbgrader registered them)."""
    known = _read_record(course)
    for lesson in lessons:
        known.setdefault(course.db_url, {})[lesson] = source_fingerprint(course, lesson)
    record = course.root / RECORD
    temporary = record.with_name(record.name + ".tmp")
    temporary.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    temporary.replace(record)


def _read_record(course: Course) -> dict:
    try:
        return json.loads((course.root / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def source_fingerprint(course: Course, lesson: str) -> str:
    """A digest of everything nbgrader registers for a lesson: its source notebooks and files."""
    digest = hashlib.sha256()
    for notebook in course.notebooks(lesson):
        digest.update(
            notebook.encode() + b"\0" + course.source_notebook(lesson, notebook).read_bytes()
        )
    for name in course.instructor_files(lesson):
        digest.update(name.encode() + b"\0" + (course.source / lesson / name).read_bytes())
    return digest.hexdigest()


def forget(course: Course, student: str, lesson: str) -> None:
    """Drop earlier grades of a submission that can no longer be graded, so none are stale."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            gb.remove_submission(lesson, student)
        except MissingEntry:
            pass
    for folder in ("autograded_directory", "feedback_directory"):
        shutil.rmtree(course.folder(folder) / student / lesson, ignore_errors=True)


def max_scores(course: Course) -> dict[tuple[str, str], float]:
    """(lesson, notebook) -> the points it is worth, for every notebook the gradebook knows."""
    with open_gradebook(course) as gb:
        return {
            (a.name, nb.name): float(nb.max_score) for a in gb.assignments for nb in a.notebooks
        }
