"""The fork server's client: the `zygote` program in a bubblewrap sandbox, and the pipe to it."""

from __future__ import annotations

import base64
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import phases
from . import bwrap
from .launcher import (
    UNTRUSTED_PY,
    LearnerProcess,
    connection_info,
    kernel_environment,
    memfd,
    read_info,
    untrusted_modules,  # fmt: skip
)
from .limits import Limits
from .seccomp import keyring_filter

log = logging.getLogger(__name__)

FONT_CACHE = "/run/autograder/fontlist.json"


@dataclass
class ForkedKernel(LearnerProcess):
    """A kernel forked by the fork server, running as the worker's sandbox uid."""

    server: ForkServer | None = None
    pid: int = 0
    home: str = ""
    ended: bool = False

    def alive(self) -> bool:
        return not self.ended and self.server.ask({"op": "poll", "pid": self.pid}).get(
            "alive", False
        )

    def destroy(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.server.reap(self.pid, self.home)


class ForkServer:
    """Starts the fork server on first use and replaces it whenever it looks unclean."""

    def __init__(self, limits: Limits, uid: int, font_cache: Path | None):
        self.limits, self.uid, self.font_cache = limits, uid, font_cache
        self.process: subprocess.Popen | None = None
        self.root_pid = 0
        self._info_read: int | None = None
        self._log = tempfile.TemporaryFile()

    def begin(self) -> None:
        """Start the server if it is not running; do not wait for it (its imports take seconds)."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process, self.root_pid = None, 0
        layout = bwrap.Layout(
            tmpfs="/scratch", tmpfs_size=self.limits.scratch_size,
            dirs=[("/run/autograder", "0755"), (UNTRUSTED_PY, "0755")],
            # to make each notebook's home and IPC namespace, then drop to the learner's uid
            caps=["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_SYS_ADMIN"], chdir="/scratch",
            env=dict(kernel_environment("/scratch"), MPLCONFIGDIR="/scratch/.mpl",
                     MPLBACKEND="module://matplotlib_inline.backend_inline"),
        )  # fmt: skip
        if self.font_cache:
            layout.ro_binds.append((str(self.font_cache), FONT_CACHE))
        fds = [memfd(name, source) for name, source in untrusted_modules().items()]
        layout.data += [
            (fd, f"{UNTRUSTED_PY}/{name}") for fd, name in zip(fds, untrusted_modules())
        ]
        fds.append(memfd("seccomp", keyring_filter()))
        info_read, info_write = os.pipe()
        argv = bwrap.command(layout, [sys.executable, "-m", "autograder_zygote"],
                             info_fd=info_write, seccomp_fd=fds[-1])  # fmt: skip
        try:
            self.process = subprocess.Popen(
                argv,
                pass_fds=(info_write, *fds),
                start_new_session=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
            )
        finally:
            for fd in (info_write, *fds):
                os.close(fd)
        self._info_read = info_read

    def _until_ready(self) -> None:
        """Wait for the server begun by `begin` to say it is ready; RuntimeError if it does not."""
        info_read, self._info_read = self._info_read, None
        info = read_info(info_read)
        if info is None or self._read(timeout=300).get("ready") is not True:
            self.stop()
            raise RuntimeError("the fork server did not start: " + self._log_tail())
        self.root_pid = info["child-pid"]

    def ask(self, request: dict, timeout: float = 120) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.begin()
        if self._info_read is not None:
            self._until_ready()
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            self.stop()
            raise RuntimeError("the fork server stopped: " + self._log_tail()) from None
        return self._read(timeout)

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError("the fork server did not answer: " + self._log_tail())
        return json.loads(line)

    def spawn(self, key: str, files: dict[str, bytes]) -> ForkedKernel:
        limits = self.limits
        request = {
            "op": "spawn", "uid": self.uid, "connection": connection_info(key, "{home}/.kernel"),
            "limits": {"memory": limits.memory, "cpu_time": limits.cpu_time,
                       "file_size": limits.file_size, "processes": limits.processes},
            "env": kernel_environment("{home}"),
            "message_limit": limits.answer_size,
            "files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()},
        }  # fmt: skip
        reply = self.ask(request)
        home = reply["home"]
        return ForkedKernel(f"/proc/{self.root_pid}/root", home + "/.kernel", key,
                            server=self, pid=reply["pid"], home=home)  # fmt: skip

    def reap(self, pid: int, home: str) -> None:
        try:
            reply = self.ask({"op": "reap", "pid": pid, "uid": self.uid, "home": home})
        except RuntimeError:
            reply = {}
        clean = reply.get("clean", False)
        if isinstance(reply.get("cpu"), float):
            phases.record("kernel cpu", cpu=reply["cpu"])  # the kernel's own CPU, for benchmarks
        if not clean:  # start the next notebook in a brand-new sandbox
            log.warning(
                "a learner's processes or files outlived their notebook; restarting the sandbox"
            )
            self.stop()

    def stop(self) -> None:
        if self._info_read is not None:
            os.close(self._info_read)
            self._info_read = None
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None

    def forget(self) -> None:
        """Close this process's copies of the server's pipes and log, without stopping it."""
        if self._info_read is not None:
            os.close(self._info_read)
            self._info_read = None
        if self.process is not None:
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
            self.process = None
        self._log.close()

    def _log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace").strip() or "(no output)"
