"""`autograder serve`: grade on submit. Learners submit through nbgrader's exchange as usual.

Every few seconds: nbgrader's collect (with --update) brings each learner's newest submission of
each lesson into submitted/; the (learner, lesson)s whose submission changed are queued (the
enqueuer refuses what is already queued or graded); submissions the fleet has finished are
written into the course folder and their feedback released with nbgrader's release_feedback, so
the learner's `nbgrader fetch_feedback` (or the Assignment List) finds it. The submission's
timestamp travels with the job, so nbgrader's late penalty is computed as for a batch.
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..course import CONFIG_FILE, Course
from ..grading import gradebook
from .collect import collect_results
from .database import connect, ensure_schema, require_shared_gradebook
from .enqueue import enqueue_class

log = logging.getLogger("autograder.serve")


def exchange_api(course: Course):
    """nbgrader's API as the `nbgrader` command sees it: Jupyter's config folders (where the
    exchange is set, e.g. /etc/jupyter/nbgrader_config.py), then the course's own settings."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = Config()
    for folder in reversed(jupyter_config_path()):  # lowest priority first
        if (Path(folder) / CONFIG_FILE).is_file():
            config.merge(PyFileConfigLoader(CONFIG_FILE, path=folder).load_config())
    config.merge(copy.deepcopy(course.config))
    config.CourseDirectory.root = str(course.root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.ERROR)
    return api


class Server:
    """The loop's state: what was queued and what was released, by (learner, lesson)."""

    def __init__(self, course: Course, dsn: str):
        self.course, self.dsn = course, dsn
        self.api = exchange_api(course)
        self.queued: dict[tuple[str, str], str] = {}  # -> timestamp.txt of what was queued
        self.released: dict[
            tuple[str, str], str
        ] = {}  # -> submission digest whose feedback went out

    def once(self) -> None:
        """One look: collect, queue what changed, write and release what was graded."""
        for lesson in self.course.lessons:
            outcome = self.api.collect(lesson, update=True)
            if not outcome.get("success"):
                log.warning(
                    "nbgrader collect %s failed: %s", lesson, (outcome.get("log") or "")[-500:]
                )
        changed = self._changed()
        if changed:
            students = sorted({student for student, _ in changed})
            done = enqueue_class(course=self.course, dsn=self.dsn, students=students,
                                 assignments=sorted({lesson for _, lesson in changed}))  # fmt: skip
            for key, stamp in changed.items():
                self.queued[key] = stamp
            log.info(
                "queued %d new submission(s)",
                sum(1 for v in done.outcome.values() if v == "queued"),
            )
        finished = self._finished()
        if finished:
            collect_results(course=self.course, dsn=self.dsn, wait=False, only=set(finished))
            for (student, lesson), submission in sorted(finished.items()):
                outcome = self.api.release_feedback(lesson, student_id=student)
                if outcome.get("success"):
                    self.released[(student, lesson)] = submission
                    log.info("feedback released: %s / %s", student, lesson)
                else:
                    log.warning(
                        "release_feedback %s %s failed: %s",
                        student,
                        lesson,
                        (outcome.get("log") or "")[-500:],
                    )

    def _changed(self) -> dict[tuple[str, str], str]:
        submitted = self.course.folder("submitted_directory")
        changed = {}
        for stamp in sorted(submitted.glob("*/*/timestamp.txt")):
            key = (stamp.parent.parent.name, stamp.parent.name)
            text = stamp.read_text(errors="replace").strip()
            if self.queued.get(key) != text and key[1] in self.course.lessons:
                changed[key] = text
        return changed

    def _finished(self) -> dict[tuple[str, str], str]:
        """Graded submissions whose feedback has not gone out yet (grader errors have none)."""
        with connect(self.dsn) as connection:
            rows = connection.execute(FINISHED, (self.course.coursedir.course_id,)).fetchall()
        return {
            (s, lesson): sub for s, lesson, sub in rows if self.released.get((s, lesson)) != sub
        }


def main(*, course: Course, dsn: str, poll: float = 5.0) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    gradebook.quiet()
    gradebook.use_alembic_api()
    require_shared_gradebook(course)
    ensure_schema(dsn)
    server = Server(course, dsn)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("grading on submit for course %s", course.coursedir.course_id)
    try:
        while not stop.is_set():
            server.once()
            stop.wait(poll)
    except KeyboardInterrupt:
        pass
    return 0


FINISHED = """
SELECT student, lesson, submission FROM autograder_submissions
WHERE course_id = %s AND status = 'done' AND submission <> ''
  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(results, '[]')) r
                  WHERE (r ->> 'grader_error')::boolean)
"""
