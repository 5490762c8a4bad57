"""Does a notebook run split across the boundary: learner cells sandboxed, verdicts computed here?

Small notebooks, no lessons: each test asks one question of `execute_notebook` with the real
sandbox (bubblewrap when the machine has it).
"""

import ast
import re

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


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(mode, marks=[] if mode == "default" else [pytest.mark.slow]) for mode in MODES
    ],
)
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
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "points": points,
        "grade_id": f"t{abs(hash(source))}",
    }
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
    return graded_cell(
        "import torch\n"
        "assert torch.allclose(f(torch.tensor([6.0, -2.0])), torch.tensor([0.9975, 0.1192]),"
        " atol=1e-4), 'not the sigmoid'"
    )


def test_a_right_answer_passes_and_prints_its_success_line(launcher, settings):
    verdicts, _, nb = run(
        launcher,
        settings,
        "import torch\ndef f(z):\n    return torch.sigmoid(z)",
        graded_cell(
            "import torch\nassert f(torch.tensor(0.0)).item() == 0.5\nprint('✓ sigmoid(0) = 0.5')"
        ),
    )
    assert verdicts == [True]
    assert nb.cells[1].outputs[0].text == "✓ sigmoid(0) = 0.5\n"


def test_patched_checkers_and_poisoned_references_earn_nothing(launcher, settings):
    verdicts, _, _ = run(
        launcher,
        settings,
        "import torch, numpy\ntorch.allclose = lambda *a, **k: True\ntorch.sigmoid = lambda t: t\n"
        "numpy.allclose = lambda *a, **k: True\nget_ipython().ast_transformers.clear()\n"
        "def f(z):\n    return torch.sigmoid(z)",  # the poisoned sigmoid: the identity
        sigmoid_test(),
    )
    assert verdicts == ["not the sigmoid"]


def test_an_object_that_equals_everything_is_not_a_tensor(launcher, settings):
    verdicts, _, _ = run(
        launcher,
        settings,
        "class Yes:\n    def __eq__(self, other): return True\n    __hash__ = None\n"
        "def f(z):\n    return Yes()",
        sigmoid_test(),
    )
    assert (
        verdicts[0].startswith("This test could not check your answer")
        and "TypeError" in verdicts[0]
    )


def test_a_missing_name_says_which_and_what_to_do(launcher, settings):
    verdicts, _, _ = run(launcher, settings, "x = 1", sigmoid_test())
    assert verdicts == [
        "`f` is not defined when this test runs. Run the cell that defines it "
        "(and the cells above it), and check the spelling."
    ]


def test_honest_noise_costs_nothing(launcher, settings):
    verdicts, _, _ = run(
        launcher,
        settings,
        "import sys, warnings, torch\nwarnings.warn('deprecated', UserWarning)\n"
        "print('progress', file=sys.stderr)\n"
        "for i in range(50): print(f'\\r{i}%', end='', file=sys.stderr)\n"
        "def f(z):\n    warnings.warn('inside the answer')\n"
        "    print('debug', z, file=sys.stderr)\n"
        "    return torch.sigmoid(z)",
        sigmoid_test(),
    )
    assert verdicts == [True]


def test_exit_stops_the_notebook_and_fails_the_rest_with_the_reason(launcher, settings):
    verdicts, summary, _ = run(
        launcher,
        settings,
        "import torch\ndef f(z):\n    return torch.sigmoid(z)",
        sigmoid_test(),
        "import os\nos._exit(3)",
        sigmoid_test(),
    )
    assert verdicts[0] is True
    assert "stopped" in verdicts[1] and "kernel stopped" in summary.stopped


def test_ipython_exit_stops_the_notebook_at_once_whatever_the_timing(launcher, settings):
    """exit() ends the kernel only after its reply: the next test must fail even if it is quick."""
    verdicts, summary, _ = run(
        launcher,
        settings,
        "import torch\ndef f(z):\n    return torch.sigmoid(z)",
        sigmoid_test(),
        "exit()",
        sigmoid_test(),
    )
    assert verdicts[0] is True
    assert "exit()" in verdicts[1] and "exit()" in summary.stopped


@pytest.mark.slow  # waits out the 10-second cell limit
def test_an_endless_cell_is_stopped_at_the_cell_limit(launcher, settings):
    verdicts, summary, _ = run(
        launcher,
        settings,
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        sigmoid_test(),
    )
    assert "10 seconds" in summary.stopped and "10 seconds" in verdicts[0]


def test_output_beyond_the_budget_is_dropped(launcher, settings):
    _, _, nb = run(
        launcher, settings, "print('x' * 10_000_000)\nfor i in range(5000): print(i)", "y = 1"
    )
    kept = sum(len(str(o)) for c in nb.cells for o in c.outputs)
    shown = str(nb.cells[0].outputs)
    assert kept < 50_000 and ("output truncated" in shown or "more than the grader reads" in shown)


def test_what_a_cell_printed_is_kept_whole_however_it_was_sent(launcher, settings):
    """A flush cuts a print into two messages, as a busy machine can: the notebook shows it
    whole, stdout then stderr, so feedback pages do not depend on timing."""
    _, _, nb = run(
        launcher,
        settings,
        "import sys\nprint('SyntaxError:', end='')\nsys.stdout.flush()\nprint(' invalid syntax')\n"
        "print('careful', file=sys.stderr)\nsys.stderr.flush()\nprint('done')",
    )
    assert [(o.output_type, o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stream", "stdout", "SyntaxError: invalid syntax\ndone\n"),
        ("stream", "stderr", "careful\n"),
    ]


def test_script_outputs_are_reduced_to_inert_types(launcher, settings):
    _, _, nb = run(
        launcher,
        settings,
        "from IPython.display import HTML, Javascript, display\n"
        "display(HTML('<img src=x onerror=alert(1)>'))\ndisplay(Javascript('alert(2)'))",
    )
    text = str(nb.cells[0].outputs)
    assert "onerror" not in text and "alert" not in text


def test_a_figure_the_test_draws_is_kept_with_the_verdict(launcher, settings):
    _, _, nb = run(
        launcher,
        settings,
        "import torch\ndef f(z):\n    return torch.sigmoid(2 * z)",
        graded_cell(
            "import torch, matplotlib.pyplot as plt\nz = torch.linspace(-6, 6, 25)\n"
            "fig, ax = plt.subplots()\nax.plot(z, f(z))\nax.plot(z, torch.sigmoid(z))\n"
            "assert torch.allclose(f(z), torch.sigmoid(z)), 'not the sigmoid'"
        ),
    )
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in nb.cells[1].outputs]
    assert kinds == [("display_data", ["image/png", "text/plain"]), ("error", [])]


def test_a_test_cells_calls_share_pyplot_state_as_under_validate(launcher, settings):
    """Under Validate a test cell runs in the learner's kernel, so a function that draws on the
    current figure piles its second call onto its first; at grading too. The next test cell
    starts afresh, learner cells find none of those figures open, and none is shown as output."""
    verdicts, _, nb = run(
        launcher,
        settings,
        "import matplotlib.pyplot as plt\nlimit = 2\n"
        "def draw(y):\n    plt.plot([0, 1], [y, y])\n    return plt.gca()",
        graded_cell(  # a name fetched between the calls keeps the cell's figures open
            "first = draw(1)\nassert limit == 2\nsecond = draw(2)\n"
            "assert len(second.lines) == limit, second.lines"
        ),
        graded_cell("third = draw(3)\nassert len(third.lines) == 1, third.lines"),
        "still_open = len(plt.get_fignums())",
        graded_cell("assert still_open == 0, still_open"),
    )
    assert verdicts == [True, True, True]
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.output_type == "display_data"], cell.source


def test_a_call_that_changes_its_argument_is_caught_in_the_kernel_as_under_validate(
    launcher, settings
):
    """At grading the learner's function gets copies: the kernel compares them before and after,
    and the test reads the same message as under Validate, where the test's own objects change."""
    learner = (
        "import torch\n"
        "def in_place(z):\n    z.requires_grad_(True)\n    torch.sigmoid(z).sum().backward()\n"
        "    return z.grad\n"
        "def on_a_copy(z):\n    z = z.detach().clone().requires_grad_(True)\n"
        "    torch.sigmoid(z).sum().backward()\n    return z.grad\n"
        "def relabel(rows):\n    rows[0]['class'] = 1\n    return 1"
    )
    test = (
        "import torch\nfrom autograder.checks import call\n"
        "got = call({name}, {arg}, what='f(z)', unchanged='Work on a copy.')\n"
        "assert got is not None"
    )
    cells = [
        graded_cell(test.format(name=name, arg=arg))
        for name, arg in [
            ("in_place", "torch.linspace(-2, 2, 5)"),
            ("on_a_copy", "torch.linspace(-2, 2, 5)"),
            ("relabel", "[{'class': 'mammal'}]"),
        ]
    ]
    verdicts, _, _ = run(launcher, settings, learner, *cells)
    assert verdicts == ["f(z) changed its argument. Work on a copy.", True,
                        "f(z) changed its argument. Work on a copy."]  # fmt: skip


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
    verdicts, _, nb = run(
        launcher,
        settings,
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    net = 'connected'\n"
        "except OSError as e:\n    net = 'refused'\n"
        f"try:\n    seen = open({str(secret)!r}).read()\nexcept OSError:\n    seen = 'nothing'",
        graded_cell("assert net == 'refused', net\nassert seen == 'nothing', seen"),
    )
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    assert verdicts == [True]


def test_a_test_catching_the_learners_exception_type_sees_that_type(launcher, settings):
    """A test written as `except ValueError` must behave as in the learner's own kernel."""
    verdicts, _, _ = run(
        launcher,
        settings,
        "import math\ndef f(z):\n    return math.exp(z)",
        graded_cell(
            "import torch\ntry:\n    f(torch.ones(3))\nexcept ValueError as error:\n"
            "    raise AssertionError(f'{type(error).__name__}: use torch.exp')"
        ),
        graded_cell("import torch\nf(torch.ones(3))"),
    )
    assert verdicts[0] == "ValueError: use torch.exp"
    assert verdicts[1].startswith("Calling `f` raised ValueError: ")


SQUARES = (
    "def squares(n):\n    return [i * i for i in range(1, n + 1)]\n"
    "def sum_of_squares(n):\n    return sum(squares(n))"
)
USES_SQUARES = """\
orig_squares = squares
del squares
try:
    sum_of_squares(1)
except NameError:
    pass
else:
    raise AssertionError('does not use squares')
finally:
    squares = orig_squares"""


def test_a_test_cells_del_reaches_the_learners_kernel_and_binding_back_restores_it(
    launcher, settings
):
    """nbgrader's hidden-tests pattern: without `squares`, sum_of_squares fails; then it is back."""
    verdicts, summary, nb = run(
        launcher,
        settings,
        SQUARES,
        graded_cell(USES_SQUARES),
        graded_cell("assert sum_of_squares(2) == 5"),
        "print(squares(3))",
    )
    assert verdicts == [True, True]
    assert nb.cells[3].outputs[0].text == "[1, 4, 9]\n"  # the learner's own cells still have it
    assert summary.notes == []


def test_deleting_a_name_the_learner_never_defined_is_a_name_error(launcher, settings):
    test = "try:\n    del y\nexcept NameError:\n    pass\nelse:\n    raise AssertionError('no')"
    verdicts, _, _ = run(launcher, settings, "x = 1", graded_cell(test))
    assert verdicts == [True]


def test_a_module_the_learner_imported_is_the_graders_own(launcher, settings):
    """The learner's `os`, patched or not, reaches the test as the grader's."""
    test = "assert os.getenv('NO_SUCH_VARIABLE_HERE') is None\nassert m.sqrt(4) == 2"
    learner = "import os, math as m\nos.getenv = None"
    verdicts, _, _ = run(launcher, settings, learner, graded_cell(test))
    assert verdicts == [True]


def test_a_module_the_learner_wrote_is_not_imported_by_the_grader(launcher, settings):
    learner = "open('answers.py', 'w').write('ANSWER = 1')\nimport sys\nsys.path.insert(0, '.')"
    verdicts, _, _ = run(
        launcher, settings, learner + "\nimport answers", graded_cell("assert answers.ANSWER == 1")
    )
    assert "not installed where the grader runs" in verdicts[0]


def test_a_helper_an_earlier_test_cell_defines_is_there_later(launcher, settings):
    verdicts, _, _ = run(
        launcher,
        settings,
        SQUARES,
        graded_cell("def close(a, b):\n    return abs(a - b) < 1e-9"),
        graded_cell("assert close(sum_of_squares(2), 5)"),
    )
    assert verdicts == [True, True]


def test_a_test_cells_own_mutations_and_bindings_stay_in_the_grader(launcher, settings):
    """The test works on copies: what it binds or changes, learner code does not see."""
    verdicts, _, nb = run(
        launcher,
        settings,
        "xs = [1, 2]\nlimit = 3",
        graded_cell("xs.append(3)\nlimit = 10\nassert len(xs) == 3"),
        "print(len(xs), limit)",
    )
    assert verdicts == [True] and nb.cells[2].outputs[0].text == "2 3\n"


def test_a_test_cannot_hand_a_function_of_its_own_into_the_learners_kernel(launcher, settings):
    verdicts, _, _ = run(
        launcher,
        settings,
        "def apply(f, x):\n    return f(x)",
        graded_cell("assert apply(lambda x: x + 1, 2) == 3"),
    )
    assert verdicts[0].startswith("Calling `apply` raised WireError: a function cannot be passed")


def test_warnings_and_stderr_of_a_test_cell_cost_nothing(launcher, settings):
    test = "import sys, warnings\nwarnings.warn('careful')\nprint('note', file=sys.stderr)"
    with pytest.warns(UserWarning, match="careful"):  # it was raised, and the test still passed
        verdicts, _, _ = run(launcher, settings, "x = 1", graded_cell(test))
    assert verdicts == [True]


def test_a_final_number_is_partial_credit_as_nbgrader_reads_it(launcher, settings):
    """The last line's value is shown as IPython would, and scores what nbgrader makes of it."""
    from autograder.trusted.executor import cell_result

    sources = [
        "0.5",
        "import numpy as np\nnp.float64(0.5)",
        "-1",
        "7",
        "assert False\n1",
        "float('nan')",
    ]
    _, summary, nb = run(launcher, settings, "x = 1", *[graded_cell(s, points=2) for s in sources])
    tests = nb.cells[1:]
    shown = [
        [o.data["text/plain"] for o in c.outputs if o.output_type == "execute_result"]
        for c in tests
    ]
    assert shown == [["0.5"], ["np.float64(0.5)"], ["-1"], ["2.0"], [], ["nan"]]
    assert [cell_result(c).points for c in tests] == [0.5, 2, 2, 2, 0, 2]
    assert [cell_result(c).passed for c in tests] == [False, True, True, True, False, True]
    notes = [note.split(": ", 1)[1][:11] for note in summary.notes]
    assert notes == ["ends in -1,", "ends in 7, ", "ends in nan"]


def test_binding_a_learner_name_to_a_function_of_the_test_is_noted_for_the_instructor(
    launcher, settings
):
    """Learner code still calls its own `squares`: the instructor hears of it, with the cell."""
    cell = graded_cell("def squares(n):\n    return []\nassert sum_of_squares(2) == 5")
    cell["id"] = "cell-with-a-stub"
    verdicts, summary, _ = run(launcher, settings, SQUARES, cell)
    assert verdicts == [True]
    (note,) = summary.notes
    assert "cell-with-a-stub" in note and "`squares`" in note


def test_test_cells_import_the_instructors_helpers_from_the_notebooks_folder(launcher, tmp_path):
    import sys

    (tmp_path / "lesson_checks_helper.py").write_text("def expected():\n    return 5\n")
    (tmp_path / "expected.txt").write_text("5")
    test = (
        "from lesson_checks_helper import expected\nassert sum_of_squares(2) == expected()\n"
        "assert sum_of_squares(2) == int(open('expected.txt').read())"
    )
    nb = new_notebook(cells=[new_code_cell(SQUARES), graded_cell(test)])
    execute_notebook(nb, launcher, workdir=tmp_path)
    assert [o.output_type for o in nb.cells[1].outputs] == ["stream"]
    assert "lesson_checks_helper" not in sys.modules and str(tmp_path) not in sys.path
    assert not (tmp_path / "__pycache__").exists()


def test_the_kernel_knows_it_is_autograded_when_nbgrader_says_so(launcher, settings, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    learner = "import os\nmode = os.environ.get('NBGRADER_EXECUTION')"
    verdicts, _, _ = run(launcher, settings, learner, graded_cell("assert mode == 'autograde'"))
    assert verdicts == [True]


def test_the_lessons_files_are_in_the_kernels_folder_read_only(launcher, settings):
    """Data the instructor ships with a lesson is there for learner code, and stays as shipped."""
    learner = (
        "text = open('data/lemur.csv').read()\n"
        "try:\n    open('data/lemur.csv', 'w').write('1')\n    wrote = True\n"
        "except OSError:\n    wrote = False"
    )
    nb = new_notebook(
        cells=[
            new_code_cell(learner),
            graded_cell("assert text == '4,0,1'"),
            graded_cell("assert not wrote"),
        ]
    )
    execute_notebook(nb, launcher, files={"data/lemur.csv": b"4,0,1"})
    verdicts = [[o.output_type for o in cell.outputs] for cell in nb.cells[1:]]
    assert verdicts[0] == ["stream"]
    if settings.mode != "none":  # unsandboxed, as root, nothing is read-only
        assert verdicts[1] == ["stream"]


def test_a_learners_error_reads_as_in_their_own_jupyterlab_kernel(launcher, settings, tmp_path):
    """The traceback in the feedback is the one IPython shows the learner, colours and all."""
    import os

    from jupyter_client.manager import start_new_kernel

    cells = [
        "import torch\n\ndef sigmoid(z):\n    scale = [1,\n             2]\n"
        "    return torch.sigmoid(z) * undefined_scale",
        "lemur = torch.tensor([[6.0]])\nsigmoid(lemur)",
        "raise NotImplementedError('left for the learner')",
    ]
    _, _, nb = run(launcher, settings, *cells)
    graded = [[o.traceback for o in cell.outputs if o.output_type == "error"] for cell in nb.cells]

    # the learner's own kernel, as JupyterLab starts it (no IPython profile of this machine's)
    manager, client = start_new_kernel(
        kernel_name="python3", startup_timeout=600, env=dict(os.environ, IPYTHONDIR=str(tmp_path))
    )
    try:
        own = []
        for source in cells:
            errors = []
            client.execute_interactive(
                source,
                timeout=600,
                output_hook=lambda msg, errors=errors: (
                    errors.append(msg["content"]["traceback"])
                    if msg["msg_type"] == "error"
                    else None
                ),
            )
            own.append(errors)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert graded == own
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(graded[1][0]))
    assert "Cell In[2], line 2" in shown and "Cell In[1], line 6, in sigmoid" in shown
    assert "NameError: name 'undefined_scale' is not defined" in shown


def test_every_kernel_finds_the_optimizer_stack_imported_the_first_one_too(settings):
    """What docs/architecture.md says of the fork server's later imports: it makes them before it
    forks its first kernel, so no kernel imports torch's optimizer stack itself (a second copy,
    70 MiB, in a sandbox whose first notebook trains a model)."""
    fresh = KernelLauncher(settings)  # a sandbox of its own: its very first kernel is this one
    try:
        fresh.warm_up()  # ready, and asked at once, with no idle time for the later imports
        _, _, nb = run(fresh, settings, "import sys\nprint('torch._dynamo' in sys.modules)")
    finally:
        fresh.close()
    forked = settings.mode == "bubblewrap-root" and settings.fork_server
    assert nb.cells[0].outputs[0].text.split() == [str(forked)]


IMPORTED_HERE = (  # modules whose namespace is not among what the fork server froze
    "import gc, sys, types\n"
    "live = {id(o) for o in gc.get_objects()}\n"
    "print(sorted(n for n, m in list(sys.modules.items()) if isinstance(m, types.ModuleType)\n"
    "             and n != '__main__' and id(vars(m)) in live))"
)


def test_a_forked_kernel_imports_nothing_to_start_or_to_show_an_error(launcher, settings):
    """What docs/architecture.md says of a forked kernel: its start and its first traceback import
    nothing, the fork server has (the learner's own namespace, __main__, is each kernel's own)."""
    run(launcher, settings, "pass")  # a kernel forked: the fork server's later imports are done
    _, _, nb = run(launcher, settings, IMPORTED_HERE, "raise ValueError('undone')", IMPORTED_HERE)
    started, after_error = (ast.literal_eval(nb.cells[i].outputs[0].text) for i in (0, 2))
    if settings.mode == "bubblewrap-root" and settings.fork_server:
        assert started == [] and after_error == []
    else:  # a kernel of its own freezes nothing: every module counts as imported here
        assert "IPython" in started and "stack_data" in after_error


FLUSHES = (  # counts what flushing asks of the kernel's IOPub thread, with and without output
    "import sys\n"
    "pub = sys.stdout.pub_thread\n"
    "sys.stdout.flush()\n"
    "real, scheduled = pub.schedule, []\n"
    "pub.schedule = lambda f: (scheduled.append(f), real(f))[1]\n"
    "sys.stdout.flush(); sys.stderr.flush()\n"
    "unwritten = len(scheduled)\n"
    "sys.stderr.write('written last\\n'); sys.stderr.flush()\n"
    "written = len(scheduled) - unwritten\n"
    "del pub.schedule\n"
    "print(unwritten, written > 0)"
)


def test_a_flush_with_nothing_written_waits_for_nothing_and_output_still_arrives(
    launcher, settings
):
    """What docs/architecture.md says of a kernel's flushes: a stream with nothing written since
    its last flush does not wait for the IOPub thread (ipykernel flushes both streams at the end
    of every execute), and what was written still reaches the grader with its cell."""
    _, _, nb = run(launcher, settings, FLUSHES)
    streams = {o.name: o.text for o in nb.cells[0].outputs if o.output_type == "stream"}
    assert streams == {"stdout": "0 True\n", "stderr": "written last\n"}


def test_the_grader_is_sent_no_echo_of_the_code_it_runs(launcher, settings, monkeypatch):
    """What docs/architecture.md says of a kernel's messages: no `execute_input` echo of each
    request's code, which the grader would only read to drop."""
    from autograder.trusted import kernel

    received = []
    process = kernel._LimitedClient.process_message

    def recording(self, msg, cell, cell_index):
        received.append(msg["msg_type"])
        return process(self, msg, cell, cell_index)

    monkeypatch.setattr(kernel._LimitedClient, "process_message", recording)
    verdicts, _, _ = run(launcher, settings, "x = 2\nprint(x)", graded_cell("assert x == 2"))
    assert verdicts == [True]  # the test cell's probe for x was answered
    assert {"status", "stream", "display_data"} <= set(received)
    assert "execute_input" not in received


def test_a_probe_costs_the_grader_no_schema_check(launcher, settings, monkeypatch):
    """What docs/architecture.md says of a probe on the grader's side: its cell is built, and its
    answer read, without nbformat's schema check. Two ordinary cells are checked, whatever the
    number of probes: the kernel client's scratch notebook and the cell that installs the probe
    module in the kernel."""
    from nbformat.v4 import nbbase

    nb = new_notebook(cells=[new_code_cell("x, y, z = 2, 3, 4"), graded_cell(
        "assert (x, y, z) == (2, 3, 4)"
    )])  # fmt: skip
    checked = []
    validate = nbbase.validate

    def counting(node, ref=None):
        checked.append(ref)
        return validate(node, ref)

    monkeypatch.setattr(nbbase, "validate", counting)
    execute_notebook(nb, launcher)
    assert not any(o.output_type == "error" for o in nb.cells[1].outputs)  # three probes answered
    assert checked.count("code_cell") == 2 and "display_data" not in checked


def test_a_kernel_collects_has_no_debugger_and_a_forked_one_leaves_its_imports_frozen(
    launcher, settings
):
    """What docs/architecture.md says of the fork server's imports, seen from a learner cell."""
    _, _, nb = run(
        launcher,
        settings,
        "import gc\ntry:\n    import debugpy\n    debugger = 'imported'\n"
        "except ImportError:\n    debugger = 'ImportError'\n"
        "print(debugger, gc.get_freeze_count(), gc.isenabled())",
    )
    debugger, frozen, collecting = nb.cells[0].outputs[0].text.split()
    assert debugger == "ImportError"  # as docs/nbgrader-compatibility.md says
    assert collecting == "True"  # the fork server imports without collections; a kernel collects
    if settings.mode == "bubblewrap-root" and settings.fork_server:
        assert int(frozen) > 100_000  # torch, matplotlib, IPython: the fork server's imports
    else:
        assert int(frozen) == 0  # a kernel of its own freezes nothing
