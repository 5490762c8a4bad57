"""nbgrader's Execute step, split across the trust boundary.

`TrustedExecute` takes the place of nbgrader's `Execute` among the autograde preprocessors:
learner cells run in a sandboxed kernel (`trusted.kernel`), test cells run here
(`trusted.tests`). Each test cell's `TestResult` is kept in the cell's metadata (the one record
of the verdict that `grade` and `check` read) and rendered as the outputs nbgrader's
`SaveAutoGrades` scores: a stdout line when it passed (and the number its last line gave, which
nbgrader reads as partial credit), an error carrying only the learner-facing message when it
failed. The hidden-test source never reaches the kernel, and nothing the kernel says can mark a
test as passed. Test cells run in the notebook's folder (where nbgrader copied the instructor's
files), and import the instructor's helper modules from there, as they would in nbgrader.
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Any

from .. import phases
from ..results import TestResult
from ..sandbox.launcher import KernelLauncher
from .kernel import KernelStopped, LearnerKernel
from .tests import TestNamespace, TestRun, run_test

METADATA = "autograder"  # cell metadata key holding a test cell's result; notebook key: the run


@dataclass
class RunSummary:
    """How one notebook's run went, beyond its test results."""

    isolation: str
    stopped: str | None = None  # why the notebook stopped early, for the learner
    results: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the instructor: what could not cross


def is_test_cell(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def cell_result(cell: NotebookNode) -> TestResult | None:
    """The result the executor stored on a test cell, if it ran here."""
    stored = cell.metadata.get(METADATA, {}).get("result")
    return TestResult.from_dict(stored) if isinstance(stored, dict) else None


def rendered(run: TestRun) -> list:
    """The outputs nbgrader scores and the feedback page shows for one test run."""
    result = run.result
    figures = [new_output("display_data",
                          data={"image/png": png, "text/plain": "<figure drawn by the test>"})
               for png in run.images]  # fmt: skip
    if run.value is not None:  # a number nbgrader reads as the points
        printed = new_output("stream", name="stdout", text=run.output or result.message + "\n")
        value = new_output("execute_result", data={"text/plain": run.value}, execution_count=None)
        return [printed, *figures, value]
    if result.passed:
        return [
            new_output("stream", name="stdout", text=run.output or result.message + "\n"),
            *figures,
        ]
    # The traceback is what notebooks and feedback pages show, in a box that does not wrap.
    lines = ("AssertionError: " + result.message).splitlines()
    shown = "\n".join(textwrap.fill(line, 100) for line in lines)
    error = new_output("error", ename="AssertionError", evalue=result.message, traceback=[shown])
    return [*figures, error]


def execute_notebook(nb: NotebookNode, launcher: KernelLauncher, *,
                     files: dict[str, bytes] | None = None,
                     workdir: Path | None = None) -> RunSummary:  # fmt: skip
    """Run `nb` in place: learner cells in the sandbox, test cells here (in `workdir`)."""
    limits = launcher.limits
    summary = RunSummary(launcher.mode)
    kernel = LearnerKernel(launcher, limits, files)
    try:
        kernel.start()
    except RuntimeError as error:
        summary.stopped = f"the grader could not start a Python kernel for your notebook ({error})"
        for cell in nb.cells:
            if is_test_cell(cell):
                message = f"Your notebook could not be run: {summary.stopped}."
                _record(cell, TestRun(_failed(cell, message, "notebook-stopped")), summary)
        return summary
    namespace = TestNamespace(kernel)
    stuck = None  # the error of the latest answer cell, if it raised
    try:
        with _working_directory(workdir):
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                cell.outputs = []
                if is_test_cell(cell):
                    cell.execution_count = None
                    _record(cell, _run_test_cell(cell, namespace, kernel, stuck), summary)
                    continue
                try:
                    kernel.run_cell(cell)
                except KernelStopped as stopped:
                    cell.outputs.append(
                        new_output(
                            "error",
                            ename="KernelStopped",
                            evalue=stopped.reason,
                            traceback=["Your notebook stopped here: " + stopped.reason],
                        )
                    )
                if is_solution(cell):
                    stuck = _error_of(cell)
    finally:
        kernel.close()
    summary.stopped = kernel.stopped
    summary.notes = list(namespace.notes)
    return summary


def _run_test_cell(cell, namespace: TestNamespace, kernel: LearnerKernel, stuck) -> TestRun:
    meta = cell.metadata["nbgrader"]
    grade_id, points = str(meta.get("grade_id", "")), float(meta.get("points") or 0)
    timeout = min(kernel.limits.test_timeout, max(0.0, kernel.remaining()))
    if kernel.stopped or timeout <= 0:
        try:
            kernel.check_running()
        except KernelStopped as stopped:
            message = f"Your notebook stopped before this test could check it: {stopped.reason}."
            return TestRun(_failed(cell, message, "notebook-stopped"))
    # The notebook's deadline is wall-clock time, so the test's own time counts in it.
    named = f"`{grade_id}` (cell id {cell.get('id', '?')})"  # as the instructor's notes name it
    with phases.phase("test cells"):
        return run_test(cell.source, namespace, grade_id=grade_id, max_points=points,
                        timeout=timeout, stuck=stuck, cell=named)  # fmt: skip


def _failed(cell, message: str, misconception: str) -> TestResult:
    meta = cell.metadata["nbgrader"]
    return TestResult(
        str(meta.get("grade_id", "")),
        0.0,
        float(meta.get("points") or 0),
        False,
        message,
        misconception,
    )


def _record(cell, run: TestRun | TestResult, summary: RunSummary) -> None:
    run = run if isinstance(run, TestRun) else TestRun(run)
    cell.outputs = rendered(run)
    cell.metadata[METADATA] = {"result": asdict(run.result)}
    summary.results.append(run.result)


def _error_of(cell) -> str | None:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return None
    return f"{errors[-1].get('ename', 'an error')}: {str(errors[-1].get('evalue', ''))[:200]}"


@contextlib.contextmanager
def _working_directory(folder: Path | None):
    """Test cells run in `folder` and import from it; modules imported from it are forgotten."""
    if folder is None:
        yield
        return
    previous, modules, bytecode = os.getcwd(), set(sys.modules), sys.dont_write_bytecode
    place = str(Path(folder).resolve())
    os.chdir(folder)
    sys.path.insert(0, place)
    sys.dont_write_bytecode = True  # nothing of the grader's own in autograded/
    try:
        yield
    finally:
        os.chdir(previous)
        sys.path.remove(place)
        sys.dont_write_bytecode = bytecode
        for name in set(sys.modules) - modules:  # another notebook's folder may hold other helpers
            if _inside(getattr(sys.modules[name], "__file__", None), place):
                del sys.modules[name]


def _inside(path, folder: str) -> bool:
    return isinstance(path, str) and Path(path).resolve().is_relative_to(folder)


class TrustedExecute(NbGraderPreprocessor):
    """Execute a submission with learner code sandboxed and tests run by the grader."""

    launcher = Any(None, allow_none=True, help="the KernelLauncher of this grading process")
    files = Any(None, allow_none=True, help="the assignment's instructor files, name -> bytes")
    summaries = Any(None, allow_none=True, help="notebook name -> RunSummary of the latest run")

    def preprocess(self, nb: NotebookNode, resources: dict):
        if self.launcher is None:
            raise RuntimeError("TrustedExecute needs a sandbox: run it through `autograder grade`")
        folder = resources.get("metadata", {}).get("path")
        summary = execute_notebook(nb, self.launcher, files=self.files,
                                   workdir=Path(folder) if folder else None)  # fmt: skip
        nb.metadata[METADATA] = {"isolation": summary.isolation, "stopped": summary.stopped}
        if self.summaries is None:
            self.summaries = {}
        self.summaries[resources.get("nbgrader", {}).get("notebook")] = summary
        return nb, resources
