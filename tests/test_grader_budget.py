"""Does the grader's own memory stay bounded, whatever a learner's kernel sends it?

Each attack is a notebook graded in a fresh process, as a worker grades it (sandboxed kernel,
test cells here); the process reports its peak resident memory. The bound, stated in
docs/threat-model.md: a worker's peak stays within BOUND of its peak on an honest notebook.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
BOUND_MIB = 512

HARNESS = r"""
import json, os, resource, sys
from nbformat.v4 import new_code_cell, new_notebook
from autograder.sandbox.launcher import KernelLauncher
from autograder.sandbox.limits import Sandboxing
from autograder.trusted.executor import execute_notebook, cell_result
learner, test = json.loads(sys.argv[1])
exec(os.environ.get("BUDGET_HARNESS_SETUP", ""))  # lets a person check that the test can fail
cell = new_code_cell(test)
cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1, "grade_id": "attack"}
launcher = KernelLauncher(Sandboxing.resolve(None, cell_timeout=600, notebook_timeout=1200, test_timeout=600))
import torch, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
nb = new_notebook(cells=[new_code_cell(learner), cell])
try:
    execute_notebook(nb, launcher)
finally:
    launcher.close()
result = cell_result(nb.cells[1])
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "passed": result.passed, "message": result.message}))
"""

HONEST = (
    "import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid())\n"
    "def f(x):\n    return torch.sigmoid(x)",
    "import torch\nassert torch.allclose(f(torch.zeros(3)), torch.full((3,), 0.5))\n"
    "assert len(model) == 2",
)
ATTACKS = {
    "many-layers": (
        "from torch import nn\n"
        "model = nn.Sequential(*[nn.Sequential(*[nn.Identity() for _ in range(200)])"
        " for _ in range(200)])",
        "assert len(model) == 200",
    ),
    "many-segments": (
        "import matplotlib.pyplot as plt\nfrom matplotlib.collections import LineCollection\n"
        "fig, ax = plt.subplots()\n"
        "ax.add_collection(LineCollection([[(i, 0), (i, 1)] for i in range(128_000)]))\n"
        "for _ in range(60):\n    ax.plot(range(20_000), range(20_000))",
        "assert ax.get_title() == ''",
    ),
    "outputs-during-a-probe": (
        "from IPython.display import publish_display_data\ndef f(x):\n    page = 'x' * 8_000_000\n"
        "    for _ in range(100):\n"
        "        publish_display_data({'text/plain': page})\n    return x",
        "import torch\nassert f(torch.ones(1)).sum() == 1",
    ),
    "widget-messages-during-a-probe": (
        "from ipykernel.comm import Comm\n"
        "def f(x):\n"
        "    comm = Comm(target_name='jupyter.widget', data={'state': {'v': 'z' * 1_000_000}})\n"
        "    for i in range(800):\n"
        "        comm.send({'method': 'update', 'state': {f'v{i}': 'z' * 1_000_000}})\n"
        "    return x",
        "import torch\nassert f(torch.ones(1)).sum() == 1",
    ),
    "many-tiny-objects": (  # the kernel's own size guard removed, as a hostile learner would
        "import jupyter_client.session as session\n"
        "session.Session.send = next(c.cell_contents for c in session.Session.send.__closure__\n"
        "                            if getattr(c.cell_contents, '__name__', '') == 'send')\n"
        "from IPython.display import publish_display_data\n"
        "def f(x):\n"
        "    publish_display_data({'application/vnd.autograder.value+json': [{}] * 1_900_000})\n"
        "    return x",
        "import torch\nf(torch.ones(1))",
    ),
}


def _grade(learner: str, test: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", HARNESS, json.dumps([learner, test])],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def honest_peak():
    result = _grade(*HONEST)
    assert result["passed"], result
    return result["peak_mib"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_costs_the_grader_no_more_than_the_bound(honest_peak, attack):
    result = _grade(*ATTACKS[attack])
    assert result["peak_mib"] <= honest_peak + BOUND_MIB, (attack, result, honest_peak)
    if attack in ("many-layers", "many-segments", "many-tiny-objects"):
        assert not result["passed"] and "too large" in result["message"], (
            result
        )  # refused, not half-read
    else:
        assert result["passed"], result  # what was not kept cost an honest answer nothing
