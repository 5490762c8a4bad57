"""Do the test-cell checks refuse degenerate answers and speak in rounded numbers?"""

from __future__ import annotations

import pytest
import torch

from autograder.checks import Mistake, call, expect, expect_close, expect_tensor, fmt, not_defined


def test_an_empty_broadcastable_tensor_never_passes_a_value_comparison():
    empty = torch.empty(0, 3)
    assert torch.allclose(empty, torch.tensor([[1.0, -2.0, 2.0]]))  # what plain allclose does
    with pytest.raises(Mistake) as failed:
        expect_close(empty, torch.tensor([[1.0, -2.0, 2.0]]), "wrong weight", what="layer.weight")
    assert failed.value.misconception == "wrong-shape"
    assert "(0, 3)" in str(failed.value) and "(1, 3)" in str(failed.value)


def test_shape_is_checked_before_values_and_dtype_before_values():
    with pytest.raises(Mistake, match=r"shape \(3, 1\); expected \(1, 3\)"):
        expect_tensor(torch.ones(3, 1), "lemur", shape=(1, 3), dtype=torch.float32)
    with pytest.raises(Mistake, match="dtype int64; expected float32") as failed:
        expect_tensor(
            torch.ones(1, 3, dtype=torch.int64), "lemur", shape=(1, 3), dtype=torch.float32
        )
    assert failed.value.misconception == "wrong-dtype"


def test_a_non_tensor_is_named_by_its_type():
    with pytest.raises(Mistake, match="should be a tensor, got list") as failed:
        expect_tensor([[4.0, 0.0, 1.0]], "lemur", hint="Build it with torch.tensor.")
    assert str(failed.value).endswith("Build it with torch.tensor.")
    assert failed.value.misconception == "not-a-tensor"


def test_values_within_tolerance_pass_and_others_fail_with_rounded_numbers():
    expect_close(torch.tensor([[0.99752]]), torch.tensor([[0.9975]]), "unused")
    with pytest.raises(Mistake) as failed:
        expect_close(
            torch.tensor([[4.3, 6.1, 2.3]]),
            torch.tensor([[0.1392, 0.8420, 0.0188]]),
            "you returned {got}",
            why="no-softmax",
        )
    assert str(failed.value) == "you returned [[4.3, 6.1, 2.3]]"
    assert failed.value.misconception == "no-softmax"


def test_nan_never_passes():
    with pytest.raises(Mistake):
        expect_close(torch.tensor([float("nan")]), torch.tensor([0.5]), "NaN")


def test_bool_answers_compare_exactly_and_by_dtype():
    expect_close(torch.tensor([[True]]), torch.tensor([[True]]), "unused")
    with pytest.raises(Mistake):
        expect_close(torch.tensor([[1.0]]), torch.tensor([[True]]), "a float is not a decision")


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.13920000195503235, "0.1392"),
        (4.300000190734863, "4.3"),
        (6.0, "6."),
        (torch.tensor([[0.13920000195503235, 0.8420]]), "[[0.1392, 0.842]]"),
        (float("nan"), "nan"),
        ((1, 3), "(1, 3)"),
        (True, "True"),
    ],
)
def test_numbers_are_shown_with_four_significant_digits(value, shown):
    assert fmt(value) == shown


def test_expect_raises_an_assertion_error_with_its_misconception():
    expect(True, "never shown")
    with pytest.raises(AssertionError) as failed:
        expect(False, "Each row should sum to 1.", why="softmax-dim")
    assert isinstance(failed.value, Mistake) and failed.value.misconception == "softmax-dim"


def test_a_learners_exception_becomes_a_mistake_naming_the_call_and_its_hint():
    def broken(z):
        raise TypeError("only one element tensors can be converted to Python scalars\nmore")

    with pytest.raises(Mistake) as failed:
        call(
            broken, torch.ones(3), what="my_sigmoid(z)", hint="Use torch.exp.", why="use-torch-exp"
        )
    assert str(failed.value) == (
        "my_sigmoid(z) raised TypeError (only one element tensors can be "
        "converted to Python scalars). Use torch.exp."
    )
    assert failed.value.misconception == "use-torch-exp"


def test_a_hint_can_depend_on_the_type_of_the_exception():
    def overflow(z):
        raise OverflowError("math range error")

    hints = {TypeError: ("not this one", "other"), ArithmeticError: ("Use torch.exp.", "math-exp")}
    with pytest.raises(Mistake) as failed:
        call(overflow, 1000.0, what="my_sigmoid(z)", hint="generic", hints=hints)
    assert str(failed.value).endswith("(math range error). Use torch.exp.")
    assert failed.value.misconception == "math-exp"


def test_an_unanswered_exercise_and_a_mistake_pass_through_unchanged():
    def unanswered(z):
        raise NotImplementedError()

    def checks_itself(z):
        expect(False, "inner", why="inner-idea")

    with pytest.raises(NotImplementedError):
        call(unanswered, 1, what="f(z)")
    with pytest.raises(Mistake, match="inner"):
        call(checks_itself, 1, what="f(z)")


def test_the_graders_own_exceptions_pass_through_and_the_learners_are_converted():
    from autograder.trusted.kernel import KernelStopped, LearnerNameError
    from autograder.trusted.standins import learner_error
    from autograder.wire import WireError

    for own in (
        KernelStopped("the notebook ran out of time"),
        LearnerNameError("model"),
        WireError("bad shape"),
    ):

        def grader_side(error=own):
            raise error

        with pytest.raises(type(own)):
            call(grader_side, what="f()")

    def remote():
        raise learner_error("f", "TypeError", "bad argument")

    with pytest.raises(Mistake, match=r"f\(\) raised TypeError \(bad argument\)\."):
        call(remote, what="f()")


def test_a_call_keeps_warnings_and_printing_out_of_the_tests_output(capsys):
    import sys
    import warnings

    def noisy(z):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        warnings.warn("a warning", stacklevel=1)
        return z + 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert call(noisy, 1, what="noisy(z)") == 2
    assert capsys.readouterr() == ("", "")


def test_a_missing_answer_is_named_with_what_to_do():
    mistake = not_defined("model", "A layer needs its parentheses: nn.Sigmoid().")
    assert str(mistake).startswith("`model` is not defined when this test runs: run its cell")
    assert str(mistake).endswith("nn.Sigmoid().")
    assert mistake.misconception == "answer-not-defined"


def test_a_value_comparison_names_its_own_misconception_for_a_wrong_type_or_shape():
    with pytest.raises(Mistake) as failed:
        expect_close([0.5], torch.tensor([0.5]), "unused", what="p", why="no-sigmoid")
    assert failed.value.misconception == "no-sigmoid"
    with pytest.raises(Mistake) as failed:
        expect_close(torch.ones(2), torch.ones(3), "unused", what="p", why="no-sigmoid")
    assert failed.value.misconception == "no-sigmoid"
    with pytest.raises(Mistake) as failed:
        expect_close(
            torch.ones(2),
            torch.ones(3),
            "unused",
            what="p",
            why="no-sigmoid",
            shape_why="output-shape",
        )
    assert failed.value.misconception == "output-shape"


def _grad_in_place(z):
    z.requires_grad_(True)
    torch.sigmoid(z).sum().backward()
    return z.grad


def _grad_on_a_copy(z):
    z = z.detach().clone().requires_grad_(True)
    torch.sigmoid(z).sum().backward()
    return z.grad


def _scale_rows(rows, factor):
    for row in rows:
        row["limbs"] = float(row["limbs"]) * factor
    return len(rows)


@pytest.mark.parametrize(
    "function, args, changed",
    [
        (_grad_in_place, (torch.linspace(-2, 2, 5),), "changed its argument."),
        (_grad_on_a_copy, (torch.linspace(-2, 2, 5),), None),
        (lambda x: x.mul_(2), (torch.ones(3),), "changed its argument."),
        (_scale_rows, ([{"limbs": "4"}], 2), "changed its first argument."),
        (lambda a, b: b.add_(a), (torch.ones(2), torch.zeros(2)), "changed its second argument."),
    ],
)
def test_a_call_asked_to_leave_its_arguments_says_which_it_changed(function, args, changed):
    """Values, requires_grad and .grad of an argument, inside lists and dicts, are compared."""
    kept = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    if changed is None:
        call(function, *args, what="f(z)", unchanged="Work on a copy.")
        assert all(torch.equal(a, b) for a, b in zip(args, kept) if isinstance(a, torch.Tensor))
        return
    with pytest.raises(Mistake) as failure:
        call(function, *args, what="f(z)", unchanged="Work on a copy.")
    assert str(failure.value) == f"f(z) {changed} Work on a copy."
    assert failure.value.misconception == "changes-input-in-place"


def test_a_call_not_asked_to_compare_returns_what_the_function_returns():
    z = torch.zeros(2)
    assert call(lambda x: x.add_(1), z, what="f(z)") is z
