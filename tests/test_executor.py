"""Does a notebook run split across the boundary: learner cells sandboxed, verdicts computed here?

Small notebooks, no lessons: each test asks one question of `execute_notebook` with the real
sandbox (bubblewrap when the machine has it).
"""
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.sandbox.launcher import KernelLauncher
from autograder.sandbox.limits import Sandboxing
from autograder.trusted.executor import execute_notebook


MODES = {
    # as root: kernels forked from a sandboxed server; otherwise one sandbox per kernel
    "default": {},
    "one-sandbox-per-kernel": {"Isolation": {"fork_server": False}},
    "unsandboxed": {"Isolation": {"mode": "none"}},
}
LIMITS = {"cell_timeout": 10, "notebook_timeout": 40, "output_size": 20_000}


@pytest.fixture(scope="module", params=[pytest.param(mode, marks=[] if mode == "default" else [pytest.mark.slow])
                                        for mode in MODES])
def settings(request):
    from traitlets.config import Config
    return Sandboxing.resolve(Config(MODES[request.param]), **LIMITS)


@pytest.fixture(scope="module")
def launcher(settings):
    launcher = KernelLauncher(settings)
    yield launcher
    launcher.close()


def graded_cell(source, points=1):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": points, "grade_id": f"t{abs(hash(source))}"}
    return cell


def run(launcher, settings, *cells):
    nb = new_notebook(cells=[c if not isinstance(c, str) else new_code_cell(c) for c in cells])
    summary = execute_notebook(nb, launcher)
    verdicts = []
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            errors = [o for o in cell.outputs if o.output_type == "error"]
            verdicts.append(errors[0].evalue if errors else True)
    return verdicts, summary, nb


def sigmoid_test():
    return graded_cell("import torch\nassert torch.allclose(f(torch.tensor([6.0, -2.0])), torch.tensor([0.9975, 0.1192]), atol=1e-4), 'not the sigmoid'")



def test_a_right_answer_passes_and_prints_its_success_line(launcher, settings):
    verdicts, _, nb = run(launcher, settings, "import torch\ndef f(z):\n    return torch.sigmoid(z)",
                          graded_cell("import torch\nassert f(torch.tensor(0.0)).item() == 0.5\nprint('✓ sigmoid(0) = 0.5')"))
    assert verdicts == [True]
    assert nb.cells[1].outputs[0].text == "✓ sigmoid(0) = 0.5\n"


def test_patched_checkers_and_poisoned_references_earn_nothing(launcher, settings):
    verdicts, _, _ = run(launcher, settings,
                         "import torch, numpy\ntorch.allclose = lambda *a, **k: True\ntorch.sigmoid = lambda t: t\n"
                         "numpy.allclose = lambda *a, **k: True\nget_ipython().ast_transformers.clear()\n"
                         "def f(z):\n    return torch.sigmoid(z)",  # the poisoned sigmoid: the identity
                         sigmoid_test())
    assert verdicts == ["not the sigmoid"]


def test_an_object_that_equals_everything_is_not_a_tensor(launcher, settings):
    verdicts, _, _ = run(launcher, settings,
                         "class Yes:\n    def __eq__(self, other): return True\n    __hash__ = None\n"
                         "def f(z):\n    return Yes()", sigmoid_test())
    assert verdicts[0].startswith("This test could not check your answer") and "TypeError" in verdicts[0]


def test_a_missing_name_says_which_and_what_to_do(launcher, settings):
    verdicts, _, _ = run(launcher, settings, "x = 1", sigmoid_test())
    assert verdicts == ["`f` is not defined when this test runs. Run the cell that defines it "
                        "(and the cells above it), and check the spelling."]


def test_honest_noise_costs_nothing(launcher, settings):
    verdicts, _, _ = run(launcher, settings,
                         "import sys, warnings, torch\nwarnings.warn('deprecated', UserWarning)\n"
                         "print('progress', file=sys.stderr)\nfor i in range(50): print(f'\\r{i}%', end='', file=sys.stderr)\n"
                         "def f(z):\n    warnings.warn('inside the answer')\n    print('debug', z, file=sys.stderr)\n"
                         "    return torch.sigmoid(z)", sigmoid_test())
    assert verdicts == [True]


def test_exit_stops_the_notebook_and_fails_the_rest_with_the_reason(launcher, settings):
    verdicts, summary, _ = run(launcher, settings, "import torch\ndef f(z):\n    return torch.sigmoid(z)",
                               sigmoid_test(), "import os\nos._exit(3)", sigmoid_test())
    assert verdicts[0] is True
    assert "stopped" in verdicts[1] and "kernel stopped" in summary.stopped


def test_ipython_exit_stops_the_notebook_at_once_whatever_the_timing(launcher, settings):
    """exit() ends the kernel only after its reply: the next test must fail even if it is quick."""
    verdicts, summary, _ = run(launcher, settings, "import torch\ndef f(z):\n    return torch.sigmoid(z)",
                               sigmoid_test(), "exit()", sigmoid_test())
    assert verdicts[0] is True
    assert "exit()" in verdicts[1] and "exit()" in summary.stopped


@pytest.mark.slow  # waits out the 10-second cell limit
def test_an_endless_cell_is_stopped_at_the_cell_limit(launcher, settings):
    verdicts, summary, _ = run(launcher, settings,
                               "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                               sigmoid_test())
    assert "10 seconds" in summary.stopped and "10 seconds" in verdicts[0]


def test_output_beyond_the_budget_is_dropped(launcher, settings):
    _, _, nb = run(launcher, settings, "print('x' * 10_000_000)\nfor i in range(5000): print(i)", "y = 1")
    kept = sum(len(str(o)) for c in nb.cells for o in c.outputs)
    shown = str(nb.cells[0].outputs)
    assert kept < 50_000 and ("output truncated" in shown or "more than the grader reads" in shown)


def test_script_outputs_are_reduced_to_inert_types(launcher, settings):
    _, _, nb = run(launcher, settings, "from IPython.display import HTML, Javascript, display\n"
                                       "display(HTML('<img src=x onerror=alert(1)>'))\ndisplay(Javascript('alert(2)'))")
    text = str(nb.cells[0].outputs)
    assert "onerror" not in text and "alert" not in text


def test_a_figure_the_test_draws_is_kept_with_the_verdict(launcher, settings):
    _, _, nb = run(launcher, settings, "import torch\ndef f(z):\n    return torch.sigmoid(2 * z)",
                   graded_cell("import torch, matplotlib.pyplot as plt\nz = torch.linspace(-6, 6, 25)\n"
                             "fig, ax = plt.subplots()\nax.plot(z, f(z))\nax.plot(z, torch.sigmoid(z))\n"
                             "assert torch.allclose(f(z), torch.sigmoid(z)), 'not the sigmoid'"))
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in nb.cells[1].outputs]
    assert kinds == [("display_data", ["image/png", "text/plain"]), ("error", [])]


def test_the_kernel_cannot_reach_the_network_or_the_course(launcher, settings, tmp_path):
    import socket
    if settings.mode == "none":
        pytest.skip("no sandbox: the kernel sees what the grader sees")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden answer")
    port = listener.getsockname()[1]
    verdicts, _, nb = run(launcher, settings,
                          f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    net = 'connected'\n"
                          f"except OSError as e:\n    net = 'refused'\ntry:\n    seen = open({str(secret)!r}).read()\nexcept OSError:\n    seen = 'nothing'",
                          graded_cell("assert net == 'refused', net\nassert seen == 'nothing', seen"))
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    assert verdicts == [True]


def test_a_test_catching_the_learners_exception_type_sees_that_type(launcher, settings):
    """A test written as `except ValueError` must behave as in the learner's own kernel."""
    verdicts, _, _ = run(launcher, settings, "import math\ndef f(z):\n    return math.exp(z)",
                         graded_cell("import torch\ntry:\n    f(torch.ones(3))\nexcept ValueError as error:\n"
                                     "    raise AssertionError(f'{type(error).__name__}: use torch.exp')"),
                         graded_cell("import torch\nf(torch.ones(3))"))
    assert verdicts[0] == "ValueError: use torch.exp"
    assert verdicts[1].startswith("Calling `f` raised ValueError: ")
