"""Run a test cell, verbatim, in the grader's process and turn its outcome into a `TestResult`.

The test cells of one notebook share a namespace here (a helper one defines is there for the
next); every name a test uses but no test cell defined is fetched from the learner's kernel at
that point of the notebook, as plain data (see `wire`), and fetched again in later cells. The
`torch` the test imports is this process's own, which learner code never touched, so patched
checkers, poisoned references and rewritten cells in the learner's kernel have nothing to act on.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import signal
import threading
from dataclasses import dataclass, field

from .. import wire
from ..checks import Mistake
from ..results import TestResult
from .kernel import KernelStopped, LearnerKernel, LearnerNameError
from .standins import LearnerError

MAX_STDOUT = 10_000


class TestTimeout(Exception):
    """A test cell ran past its time limit in the grader."""

    __test__ = False


@dataclass
class TestRun:
    """A test cell's result, with what the test printed and the figures it drew (PNG, base64)."""

    __test__ = False

    result: TestResult
    output: str = ""
    images: list[str] = field(default_factory=list)


class TestNamespace(dict):
    """Globals of a notebook's test cells: names no test cell binds come from the learner's kernel."""

    __test__ = False

    def __init__(self, kernel: LearnerKernel):
        super().__init__()
        self._kernel = kernel
        self._fetched: set[str] = set()

    def new_cell(self) -> None:
        """Forget learner values fetched for earlier cells: learner cells ran since."""
        for name in self._fetched:
            self.pop(name, None)
        self._fetched.clear()

    def __missing__(self, name):
        if name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)  # let Python fall through to the builtins
        value = self._kernel.fetch(name)
        self[name] = value
        self._fetched.add(name)
        return value

    def __setitem__(self, name, value):
        self._fetched.discard(name)  # bound by a test cell: the test's own from now on
        super().__setitem__(name, value)


def run_test(source: str, namespace: TestNamespace, *, grade_id: str, max_points: float,
             timeout: float, stuck: str | None = None) -> TestRun:  # fmt: skip
    """Run one test cell and say what happened, in the learner's terms.

    `stuck` is the error the learner's latest answer cell raised, if any: a name it should have
    defined is then missing because of that error. A figure the test draws (the learner's curve
    against the true one, say) goes into the feedback.
    """
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    namespace.new_cell()
    passed, message, misconception, output = _outcome(source, namespace, timeout, stuck)
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
    points = max_points if passed else 0.0
    return TestRun(TestResult(grade_id, points, max_points, passed, message, misconception), output, images)


def _outcome(source: str, namespace: TestNamespace, timeout: float, stuck: str | None):
    stdout = io.StringIO()
    try:
        code = compile(source, "<test>", "exec")
        with contextlib.redirect_stdout(stdout), _time_limit(timeout):
            exec(code, namespace)
    except Mistake as mistake:
        return False, mistake.message.strip() or "This check failed.", mistake.misconception, _clip(stdout)
    except AssertionError as error:
        return False, str(error).strip() or "This check failed.", None, _clip(stdout)
    except KernelStopped as stopped:
        return False, f"Your notebook stopped before this test could check it: {stopped.reason}.", \
            "notebook-stopped", ""  # fmt: skip
    except LearnerNameError as missing:
        return False, _not_defined(missing.learner_name, stuck), "answer-not-defined", ""
    except LearnerError as error:
        if error.ename == "NotImplementedError":
            return False, (f"`{error.function}` still raises NotImplementedError: replace "
                           "`raise NotImplementedError()` with your code."), "not-attempted", ""
        return False, f"Calling `{error.function}` raised {error.ename}: {error.evalue}", \
            "raises-an-error", ""  # fmt: skip
    except wire.WireError as error:
        return False, (f"The grader could not read your answer ({error}). Answers should be "
                       "tensors, numbers, functions or torch.nn layers."), "unreadable-answer", ""
    except TestTimeout:
        return False, (f"This test ran longer than {timeout:g} seconds checking your answer; "
                       "look for an answer that is very large or very slow."), "test-timeout", ""
    except Exception as error:  # the test could not handle what the learner gave it
        return False, ("This test could not check your answer: it is not the kind of value the "
                       f"exercise asks for ({type(error).__name__}: {_short(error)})."), \
            "could-not-check", ""  # fmt: skip
    lines = [line for line in _clip(stdout).splitlines() if line.strip()]
    return True, lines[-1] if lines else "Passed.", None, _clip(stdout)


def _not_defined(name: str, stuck: str | None) -> str:
    if stuck:
        return (f"`{name}` is not defined when this test runs, because the cell that should "
                f"define it raised {stuck}. Fix that error first, then run the cell again.")
    return (f"`{name}` is not defined when this test runs. Run the cell that defines it "
            "(and the cells above it), and check the spelling.")


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
