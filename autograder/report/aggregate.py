"""A class's results counted the way an instructor plans the next lecture.

Per lesson: the learners' scores, who was graded, who handed in something ungradable (and why),
who handed in nothing, and how long after the release they submitted. Per exercise: how many
passed, and the learners who failed grouped by the misconception their failure names (an id, so
the grouping does not depend on a message's wording). Across the course: the misconceptions that
affected the most learners, and the learners with many ungradable or zero-score notebooks.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import nbformat

from ..course import Course
from ..results import GRADED, UNGRADABLE, NotebookResult
from .anonymise import anonymiser, example
from .exercises import Exercise, exercises, notebook_title
from .misconceptions import UNNAMED, describe, lesson_descriptions, worth_reteaching
from .records import Records

RETEACH = 3  # misconceptions shown as the ones most worth re-teaching
HELP_AT = 2  # a learner with this many ungradable or zero-score lessons may need help


@dataclass
class Group:
    """The learners whose failures in one exercise name one misconception."""

    misconception: str | None
    description: str | None
    learners: list[str]
    example: str


@dataclass
class ExerciseReport:
    exercise: Exercise
    anchor: str
    graded: int  # learners whose notebook was graded
    passed: int  # of them, those who passed every test of the exercise
    groups: list[Group]

    @property
    def failed(self) -> int:
        return self.graded - self.passed


@dataclass
class Ungradable:
    learner: str
    notebook: str
    reason: str


@dataclass
class Timing:
    """When a lesson's submissions came in, relative to its release and due date."""

    released: datetime | None
    due: datetime | None
    times: int  # graded submissions with a submission time
    late: int  # of them, submitted after the due date
    median: timedelta | None  # from release to submission, over `counted`
    counted: int
    note: str  # why there is no median, or what it leaves out


@dataclass
class LessonReport:
    name: str
    title: str
    anchor: str
    max_score: float
    scores: dict[str, float]  # graded learner -> score
    ungradable: list[Ungradable]
    missing: list[str]
    timing: Timing
    exercises: list[ExerciseReport]

    @property
    def graded(self) -> list[str]:
        return sorted(self.scores)

    @property
    def ungradable_learners(self) -> list[str]:
        return sorted({u.learner for u in self.ungradable})


@dataclass
class Place:
    """Where a misconception showed: an exercise, and how many learners showed it there."""

    lesson: LessonReport
    exercise: ExerciseReport
    learners: int


@dataclass
class Misconception:
    """One misconception across the course."""

    misconception: str
    description: str | None
    learners: list[str]
    failures: int  # failing tests that named it
    places: list[Place]
    example: str


@dataclass
class NeedsHelp:
    learner: str
    ungradable: list[str]  # lessons
    zero: list[str]  # lessons graded with a score of 0
    missing: list[str]  # lessons not handed in


@dataclass
class ClassReport:
    course: str
    generated: datetime
    learners: list[str]
    lessons: list[LessonReport]
    reteach: list[Misconception]  # the RETEACH most worth re-teaching
    needs_help: list[NeedsHelp]
    strays: list[NotebookResult]  # folders that are no lesson of the course
    notes: list[str] = field(default_factory=list)


def class_report(
    course: Course, results: list[NotebookResult], records: Records, generated: datetime
) -> ClassReport:
    """Count `results` (grades.json) for every lesson of the course."""
    lessons = course.lessons
    strays = [r for r in results if r.assignment not in lessons]
    results = [r for r in results if r.assignment in lessons]
    learners = sorted(records.learners | {r.student for r in results} | {r.student for r in strays})
    names = set(learners) | {n for names in records.names.values() for n in names}
    strip = anonymiser({n for n in names if len(n.strip()) > 1})
    by_lesson: dict[str, dict[str, list[NotebookResult]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        by_lesson[result.assignment][result.student].append(result)
    reports = [
        _lesson(course, lesson, learners, by_lesson[lesson], records, strip) for lesson in lessons
    ]
    return ClassReport(
        course.coursedir.course_id or course.root.name,
        generated,
        learners,
        reports,
        _reteach(reports, strip),
        _needs_help(learners, reports),
        strays,
        list(records.notes),
    )


def _lesson(
    course: Course,
    lesson: str,
    learners: list[str],
    entries: dict[str, list[NotebookResult]],
    records: Records,
    strip,
) -> LessonReport:
    scores, ungradable, missing, max_scores = {}, [], [], [0.0]
    for learner in learners:
        mine = entries.get(learner)
        if not mine:
            missing.append(learner)
            continue
        max_scores.append(sum(r.max_score for r in mine))
        broken = [r for r in mine if r.status == UNGRADABLE]
        if broken:
            ungradable += [Ungradable(learner, r.notebook, r.reason or "") for r in broken]
        else:
            scores[learner] = sum(r.score for r in mine if r.status == GRADED)
    graded = {
        (r.student, r.notebook): {t.grade_id: t for t in r.tests}
        for rs in entries.values()
        for r in rs
        if r.status == GRADED and r.student in scores
    }
    descriptions = lesson_descriptions(course, lesson)
    title, found = _exercises(course, lesson, entries)
    reports = [_exercise(e, graded, descriptions, strip) for e in found]
    max_score = max(max(max_scores), sum(e.points for e in found))
    return LessonReport(
        lesson,
        title,
        "lesson-" + slug(lesson),
        max_score,
        scores,
        ungradable,
        missing,
        _timing(lesson, sorted(scores), records),
        reports,
    )


def _exercises(course: Course, lesson: str, entries) -> tuple[str, list[Exercise]]:
    """The lesson's title and exercises from its release (from the results if there is none)."""
    title, found = "", []
    for notebook in course.notebooks(lesson):
        path = course.release / lesson / f"{notebook}.ipynb"
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError):  # no release built yet: one exercise per test, by its id
            seen = {}
            for rs in entries.values():
                for r in rs:
                    if r.notebook == notebook:
                        for t in r.tests:
                            seen.setdefault(t.grade_id, t.max_points)
            found += [Exercise(lesson, notebook, g, g, "", [g], p) for g, p in seen.items()]
            continue
        title = title or notebook_title(nb)
        found += exercises(nb, lesson, notebook)
    return title, found


def _exercise(exercise: Exercise, graded: dict, descriptions: dict, strip) -> ExerciseReport:
    failing: dict[str | None, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    count = passed = 0
    for (learner, notebook), tests in sorted(graded.items()):
        if notebook != exercise.notebook:
            continue
        count += 1
        ok = True
        for grade_id in exercise.tests:
            test = tests.get(grade_id)
            if test is None or not test.passed:
                ok = False
                why = test.misconception if test is not None else UNNAMED
                failing[why][learner].append(test.message if test is not None else "")
        passed += ok
    groups = [
        Group(
            why,
            describe(why, descriptions),
            sorted(people),
            example([m for ms in people.values() for m in ms], strip),
        )
        for why, people in failing.items()
    ]
    groups.sort(key=lambda g: (-len(g.learners), g.misconception is UNNAMED, g.misconception or ""))
    anchor = f"ex-{slug(exercise.lesson)}-{slug(exercise.notebook)}-{slug(exercise.key)}"
    return ExerciseReport(exercise, anchor, count, passed, groups)


def _timing(lesson: str, graded: list[str], records: Records) -> Timing:
    released, due = records.released.get(lesson), records.due.get(lesson)
    times = {
        learner: records.submitted[(learner, lesson)]
        for learner in graded
        if (learner, lesson) in records.submitted
    }
    late = sum(1 for t in times.values() if due is not None and t > due)
    if not times:
        note = (
            "no submission times: nbgrader records them for submissions collected from its "
            "exchange (nbgrader collect)"
        )
        return Timing(released, due, 0, 0, None, 0, note)
    if released is None:
        where = f"in {records.outbound}" if records.outbound else "(the course has no course_id)"
        note = (
            f"no release time: the lesson was not released through this machine's exchange {where}"
        )
        return Timing(released, due, len(times), late, None, 0, note)
    after = [(t - released).total_seconds() for t in times.values() if t >= released]
    before = len(times) - len(after)
    note = f"{before} submitted before the lesson's last release, not counted" if before else ""
    if not after:
        return Timing(released, due, len(times), late, None, 0, note)
    return Timing(
        released,
        due,
        len(times),
        late,
        timedelta(seconds=statistics.median(after)),
        len(after),
        note,
    )


def _reteach(lessons: list[LessonReport], strip) -> list[Misconception]:
    """The misconceptions that affected the most learners, across the course."""
    found: dict[str, Misconception] = {}
    for lesson in lessons:
        for report in lesson.exercises:
            for group in report.groups:
                if not worth_reteaching(group.misconception):
                    continue
                entry = found.setdefault(
                    group.misconception,
                    Misconception(group.misconception, group.description, [], 0, [], group.example),
                )
                entry.description = entry.description or group.description
                entry.learners = sorted(set(entry.learners) | set(group.learners))
                entry.failures += len(group.learners)
                entry.places.append(Place(lesson, report, len(group.learners)))
    ranked = sorted(found.values(), key=lambda m: (-len(m.learners), -m.failures, m.misconception))
    return ranked[:RETEACH]


def _needs_help(learners: list[str], lessons: list[LessonReport]) -> list[NeedsHelp]:
    flagged = []
    for learner in learners:
        entry = NeedsHelp(
            learner,
            [lesson.name for lesson in lessons if learner in lesson.ungradable_learners],
            [
                lesson.name
                for lesson in lessons
                if learner in lesson.scores and lesson.scores[learner] == 0 and lesson.max_score > 0
            ],
            [lesson.name for lesson in lessons if learner in lesson.missing],
        )
        if len(entry.ungradable) + len(entry.zero) >= HELP_AT:
            flagged.append(entry)
    return sorted(flagged, key=lambda e: (-(len(e.ungradable) + len(e.zero)), e.learner))


def slug(text: str) -> str:
    """A fragment identifier made of `text`: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"
