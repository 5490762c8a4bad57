"""Does the whole tree follow the house rules that tools can check (ruff lint, ruff format)?"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_ruff_finds_nothing_to_fix():
    run = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-fix", "."], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-4000:]


def test_the_tree_is_formatted():
    run = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-4000:]


def test_the_pre_commit_configuration_is_valid():
    run = subprocess.run([str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
                         cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
