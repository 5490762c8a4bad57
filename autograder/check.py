"""`autograder check NOTEBOOK`: a learner's own notebook, its visible tests, verdicts in a terminal.

The notebook runs exactly as at grading (learner cells in a kernel, test cells in this process),
so the verdicts here are the ones the grader would give for the visible tests.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from .executor import execute_notebook, is_test_cell, test_outcome
from .report import console
from .sandbox import KernelLauncher, Sandbox, choose_isolation


def check_notebook(path: Path) -> list[tuple[str, float, bool, str]]:
    """(grade_id, points, passed, message) for every test cell of the notebook."""
    nb = nbformat.read(path, as_version=4)
    settings = Sandbox()
    launcher = KernelLauncher(settings, choose_isolation(settings))
    try:
        summary = execute_notebook(nb, launcher, settings)
    finally:
        launcher.close()
    verdicts = []
    for cell in nb.cells:
        if is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            passed, message = test_outcome(cell)
            verdicts.append((meta.get("grade_id", "?"), float(meta.get("points", 0)), passed, message))
    if summary.get("stopped"):
        console.print(f"[red]Your notebook stopped early:[/] {summary['stopped']}")
    return verdicts


def main(*, notebook: str) -> int:
    path = Path(notebook)
    if not path.is_file():
        console.print(f"[red]no such notebook:[/] {notebook}")
        return 2
    verdicts = check_notebook(path)
    for grade_id, points, passed, message in verdicts:
        mark = "[green]✓[/]" if passed else "[red]✗[/]"
        console.print(f"{mark} {grade_id} ({points:g} points): {message}")
    earned = sum(points for _, points, passed, _ in verdicts if passed)
    total = sum(points for _, points, _, _ in verdicts)
    console.print(f"[bold]{earned:g}/{total:g}[/] points from the visible tests "
                  "(hidden tests run when your notebook is graded)")
    return 0 if all(passed for _, _, passed, _ in verdicts) else 1
