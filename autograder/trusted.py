"""The grader's side: run a test cell, verbatim, in this process and turn its outcome into a verdict.

The test cell gets a fresh namespace; every name it uses but does not define is fetched from the
learner's kernel at this point of the notebook, as plain data (see `wire`). The `torch` the test
imports is this process's own, which learner code never touched, so patched checkers, poisoned
references and rewritten cells in the learner's kernel have nothing to act on.
"""
from __future__ import annotations

import base64
import builtins
import contextlib
import io
from dataclasses import dataclass, field

from . import wire
from .learner_kernel import KernelStopped, LearnerKernel, LearnerNameError

MAX_STDOUT = 10_000


@dataclass
class Verdict:
    passed: bool
    message: str  # for the learner: what is wrong and what to try, or the success line
    output: str = ""  # what the test printed
    images: list = field(default_factory=list)  # PNGs (base64) of figures the test drew


class _LearnerNamespace(dict):
    """Globals of a test cell: names it does not bind come from the learner's kernel."""

    def __init__(self, kernel: LearnerKernel):
        super().__init__()
        self._kernel = kernel

    def __missing__(self, name):
        if name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)  # let Python fall through to the builtins
        value = self._kernel.fetch(name)
        self[name] = value
        return value


def run_test(source: str, kernel: LearnerKernel) -> Verdict:
    """Run one test cell against the learner's kernel and say what happened, in their terms.

    A figure the test draws (their curve against the true one, say) goes into the feedback.
    """
    import matplotlib.pyplot as plt
    before = set(plt.get_fignums())
    verdict = _verdict(source, kernel)
    for number in sorted(set(plt.get_fignums()) - before):
        figure = plt.figure(number)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
        plt.close(figure)
        verdict.images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return verdict


def _verdict(source: str, kernel: LearnerKernel) -> Verdict:
    stdout = io.StringIO()
    namespace = _LearnerNamespace(kernel)
    try:
        code = compile(source, "<test>", "exec")
        with contextlib.redirect_stdout(stdout):
            exec(code, namespace)
    except AssertionError as error:
        message = str(error).strip() or "This check failed."
        return Verdict(False, message, _clip(stdout.getvalue()))
    except KernelStopped as stopped:
        return Verdict(False, "Your notebook stopped before this test could check it: %s." % stopped.reason)
    except LearnerNameError as missing:
        name = missing.learner_name
        return Verdict(False, "`%s` is not defined when this test runs. Run the cell that defines it "
                              "(and the cells above it), and check the spelling." % name)
    except wire.LearnerError as error:
        if error.ename == "NotImplementedError":
            return Verdict(False, "`%s` still raises NotImplementedError: replace "
                                  "`raise NotImplementedError()` with your code." % error.function)
        return Verdict(False, "Calling `%s` raised %s: %s" % (error.function, error.ename, error.evalue))
    except wire.WireError as error:
        return Verdict(False, "The grader could not read your answer (%s). Answers should be tensors, "
                              "numbers, functions or torch.nn layers." % error)
    except Exception as error:  # the test itself could not handle what the learner gave it
        return Verdict(False, "This test could not check your answer: %s: %s"
                              % (type(error).__name__, _clip(str(error), 500)))
    output = _clip(stdout.getvalue())
    lines = [line for line in output.splitlines() if line.strip()]
    return Verdict(True, lines[-1] if lines else "Passed.", output)


def _clip(text: str, limit: int = MAX_STDOUT) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[...]"
