"""The benchmark's core-seconds count every process of the tree, reaped by it or not.

A grading run's sandboxes end with their pid namespace, so the CPU of the fork servers and of the
kernels they reaped never reaches the grading process's `getrusage(RUSAGE_CHILDREN)`: counted
that way, the benchmark once reported about half of a run's real CPU.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import cputime
from cputime import CpuTime, counts_everything

# A grandchild in a session of its own burns CPU, writes how much, and is left to be reaped by
# init: its parent exits at once without waiting for it.
ORPHAN = """
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", '''
import os, sys
while os.times().user + os.times().system < 0.5:
    pass
t = os.times()
open(sys.argv[1], "w").write(str(t.user + t.system))
''', sys.argv[1]], start_new_session=True)
"""


@pytest.mark.skipif(not counts_everything(), reason="needs a cgroup of its own (root)")
def test_the_cpu_of_a_process_nobody_reaps_is_counted(tmp_path):
    report = tmp_path / "orphan-cpu"
    counter = CpuTime()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        subprocess.run(
            [sys.executable, "-c", ORPHAN, str(report)], preexec_fn=counter.enter, check=True
        )
        counted = counter.seconds()  # waits until the orphan, too, has ended
    finally:
        counter.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    orphan = float(report.read_text())
    assert orphan >= 0.5
    assert counted >= orphan, (counted, orphan)
    assert reaped < orphan, "getrusage counted the orphan: this test shows nothing"
    assert not counter.group.exists(), "the benchmark's cgroup was left behind"


@pytest.mark.skipif(not counts_everything(), reason="needs a cgroup of its own (root)")
def test_without_a_cgroup_the_benchmark_says_its_figure_leaves_the_sandboxes_out():
    """An account that may not make cgroups gets the reaped-children figure, and is told so."""
    python = Path("/usr/bin/python3")  # the checkout's own may be where other accounts cannot go
    if shutil.which("setpriv") is None or not python.exists():
        pytest.skip("needs setpriv and /usr/bin/python3, to run the check as another account")
    assert cputime.caveat() is None  # here every process is counted
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        shutil.copy(cputime.__file__, folder / "cputime.py")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        done = subprocess.run(
            [*nobody, str(python), "-c", "import cputime; print(cputime.caveat())"],
            cwd=folder, check=True, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder)
    assert "reaped processes only" in done.stdout, done.stdout + done.stderr
