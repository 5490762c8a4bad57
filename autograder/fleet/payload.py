"""A grading job on the wire: plain JSON (procrastinate stores task arguments as jsonb), no pickle.

A payload carries one learner's lesson as intake staged it: the repaired notebooks as text, the
exchange's timestamp and submission secret, intake's notes, and the fingerprint of the lesson's
source the enqueuer registered in the gradebook. Its digest names the submission, so queuing the
same one twice can be refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..grading.worker import Job

VERSION = 1
STAGED_FILES = (
    "timestamp.txt",
    "submission_secret.txt",
)  # what intake.stage writes beside notebooks


class PayloadError(ValueError):
    """A payload this version of the grader cannot read."""


def build(course_id: str, job: Job, staged: Path, fingerprint: str) -> dict:
    """The payload of `job`, from the folder intake staged it in (staging/<student>/<lesson>/)."""
    files = {f"{notebook}.ipynb": (staged / f"{notebook}.ipynb").read_text(encoding="utf-8")
             for notebook in job.notebooks}  # fmt: skip
    for name in STAGED_FILES:
        if (staged / name).is_file():
            files[name] = (staged / name).read_text(encoding="utf-8")
    payload = {"version": VERSION, "course": course_id, "student": job.student,
               "lesson": job.lesson, "notebooks": list(job.notebooks),
               "notes": {nb: list(n) for nb, n in job.notes.items()},
               "files": files, "fingerprint": fingerprint}  # fmt: skip
    payload["submission"] = digest(payload)
    return payload


def digest(payload: dict) -> str:
    """What identifies a submission: the learner, the lesson, its files and the lesson's source."""
    named = {key: payload[key] for key in ("course", "student", "lesson", "files", "fingerprint")}
    return hashlib.sha256(
        json.dumps(named, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def job_of(payload: dict) -> Job:
    """The `Job` a payload describes; PayloadError if it is not one this grader understands."""
    if not isinstance(payload, dict) or payload.get("version") != VERSION:
        raise PayloadError(
            f"payload version {payload.get('version') if isinstance(payload, dict) else '?'} "
            f"is not {VERSION}: the enqueuer and this worker run different autograder versions"
        )
    try:
        notebooks = tuple(str(n) for n in payload["notebooks"])
        notes = {str(k): [str(v) for v in vs] for k, vs in payload["notes"].items()}
        return Job(str(payload["student"]), str(payload["lesson"]), notebooks, notes)
    except (KeyError, TypeError, AttributeError) as error:
        raise PayloadError(f"the payload is incomplete: {type(error).__name__}: {error}") from None


def unpack(payload: dict, staging: Path) -> Path:
    """Write the payload's files to staging/<student>/<lesson>/ (only its own, nothing else)."""
    job = job_of(payload)
    folder = staging / job.student / job.lesson
    if folder.resolve().parent.parent != staging.resolve():
        raise PayloadError("the payload names a learner or lesson that is not a plain folder name")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    allowed = {f"{notebook}.ipynb" for notebook in job.notebooks} | set(STAGED_FILES)
    for name, text in payload["files"].items():
        if name not in allowed:
            raise PayloadError(f"the payload carries a file it should not: {name!r}")
        (folder / name).write_text(text, encoding="utf-8")
    return folder
