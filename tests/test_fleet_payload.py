"""Is a grading job on the wire plain JSON that names its submission and carries nothing else?"""

from __future__ import annotations

import json

import pytest

from autograder.fleet import payload as payloads
from autograder.grading.worker import Job


def staged(tmp_path, text="{}", stamp="2025-01-31 10:00:00.000000 UTC"):
    folder = tmp_path / "staged" / "ada" / "01-lemur"
    folder.mkdir(parents=True)
    (folder / "01-lemur.ipynb").write_text(text)
    (folder / "timestamp.txt").write_text(stamp)
    return folder


def test_a_payload_is_json_and_unpacks_to_the_staged_files(tmp_path):
    job = Job("ada", "01-lemur", ("01-lemur",), {"01-lemur": ["a note"]})
    payload = payloads.build("course", job, staged(tmp_path, '{"cells": []}'), "f" * 64)
    wire = json.loads(json.dumps(payload))  # what procrastinate stores (jsonb) and hands back
    assert payloads.job_of(wire) == job and payloads.job_of(wire).notes == job.notes
    folder = payloads.unpack(wire, tmp_path / "worker")
    assert sorted(p.name for p in folder.iterdir()) == ["01-lemur.ipynb", "timestamp.txt"]
    assert (folder / "01-lemur.ipynb").read_text() == '{"cells": []}'


@pytest.mark.parametrize("change", ["notebook", "timestamp", "source"])
def test_the_digest_names_the_submission(tmp_path, change):
    job = Job("ada", "01-lemur", ("01-lemur",))
    first = payloads.build("course", job, staged(tmp_path / "a"), "f" * 64)
    again = payloads.build("course", job, staged(tmp_path / "b"), "f" * 64)
    assert first["submission"] == again["submission"], (
        "the same files and source: the same submission"
    )
    other = {
        "notebook": lambda: staged(tmp_path / "c", text='{"x": 1}'),
        "timestamp": lambda: staged(tmp_path / "c", stamp="2025-02-01 10:00:00.000000 UTC"),
        "source": lambda: staged(tmp_path / "c"),
    }[change]()
    changed = payloads.build("course", job, other, "e" * 64 if change == "source" else "f" * 64)
    assert changed["submission"] != first["submission"]


@pytest.mark.parametrize("student", ["..", "a/b", "."])
def test_a_payload_cannot_write_outside_its_folder(tmp_path, student):
    payload = payloads.build(
        "course", Job("ada", "01-lemur", ("01-lemur",)), staged(tmp_path), "f" * 64
    )
    payload["student"] = student
    with pytest.raises(payloads.PayloadError):
        payloads.unpack(payload, tmp_path / "worker")


def test_a_payload_carries_only_the_lessons_notebooks(tmp_path):
    payload = payloads.build(
        "course", Job("ada", "01-lemur", ("01-lemur",)), staged(tmp_path), "f" * 64
    )
    payload["files"]["helper.py"] = "import os"
    with pytest.raises(payloads.PayloadError, match="helper.py"):
        payloads.unpack(payload, tmp_path / "worker")


def test_a_payload_of_another_version_is_refused_with_a_reason():
    with pytest.raises(payloads.PayloadError, match="different autograder versions"):
        payloads.job_of({"version": 99})
