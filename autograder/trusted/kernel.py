"""The grader's handle on one sandboxed learner kernel: run learner cells, ask it questions.

It runs the learner's cells with time and output limits (through nbclient), and answers the
grader's two questions about the kernel's state: "what is the value of NAME?" and "what does
FUNCTION return for these arguments?". Answers come back as `wire` descriptions and are
decoded here within a budget; nothing is trusted until `wire.decode` has checked it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output

from .. import phases, wire
from ..outputs import ordered_streams
from ..sandbox import sockets
from ..sandbox.launcher import KernelLauncher, LearnerProcess
from ..sandbox.limits import Limits
from ..untrusted import figures as untrusted_figures
from ..untrusted import probe as untrusted_probe
from .standins import GraderStandins, learner_error

KEPT_MIME_TYPES = ("text/plain", "image/png", "image/jpeg")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")  # image data lands in an HTML attribute: nothing else
SOCKET_WAIT = 120  # seconds a kernel may take to open its sockets (a loaded machine is slow)


def _module_name(path: str) -> str:
    import hashlib

    source = Path(path).read_bytes()
    return f"autograder_{Path(path).stem}_{hashlib.sha256(source).hexdigest()[:12]}"


SOURCES = {  # module name in the kernel -> source, in the order they are installed
    _module_name(wire.__file__): Path(wire.__file__).read_text(),
    _module_name(untrusted_figures.__file__): Path(untrusted_figures.__file__).read_text(),
    _module_name(untrusted_probe.__file__): Path(untrusted_probe.__file__).read_text(),
}
WIRE_MODULE, FIGURES_MODULE, PROBE_MODULE = SOURCES
# Installs the modules in the kernel; sent at the first probe, and again if learner code removed
# them.
BOOTSTRAP = f"""\
def __autograder_bootstrap():
    import sys, types
    for name, source in {list(SOURCES.items())!r}:
        module = sys.modules[name] = types.ModuleType(name)
        exec(compile(source, "<" + name + ">", "exec"), module.__dict__)
    sys.modules[{FIGURES_MODULE!r}].register(sys.modules[{WIRE_MODULE!r}])
    sys.modules[{PROBE_MODULE!r}].wire = sys.modules[{WIRE_MODULE!r}]
    import IPython
    IPython.get_ipython().events.register(
        "pre_run_cell", sys.modules[{PROBE_MODULE!r}].before_cell
    )
__autograder_bootstrap()
del __autograder_bootstrap
"""
# One probe: an expression that binds no name in the learner's namespace.
PROBE = (
    "__import__('sys').modules[{module!r}].answer({request!r}) "
    "if {module!r} in __import__('sys').modules else "
    "__import__('IPython.display', fromlist=['_'])"
    ".publish_display_data({{{mime!r}: {{'t': 'no-wire'}}}})"
)


class KernelStopped(Exception):
    """The learner's kernel is gone or out of time; `reason` is written for the learner."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LearnerNameError(NameError):
    def __init__(self, name: str):
        super().__init__(name)
        self.learner_name = name


class _SocketClient(AsyncKernelClient):
    """A kernel client that reaches each channel through a descriptor opened without links."""

    fds: dict = {}

    def _make_url(self, channel: str) -> str:
        return sockets.endpoint(self.fds[channel])


class _LimitedClient(NotebookClient):
    """nbclient with an output budget, only inert output types kept and no widget state."""

    budget = 0
    probing = False
    answer = None  # while probing: the newest answer the kernel sent
    truncated = False
    alive = None  # a function: is the kernel's process alive? (no heartbeat guessing)
    asked_to_exit = False

    def note_exit(self, cell=None, cell_index=None, execute_reply=None):
        """nbclient's on_cell_executed hook: did the cell ask the kernel to end (IPython's
        exit())?"""
        payloads = (execute_reply or {}).get("content", {}).get("payload") or []
        if any(
            isinstance(p, dict) and p.get("source") == "ask_exit" and not p.get("keepkernel")
            for p in payloads
        ):
            self.asked_to_exit = True  # exit(): the kernel is ending, whenever it gets round to it

    async def _async_check_alive(self) -> None:
        """Dead means the process ended: a heartbeat that misses a beat on a busy machine is not
        death."""
        if self.alive is not None and not self.alive():
            raise DeadKernelError("Kernel died")

    def output(self, outs, msg, display_id, cell_index):
        if self.probing:  # the answer is kept as sent; the probe's cell gets no outputs
            data = msg["content"].get("data") if msg["msg_type"] == "display_data" else None
            if type(data) is dict and wire.MIME in data:
                self.answer = data[wire.MIME]  # only the newest: one message's worth of memory
            return None
        size = len(json.dumps(msg["content"], default=str))
        if size > self.budget:
            if not self.truncated:
                self.truncated = True
                outs.append(new_output(
                    "stream", name="stdout",
                    text="[output truncated: this notebook printed more than the grader keeps]\n",
                ))  # fmt: skip
            self.budget = 0
            return None
        self.budget -= size
        out = super().output(outs, msg, None, cell_index)  # no display updates across cells
        if out is not None and "data" in out:
            out["data"] = {
                k: v
                for k, v in out["data"].items()
                if k in KEPT_MIME_TYPES
                and (k == "text/plain" or isinstance(v, str) and _BASE64.fullmatch(v))
            }
            if not out["data"]:
                out["data"] = {"text/plain": "[output of a kind the grader does not keep]"}
            # Metadata (image width, filenames...) ends up in HTML attributes: keep none of it.
            out["metadata"] = {}
        return out

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets have no place in grading: their messages are neither kept nor answered."""


class LearnerKernel:
    """A kernel in the sandbox for one notebook: start(), run_cell(), fetch(), call(), close()."""

    def __init__(
        self, launcher: KernelLauncher, limits: Limits, files: dict[str, bytes] | None = None
    ):
        self.launcher = launcher
        self.limits = limits
        self.files = files or {}
        self.process: LearnerProcess | None = None
        self.stopped: str | None = None
        self.deadline = 0.0
        self._fds: dict[str, int] = {}
        self._context = None
        self._notebook_limit_applies = False
        self.test_cell = 0  # which test cell is probing: the kernel keeps its calls' figures
        # nbclient writes each executed cell back into its notebook: give it a one-cell scratch one.
        scratch = NotebookNode(cells=[new_code_cell("")], metadata={}, nbformat=4, nbformat_minor=5)
        self._client = _LimitedClient(scratch, allow_errors=True, record_timing=False,
                                      interrupt_on_timeout=False, raise_on_iopub_timeout=True,
                                      iopub_timeout=60, store_widget_state=False)  # fmt: skip
        self._client.budget = limits.output_size
        self._client.on_cell_executed = self._client.note_exit

    # ------------------------------------------------------------------ lifetime
    def start(self) -> LearnerKernel:
        """Start the kernel and wait until it answers; RuntimeError if it cannot."""
        with phases.phase("kernel start"):
            return self._start()

    def _start(self) -> LearnerKernel:
        # The notebook's time starts once its kernel is forked: what the sandbox does before
        # (its first fork waits for the fork server's later imports) is the grader's time.
        self.process = self.launcher.start(self.files)
        self.deadline = time.monotonic() + self.limits.notebook_timeout
        try:
            self._wait_for_sockets(timeout=SOCKET_WAIT)
            self._fds = sockets.open_kernel_sockets(self.process.root, self.process.ip)
        except (RuntimeError, OSError) as error:
            self.close()
            raise RuntimeError(str(error)) from error
        self._context = _bounded_context(self.limits.answer_size)
        kc = _SocketClient(context=self._context)
        kc.fds = self._fds
        kc.load_connection_info({"transport": "ipc", "ip": "unused", "key": self.process.key,
                                 "signature_scheme": "hmac-sha256"})  # fmt: skip
        kc.session.unpack = bounded_unpack
        kc.start_channels(hb=False)  # liveness is read from the process, not from heartbeats
        self._client.kc = kc
        self._client.alive = self.process.alive
        try:
            run_sync(_until_ready)(kc, self.process.alive, SOCKET_WAIT)
        except RuntimeError as error:
            self.close()
            raise RuntimeError(f"the learner's kernel did not start: {error}") from error
        return self

    def _wait_for_sockets(self, timeout: float) -> None:
        """A kernel that is still importing has no sockets yet; its heartbeat would look dead."""
        deadline = time.monotonic() + timeout
        while not sockets.sockets_exist(self.process.root, self.process.ip):
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the kernel exited or did not open its sockets within {timeout} s"
                )
            time.sleep(0.005)

    def close(self) -> None:
        kc = self._client.kc
        if kc is not None:
            kc.stop_channels()
            self._client.kc = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        sockets.close(self._fds)
        self._fds = {}
        if self.process is not None:
            self.process.destroy()

    # --------------------------------------------------------------- execution
    def run_cell(self, cell: NotebookNode) -> None:
        """Run a learner cell, recording its (limited) outputs; raise KernelStopped if it ends."""
        self.check_running()
        self._set_timeout()
        with phases.phase("learner cells"):
            try:
                self._execute(cell, store_history=True)
            finally:  # the feedback page shows what the learner's cell printed, not how it arrived
                cell.outputs = ordered_streams(cell.get("outputs", []))

    def fetch(self, name: str):
        """The learner's value of `name`, decoded on this side."""
        description = self._probe({"op": "fetch", "name": name})
        if description.get("t") == "missing":
            raise LearnerNameError(name)
        return self._decode(description, name)

    def call(self, ref: list, name: str, args: tuple, kwargs: dict, compare: bool = False):
        """Call the learner's function at `ref` on plain-data copies of the arguments. With
        `compare`, return (result, positions of the arguments the call changed)."""
        request = {
            "op": "call", "ref": ref, "compare": compare,
            "args": [wire.encode(a) for a in args],
            "kwargs": {str(k): wire.encode(v) for k, v in kwargs.items()},
        }  # fmt: skip
        description = self._probe(request)
        if not compare or (type(description) is dict and description.get("t") == "raised"):
            return self._decode(description, name)
        if type(description) is not dict or description.get("t") != "compared":
            raise wire.WireError("the kernel's answer is not a compared call")
        changed = description.get("changed")
        if type(changed) is not list or not all(
            type(i) is int and 0 <= i < len(args) for i in changed
        ):
            raise wire.WireError("the kernel's answer names no arguments")
        return self._decode(description.get("value"), name), sorted(set(changed))

    def has(self, name: str) -> bool:
        """Whether the learner's namespace binds `name` now."""
        return self._confirmed({"op": "has", "name": name})

    def delete(self, name: str) -> bool:
        """A test cell's `del name`, done in the learner's namespace; False if it was not there."""
        return self._confirmed({"op": "delete", "name": name})

    def bind(self, name: str, ref: list) -> bool:
        """Bind `name` in the learner's namespace to the learner's own object at `ref`."""
        return self._confirmed({"op": "bind", "name": name, "ref": ref})

    def remaining(self) -> float:
        """Seconds left of the notebook's time limit."""
        return self.deadline - time.monotonic()

    def check_running(self) -> None:
        if self.stopped:
            raise KernelStopped(self.stopped)
        if self.remaining() <= 0:
            self._stop(f"the notebook ran longer than {self.limits.notebook_timeout:g} seconds in "
                       "total (the time limit)")  # fmt: skip
        if self.process is not None and not self.process.alive():
            self._stop("the Python kernel stopped while running your notebook")

    # ----------------------------------------------------------------- details
    def _set_timeout(self) -> None:
        remaining = self.remaining()
        self._client.timeout = int(max(1, min(self.limits.cell_timeout, remaining)))
        self._client.iopub_timeout = self._client.timeout  # outputs still arriving after the reply
        self._notebook_limit_applies = remaining < self.limits.cell_timeout

    def _decode(self, description, name):
        if type(description) is dict and description.get("t") == "raised":
            ename, evalue = (
                str(description.get("ename"))[:100],
                str(description.get("evalue"))[:2000],
            )
            raise learner_error(name, ename, evalue)
        return wire.decode(description, GraderStandins(self), wire.Budget())

    def _confirmed(self, request: dict) -> bool:
        """Ask a yes-or-no probe: only an exact `true` from the kernel counts as yes."""
        description = self._probe(request)
        if type(description) is dict and description.get("t") == "raised":
            return False
        return wire.decode(description, wire.Standins(), wire.Budget()) is True

    def _probe(self, request: dict, retry: bool = True):
        self.check_running()
        request = {**request, "cell": self.test_cell}  # the kernel keeps this cell's figures
        # The grader's own cell, built without nbformat's schema check (a third of a probe's
        # cost in the grader): its outputs are never kept, only the answer.
        cell = NotebookNode(
            cell_type="code", metadata=NotebookNode(), execution_count=None, outputs=[],
            source=PROBE.format(module=PROBE_MODULE, request=json.dumps(request), mime=wire.MIME),
        )  # fmt: skip
        self._set_timeout()
        self._client.probing, self._client.answer = True, None
        try:
            self._execute(cell, store_history=False)
            answer = self._client.answer
        finally:
            self._client.probing, self._client.answer = False, None
        if answer is None:
            raise wire.WireError("no answer arrived: it may be too large for the grader to read")
        if answer == {"t": "no-wire"} and retry:
            self._execute(new_code_cell(BOOTSTRAP), store_history=False)
            return self._probe(request, retry=False)
        if type(answer) is not dict:
            raise wire.WireError("the kernel's answer is not a description")
        return answer

    def _execute(self, cell, store_history):
        try:
            run_sync(self._client.async_execute_cell)(cell, 0, store_history=store_history)
            if self._client.asked_to_exit:
                self._stop(
                    "your notebook called exit(), which ends the Python kernel; remove that call"
                )
        except CellTimeoutError as error:
            if "IOPub" in str(error):
                self._stop(
                    "your notebook's output was still arriving long after its cell finished; "
                    "print less"
                )
            if self._notebook_limit_applies:
                self._stop(f"the notebook ran longer than {self.limits.notebook_timeout:g} seconds "
                           "in total (the time limit); look for slow or waiting cells")  # fmt: skip
            self._stop(f"a cell was still running after {self.limits.cell_timeout:g} seconds "
                       "(the time limit); look for an endless loop or a very long "
                       "computation")  # fmt: skip
        except DeadKernelError:
            self._stop(
                "the Python kernel stopped while running your notebook (it called exit(), "
                f"crashed, or used more than {self.limits.memory // 2**20} MiB of memory)"
            )
        except AnswerTooLarge:
            self._stop(
                "your notebook sent the grader a message too large to read (an output or an "
                "answer with hundreds of thousands of parts); print or return less"
            )

    def _stop(self, reason: str):
        self.stopped = reason
        self.close()
        raise KernelStopped(reason)


async def _until_ready(kc, alive, timeout: float) -> None:
    """Wait until the kernel answers on its shell channel and its IOPub messages reach us.

    jupyter_client's wait_for_ready first waits for heartbeats, in steps of 0.2 s; here liveness
    is the process's, and the first IOPub message after a kernel_info reply proves the
    subscription is up (messages published before it would be lost).
    """
    from queue import Empty

    deadline = time.monotonic() + timeout
    while True:
        request = kc.kernel_info()
        try:
            reply = await kc.shell_channel.get_msg(timeout=1)
        except Empty:
            reply = None
        if reply is not None and reply.get("parent_header", {}).get("msg_id") == request:
            try:
                await kc.iopub_channel.get_msg(timeout=1)
                return
            except Empty:
                pass
        if not alive():
            raise RuntimeError("the kernel died before it answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not answer within {timeout:g} s")


MAX_CONTAINERS = 200_000  # JSON objects and arrays in one message from the kernel


class AnswerTooLarge(ValueError):
    """A message from the kernel that would cost the grader too much memory to unpack."""


def bounded_unpack(data: bytes | str):
    """JSON unpacking that refuses messages with more containers than any honest one has.

    A message of many tiny objects (`[{},{},...]`) unpacks to some twenty times its size in
    Python objects; counting brackets first bounds that before a single object is made.
    """
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"{") + raw.count(b"[") > MAX_CONTAINERS:
        raise AnswerTooLarge("a message from the learner's kernel is too large to read")
    return json.loads(raw.decode("utf8", "replace"))


RECEIVE_QUEUE = 32  # messages ZeroMQ may hold for the grader before it reads them


def _bounded_context(max_message: int):
    """A ZeroMQ context whose sockets drop any message larger than the grader will read, and hold
    at most RECEIVE_QUEUE unread ones: a kernel flooding its output fills its own memory, not
    ours."""
    import zmq
    import zmq.asyncio

    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, max_message)
    context.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
    return context
