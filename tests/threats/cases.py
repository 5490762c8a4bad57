"""The corpus: one learner per case, each with the exact outcome it must get.

A case builds the files of one learner's `submitted/<learner>/` folder from the 01-lemur release
(the reference answers, a known wrong answer set, or stubs) plus hostile cells or changes, and
says which test cells must pass. The expected score is the sum of the points of those test cells,
read from the lesson's source, so the numbers below follow the lesson (today: lemur-tensor-test 2,
lemur-layer-test 3, mammal-probability-test 3, predict-mammal-test 4, plot-sigmoid-test 4 = 16).

Learner names sort in grading order: the grader hands out jobs sorted by learner, so `t00` is
graded first (the planter must precede its would-be victims) and the slow cases start early.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from . import payloads as P

LESSON = "01-lemur"
NOTEBOOK = f"{LESSON}.ipynb"
DECOY_LESSON = "02-decoy"  # a second lesson that exists only in the test's copy of the course

TENSOR, LAYER, PROB, PREDICT, PLOT = (
    "lemur-tensor-test",
    "lemur-layer-test",
    "mammal-probability-test",
    "predict-mammal-test",
    "plot-sigmoid-test",
)
ALL = frozenset({TENSOR, LAYER, PROB, PREDICT, PLOT})


@dataclass
class Ctx:
    """What a case may aim at: this run's sentinel and the host's real paths and listeners."""

    sentinel: str  # hex, in payloads and in marker strings
    course: str  # absolute path of the course folder being graded
    repo: str
    host_home: str
    site_packages: str
    tcp_port: int
    host_ip: str
    abstract_socket: str  # name of an abstract unix socket (without the leading NUL)
    honest: str  # the honest learner other learners try to copy from
    other_marker: str  # a line only in the honest learner's notebook
    reference: dict  # grade_id -> reference answer code
    release: Callable[[], nbformat.NotebookNode]  # a fresh copy of the learner release
    answered: Callable[[dict], nbformat.NotebookNode]  # release with these answers filled in

    def fill(self, template) -> str:
        return template.substitute(
            S=self.sentinel,
            COURSE=repr(self.course),
            REPO=repr(self.repo),
            HOSTHOME=repr(self.host_home),
            SITE=repr(self.site_packages),
            TCP_PORT=str(self.tcp_port),
            HOSTIP=repr(self.host_ip),
            ABSTRACT=repr(self.abstract_socket),
            HONEST=repr(self.honest),
        )


@dataclass
class Case:
    student: str
    # path relative to submitted/<student>/01-lemur/ -> NotebookNode | bytes | ("symlink", target)
    build: Callable[[Ctx], dict]
    passes: frozenset | None = None  # test cells that must pass; None: the submission is ungradable
    why: str = ""  # what the case does, one line
    twin: str | None = None  # a learner whose every test must come out the same
    reason: tuple = ()  # ungradable: words the reason must contain (case-insensitive)
    notes: tuple = ()  # words that must appear in the notes
    stub: bool = False  # no answers at all: solution text must not appear in its outputs
    ran: str = ""  # text the hostile cell prints when it ran to its end ($S: the sentinel)

    @property
    def status(self) -> str:
        return "ungradable" if self.passes is None else "graded"


# ------------------------------------------------------------------------------ answer sets

W = "torch.tensor([[1., -2., 2.]])"

# Known wrong answers "A": int64 lemur, wrong weights, no sigmoid. The decision and the plot are
# right and independent of the wrong layer, so exactly predict-mammal-test and plot-sigmoid-test
# pass.
WRONG_A = {
    "lemur-tensor": "lemur = torch.tensor([[4, 0, 1]])\n",
    "lemur-layer": (
        "layer = nn.Linear(3, 1)\nwith torch.no_grad():\n"
        "    layer.weight.copy_(torch.tensor([[1., 1., 1.]]))\n    layer.bias.zero_()\n"
    ),
    "mammal-probability": f"def mammal_probability(features):\n    return features @ {W}.T\n",
    "predict-mammal": f"def predict_mammal(features):\n    return features @ {W}.T > 0\n",
}
PASSES_A = frozenset({PREDICT, PLOT})
WRONG_LEMUR = "lemur = torch.tensor([[4, 0, 1]])  # int64\n"
WRONG_LAYER = WRONG_A["lemur-layer"]
INDEPENDENT_PROB = (
    f"def mammal_probability(features):\n    return torch.sigmoid(features @ {W}.T)\n"
)
HARDCODED_PROB = "def mammal_probability(features):\n    return torch.tensor([[0.9975]])\n"


# ------------------------------------------------------------------------------ notebook helpers


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def index_of(nb, gid: str) -> int:
    for i, cell in enumerate(nb.cells):
        if grade_id(cell) == gid:
            return i
    raise KeyError(gid)


def insert_after(nb, anchor: str, *cells) -> nbformat.NotebookNode:
    """Insert learner cells after the cell `anchor` (a grade_id, or "end"), after earlier
    insertions."""
    if anchor == "end":
        position = len(nb.cells)
    else:
        position = index_of(nb, anchor) + 1
        while position < len(nb.cells) and nb.cells[position].metadata.get("threat_injected"):
            position += 1
    for offset, cell in enumerate(cells):
        if isinstance(cell, str):
            cell = new_code_cell(cell)
        cell.metadata["threat_injected"] = True
        nb.cells.insert(position + offset, cell)
    return nb


def answers(ctx: Ctx, **changes) -> dict:
    """Reference answers with some replaced (keyword names use _ for -)."""
    result = dict(ctx.reference)
    result.update({k.replace("_", "-"): v for k, v in changes.items()})
    return result


def with_answers(ctx: Ctx, answer_set: dict, *injections) -> dict:
    nb = ctx.answered(answer_set)
    for anchor, template in injections:
        insert_after(nb, anchor, ctx.fill(template))
    return {NOTEBOOK: nb}


def huge_layer_args(ctx):
    nb = ctx.answered(answers(ctx))
    release = {grade_id(c): c.source for c in ctx.release().cells}
    for gid in ("mammal-probability", "predict-mammal", "plot-sigmoid"):
        nb.cells[index_of(nb, gid)].source = release[gid]
    insert_after(nb, "lemur-layer", ctx.fill(P.HUGE_LAYER_ARGS))
    return {NOTEBOOK: nb}


def reference_with(*injections):
    return lambda ctx: with_answers(ctx, answers(ctx), *injections)


def wrong_a_with(*injections):
    return lambda ctx: with_answers(
        ctx, answers(ctx, **{k.replace("-", "_"): v for k, v in WRONG_A.items()}), *injections
    )


def notebook_bytes(nb) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


# ------------------------------------------------------------------------------ builders


def honest_reference(ctx):
    nb = ctx.answered(
        answers(ctx, lemur_tensor=ctx.reference["lemur-tensor"] + f"# {ctx.other_marker}\n")
    )
    return {NOTEBOOK: nb}


def honest_noise_warnings(ctx):
    prob = (
        "import sys, warnings\nimport torch.nn.functional as F\n\n"
        "def mammal_probability(features):\n"
        "    warnings.warn('computing probabilities', UserWarning)\n"
        "    print('debug: input shape', tuple(features.shape), file=sys.stderr)\n"
        "    return F.sigmoid(layer(features))\n"
    )
    predict = (
        "def predict_mammal(features):\n"
        "    warnings.warn('this looks deprecated', DeprecationWarning)\n"
        "    print('deciding...', file=sys.stderr)\n"
        "    return mammal_probability(features) > 0.5\n"
    )
    nb = ctx.answered(answers(ctx, mammal_probability=prob, predict_mammal=predict))
    insert_after(
        nb,
        LAYER,
        ctx.fill(P.NOISE_PROGRESS_TO_STDERR),
        ctx.fill(P.NOISE_HELPER),
        new_markdown_cell("My own notes: the sigmoid squashes z into (0, 1)."),
    )
    return {NOTEBOOK: nb}


def honest_noise_module(ctx):
    prob = (
        "def mammal_probability(features):\n"
        "    print('pre-activation:', layer(features))\n"
        "    return nn.Sequential(layer, nn.Sigmoid())(features)\n"
    )
    predict = (
        "def predict_mammal(features):\n    return torch.gt(nn.Sigmoid()(layer(features)), 0.5)\n"
    )
    plot = (
        "def plot_sigmoid(z):\n"
        "    plt.figure()\n"
        "    grid = torch.linspace(-10, 10, 400)\n"
        "    plt.plot(grid.numpy(), torch.sigmoid(grid).numpy())\n"
        "    plt.axhline(y=0.5, color='red')\n"
        "    plt.plot(z, torch.sigmoid(torch.tensor(z)).item(), 'ko')\n"
        "    plt.title('sigmoid')\n"
        "    plt.xlabel('z')\n"
        "    plt.ylabel('p')\n"
        "    return plt.gca()\n"
    )
    nb = ctx.answered(
        answers(ctx, mammal_probability=prob, predict_mammal=predict, plot_sigmoid=plot)
    )
    insert_after(nb, PLOT, ctx.fill(P.NOISE_PROGRESS_TO_STDOUT))
    return {NOTEBOOK: nb}


def poison_reference(ctx):
    prob = (
        "def mammal_probability(features):\n"
        "    return nn.Sigmoid()(features @ torch.tensor([[1., -2., 2.]]).T)\n"
    )
    wrong = {k: v for k, v in WRONG_A.items()}
    wrong["mammal-probability"] = prob
    nb = ctx.answered(answers(ctx, **{k.replace("-", "_"): v for k, v in wrong.items()}))
    insert_after(nb, "mammal-probability", ctx.fill(P.POISON_SIGMOID))
    insert_after(nb, PROB, ctx.fill(P.UNPOISON_SIGMOID))
    return {NOTEBOOK: nb}


def fake_results(ctx):
    nb = ctx.answered(answers(ctx))
    for gid in ("lemur-tensor", "lemur-layer", "mammal-probability", "predict-mammal"):
        nb.cells[index_of(nb, gid)].source = "# defined in the cell after the imports\n"
    insert_after(nb, "imports", ctx.fill(P.FAKE_RESULTS))
    return {NOTEBOOK: nb}


def forge_probes(ctx):
    files = wrong_a_with(("imports", P.FORGE_PROBES), ("end", P.PRINT_RECORDED_PROBES))(ctx)
    return files


def tamper_tests(ctx):
    """Wrong answers A, and the tests of the wrong answers tampered with in three different ways."""
    nb = ctx.answered(answers(ctx, **{k.replace("-", "_"): v for k, v in WRONG_A.items()}))
    nb.cells[index_of(nb, TENSOR)].source = "pass\n"
    layer_test = nb.cells[index_of(nb, LAYER)]
    layer_test.cell_type = "markdown"
    layer_test.pop("outputs", None)
    layer_test.pop("execution_count", None)
    prob_test = nb.cells[index_of(nb, PROB)]
    del prob_test.metadata["nbgrader"]
    prob_test.source = 'print("✓ mammal_probability(lemur) = 0.9975")\n'
    predict_test = nb.cells[index_of(nb, PREDICT)]
    predict_test.metadata["nbgrader"]["points"] = 100
    for cell in nb.cells:  # outputs that claim every test passed
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ passed\n")]
    return {NOTEBOOK: nb}


def read_secrets(ctx):
    nb = ctx.release()
    insert_after(nb, "imports", ctx.fill(P.READ_SECRETS))
    return {NOTEBOOK: nb}


def hang_many_sleeps(ctx):
    nb = ctx.answered(answers(ctx))
    insert_after(nb, LAYER, *[ctx.fill(P.SLEEP_UNDER_CELL_LIMIT) for _ in range(6)])
    return {NOTEBOOK: nb}


def exhaust_output(ctx):
    nb = ctx.answered(answers(ctx))
    insert_after(nb, "end", ctx.fill(P.ONE_HUGE_LINE), ctx.fill(P.MILLION_PRINTS))
    return {NOTEBOOK: nb}


def delete_cells(*gids, answer_set=None):
    def build(ctx):
        nb = ctx.answered(answers(ctx, **(answer_set or {})))
        nb.cells = [c for c in nb.cells if grade_id(c) not in gids]
        return {NOTEBOOK: nb}

    return build


def duplicate_answer(ctx):
    nb = ctx.answered(answers(ctx))
    copy_cell = copy.deepcopy(nb.cells[index_of(nb, "lemur-tensor")])
    copy_cell.source = WRONG_LEMUR
    copy_cell["id"] = "threat-duplicate"
    nb.cells.insert(index_of(nb, "lemur-tensor") + 1, copy_cell)
    return {NOTEBOOK: _with_fresh_ids(nb)}


def duplicate_test_at_top(ctx):
    nb = ctx.answered(answers(ctx))
    copy_cell = copy.deepcopy(nb.cells[index_of(nb, TENSOR)])
    nb.cells.insert(0, copy_cell)
    return {NOTEBOOK: _with_fresh_ids(nb)}


def _with_fresh_ids(nb):
    seen = set()
    for i, cell in enumerate(nb.cells):
        if cell.get("id") in seen or "id" not in cell:
            cell["id"] = f"threat-copy-{i}"
        seen.add(cell["id"])
    return nb


def test_marked_solution(ctx):
    nb = ctx.answered(answers(ctx, lemur_tensor=WRONG_LEMUR))
    nb.cells[index_of(nb, TENSOR)].metadata["nbgrader"]["solution"] = True
    return {NOTEBOOK: nb}


def answer_marked_graded(ctx):
    nb = ctx.answered(answers(ctx))
    meta = nb.cells[index_of(nb, "lemur-tensor")].metadata["nbgrader"]
    meta.update(grade=True, points=100)
    return {NOTEBOOK: nb}


def injected_grade_cells(ctx):
    nb = ctx.answered(answers(ctx))
    code = ctx.fill(P.INJECTED_GRADE_CELL)
    insert_after(
        nb,
        TENSOR,
        new_code_cell(
            code,
            metadata={
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "locked": False,
                    "points": 100,
                    "schema_version": 3,
                    "grade_id": f"bonus-{ctx.sentinel}",
                }
            },
        ),
    )
    insert_after(
        nb,
        LAYER,
        new_code_cell(
            code,
            metadata={
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "locked": False,
                    "points": 100,
                    "schema_version": 3,
                }
            },
        ),
    )
    return {NOTEBOOK: nb}


def files_beside(ctx):
    files = {NOTEBOOK: ctx.answered(answers(ctx))}
    for name in (
        "torch",
        "numpy",
        "matplotlib",
        "IPython",
        "sitecustomize",
        "usercustomize",
        "autograder_wire",
        "json",
        "ipykernel_launcher",
    ):
        files[f"{name}.py"] = ctx.fill(P.SHADOW_MODULE).replace("{name}", name).encode()
    files[".ipython/profile_default/startup/00-shadow.py"] = (
        f'print("SHADOWED-{ctx.sentinel}-startup")\n'.encode()
    )
    files["nbgrader_config.py"] = (
        f'print("SHADOWED-{ctx.sentinel}-config")\n'
        "c = get_config()\nc.Autograde.autograde_preprocessors = []\n"
    ).encode()
    files["01-lemur.py"] = ctx.fill(P.SHADOW_MODULE).replace("{name}", "01-lemur").encode()
    return files


def bad_timestamp(ctx):
    return {
        NOTEBOOK: ctx.answered(answers(ctx)),
        "timestamp.txt": b"yesterday around noon, honest\n",
    }


def nbformat3(ctx):
    nb = nbformat.convert(copy.deepcopy(ctx.answered(answers(ctx))), 3)
    return {NOTEBOOK: nbformat.writes(nb, version=3).encode("utf-8")}


def script_in_cells(ctx):
    nb = ctx.answered(answers(ctx))
    markdown = new_markdown_cell(
        ctx.fill(P.SCRIPT_IN_MARKDOWN),
        attachments={"a.png": {"image/png": ctx.fill(P.SCRIPT_ATTACHMENT)}},
    )
    markdown.metadata["tags"] = [ctx.fill(P.SCRIPT_TAG)]
    raw = new_raw_cell(
        ctx.fill(P.SCRIPT_IN_RAW), metadata={"raw_mimetype": "text/html", "format": "text/html"}
    )
    insert_after(nb, LAYER, markdown, raw)
    return {NOTEBOOK: nb}


def symlink_to_source(ctx):
    return {NOTEBOOK: ("symlink", f"{ctx.course}/source/{LESSON}/{NOTEBOOK}")}


# ------------------------------------------------------------------------------ broken files


def broken(make: Callable[[Ctx], bytes], name: str = NOTEBOOK):
    """Raw bytes as the file `name` (relative to the learner's 01-lemur folder, `..` allowed)."""
    return lambda ctx: {name: make(ctx)}


def truncated(ctx):
    data = notebook_bytes(ctx.answered(answers(ctx)))
    return data[: len(data) // 2]


def random_bytes(ctx):
    rng = random.Random(20240601)
    data = bytes(rng.randrange(256) for _ in range(4096))
    assert b"\xff" in data  # never valid UTF-8
    return data


def latin1(ctx):
    nb = ctx.answered(answers(ctx, lemur_tensor=ctx.reference["lemur-tensor"] + "# café, naïve\n"))
    # as an editor saving in Latin-1 would write the accents (the rest of the notebook is
    # ASCII-safe)
    return (
        nbformat.writes(nb)
        .encode("utf-8")
        .replace("é".encode(), b"\xe9")
        .replace("ï".encode(), b"\xef")
    )


def damaged_v3(ctx):
    return json.dumps(
        {
            "nbformat": 3,
            "nbformat_minor": 0,
            "metadata": {},
            "worksheets": [{"cells": "this should be a list", "metadata": {}}],
        }
    ).encode()


def nbformat5(ctx):
    data = json.loads(notebook_bytes(ctx.answered(answers(ctx))))
    data["nbformat"] = 5
    return json.dumps(data).encode()


def huge(ctx):
    nb = ctx.answered(answers(ctx))
    insert_after(nb, "end", new_markdown_cell("x" * (21 * 1024**2)))
    return notebook_bytes(nb)


def plain(nb_builder: Callable[[Ctx], nbformat.NotebookNode], name: str):
    return lambda ctx: {name: nb_builder(ctx)}


# ------------------------------------------------------------------------------ the corpus


def _ref(ctx):
    return ctx.answered(answers(ctx))


W_A = "wrong answers A (int64 lemur, wrong weights, no sigmoid)"

CASES: list[Case] = [
    # ---- cross-learner (first, so later kernels of its worker could be its victims)
    Case(
        "t00-planter",
        reference_with((LAYER, P.PLANT_FOR_NEXT_KERNELS)),
        ALL,
        "reference answers + IPython startup files planted for the next kernels",
        ran="startup files planted",
    ),
    # ---- kill or hang (slow ones early); fail closed: tests after the stop score 0
    Case(
        "t01-hang-many-sleeps",
        hang_many_sleeps,
        frozenset({TENSOR, LAYER}),
        "six cells of 4.8 s each (cell limit 5 s, notebook limit 20 s) after the layer test; "
        "the fourth is cut mid-cell by the notebook limit",
        notes=("time limit",),
    ),
    Case(
        "t02-hang-ignore-signals",
        reference_with((LAYER, P.IGNORE_SIGNALS_AND_SPIN)),
        frozenset({TENSOR, LAYER}),
        "SIGINT/SIGTERM ignored, endless loop after the layer test",
        notes=("time limit",),
    ),
    Case(
        "t03-exhaust-memory-disk",
        reference_with(("end", P.EXHAUST_MEMORY_AND_DISK)),
        ALL,
        "3 GB allocation, fill the home, one huge file (after the last test)",
    ),
    Case(
        "t04-exhaust-output",
        exhaust_output,
        ALL,
        "50 MB on one line, then a million prints (after the last test)",
    ),
    Case(
        "t05-fork-bomb",
        reference_with(("end", P.FORK_BOMB)),
        ALL,
        "count forks up to the limit, then leave a self-replicating fork bomb "
        "(after the last test)",
        ran="fork bomb started",
    ),
    Case(
        "t06-daemon-grandchild",
        reference_with((TENSOR, P.DAEMON_GRANDCHILD)),
        ALL,
        "double-fork + setsid grandchild sleeping 600 s with a marker, after the first test",
        ran="daemon started",
    ),
    Case(
        "t07-kill-os-exit",
        reference_with((LAYER, P.OS_EXIT)),
        frozenset({TENSOR, LAYER}),
        "os._exit(0) after the layer test",
        notes=("stopped",),
    ),
    Case(
        "t08-kill-exit",
        reference_with((LAYER, P.EXIT)),
        frozenset({TENSOR, LAYER}),
        "exit() after the layer test",
        notes=("stopped",),
    ),
    Case(
        "t09-huge-layer-args",
        huge_layer_args,
        frozenset({TENSOR}),
        "a right layer whose in/out_features claim 24000 x 24000; later answers left as stubs "
        "(so the score does not depend on how long the grader takes to rebuild the layer)",
    ),
    # ---- honest learners and the plain wrong answers the hostile ones are compared with
    Case("t10-honest-reference", honest_reference, ALL, "the reference answers"),
    Case(
        "t11-honest-noise-warnings",
        honest_noise_warnings,
        ALL,
        "F.sigmoid; warnings and stderr inside the graded functions; progress bar on stderr; "
        "helper cells",
        ran="helper ready: 42",
    ),
    Case(
        "t12-honest-noise-module",
        honest_noise_module,
        ALL,
        "nn.Sigmoid in a Sequential, prints in the graded function, progress on stdout, "
        "pyplot state machine",
    ),
    Case("t13-twin-wrong-a", wrong_a_with(), PASSES_A, W_A + ", nothing else"),
    # ---- patch the checker / poison the reference / rewrite cells / fake results / forge /
    #      sys.modules
    Case(
        "t14-patch-checkers-wrong",
        wrong_a_with(("imports", P.PATCH_CHECKERS)),
        PASSES_A,
        W_A + " + allclose/equal/assert_close/np.allclose/Tensor.__eq__/AssertionError patched",
        ran="checkers patched",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t15-patch-checkers-right",
        reference_with(("imports", P.PATCH_CHECKERS)),
        ALL,
        "reference answers + the same patched checkers",
        ran="checkers patched",
        twin="t10-honest-reference",
    ),
    Case(
        "t16-poison-sigmoid-wrong",
        poison_reference,
        PASSES_A,
        W_A + ", but the probability uses nn.Sigmoid with every sigmoid patched to the identity",
        ran="sigmoid poisoned",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t17-rewrite-cells-wrong",
        wrong_a_with(("imports", P.REWRITE_CELLS)),
        PASSES_A,
        W_A + " + input transformer (try/except), AST transformer (no asserts), run_cell hijack",
        ran="later cells rewritten",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t18-fake-results-wrong",
        fake_results,
        PASSES_A,
        "the values of A behind a Tensor subclass equal to everything, a spoofed `Linear`, "
        "a __class__-spoofing object",
        ran="Liar torch.nn.modules.linear True",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t19-forge-probes-wrong",
        forge_probes,
        PASSES_A,
        W_A
        + (
            " + publish_display_data/json.loads patched to answer the grader's probes"
            " (incl. a pickle)"
        ),
        ran="probes forged",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t20-sys-modules-wrong",
        wrong_a_with(("imports", P.SYS_MODULES)),
        PASSES_A,
        W_A + " + torch/numpy replaced in sys.modules by proxies whose checkers agree",
        ran="torch is now _Agreeable True",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t21-tamper-tests-wrong",
        tamper_tests,
        PASSES_A,
        W_A + "; tests: source `pass`, type markdown, metadata removed, points 100; fake ✓ outputs",
        twin="t13-twin-wrong-a",
    ),
    Case(
        "t22-hardcode",
        lambda ctx: with_answers(ctx, answers(ctx, mammal_probability=HARDCODED_PROB)),
        frozenset({TENSOR, LAYER, PLOT}),
        "mammal_probability returns tensor([[0.9975]]) (so predict_mammal is constant too)",
    ),
    # ---- secrets, writes, network
    Case(
        "t23-read-secrets",
        read_secrets,
        frozenset(),
        "no answers; reads course files, gradebook, /proc, environment, other learners; "
        "prints them",
        ran="files read in the walk",
        stub=True,
    ),
    Case(
        "t24-write-and-connect",
        reference_with((TENSOR, P.WRITE_AND_CONNECT)),
        ALL,
        "reference answers + writes to course/gradebook/config/HOME/tmp/shm/site-packages, "
        "TCP/unix/DNS",
        ran="no DNS",
    ),
    # ---- break the structure
    Case(
        "t25-delete-answer-cell",
        delete_cells("lemur-tensor"),
        ALL - {TENSOR},
        "the lemur answer cell deleted",
        notes=("lemur-tensor",),
    ),
    Case(
        "t26-delete-test-of-wrong",
        delete_cells(
            LAYER, answer_set={"lemur_layer": WRONG_LAYER, "mammal_probability": INDEPENDENT_PROB}
        ),
        ALL - {LAYER},
        "wrong layer and its test cell deleted",
        notes=(LAYER,),
    ),
    Case(
        "t27-duplicate-answer-cell",
        duplicate_answer,
        ALL - {TENSOR},
        "the lemur answer cell twice: right, then an int64 copy",
        notes=("2 times",),
    ),
    Case(
        "t28-duplicate-test-at-top",
        duplicate_test_at_top,
        ALL,
        "a copy of the lemur test cell (metadata and all) at the top of the notebook",
        notes=("2 times",),
    ),
    Case(
        "t29-test-marked-solution",
        test_marked_solution,
        ALL - {TENSOR},
        "int64 lemur; its test cell's metadata says solution: true",
    ),
    Case(
        "t30-answer-marked-graded",
        answer_marked_graded,
        ALL,
        "the lemur answer cell's metadata says grade: true, points: 100",
    ),
    Case(
        "t31-delete-answer-and-test",
        delete_cells("lemur-layer", LAYER),
        frozenset({TENSOR, PLOT}),
        "the layer answer cell and its test cell deleted",
        notes=(LAYER,),
    ),
    Case(
        "t32-injected-grade-cells",
        injected_grade_cells,
        ALL,
        "two learner cells claiming grade: true, points: 100 "
        "(one with a new grade_id, one without)",
    ),
    Case(
        "t33-files-beside",
        files_beside,
        ALL,
        "torch.py, numpy.py, sitecustomize.py, IPython startup, nbgrader_config.py... "
        "beside the notebook",
    ),
    Case(
        "t34-bad-timestamp", bad_timestamp, ALL, "an unparsable timestamp.txt beside the notebook"
    ),
    Case("t35-nbformat3", nbformat3, ALL, "the reference answers saved as nbformat 3"),
    # ---- script in output
    Case(
        "t36-script-in-output",
        reference_with((LAYER, P.SCRIPT_IN_OUTPUT)),
        ALL,
        "outputs: HTML, JS, SVG, markdown, iframe, widget, image metadata, stdout/stderr markup",
        ran='alert("XSS-$S-stdout")',
    ),
    Case(
        "t37-script-in-error",
        lambda ctx: with_answers(ctx, answers(ctx, predict_mammal=ctx.fill(P.SCRIPT_IN_ERROR))),
        ALL - {PREDICT},
        "predict_mammal raises with HTML in its message and in its __name__",
    ),
    # ---- a file that is the instructor's
    Case(
        "t38-symlink-to-source",
        symlink_to_source,
        None,
        "the submitted notebook is a symlink to the course's source notebook "
        "(solutions and hidden tests)",
        reason=("link",),
        stub=True,
    ),
    Case(
        "t39-script-in-markdown",
        script_in_cells,
        ALL,
        "an added markdown cell (<script>, block <div onmouseover>, javascript: link, attachment, "
        "cell tag) and a raw text/html cell",
    ),
    Case(
        "t40-modules-by-name",
        reference_with(
            ("mammal-probability", P.MODULE_NAMED_LIKE_THE_COURSE_CONFIG),
            ("predict-mammal", P.MODULE_THAT_ACTS_WHEN_IMPORTED),
            ("plot-sigmoid", P.MODULE_WRITTEN_IN_THE_SANDBOX),
        ),
        frozenset({TENSOR, LAYER}),
        "answers bound to modules named like the course's nbgrader_config.py, antigravity and a "
        "file written in the sandbox",
        ran="modules by name $S",
    ),
    # ---- not gradable: renamed, misplaced, broken
    Case(
        "u40-renamed",
        plain(_ref, "my lemur work.ipynb"),
        None,
        "the notebook renamed",
        reason=("01-lemur.ipynb", "rename"),
    ),
    Case(
        "u41-other-lesson",
        plain(_ref, f"{DECOY_LESSON}.ipynb"),
        None,
        "another lesson's notebook in this lesson's folder",
        reason=(DECOY_LESSON, "01-lemur.ipynb"),
    ),
    Case(
        "u42-unknown-lesson",
        broken(lambda ctx: notebook_bytes(_ref(ctx)), "../99-nope/99-nope.ipynb"),
        None,
        "a folder for a lesson that does not exist",
        reason=("no lesson", "99-nope"),
    ),
    Case(
        "u43-invalid-json",
        broken(truncated),
        None,
        "the notebook cut in half",
        reason=("not valid JSON",),
    ),
    Case("u44-empty", broken(lambda ctx: b""), None, "an empty file", reason=("empty",)),
    Case(
        "u45-random-bytes",
        broken(random_bytes),
        None,
        "4 kB of random bytes",
        reason=("not a notebook",),
    ),
    Case(
        "u46-not-utf8", broken(latin1), None, "the notebook encoded in Latin-1", reason=("UTF-8",)
    ),
    Case(
        "u47-json-list",
        broken(lambda ctx: b"[1, 2, 3]\n"),
        None,
        "a JSON list",
        reason=("not a Jupyter notebook",),
    ),
    Case(
        "u48-damaged-v3",
        broken(damaged_v3),
        None,
        "nbformat 3 with a damaged structure",
        reason=("damaged",),
    ),
    Case(
        "u49-nbformat5",
        broken(nbformat5),
        None,
        "a notebook claiming nbformat 5",
        reason=("damaged",),
    ),
    Case("u50-huge", broken(huge), None, "a 21 MB notebook", reason=("MB", "limit", "clear")),
]

BY_STUDENT = {case.student: case for case in CASES}
# The learners a clean class is also graded with, for the gradebook comparison.
BASELINE = ("t10-honest-reference", "t11-honest-noise-warnings", "t13-twin-wrong-a")
