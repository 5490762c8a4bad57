"""Start sandboxed kernels with the configured limits: one launcher per grading process.

As root with bubblewrap, kernels are forked from a fork server that has torch imported and run
under a user id reserved for this launcher; otherwise each kernel is a sandbox of its own (in a
user namespace when not root), or, without bubblewrap, an unsandboxed process with rlimits.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SandboxUnavailable
from . import bwrap
from .limits import Limits, Sandboxing
from .seccomp import keyring_filter

log = logging.getLogger(__name__)

HOME = "/home/learner"
CONNECTION_FILE = "/run/autograder/kernel.json"
UNTRUSTED_PY = "/run/autograder/py"  # the untrusted/ modules, read-only, importable in the sandbox
UNTRUSTED = Path(__file__).resolve().parents[1] / "untrusted"
MODULES = {"autograder_kernel_start": "kernel_start.py", "autograder_zygote": "zygote.py"}
UID_RANGE = range(61000, 65000)  # user ids the sandboxes run as (when the grader is root)
MAX_FILES_BYTES = 16 * 1024**2  # instructor files copied into one kernel's home


@dataclass
class LearnerProcess:
    """A running kernel for one notebook: where its sockets are, whether it lives, how to end it."""

    root: str  # the sandbox's root as the grader reaches it: /proc/<pid>/root, or /
    ip: str  # the sockets' path prefix inside that root (<ip>-<port>)
    key: str  # the kernel's message-signing key

    def alive(self) -> bool:
        raise NotImplementedError

    def destroy(self) -> None:
        """Kill the kernel and everything it started, and remove its files; safe to call twice."""
        raise NotImplementedError


@dataclass
class SandboxProcess(LearnerProcess):
    """A kernel that is a process of its own (one bubblewrap sandbox, or unsandboxed)."""

    process: subprocess.Popen | None = None
    cleanup_paths: list = field(default_factory=list)

    def alive(self) -> bool:
        return self.process.poll() is None

    def destroy(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log.error("sandbox process %s did not exit after SIGKILL", self.process.pid)
        for path in self.cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)


def untrusted_modules() -> dict[str, bytes]:
    """File name -> source of the modules that run inside the sandbox, importable by name."""
    return {f"{module}.py": (UNTRUSTED / source).read_bytes() for module, source in MODULES.items()}


def kernel_environment(
    home: str, limits: Limits | None = None, python_path: str = UNTRUSTED_PY
) -> dict:
    """The whole environment of a learner kernel: nothing inherited from the grader but the
    NBGRADER_EXECUTION that nbgrader sets while it autogrades (notebooks may test for it)."""
    extra = {"PYTHONPATH": python_path}
    if limits is not None:
        extra["AUTOGRADER_MESSAGE_LIMIT"] = str(limits.answer_size)
    if os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate"):
        extra["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    return extra | {
        "HOME": home,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "TMPDIR": home + "/tmp",
        "MPLCONFIGDIR": home + "/.config/matplotlib",
        "IPYTHONDIR": home + "/.ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "JPY_PARENT_PID": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def kernel_argv(connection_file: str) -> list[str]:
    return [sys.executable, "-m", "autograder_kernel_start", "-f", connection_file,
            "--HistoryManager.hist_file=:memory:", "--IPKernelApp.quiet=True"]  # fmt: skip


def memfd(name: str, data: bytes) -> int:
    """A readable descriptor holding `data` (for bubblewrap's --ro-bind-data and --seccomp)."""
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class KernelLauncher:
    """Starts kernels in the sandbox `sandboxing` describes; close() ends everything it started."""

    def __init__(self, sandboxing: Sandboxing):
        self.sandboxing = sandboxing
        self.limits: Limits = sandboxing.limits
        self.mode = sandboxing.mode
        self.uid: int | None = None
        self._uid_lock: int | None = None
        self._server = None
        self.font_cache = matplotlib_font_cache()
        if self.mode == "bubblewrap-root":
            self.uid, self._uid_lock = reserve_uid()
            if sandboxing.fork_server:
                from .forkserver import ForkServer

                self._server = ForkServer(self.limits, self.uid, self.font_cache)

    def start(self, files: dict[str, bytes] | None = None) -> LearnerProcess:
        """A new kernel whose working folder holds read-only copies of `files`."""
        files = dict(files or {})
        if sum(len(data) for data in files.values()) > MAX_FILES_BYTES:
            raise RuntimeError("the assignment's files are larger than a kernel may hold")
        key = secrets.token_hex(32)
        if self.mode == "none":
            return self._start_unsandboxed(key, files)
        if self._server is not None:
            return self._server.spawn(key, files)
        return self._start_bubblewrap(key, files)

    def begin(self) -> None:
        """Start the fork server in the background (if there is one); `warm_up` waits for it."""
        if self._server is not None:
            self._server.begin()

    def warm_up(self) -> None:
        """Start the fork server now rather than at the first notebook, and wait until it is
        ready."""
        if self._server is not None:
            self._server.ask({"op": "poll", "pid": 0})

    def close(self) -> None:
        """Stop the fork server and give back the reserved user id."""
        if self._server is not None:
            self._server.stop()
        if self._uid_lock is not None:
            os.close(self._uid_lock)
            self._uid_lock = None

    def forget(self) -> None:
        """In a forked child: close this process's copies of the fork server's pipes and of the
        user id's lock, leaving both to the process that made them."""
        if self._server is not None:
            self._server.forget()
        if self._uid_lock is not None:
            os.close(self._uid_lock)
            self._uid_lock = None

    def _rlimits(self) -> list[str]:
        s = self.limits
        return ["prlimit", f"--as={s.memory}", f"--cpu={s.cpu_time}", f"--fsize={s.file_size}",
                f"--nproc={s.processes}", "--nofile=1024", "--core=0", "--"]  # fmt: skip

    def _start_bubblewrap(self, key: str, files: dict[str, bytes]) -> LearnerProcess:
        connection = connection_info(key, HOME + "/.kernel")
        fds = [memfd("kernel.json", json.dumps(connection).encode())]
        layout = bwrap.Layout(
            tmpfs=HOME, tmpfs_size=self.limits.scratch_size, tmpfs_perms="0777",
            dirs=[(HOME + "/tmp", "0777"), (HOME + "/.config", "0777"),
                  (HOME + "/.config/matplotlib", "0777"), ("/run/autograder", "0755"),
                  (UNTRUSTED_PY, "0755")],
            data=[(fds[0], CONNECTION_FILE)], chdir=HOME, env=kernel_environment(HOME, self.limits),
            user_namespace=self.mode == "bubblewrap-user",
        )  # fmt: skip
        for name, source in untrusted_modules().items():
            fds.append(memfd(name, source))
            layout.data.append((fds[-1], f"{UNTRUSTED_PY}/{name}"))
        for name, data in sorted(files.items()):
            for parent in reversed(Path(name).parents[:-1]):
                if (f"{HOME}/{parent}", "0755") not in layout.dirs:
                    layout.dirs.append((f"{HOME}/{parent}", "0755"))
            fds.append(memfd(Path(name).name, data))
            layout.data.append((fds[-1], f"{HOME}/{name}"))
        if self.font_cache:
            target = f"{HOME}/.config/matplotlib/{self.font_cache.name}"
            layout.ro_binds.append((str(self.font_cache), target))
        program = kernel_argv(CONNECTION_FILE)
        if self.mode == "bubblewrap-root":
            layout.caps = ["CAP_SETUID", "CAP_SETGID"]
            program = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                       "--inh-caps=-all", "--", *program]  # fmt: skip
        fds.append(memfd("seccomp", keyring_filter()))
        info_read, info_write = os.pipe()
        argv = self._rlimits() + bwrap.command(
            layout, program, info_fd=info_write, seccomp_fd=fds[-1]
        )
        try:
            process = subprocess.Popen(argv, pass_fds=(*fds, info_write), start_new_session=True,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)  # fmt: skip
        finally:
            for fd in (*fds, info_write):
                os.close(fd)
        info = read_info(info_read)
        if info is None:
            process.kill()
            process.wait()
            raise RuntimeError("the sandbox did not start (bubblewrap gave no child pid)")
        return SandboxProcess(f"/proc/{info['child-pid']}/root", HOME + "/.kernel", key, process)

    def _start_unsandboxed(self, key: str, files: dict[str, bytes]) -> LearnerProcess:
        home = os.path.realpath(tempfile.mkdtemp(prefix="autograder-kernel-"))
        for sub in ("tmp", ".config/matplotlib"):
            os.makedirs(os.path.join(home, sub), exist_ok=True)
        if self.font_cache:
            shutil.copy(
                self.font_cache, os.path.join(home, ".config/matplotlib", self.font_cache.name)
            )
        for name, data in files.items():
            path = os.path.join(home, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Path(path).write_bytes(data)
            os.chmod(path, 0o444)
        path = os.path.join(home, "kernel.json")
        Path(path).write_text(json.dumps(connection_info(key, os.path.join(home, ".kernel"))))
        python_path = os.path.join(home, ".autograder-py")
        os.makedirs(python_path)
        for name, source in untrusted_modules().items():
            Path(python_path, name).write_bytes(source)
        limits = self.limits

        def limit():  # runs in the child before exec
            for name, value in ((resource.RLIMIT_AS, limits.memory),
                                (resource.RLIMIT_CPU, limits.cpu_time),
                                (resource.RLIMIT_FSIZE, limits.file_size),
                                (resource.RLIMIT_CORE, 0)):  # fmt: skip
                try:
                    resource.setrlimit(name, (value, value))
                except (ValueError, OSError):
                    pass

        process = subprocess.Popen(kernel_argv(path), cwd=home,
                                   env=kernel_environment(home, limits, python_path),
                                   preexec_fn=limit, start_new_session=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        return SandboxProcess("/", os.path.join(home, ".kernel"), key, process, [home])


def connection_info(key: str, ip: str) -> dict:
    """A kernel connection file's content: IPC sockets <ip>-1 .. <ip>-5."""
    return {"transport": "ipc", "ip": ip, "key": key, "signature_scheme": "hmac-sha256",
            "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
            "kernel_name": ""}  # fmt: skip


def reserve_uid() -> tuple[int, int]:
    """A user id no other grader on this machine is using, held by a lock while we live."""
    folder = Path(tempfile.gettempdir()) / "autograder-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    in_use = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                in_use.add(os.stat("/proc/" + pid).st_uid)
            except OSError:
                pass
    for uid in UID_RANGE:
        if uid in in_use:
            continue
        fd = os.open(folder / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except BlockingIOError:
            os.close(fd)
    raise SandboxUnavailable(
        f"no free sandbox user id between {UID_RANGE.start} and {UID_RANGE.stop}"
    )


def read_info(fd: int, timeout: float = 120) -> dict | None:
    """bubblewrap's --info-fd report (the sandbox's pid), or None if it never comes."""
    import select

    deadline = time.monotonic() + timeout
    data = b""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = pipe.read(4096)
            if not chunk:
                break
            data += chunk
            try:
                return json.loads(data)
            except ValueError:
                continue
    return None


def matplotlib_font_cache() -> Path | None:
    """Build matplotlib's font list once, so no kernel spends a second rebuilding it."""
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    path = (
        Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    )
    if not path.exists():
        font_manager.json_dump(font_manager.fontManager, path)
    return path if path.exists() else None
