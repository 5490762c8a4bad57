"""Whatever a notebook's structure, does intake give every learner exactly one status, and go on?

Hypothesis mutates real learner notebooks at random (types of every metadata field, missing and
extra keys, huge and deeply nested values, old format versions without cell ids) and lays out a
class of them; intake must never raise, must give each expected notebook exactly one entry, and
must stage every notebook it calls gradable as a notebook nbformat can read back.
"""

from __future__ import annotations

import copy
import json
import shutil

import nbformat
import pytest
from conftest import answered, copy_course, lessons
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.course import Course
from autograder.grading.intake import find_submissions, stage

LESSON = lessons()[0]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP: list = [1]
for _ in range(200):
    DEEP = [DEEP]
HUGE = st.sampled_from(["x" * 200_000, DEEP, list(range(5000))])
CELL_FIELDS = ["metadata", "id", "source", "cell_type", "outputs", "execution_count", "attachments"]
NBGRADER_FIELDS = [
    "grade",
    "solution",
    "locked",
    "points",
    "grade_id",
    "schema_version",
    "checksum",
    "cell_type",
]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return copy_course(tmp_path_factory.mktemp("intake-properties") / "course")


@st.composite
def mutated_notebook(draw):
    nb = json.loads(nbformat.writes(answered(LESSON)))
    for _ in range(draw(st.integers(1, 6))):
        value = draw(JSON | HUGE)
        cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
        kind = draw(
            st.sampled_from(["cell", "nbgrader", "notebook", "drop", "duplicate", "old-format"])
        )
        if kind == "old-format":
            nb["nbformat_minor"] = draw(st.integers(0, 4))
            for cell in cells:
                if isinstance(cell, dict):
                    cell.pop("id", None)
            continue
        if not cells:
            continue
        index = draw(st.integers(0, len(cells) - 1))
        if not isinstance(cells[index], dict):
            continue  # an earlier mutation made this cell a plain value
        if kind == "cell":
            cells[index][draw(st.sampled_from(CELL_FIELDS))] = value
        elif kind == "nbgrader":
            metadata = cells[index].setdefault("metadata", {})
            if isinstance(metadata, dict):
                if draw(st.booleans()) or not isinstance(metadata.get("nbgrader"), dict):
                    metadata["nbgrader"] = value
                else:
                    metadata["nbgrader"][draw(st.sampled_from(NBGRADER_FIELDS))] = value
        elif kind == "notebook":
            nb[draw(st.sampled_from(["metadata", "nbformat_minor", "nbformat", "cells"]))] = value
        elif kind == "drop":
            del cells[index]
        else:
            cells.insert(index, copy.deepcopy(cells[index]))
    return json.dumps(nb).encode()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(notebooks=st.lists(mutated_notebook(), min_size=1, max_size=3))
def test_every_learner_gets_exactly_one_status_whatever_the_notebook(course, notebooks):
    submitted = course / "submitted"
    staging = course / "staging"
    for folder in (submitted, staging):
        shutil.rmtree(folder, ignore_errors=True)
    names = [f"learner{i}" for i in range(len(notebooks))] + ["honest"]
    for name, content in zip(names, [*notebooks, nbformat.writes(answered(LESSON)).encode()]):
        (submitted / name / LESSON).mkdir(parents=True)
        (submitted / name / LESSON / f"{LESSON}.ipynb").write_bytes(content)

    subs = find_submissions(Course.find(course), submitted)
    stage(subs, staging)

    assert sorted(s.student for s in subs) == sorted(names)
    for sub in subs:
        assert sub.gradable or (isinstance(sub.problem, str) and sub.problem), sub
        if sub.gradable:
            nbformat.validate(
                nbformat.read(staging / sub.student / LESSON / f"{LESSON}.ipynb", as_version=4)
            )
    assert next(s for s in subs if s.student == "honest").gradable
