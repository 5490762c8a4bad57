"""Do the test-cell checks refuse degenerate answers and speak in rounded numbers?"""

from __future__ import annotations

import pytest
import torch

from autograder.checks import Mistake, expect, expect_close, expect_tensor, fmt


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
