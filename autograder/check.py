"""`autograder check NOTEBOOK`: a learner's own notebook, its visible tests, verdicts in a terminal.

The notebook runs exactly as at grading (learner cells in a sandboxed kernel, test cells in this
process, the course's limits from the nearest nbgrader_config.py), so the verdicts here are the
ones the grader gives for the visible tests.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from traitlets.config import Config

from .course import CONFIG_FILE, Course
from .errors import AutograderError
from .results import TestResult
from .sandbox.launcher import KernelLauncher
from .sandbox.limits import Sandboxing
from .terminal import line, make_console, shown
from .trusted.executor import RunSummary, cell_result, execute_notebook, is_test_cell

MAX_FILE_BYTES = 4 * 1024**2


def check_notebook(
    path: Path, *, launcher: KernelLauncher | None = None
) -> tuple[list[TestResult], RunSummary]:
    """The result of every test cell of the notebook, in order, and how the run went.

    A `launcher` (with its sandbox) may be reused across notebooks; by default one is made with
    the limits of the course the notebook sits in.
    """
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several kinds for damaged files
        raise AutograderError(
            f"{path} is not a notebook that can be read ({type(error).__name__})"
        ) from error
    own = launcher is None
    launcher = launcher or KernelLauncher(Sandboxing.resolve(_course_config(path)))
    try:
        summary = execute_notebook(nb, launcher, files=_files_beside(path), workdir=path.parent)
    finally:
        if own:
            launcher.close()
    return [cell_result(cell) for cell in nb.cells if is_test_cell(cell)], summary


def _course_config(path: Path) -> Config:
    """The limits of the course the notebook sits in, if it sits in one."""
    for folder in path.resolve().parents:
        if (folder / CONFIG_FILE).is_file():
            return Course.find(folder).config
    return Config()


def _files_beside(path: Path) -> dict[str, bytes]:
    """Small non-notebook files next to the notebook (a lesson's data), as the kernel sees them."""
    files = {}
    for other in sorted(path.parent.iterdir()):
        if (
            other.is_file()
            and not other.is_symlink()
            and other.suffix != ".ipynb"
            and not other.name.startswith(".")
        ):
            if other.stat().st_size <= MAX_FILE_BYTES:
                files[other.name] = other.read_bytes()
    return files


def main(*, notebook: str) -> int:
    console = make_console()
    path = Path(notebook)
    if not path.is_file():
        raise AutograderError(f"no such notebook: {notebook}")
    results, summary = check_notebook(path)
    for result in results:
        mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
        console.print(line(f"{mark} ", shown(result.grade_id), f" ({result.max_points:g} points): ",
                           shown(result.message)))  # fmt: skip
    if summary.stopped:
        console.print(line("[red]Your notebook stopped early:[/] ", shown(summary.stopped)))
    earned = sum(r.points for r in results)
    total = sum(r.max_points for r in results)
    console.print(f"[bold]{earned:g}/{total:g}[/] points from the visible tests "
                  "(hidden tests run when your notebook is graded)")  # fmt: skip
    return 0 if all(r.passed for r in results) else 1
