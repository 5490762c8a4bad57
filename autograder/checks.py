"""Checks for lesson test cells: compare a learner's answer with the expected one, in their terms.

Test cells import this module (at grading in the grader's own process, under Validate in the
learner's kernel). A failed check raises `Mistake`, an `AssertionError` that carries the message
for the learner and the id of the misconception it names, so that a class report can group a
class's failures by idea rather than by wording. Tensor checks look at type, shape and dtype
before values: a broadcastable or empty tensor never passes a value comparison.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

SIGNIFICANT = 4
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
NOT_DEFINED = (
    "`{name}` is not defined when this test runs: run its cell, and if that cell shows "
    "an error, fix it first."
)


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


def not_defined(name: str, hint: str = "", *, why: str = "answer-not-defined") -> Mistake:
    """The Mistake for an answer `name` that does not exist (its cell raised, or never ran).

    Raise it from `except NameError:` around the first use of the name, so the learner reads the
    same message whether the test runs in their kernel (Validate) or in the grader.
    """
    return Mistake(_join(NOT_DEFINED.format(name=name), hint), why)


def call(
    function,
    *args,
    what: str,
    hint: str = "",
    why: str = "raises-an-error",
    hints: dict | None = None,
    unchanged: str = "",
    unchanged_why: str = "changes-input-in-place",
    **kwargs,
):
    """`function(*args, **kwargs)` with its warnings and printing kept out of the test's output.

    With `unchanged` (a hint), the call must leave its positional arguments as they were: their
    values, dtype, shape, `requires_grad` and `.grad`; otherwise a Mistake says which it changed
    (misconception `unchanged_why`). Under Validate this is compared here; at grading
    the learner's kernel compares its own copies, which the call received.

    Under Validate a test cell that writes to stderr fails, at grading the learner's output is not
    shown: silencing both gives one verdict. An exception the learner's code raises becomes a
    Mistake saying `what` raised it, with `hint` (or, for an exception of a type in `hints`, that
    type's `(hint, why)`). NotImplementedError (an unanswered exercise) and the grader's own
    exceptions (a stopped kernel, an unreadable answer) pass through for the grader to report.
    """
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            if not unchanged:
                return function(*args, **kwargs)
            result, changed = _call_and_compare(function, args, kwargs)
    except (NotImplementedError, Mistake):
        raise
    except Exception as error:
        if not _raised_by_learner(error):
            raise
        for kind, (text, idea) in (hints or {}).items():
            if isinstance(error, kind):
                hint, why = text, idea
                break
        detail = (str(error).strip().splitlines() or [""])[0][:200]
        said = f"{type(error).__name__} ({detail})" if detail else type(error).__name__
        raise Mistake(_join(f"{what} raised {said}.", hint), why) from None
    if changed:
        which = "its argument" if len(args) == 1 else (
            "its " + " and ".join(_ordinal(i) for i in changed) + " argument"
            + ("s" if len(changed) > 1 else "")
        )  # fmt: skip
        raise Mistake(_join(f"{what} changed {which}.", unchanged), unchanged_why)
    return result


def _ordinal(position: int) -> str:
    return ORDINALS[position] if position < len(ORDINALS) else f"number {position + 1}"


def _call_and_compare(function, args, kwargs):
    """(result, positions of the arguments the call changed): in the kernel for a learner
    function at grading, here otherwise."""
    if hasattr(function, "call_and_compare"):
        return function.call_and_compare(*args, **kwargs)
    from autograder import wire

    before = [wire.state(a) for a in args]
    result = function(*args, **kwargs)
    return result, [i for i, a in enumerate(args) if wire.state(a) != before[i]]


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
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner}{',' if len(value) == 1 else ''})"
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
    shape_why: str | None = None,
) -> None:
    """Fail unless `got` has `expected`'s shape and its values within `atol` + `rtol`.

    `message` may use `{got}` (the learner's values, rounded); it should not show `expected`
    when `expected` is a hidden test's answer. A value that is not a tensor, or not of
    `expected`'s shape, fails with misconception `why` too unless `shape_why` names another.
    """
    import torch

    got = expect_tensor(got, what, why=why or "not-a-tensor")
    expected = torch.as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        raise Mistake(
            _join(
                f"{what} has shape {tuple(got.shape)}; expected {tuple(expected.shape)}.",
                shape_hint,
            ),
            shape_why or why or "wrong-shape",
        )
    if expected.dtype == torch.bool or not expected.is_floating_point():
        same = got.dtype == expected.dtype and torch.equal(got, expected)
    else:
        same = got.is_floating_point() and torch.allclose(
            got.double(), expected.double(), atol=atol, rtol=rtol
        )
    if not same:
        raise Mistake(message.format(got=fmt(got)), why)


def _raised_by_learner(error: BaseException) -> bool:
    """In the grader the learner's exceptions arrive as LearnerError; the grader's own come from
    autograder modules. Under Validate every exception is the learner's."""
    cls = type(error)
    if any(base.__name__ == "LearnerError" for base in cls.__mro__):
        return True
    return not (cls.__module__ or "").startswith("autograder")


def _dtype(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _join(first: str, second: str) -> str:
    return f"{first} {second}".strip() if second else first
