"""Run a test cell, verbatim, in the grader's process and turn its outcome into a `TestResult`.

The test cells of one notebook share a namespace here (a helper one defines is there for the
next); every name a test uses but no test cell defined is fetched from the learner's kernel at
that point of the notebook, as plain data (see `wire`), and fetched again in later cells. The
`torch` the test imports is this process's own, which learner code never touched, so patched
checkers, poisoned references and rewritten cells in the learner's kernel have nothing to act on.

As in nbgrader, `del NAME` of a learner name deletes it in the learner's kernel too (and binding
the learner's own object to it again puts it back there), and a cell whose last line is a number
scores that many points. What cannot cross the boundary (a function the test defines, bound to a
name learner code would call) is noted for the instructor with the cell's id.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import io
import numbers
import signal
import threading
from dataclasses import dataclass, field

from .. import wire
from ..checks import Mistake
from ..results import TestResult
from .kernel import KernelStopped, LearnerKernel, LearnerNameError
from .standins import LearnerError, RemoteFunction, is_remote_model

MAX_STDOUT = 10_000
MODULE = "__test_cells__"  # the __name__ of test cells: what they define says it came from here


class TestTimeout(Exception):
    """A test cell ran past its time limit in the grader."""

    __test__ = False


@dataclass
class TestRun:
    """A test cell's result, with what the test printed, the figures it drew (PNG, base64) and
    the number its last line gave (as IPython shows it), which nbgrader reads as partial credit."""

    __test__ = False

    result: TestResult
    output: str = ""
    images: list[str] = field(default_factory=list)
    value: str | None = None


class TestNamespace(dict):
    """Globals of a notebook's test cells: names no test cell binds come from the learner's
    kernel."""

    __test__ = False

    def __init__(self, kernel: LearnerKernel):
        super().__init__()
        self._kernel = kernel
        self._fetched: set[str] = set()
        self._deleted: dict[str, object] = {}  # learner names a test deleted -> what it had fetched
        self.cell = ""  # the running test cell, as the instructor's notes name it
        self.value = None  # the value of its last line, when that is an expression
        self.notes: list[str] = []  # for the instructor: what a test cell did that cannot cross
        dict.__setitem__(self, "__name__", MODULE)

    def new_cell(self, cell: str = "") -> None:
        """Forget learner values fetched for earlier cells: learner cells ran since."""
        for name in self._fetched:
            self.pop(name, None)
        self._fetched.clear()
        self.cell, self.value = cell, None
        self._kernel.test_cell += 1

    def __missing__(self, name):
        if name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)  # let Python fall through to the builtins
        value = self._kernel.fetch(name)
        self[name] = value
        self._fetched.add(name)
        return value

    def __setitem__(self, name, value):
        if name in self._deleted:
            self._restore(name, value)
        elif _defined_by_test(value) and (name in self._fetched or self._in_kernel(name)):
            self.note(
                f"binds `{name}`, a name in the learner's kernel, to a {_kind(value)} the "
                f"test defines; learner code that uses `{name}` still uses the learner's own"
            )
        self._fetched.discard(name)  # bound by a test cell: the test's own from now on
        super().__setitem__(name, value)

    def __delitem__(self, name):
        if name in self and name not in self._fetched:
            super().__delitem__(name)  # the test's own name
            return
        if not self._kernel.delete(name):
            raise LearnerNameError(name)
        self._deleted[name] = self.pop(name, None)
        self._fetched.discard(name)

    def _in_kernel(self, name: str) -> bool:
        try:
            return self._kernel.has(name)
        except KernelStopped:  # nothing of the learner's is left to call it
            return False

    def note(self, text: str) -> None:
        self.notes.append(f"test cell {self.cell}: {text}")

    def _restore(self, name, value):
        """A deleted learner name bound again: to the learner's own object, it is put back there."""
        fetched = self._deleted.pop(name)
        ref = _learner_ref(value)
        if value is fetched and fetched is not None:
            ref = [name]
        if ref is None or not self._kernel.bind(name, ref):
            self.note(
                f"deletes the learner's `{name}` and binds it to a value of its own; learner "
                f"code that uses `{name}` does not see that value"
            )


def _learner_ref(value) -> list | None:
    """Where a stand-in's object lives in the learner's kernel, if `value` is one."""
    learner = isinstance(value, RemoteFunction) or is_remote_model(value)
    ref = value._ref if learner else None
    return list(ref) if isinstance(ref, list) else None


def _defined_by_test(value) -> bool:
    return callable(value) and getattr(value, "__module__", None) == MODULE


def _kind(value) -> str:
    return "class" if isinstance(value, type) else "function"


def run_test(source: str, namespace: TestNamespace, *, grade_id: str, max_points: float,
             timeout: float, stuck: str | None = None, cell: str = "") -> TestRun:  # fmt: skip
    """Run one test cell and say what happened, in the learner's terms.

    `stuck` is the error the learner's latest answer cell raised, if any: a name it should have
    defined is then missing because of that error. A figure the test draws (the learner's curve
    against the true one, say) goes into the feedback. `cell` names the cell in the
    instructor's notes.
    """
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    namespace.new_cell(cell or grade_id)
    passed, message, misconception, output = _outcome(source, namespace, timeout, stuck)
    value = namespace.value
    images = []
    for number in sorted(set(plt.get_fignums()) - before):
        figure = plt.figure(number)
        buffer = io.BytesIO()
        try:
            figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
            images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        except Exception:  # a figure the test drew from odd learner data: the verdict stands
            pass
        plt.close(figure)
    points, shown = (max_points if passed else 0.0), None
    if passed and isinstance(value, numbers.Real) and not isinstance(value, bool):
        shown, points = _partial_credit(repr(value), max_points, namespace)
        passed = points >= max_points
        message = message if output.strip() else f"Scored {points:g} of {max_points:g} points."
    result = TestResult(grade_id, points, max_points, passed, message, misconception)
    return TestRun(result, output, images, shown)


def _partial_credit(text: str, max_points: float, namespace: TestNamespace) -> tuple[str, float]:
    """What a test cell's final number is shown as, and the points nbgrader gives for it.

    nbgrader reads the number IPython shows (so `np.float64(0.5)` is no number to it, and full
    points); a negative one or NaN is full points, one above the cell's points stops nbgrader
    with an error: here it is shown as, and scores, the cell's points.
    """
    try:
        grade = float(text)
    except ValueError:
        return text, max_points
    if grade > max_points:
        namespace.note(
            f"ends in {text}, more than its {max_points:g} points: scored "
            f"{max_points:g} (nbgrader would stop grading the notebook with an error)"
        )
        return repr(float(max_points)), max_points
    if grade >= 0:
        return text, grade
    namespace.note(f"ends in {text}, which nbgrader scores as full points")
    return text, max_points


def _compiled(source: str):
    """The cell as IPython runs it: all of it, then the value of its last line if an expression."""
    tree = ast.parse(source, "<test>")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = compile(tree, "<test>", "exec")
    return body, (compile(ast.Expression(last.value), "<test>", "eval") if last else None)


def _outcome(source: str, namespace: TestNamespace, timeout: float, stuck: str | None):
    stdout = io.StringIO()
    try:
        body, last = _compiled(source)
        with contextlib.redirect_stdout(stdout), _time_limit(timeout):
            exec(body, namespace)
            if last is not None:
                namespace.value = eval(last, namespace)
    except Mistake as mistake:
        return (
            False,
            mistake.message.strip() or "This check failed.",
            mistake.misconception,
            _clip(stdout),
        )
    except AssertionError as error:
        return False, str(error).strip() or "This check failed.", None, _clip(stdout)
    except KernelStopped as stopped:
        return False, f"Your notebook stopped before this test could check it: {stopped.reason}.", \
            "notebook-stopped", ""  # fmt: skip
    except LearnerNameError as missing:
        return False, _not_defined(missing.learner_name, stuck), "answer-not-defined", ""
    except LearnerError as error:
        if error.ename == "NotImplementedError":
            return (
                False,
                (
                    f"`{error.function}` still raises NotImplementedError: replace "
                    "`raise NotImplementedError()` with your code."
                ),
                "not-attempted",
                "",
            )
        return False, f"Calling `{error.function}` raised {error.ename}: {error.evalue}", \
            "raises-an-error", ""  # fmt: skip
    except wire.WireError as error:
        return (
            False,
            (
                f"The grader could not read your answer ({error}). Answers should be "
                "tensors, numbers, functions or torch.nn layers."
            ),
            "unreadable-answer",
            "",
        )
    except TestTimeout:
        return (
            False,
            (
                f"This test ran longer than {timeout:g} seconds checking your answer; "
                "look for an answer that is very large or very slow."
            ),
            "test-timeout",
            "",
        )
    except Exception as error:  # the test could not handle what the learner gave it
        return False, ("This test could not check your answer: it is not the kind of value the "
                       f"exercise asks for ({type(error).__name__}: {_short(error)})."), \
            "could-not-check", ""  # fmt: skip
    lines = [line for line in _clip(stdout).splitlines() if line.strip()]
    return True, lines[-1] if lines else "Passed.", None, _clip(stdout)


def _not_defined(name: str, stuck: str | None) -> str:
    if stuck:
        return (
            f"`{name}` is not defined when this test runs, because the cell that should "
            f"define it raised {stuck}. Fix that error first, then run the cell again."
        )
    return (
        f"`{name}` is not defined when this test runs. Run the cell that defines it "
        "(and the cells above it), and check the spelling."
    )


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise TestTimeout in this (main) thread after `seconds`; elsewhere, no limit can be set."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise TestTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return text[:200]


def _clip(stdout: io.StringIO, limit: int = MAX_STDOUT) -> str:
    text = stdout.getvalue()
    return text if len(text) <= limit else text[:limit] + "\n[...]"
