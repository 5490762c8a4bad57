"""The benchmark's floor is taken on the same notebooks as the figure it is set against, and its
memory samples never count a page twice.

A lesson whose learner cells train a model costs several times what the others do, and far less
when an answer the training needs is left undone; a median over lessons (what the floor once was)
said nothing about the mix of notebooks graded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from grading import _still_running, dealt_to, mix_floor

LESSONS = ["light", "heavy"]
FLOOR = {
    ("light", False): {"wall": 0.2, "cpu": 0.1},
    ("heavy", False): {"wall": 1.4, "cpu": 1.0},
    ("light", True): {"wall": 0.1, "cpu": 0.05},
    ("heavy", True): {"wall": 0.3, "cpu": 0.2},
}


def test_every_lesson_is_graded_both_answered_and_with_an_answer_undone():
    lessons = [f"{n:02d}" for n in range(1, 7)]  # six lessons: an even number of them
    dealt = [dealt_to(lessons, i) for i in range(12)]
    both = [(lesson, undone) for lesson in lessons for undone in (False, True)]
    assert sorted(dealt) == sorted(both)


def test_the_floor_of_a_mix_is_the_mean_over_the_notebooks_dealt():
    # submissions 0-3: light answered, heavy answered, light undone, heavy undone
    mixed = mix_floor(FLOOR, LESSONS, 0, 4)
    assert mixed["cpu"] == pytest.approx((0.1 + 1.0 + 0.05 + 0.2) / 4)
    assert mixed["wall"] == pytest.approx((0.2 + 1.4 + 0.1 + 0.3) / 4)


def test_the_steady_state_floor_counts_the_submissions_after_the_first_ones():
    # submissions 3, 4, 5: heavy undone, light answered, heavy answered
    steady = mix_floor(FLOOR, LESSONS, 3, 6)
    assert steady["cpu"] == pytest.approx((0.2 + 0.1 + 1.0) / 3)


def test_a_floor_without_kernel_cpu_has_no_core_seconds():
    floor = {**FLOOR, ("heavy", False): {"wall": 1.4, "cpu": None}}
    mixed = mix_floor(floor, LESSONS, 0, 2)
    assert mixed["cpu"] is None
    assert mixed["wall"] == pytest.approx((0.2 + 1.4) / 2)


def test_a_memory_sample_is_kept_only_if_every_process_it_counted_still_runs():
    # A process that ended during a sample left its share of shared pages to those read after it.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _still_running([child.pid])
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, left a zombie: not reaped
        assert not _still_running([child.pid])
    finally:
        child.kill()
        child.wait()
    assert not _still_running([child.pid])
