"""The benchmark's floor is averaged over the same notebooks as the figure it is set against.

A lesson whose learner cells train a model costs several times what the others do, so a median
over lessons (what the floor once was) understated the floor of the benchmark's mix of notebooks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from grading import mix_floor

FLOOR = {"light": {"wall": 0.2, "cpu": 0.1}, "heavy": {"wall": 1.4, "cpu": 1.0}}


def test_the_floor_of_a_mix_weighs_each_lesson_by_its_submissions():
    # submissions 0, 1, 2 are dealt light, heavy, light
    mixed = mix_floor(FLOOR, ["light", "heavy"], 0, 3)
    assert mixed["cpu"] == pytest.approx((0.1 + 1.0 + 0.1) / 3)
    assert mixed["wall"] == pytest.approx((0.2 + 1.4 + 0.2) / 3)


def test_the_steady_state_floor_counts_the_submissions_after_the_first_ones():
    # submissions 3, 4, 5 are dealt heavy, light, heavy
    steady = mix_floor(FLOOR, ["light", "heavy"], 3, 6)
    assert steady["cpu"] == pytest.approx((1.0 + 0.1 + 1.0) / 3)


def test_a_floor_without_kernel_cpu_has_no_core_seconds():
    floor = {**FLOOR, "heavy": {"wall": 1.4, "cpu": None}}
    mixed = mix_floor(floor, ["light", "heavy"], 0, 2)
    assert mixed["cpu"] is None
    assert mixed["wall"] == pytest.approx(0.8)
