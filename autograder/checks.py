"""Checks for lesson test cells: compare a learner's answer with the expected one, in their terms.

Test cells import this module (at grading in the grader's own process, under Validate in the
learner's kernel). A failed check raises `Mistake`, an `AssertionError` that carries the message
for the learner and the id of the misconception it names, so that a class report can group a
class's failures by idea rather than by wording. Tensor checks look at type, shape and dtype
before values: a broadcastable or empty tensor never passes a value comparison.
"""

from __future__ import annotations

import math
import sys

SIGNIFICANT = 4


class Mistake(AssertionError):
    """A failed check: `message` is for the learner, `misconception` names the idea to revisit."""

    def __init__(self, message: str, misconception: str | None = None):
        super().__init__(message)
        self.message = message
        self.misconception = misconception

    def __str__(self) -> str:
        return self.message


def expect(condition, message: str, *, why: str | None = None) -> None:
    """Fail with `message` (misconception `why`) unless `condition` holds."""
    if not condition:
        raise Mistake(message, why)


def fmt(value, digits: int = SIGNIFICANT) -> str:
    """A number, tensor, array or nested list shown with `digits` significant digits."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:.{digits}g}"
        return text if any(c in text for c in ".en") else text + "."
    if isinstance(value, (list, tuple)):
        inner = ", ".join(fmt(item, digits) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return str(value)


def type_name(value) -> str:
    """The learner-facing name of a value's type (`list`, `Tensor`, `NoneType`...)."""
    return type(value).__name__


def expect_tensor(
    value,
    what: str,
    *,
    shape: tuple | None = None,
    dtype=None,
    hint: str = "",
    shape_hint: str = "",
    dtype_hint: str = "",
    why: str = "not-a-tensor",
    shape_why: str = "wrong-shape",
    dtype_why: str = "wrong-dtype",
):
    """`value` detached, after checking it is a tensor of `shape` and `dtype` (when given).

    `what` names the value as the learner wrote it (`lemur`, `mammal_probability(lemur)`).
    """
    import torch

    if not isinstance(value, torch.Tensor):
        raise Mistake(_join(f"{what} should be a tensor, got {type_name(value)}.", hint), why)
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Mistake(
            _join(f"{what} has shape {tuple(value.shape)}; expected {tuple(shape)}.", shape_hint),
            shape_why,
        )
    if dtype is not None and value.dtype != dtype:
        raise Mistake(
            _join(f"{what} has dtype {_dtype(value.dtype)}; expected {_dtype(dtype)}.", dtype_hint),
            dtype_why,
        )
    return value.detach()


def expect_close(
    got,
    expected,
    message: str,
    *,
    what: str = "your answer",
    atol: float = 1e-4,
    rtol: float = 0.0,
    why: str | None = None,
    shape_hint: str = "",
    shape_why: str = "wrong-shape",
) -> None:
    """Fail unless `got` has `expected`'s shape and its values within `atol` + `rtol`.

    `message` may use `{got}` (the learner's values, rounded); it should not show `expected`
    when `expected` is a hidden test's answer.
    """
    import torch

    got = expect_tensor(got, what)
    expected = torch.as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        raise Mistake(
            _join(f"{what} has shape {tuple(got.shape)}; expected {tuple(expected.shape)}.", shape_hint),
            shape_why,
        )
    if expected.dtype == torch.bool or not expected.is_floating_point():
        same = got.dtype == expected.dtype and torch.equal(got, expected)
    else:
        same = got.is_floating_point() and torch.allclose(
            got.double(), expected.double(), atol=atol, rtol=rtol
        )
    if not same:
        raise Mistake(message.format(got=fmt(got)), why)


def call(function, *args, what: str = "", hint: str = "", why: str = "raises-an-error"):
    """`function(*args)` with its warnings silenced; an exception it raises fails the check.

    The failure names the call (`what`, else the function's name) and the exception, then `hint`.
    NotImplementedError and NameError pass through, as do the grader's own errors (the kernel
    stopped, an unreadable answer): the grader and Validate already explain those.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args)
    except (NotImplementedError, NameError):
        raise
    except Exception as error:
        if _graders_own(error):
            raise
        name = what or f"{getattr(function, '__name__', 'your function')}(...)"
        lines = str(error).strip().splitlines()
        detail = f": {lines[0][:300]}" if lines else ""
        raise Mistake(_join(f"{name} raised {type(error).__name__}{detail}.", hint), why) from None


def _graders_own(error: Exception) -> bool:
    """Whether `error` is the grader's (kernel gone, answer unreadable), not the learner's."""
    standins = sys.modules.get("autograder.trusted.standins")
    learners = getattr(standins, "LearnerError", ())
    return type(error).__module__.startswith("autograder.") and not isinstance(error, learners)


def _dtype(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _join(first: str, second: str) -> str:
    return f"{first} {second}".strip() if second else first
