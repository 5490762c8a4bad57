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

from . import bwrap
from .launcher import LearnerProcess, connection_info, kernel_environment, memfd, read_info
from .limits import Limits
from .seccomp import keyring_filter

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).resolve().parents[1] / "untrusted" / "zygote.py"
FONT_CACHE = "/run/autograder/fontlist.json"


@dataclass
class ForkedKernel(LearnerProcess):
    """A kernel forked by the fork server, running as the worker's sandbox uid."""

    server: ForkServer | None = None
    pid: int = 0
    home: str = ""
    ended: bool = False

    def alive(self) -> bool:
        return not self.ended and self.server.ask({"op": "poll", "pid": self.pid}).get("alive", False)

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
        self._log = tempfile.TemporaryFile()

    def _start(self) -> None:
        layout = bwrap.Layout(
            tmpfs="/scratch", tmpfs_size=self.limits.scratch_size, dirs=[("/run/autograder", "0755")],
            # to make each notebook's home and IPC namespace, then drop to the learner's uid
            caps=["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_SYS_ADMIN"], chdir="/scratch",
            env=dict(kernel_environment("/scratch"), MPLCONFIGDIR="/scratch/.mpl",
                     MPLBACKEND="module://matplotlib_inline.backend_inline"),
        )  # fmt: skip
        if self.font_cache:
            layout.ro_binds.append((str(self.font_cache), FONT_CACHE))
        seccomp = memfd("seccomp", keyring_filter())
        info_read, info_write = os.pipe()
        argv = bwrap.command(layout, [sys.executable, "-c", ZYGOTE.read_text()],
                             info_fd=info_write, seccomp_fd=seccomp)  # fmt: skip
        try:
            self.process = subprocess.Popen(argv, pass_fds=(info_write, seccomp), start_new_session=True,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        finally:
            os.close(info_write)
            os.close(seccomp)
        info = read_info(info_read)
        if info is None or self._read(timeout=300).get("ready") is not True:
            self.stop()
            raise RuntimeError("the fork server did not start: " + self._log_tail())
        self.root_pid = info["child-pid"]

    def ask(self, request: dict, timeout: float = 120) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
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
            "files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()},
        }  # fmt: skip
        reply = self.ask(request)
        home = reply["home"]
        return ForkedKernel(f"/proc/{self.root_pid}/root", home + "/.kernel", key,
                            server=self, pid=reply["pid"], home=home)  # fmt: skip

    def reap(self, pid: int, home: str) -> None:
        try:
            clean = self.ask({"op": "reap", "pid": pid, "uid": self.uid, "home": home}).get("clean")
        except RuntimeError:
            clean = False
        if not clean:  # start the next notebook in a brand-new sandbox
            log.warning("a learner's processes or files outlived their notebook; restarting the sandbox")
            self.stop()

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None

    def _log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace").strip() or "(no output)"
