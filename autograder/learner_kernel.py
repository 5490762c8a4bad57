"""The learner's side of grading: one sandboxed kernel per notebook.

It runs the learner's cells with time and output limits (through nbclient), and answers the
grader's two questions about the kernel's state: "what is the value of NAME?" and "what does
FUNCTION return for these arguments?". Answers come back as `wire` descriptions; nothing is
trusted until `wire.decode` has checked it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output

from . import wire
from .sandbox import KernelLauncher, LearnerProcess, Sandbox

WIRE_SOURCE = Path(wire.__file__).read_text()
KEPT_MIME_TYPES = ("text/plain", "image/png", "image/jpeg")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")  # image data lands in an HTML attribute: nothing else
PROBE = """\
def __autograder_probe(request):
    import json, sys, types
    from IPython import get_ipython
    from IPython.display import publish_display_data
    wire = sys.modules.get(%(module)r)
    if wire is None:
        publish_display_data({%(mime)r: {"t": "no-wire"}})
        return
    ns = get_ipython().user_ns
    request = json.loads(request)
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot else set()
    try:
        if request["op"] == "fetch":
            name = request["name"]
            result = wire.encode(ns[name], [name]) if name in ns else {"t": "missing"}
        else:
            target = ns[request["ref"][0]]
            for step in request["ref"][1:]:
                target = getattr(target, step)
            args = [wire.decode(a) for a in request["args"]]
            kwargs = {k: wire.decode(v) for k, v in request["kwargs"].items()}
            result = wire.encode(target(*args, **kwargs))
    except BaseException as error:
        result = {"t": "raised", "ename": type(error).__name__, "evalue": str(error)[:2000]}
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in set(pyplot.get_fignums()) - figures if pyplot else ():
        pyplot.close(number)  # figures the grader's call made are data, not output to render
    publish_display_data({wire.MIME: result})
__autograder_probe(%(request)r)
del __autograder_probe
"""
WIRE_MODULE = "autograder_wire_%s" % hashlib.sha256(WIRE_SOURCE.encode()).hexdigest()[:12]
# Installs the wire module in the kernel; sent once, and again if learner code removed it.
BOOTSTRAP = """\
def __autograder_bootstrap():
    import sys, types
    module = sys.modules[%(module)r] = types.ModuleType(%(module)r)
    exec(compile(%(source)r, "<autograder-wire>", "exec"), module.__dict__)
__autograder_bootstrap()
del __autograder_bootstrap
""" % {"module": WIRE_MODULE, "source": WIRE_SOURCE}


MAX_MESSAGE_BYTES = 128 * 1024**2


def _bounded_context():
    """A ZeroMQ context whose sockets drop any message larger than the grader will read."""
    import zmq
    import zmq.asyncio
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    return context


class KernelStopped(Exception):
    """The learner's kernel is gone or out of time; `reason` is written for the learner."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LearnerNameError(NameError):
    def __init__(self, name: str):
        super().__init__(name)
        self.learner_name = name


class _LimitedClient(NotebookClient):
    """nbclient with an output budget and only inert output types kept."""

    budget = 0
    probing = False
    truncated = False

    def output(self, outs, msg, display_id, cell_index):
        if self.probing:
            if msg["msg_type"] == "display_data" and wire.MIME in msg["content"].get("data", {}):
                return super().output(outs, msg, display_id, cell_index)
            return None
        size = len(json.dumps(msg["content"], default=str))
        if size > self.budget:
            if not self.truncated:
                self.truncated = True
                outs.append(new_output("stream", name="stdout",
                                       text="[output truncated: this notebook printed more than the grader keeps]\n"))
            self.budget = 0
            return None
        self.budget -= size
        out = super().output(outs, msg, None, cell_index)  # no display updates across cells
        if out is not None and "data" in out:
            out["data"] = {k: v for k, v in out["data"].items() if k in KEPT_MIME_TYPES
                           and (k == "text/plain" or isinstance(v, str) and _BASE64.fullmatch(v))}
            if not out["data"]:
                out["data"] = {"text/plain": "[output of a kind the grader does not keep]"}
            # Metadata (image width, filenames...) ends up in HTML attributes: keep none of it.
            out["metadata"] = {}
        return out


class LearnerKernel:
    """A kernel in the sandbox for one notebook; use as a context manager."""

    def __init__(self, launcher: KernelLauncher, settings: Sandbox):
        self.launcher = launcher
        self.settings = settings
        self.process: LearnerProcess | None = None
        self.stopped: str | None = None
        self.deadline = 0.0
        self._notebook_limit_applies = False
        # nbclient writes each executed cell back into its notebook: give it a one-cell scratch one.
        scratch = NotebookNode(cells=[new_code_cell("")], metadata={}, nbformat=4, nbformat_minor=5)
        self._client = _LimitedClient(scratch,
                                      allow_errors=True, record_timing=False,
                                      interrupt_on_timeout=False, raise_on_iopub_timeout=True,
                                      iopub_timeout=10)
        self._client.budget = settings.output_size

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> "LearnerKernel":
        return self.start()

    def start(self) -> "LearnerKernel":
        """Start the kernel and wait until it answers; RuntimeError if it cannot."""
        self.deadline = time.monotonic() + self.settings.notebook_timeout
        self.process = self.launcher.start()
        self._wait_for_sockets(timeout=60)
        self._context = _bounded_context()
        kc = AsyncKernelClient(context=self._context)
        kc.load_connection_info(self.process.connection)
        kc.start_channels()
        self._client.kc = kc
        try:
            run_sync(kc.wait_for_ready)(timeout=60)
        except RuntimeError as error:
            self.close()
            raise RuntimeError("the learner's kernel did not start: %s" % error) from error
        return self

    def _wait_for_sockets(self, timeout: float) -> None:
        """A kernel that is still importing has no sockets yet; its heartbeat would look dead."""
        connection = self.process.connection
        paths = [f"{connection['ip']}-{connection[name]}" for name in ("shell_port", "iopub_port", "hb_port")]
        deadline = time.monotonic() + timeout
        while not all(os.path.exists(path) for path in paths):
            if not self.process.alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the kernel exited or did not open its sockets within %d s" % timeout)
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        kc = self._client.kc
        if kc is not None:
            kc.stop_channels()
            self._client.kc = None
            self._context.destroy(linger=0)
        if self.process is not None:
            self.process.destroy()

    # --------------------------------------------------------------- execution
    def run_cell(self, cell: NotebookNode) -> None:
        """Run a learner cell, recording its (limited) outputs; raise KernelStopped if it ends."""
        self._check_running()
        self._set_timeout()
        self._execute(cell, store_history=True)

    def _set_timeout(self) -> None:
        remaining = self._remaining()
        self._client.timeout = int(max(1, min(self.settings.cell_timeout, remaining)))
        self._notebook_limit_applies = remaining < self.settings.cell_timeout

    def fetch(self, name: str):
        """The learner's value of `name`, decoded on this side."""
        description = self._probe({"op": "fetch", "name": name})
        if description.get("t") == "missing":
            raise LearnerNameError(name)
        return self._decode(description, name)

    def call(self, ref: list, name: str, args: tuple, kwargs: dict):
        """Call the learner's function at `ref` on plain-data copies of the arguments."""
        request = {
            "op": "call", "ref": ref,
            "args": [wire.encode(a) for a in args],
            "kwargs": {str(k): wire.encode(v) for k, v in kwargs.items()},
        }
        return self._decode(self._probe(request), name)

    # ----------------------------------------------------------------- details
    def _decode(self, description, name):
        if type(description) is dict and description.get("t") == "raised":
            raise wire.learner_error(name, str(description.get("ename"))[:100], str(description.get("evalue"))[:2000])
        return wire.decode(description, remote=self)

    def _probe(self, request: dict, retry: bool = True):
        self._check_running()
        cell = new_code_cell(PROBE % {"mime": wire.MIME, "module": WIRE_MODULE, "request": json.dumps(request)})
        self._set_timeout()
        self._client.probing = True
        try:
            self._execute(cell, store_history=False)
        finally:
            self._client.probing = False
        for output in reversed(cell.outputs):
            if output.get("output_type") == "display_data" and wire.MIME in output.get("data", {}):
                # nbformat hands back NotebookNodes; the decoder accepts exact dicts only.
                answer = json.loads(json.dumps(output["data"][wire.MIME]))
                if answer == {"t": "no-wire"} and retry:
                    self._execute(new_code_cell(BOOTSTRAP), store_history=False)
                    return self._probe(request, retry=False)
                return answer
        raise wire.WireError("the kernel sent no answer")

    def _execute(self, cell, store_history):
        try:
            run_sync(self._client.async_execute_cell)(cell, 0, store_history=store_history)
        except CellTimeoutError:
            if self._notebook_limit_applies:
                self._stop("the notebook ran longer than %d seconds in total (the time limit); look for "
                           "slow or waiting cells" % self.settings.notebook_timeout)
            self._stop("a cell was still running after %d seconds (the time limit); look for an endless "
                       "loop or a very long computation" % self.settings.cell_timeout)
        except DeadKernelError:
            self._stop("the Python kernel stopped while running your notebook (it called exit(), crashed, "
                       "or used more than %d MiB of memory)" % (self.settings.memory // 2**20))

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _check_running(self) -> None:
        if self.stopped:
            raise KernelStopped(self.stopped)
        if self._remaining() <= 0:
            self._stop("the notebook ran longer than %d seconds in total (the time limit)"
                       % self.settings.notebook_timeout)
        if self.process is not None and not self.process.alive():
            self._stop("the Python kernel stopped while running your notebook")

    def _stop(self, reason: str):
        self.stopped = reason
        self.close()
        raise KernelStopped(reason)
