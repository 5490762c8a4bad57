"""`autograder build`: regenerate the learner release and the worked solutions from source/.

nbgrader does the work (`generate_assignment` for notebooks/, `generate_solution` for
solutions/); this module runs it into a scratch folder, scrubs what would make the committed
files differ from one machine or run to the next, checks that nothing secret reached the
release, and then either replaces notebooks/ and solutions/ or (with --check) compares. Figures
are compared as pictures (`figures`): another CPU may draw a pixel of a curve differently.
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Course
from .errors import CourseError
from .figures import same_notebooks
from .grading import gradebook
from .outputs import ordered_streams

# Source notebook metadata for instructors only (read by `autograder report`), never released.
INSTRUCTOR_METADATA = "autograder"
# Executed outputs that name the machine: kernel temp files in warnings, memory addresses.
_NOISE = [
    (re.compile(r"/tmp/ipykernel_\d+/\d+\.py"), "<cell>"),
    (re.compile(r" at 0x[0-9a-f]{6,}"), " at 0x..."),
]


@dataclass
class BuildReport:
    lessons: list[str]
    seconds: float
    stale: list[str] = field(default_factory=list)  # with --check: files that differ


def build(course: Course, *, check: bool = False) -> BuildReport:
    """Regenerate notebooks/ and solutions/ (or, with check, report which are stale)."""
    started = time.monotonic()
    lessons = course.lessons
    with tempfile.TemporaryDirectory(prefix="autograder-build-") as tmp:
        out = Path(tmp)
        release, solutions = out / "notebooks", out / "solutions"
        # --check leaves the course's gradebook alone; a real build updates it for grading.
        db_url = f"sqlite:///{out / 'gradebook.db'}" if check else course.db_url
        # Kernels on IPC sockets of this build's own: no TCP port to race for, no plain-text
        # warning.
        kernels = {"KernelManager": {"transport": "ipc", "ip": str(out / "kernel")}}
        api = course.api(release_directory=str(release), solution_directory=str(solutions),
                         db_url=db_url, settings=kernels)  # fmt: skip
        for lesson in lessons:
            _ok(
                api.generate_assignment(lesson, force=True, create=True),
                "generate_assignment",
                lesson,
            )
            _ok(generate_solution(api, lesson), "generate_solution", lesson)
        for path in sorted(release.rglob("*.ipynb")) + sorted(solutions.rglob("*.ipynb")):
            _scrub(path)
        leaks = find_leaks(course, release)
        if leaks:
            raise CourseError("secret text reached the learner release:\n" + "\n".join(leaks))
        if check:
            stale = _differences(release, course.release) + _differences(
                solutions, course.solutions
            )
            return BuildReport(lessons, time.monotonic() - started, stale)
        for built, target in ((release, course.release), (solutions, course.solutions)):
            _keep_committed_figures(built, target)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(built, target)
        gradebook.remember_registered(course, lessons)  # generate_assignment registered them
    return BuildReport(lessons, time.monotonic() - started)


def generate_solution(api, lesson: str) -> dict:
    """nbgrader's generate_solution, which its Python API does not wrap."""
    from nbgrader.converters import GenerateSolution
    from nbgrader.utils import capture_log, temp_attrs

    with temp_attrs(api.coursedir, assignment_id=lesson):
        app = GenerateSolution(coursedir=api.coursedir, parent=api)
        app.force = True
        return capture_log(app)


def _ok(result: dict, step: str, lesson: str) -> None:
    if not result.get("success"):
        log = (result.get("log") or "").strip().splitlines()[-15:]
        raise CourseError(
            f"nbgrader {step} failed for {lesson}: {result.get('error') or ''}\n" + "\n".join(log)
        )


def _scrub(path: Path) -> None:
    """Make a generated notebook byte-identical across machines and runs, and drop the notebook
    metadata that is for instructors only (the misconceptions' descriptions)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop(INSTRUCTOR_METADATA, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = ordered_streams(cell.outputs)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = _denoise(output["text"])
            elif output.get("output_type") == "error":
                output["traceback"] = [_denoise(line) for line in output["traceback"]]
            elif "text/plain" in output.get("data", {}):
                output["data"]["text/plain"] = _denoise(output["data"]["text/plain"])
    nb.metadata.get("language_info", {}).pop("version", None)
    path.write_text(
        json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _denoise(text: str) -> str:
    for pattern, replacement in _NOISE:
        text = pattern.sub(replacement, text)
    return text


def find_leaks(course: Course, release: Path) -> list[str]:
    """Solution or hidden-test lines of source/ that appear in the release (and nowhere public)."""
    leaks = []
    for lesson in course.lessons:
        for notebook in course.notebooks(lesson):
            secret = course.lesson(lesson, notebook).secret_lines()
            released = release / lesson / f"{notebook}.ipynb"
            if not released.exists():
                leaks.append(f"{released} was not generated")
                continue
            text = {line.strip() for cell in nbformat.read(released, as_version=4).cells
                    for line in cell.source.splitlines()}  # fmt: skip
            leaks += [f"{lesson}/{notebook}.ipynb: {line}" for line in sorted(secret & text)]
    return leaks


def _differences(built: Path, committed: Path) -> list[str]:
    stale = []
    names = {p.relative_to(built) for p in built.rglob("*") if p.is_file()}
    if committed.exists():
        present = [p for p in committed.rglob("*") if p.is_file()]
        ignored = _ignored_by_git(committed, present)
        names |= {p.relative_to(committed) for p in present if p not in ignored}
    for name in sorted(names):
        a, b = built / name, committed / name
        if not (a.exists() and b.exists() and _same(a, b)):
            stale.append(str(committed.name / name))
    return stale


def _same(built: Path, committed: Path) -> bool:
    """Byte for byte, or a notebook whose figures differ only as another CPU draws them."""
    if filecmp.cmp(built, committed, shallow=False):
        return True
    return built.suffix == ".ipynb" and same_notebooks(built, committed)


def _keep_committed_figures(built: Path, committed: Path) -> None:
    """A notebook that differs from the committed one only as another CPU draws its figures
    keeps the committed bytes, so building on another machine changes no file."""
    for path in built.rglob("*.ipynb"):
        old = committed / path.relative_to(built)
        if old.is_file() and _same(path, old):
            shutil.copyfile(old, path)


def _ignored_by_git(folder: Path, paths: list[Path]) -> set[Path]:
    """The paths git ignores (.ipynb_checkpoints/ and the like); none outside a git work tree."""
    if not paths:
        return set()
    try:
        run = subprocess.run(["git", "check-ignore", "--stdin", "-z"], cwd=folder,
                             capture_output=True, input=b"\0".join(str(p).encode() for p in paths),
                             timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return set()
    if run.returncode not in (0, 1):  # 128: not a git work tree
        return set()
    return {Path(name.decode()) for name in run.stdout.split(b"\0") if name}


def main(*, course: Course, check: bool) -> int:
    """`autograder build [--check]`."""
    report = build(course, check=check)
    if check:
        if report.stale:
            print("stale (run `autograder build`):", *report.stale, sep="\n  ")
            return 1
        print(
            f"notebooks/ and solutions/ are up to date ({len(report.lessons)} lessons, "
            f"{report.seconds:.1f} s)"
        )
    else:
        print(
            f"built {len(report.lessons)} lessons into {course.release.name}/ and "
            f"{course.solutions.name}/ in {report.seconds:.1f} s"
        )
    return 0
