"""Which isolation this machine can give learner kernels, found out once per grading run."""

from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import SandboxUnavailable

DESCRIPTIONS = {
    "bubblewrap-root": "bubblewrap sandbox, separate user id, no network",
    "bubblewrap-user": "bubblewrap sandbox in a user namespace, no network",
    "none": "NO SANDBOX: learner code runs as you, with limits only",
}


def bubblewrap_works() -> bool:
    """Can bubblewrap start a process with its own network and pid namespaces here?"""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev",
             "--proc", "/proc", "true"]  # fmt: skip
    if os.geteuid() != 0:
        probe.insert(1, "--unshare-user")
    try:
        return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def choose_mode(setting: str) -> str:
    """The isolation mode for `c.Isolation.mode` ('auto', 'bubblewrap' or 'none') on this
    machine."""
    if setting == "none":
        return "none"
    if bubblewrap_works():
        return "bubblewrap-root" if os.geteuid() == 0 else "bubblewrap-user"
    if setting == "bubblewrap":
        raise SandboxUnavailable(
            "bubblewrap is required (c.Isolation.mode = 'bubblewrap') but cannot start a sandbox "
            "here; on Debian or Ubuntu: sudo apt-get install bubblewrap"
        )
    return "none"


def describe(mode: str) -> str:
    return DESCRIPTIONS[mode]
