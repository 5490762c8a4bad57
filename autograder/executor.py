"""nbgrader's Execute step, split across the trust boundary.

`TrustedExecute` takes the place of nbgrader's `Execute` in `Autograde.autograde_preprocessors`:
learner cells run in a sandboxed kernel (`learner_kernel`), test cells run here (`trusted`), and
each test cell's outputs become what nbgrader's `SaveAutoGrades` scores: a stdout line when it
passed, an error carrying only the learner-facing message when it failed. The hidden-test source
never reaches the kernel, and nothing the kernel says can mark a test as passed.
"""
from __future__ import annotations

import contextlib
import textwrap
from typing import Iterator

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

from .learner_kernel import KernelStopped, LearnerKernel
from .sandbox import KernelLauncher, Sandbox
from .trusted import Verdict, run_test

_launcher: KernelLauncher | None = None


@contextlib.contextmanager
def using(launcher: KernelLauncher) -> Iterator[None]:
    """Make nbgrader's converter (which builds the preprocessor itself) use this launcher."""
    global _launcher
    previous, _launcher = _launcher, launcher
    try:
        yield
    finally:
        _launcher = previous


def is_test_cell(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def test_outcome(cell: NotebookNode) -> tuple[bool, str]:
    """(passed, message) of an executed test cell, read back from the outputs written here."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        return False, errors[0]["evalue"]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    lines = [line for line in text.splitlines() if line.strip()]
    return True, lines[-1] if lines else "Passed."


def verdict_outputs(verdict: Verdict) -> list:
    figures = [new_output("display_data", data={"image/png": png, "text/plain": "<figure drawn by the test>"})
               for png in verdict.images]
    if verdict.passed:
        return [new_output("stream", name="stdout", text=verdict.output or verdict.message + "\n")] + figures
    # The traceback is what notebooks and feedback pages show, in a box that does not wrap.
    shown = "\n".join(textwrap.fill(line, 100) for line in ("AssertionError: " + verdict.message).splitlines())
    return figures + [new_output("error", ename="AssertionError", evalue=verdict.message, traceback=[shown])]


def execute_notebook(nb: NotebookNode, launcher: KernelLauncher, settings: Sandbox) -> dict:
    """Run `nb` in place: learner cells in the sandbox, test cells here. Returns a run summary."""
    summary = {"isolation": launcher.mode, "stopped": None}
    kernel = LearnerKernel(launcher, settings)
    try:
        kernel.start()
    except RuntimeError as error:
        summary["stopped"] = "the grader could not start a Python kernel for your notebook (%s)" % error
        for cell in nb.cells:
            if is_test_cell(cell):
                cell.outputs = verdict_outputs(Verdict(False, "Your notebook could not be run: %s." % summary["stopped"]))
        return summary
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            if is_test_cell(cell):
                cell.execution_count = None
                cell.outputs = verdict_outputs(run_test(cell.source, kernel))
                continue
            try:
                kernel.run_cell(cell)
            except KernelStopped as stopped:
                cell.outputs.append(new_output("error", ename="KernelStopped", evalue=stopped.reason,
                                               traceback=["Your notebook stopped here: " + stopped.reason]))
    finally:
        kernel.close()
    summary["stopped"] = kernel.stopped
    return summary


class TrustedExecute(NbGraderPreprocessor):
    """Execute a submission with learner code sandboxed and tests run by the grader."""

    def preprocess(self, nb: NotebookNode, resources: dict):
        if _launcher is None:
            raise RuntimeError("TrustedExecute needs a sandbox: run it through `autograder grade`")
        settings = _launcher.settings
        summary = execute_notebook(nb, _launcher, settings)
        nb.metadata["autograder"] = summary
        return nb, resources
