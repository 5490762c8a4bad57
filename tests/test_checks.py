"""Do the test-cell checks refuse degenerate answers and speak in rounded numbers?"""

from __future__ import annotations

import warnings

import pytest
import torch

from autograder.checks import Mistake, call, expect, expect_close, expect_tensor, fmt


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
        expect_tensor(torch.ones(1, 3, dtype=torch.int64), "lemur", shape=(1, 3), dtype=torch.float32)
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
            torch.tensor([[4.3, 6.1, 2.3]]), torch.tensor([[0.1392, 0.8420, 0.0188]]),
            "you returned {got}", why="no-softmax",
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


def test_an_error_raised_by_the_learners_function_fails_with_its_name_and_the_hint():
    def train(x):
        raise RuntimeError("expected scalar type Long but found Float\nmore detail")

    with pytest.raises(Mistake) as failed:
        call(train, 1, hint="Pass the targets as int64.", why="loss-inputs")
    assert str(failed.value) == (
        "train(...) raised RuntimeError: expected scalar type Long but found Float. "
        "Pass the targets as int64."
    )
    assert failed.value.misconception == "loss-inputs"


def test_a_call_returns_the_result_and_silences_warnings(recwarn):
    def noisy(a, b):
        warnings.warn("deprecated", UserWarning)
        return a + b

    assert call(noisy, 2, 3) == 5
    assert not recwarn.list


@pytest.mark.parametrize("error", [NotImplementedError(), NameError("name 'x' is not defined")])
def test_an_unwritten_answer_or_missing_name_passes_through(error):
    with pytest.raises(type(error)):
        call(raising(error))


def raising(error):
    def function():
        raise error
    return function


def test_the_graders_own_errors_pass_through_and_the_learners_do_not():
    from autograder.trusted.kernel import KernelStopped
    from autograder.trusted.standins import learner_error
    from autograder.wire import WireError

    for own in (KernelStopped("out of time"), WireError("bad shape")):
        with pytest.raises(type(own)):
            call(raising(own))
    learners = learner_error("train", "ValueError", "Target size must be the same as input size")
    with pytest.raises(Mistake, match="train raised ValueError: Target size") as failed:
        call(raising(learners), what="train")
    assert failed.value.misconception == "raises-an-error"
