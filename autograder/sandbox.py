"""Where learner code runs: one bubblewrap sandbox per notebook, with limits.

The sandbox sees a read-only system and Python environment, a private size-limited home folder
(a tmpfs that vanishes with it), no network, no course folder, no gradebook and no other
submission. When the grader runs as root, the kernel also runs as an unprivileged user id of its
own. The kernel's sockets live inside the sandbox; the grader reaches them through
`/proc/<pid>/root`, so nothing the learner can write is shared with the host.

Where bubblewrap is missing (macOS, or a Linux machine without it), kernels run unsandboxed with
resource limits only, and the grader says so loudly.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import select
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

from traitlets import Bool, Enum, Float, Integer
from traitlets.config import Configurable

log = logging.getLogger(__name__)

HOME = "/home/learner"
CONNECTION_FILE = "/run/autograder/kernel.json"
KERNEL_IP = HOME + "/.kernel"  # sockets are <ip>-<port>


class Sandbox(Configurable):
    """Limits for executing one learner notebook (set them in nbgrader_config.py)."""

    cell_timeout = Float(60, help="Seconds one learner cell may run.").tag(config=True)
    notebook_timeout = Float(300, help="Seconds a whole notebook may run.").tag(config=True)
    memory = Integer(2 * 1024**3, help="Address-space limit of the kernel, bytes.").tag(config=True)
    cpu_time = Integer(300, help="CPU seconds per process.").tag(config=True)
    processes = Integer(128, help="Processes and threads of the sandbox user.").tag(config=True)
    file_size = Integer(64 * 1024**2, help="Largest file the kernel may write, bytes.").tag(config=True)
    scratch_size = Integer(256 * 1024**2, help="Size of the kernel's private home, bytes.").tag(config=True)
    output_size = Integer(1024**2, help="Output kept per notebook, bytes.").tag(config=True)
    fork_server = Bool(
        True, help="As root, fork kernels from a sandboxed process that has torch imported (fast).",
    ).tag(config=True)
    isolation = Enum(
        ["auto", "bubblewrap", "none"], "auto",
        help="'auto' uses bubblewrap when it is installed; 'bubblewrap' refuses to grade without it; "
             "'none' runs learner code with limits only (unsafe for untrusted submissions).",
    ).tag(config=True)


class SandboxUnavailable(RuntimeError):
    """Bubblewrap was required but cannot run here."""


def bubblewrap_works() -> bool:
    """Can bubblewrap start a process with its own network and pid namespaces here?"""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev",
             "--proc", "/proc", "true"]
    if os.geteuid() != 0:
        probe.insert(1, "--unshare-user")
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def describe_isolation(mode: str) -> str:
    return {
        "bubblewrap-root": "bubblewrap sandbox, separate user id, no network",
        "bubblewrap-user": "bubblewrap sandbox in a user namespace, no network",
        "none": "NO SANDBOX: learner code runs as you, with limits only",
    }[mode]


def choose_isolation(settings: Sandbox) -> str:
    if settings.isolation == "none":
        return "none"
    if bubblewrap_works():
        return "bubblewrap-root" if os.geteuid() == 0 else "bubblewrap-user"
    if settings.isolation == "bubblewrap":
        raise SandboxUnavailable(
            "bubblewrap is required (Sandbox.isolation = 'bubblewrap') but cannot start a sandbox "
            "here. On Debian or Ubuntu: sudo apt-get install bubblewrap.")
    return "none"


class LearnerProcess:
    """A running kernel for one notebook: how to reach it, whether it lives, how to end it."""

    connection: dict

    def alive(self) -> bool:
        raise NotImplementedError

    def destroy(self) -> None:
        """Kill the kernel and everything it started, and remove its files; safe to call twice."""
        raise NotImplementedError


@dataclass
class SandboxProcess(LearnerProcess):
    """A kernel that is a process of its own (one bubblewrap sandbox, or unsandboxed)."""

    connection: dict
    process: subprocess.Popen
    cleanup_paths: list = field(default_factory=list)

    def alive(self) -> bool:
        return self.process.poll() is None

    def destroy(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("sandbox process %s did not exit after SIGKILL", self.process.pid)
        for path in self.cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class ForkedKernel(LearnerProcess):
    """A kernel forked by the fork server, running as the worker's sandbox uid."""

    connection: dict
    server: "ForkServer"
    pid: int
    home: str
    ended: bool = False

    def alive(self) -> bool:
        return not self.ended and self.server.ask({"op": "poll", "pid": self.pid}).get("alive", False)

    def destroy(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.server.reap(self.pid, self.home)


class KernelLauncher:
    """Starts sandboxed kernels with the configured limits; one per grading worker.

    As root with bubblewrap, kernels come from a fork server that has torch already imported and
    run under a user id reserved for this launcher; otherwise each kernel is a sandbox of its own.
    """

    def __init__(self, settings: Sandbox, mode: str):
        self.settings = settings
        self.mode = mode
        self.uid: int | None = None
        self._uid_lock: int | None = None
        self._server: ForkServer | None = None
        self._mpl_cache = _matplotlib_font_cache()
        if mode == "bubblewrap-root":
            self.uid, self._uid_lock = _reserve_uid()
            if settings.fork_server:
                self._server = ForkServer(self)

    # ------------------------------------------------------------------ public
    def start(self) -> LearnerProcess:
        key = secrets.token_hex(32)
        connection = {
            "transport": "ipc", "ip": KERNEL_IP, "key": key, "signature_scheme": "hmac-sha256",
            "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
            "kernel_name": "",
        }
        if self.mode == "none":
            return self._start_unsandboxed(connection)
        if self._server is not None:
            return self._server.spawn(connection)
        return self._start_bubblewrap(connection)

    def warm_up(self) -> None:
        """Start the fork server now rather than at the first notebook."""
        if self._server is not None:
            self._server.ask({"op": "poll", "pid": 0})

    def close(self) -> None:
        """Stop the fork server and give back the reserved user id."""
        if self._server is not None:
            self._server.stop()
        if self._uid_lock is not None:
            os.close(self._uid_lock)
            self._uid_lock = None

    def _limits(self) -> list[str]:
        s = self.settings
        return [
            "prlimit", f"--as={s.memory}", f"--cpu={s.cpu_time}", f"--fsize={s.file_size}",
            f"--nproc={s.processes}", "--nofile=1024", "--core=0", "--",
        ]

    def _environment(self, home: str) -> dict:
        return {
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

    def _kernel_argv(self, connection_file: str) -> list[str]:
        return [
            sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
            "--HistoryManager.hist_file=:memory:", "--IPKernelApp.quiet=True",
        ]

    def _start_bubblewrap(self, connection: dict) -> LearnerProcess:
        conn_read, conn_write = os.pipe()
        os.write(conn_write, json.dumps(connection).encode())
        os.close(conn_write)
        info_read, info_write = os.pipe()
        argv = self._limits() + ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc",
                                 "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                                 "--hostname", "sandbox"]
        if self.mode == "bubblewrap-user":
            argv += ["--unshare-user"]
        else:
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        argv += _system_binds()
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "0755", "--dir", "/home",
                 "--size", str(self.settings.scratch_size), "--perms", "0777", "--tmpfs", HOME,
                 "--perms", "0777", "--dir", HOME + "/tmp",
                 "--perms", "0777", "--dir", HOME + "/.config",
                 "--perms", "0777", "--dir", HOME + "/.config/matplotlib",
                 "--perms", "0755", "--dir", "/run/autograder",
                 "--perms", "0444", "--ro-bind-data", str(conn_read), CONNECTION_FILE]
        if self._mpl_cache:
            argv += ["--ro-bind", str(self._mpl_cache), HOME + "/.config/matplotlib/" + self._mpl_cache.name]
        argv += ["--chdir", HOME, "--info-fd", str(info_write), "--clearenv"]
        for name, value in self._environment(HOME).items():
            argv += ["--setenv", name, value]
        if self.mode == "bubblewrap-root":
            argv += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--inh-caps=-all", "--"]
        argv += self._kernel_argv(CONNECTION_FILE)
        process = subprocess.Popen(argv, pass_fds=(conn_read, info_write), start_new_session=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        os.close(conn_read)
        os.close(info_write)
        info = _read_info(info_read)
        if info is None:
            process.kill()
            process.wait()
            raise RuntimeError("the sandbox did not start (bubblewrap gave no child pid)")
        client = dict(connection, ip=f"/proc/{info['child-pid']}/root{KERNEL_IP}")
        return SandboxProcess(client, process)

    def _start_unsandboxed(self, connection: dict) -> LearnerProcess:
        home = tempfile.mkdtemp(prefix="autograder-kernel-")
        for sub in ("tmp", ".config/matplotlib"):
            os.makedirs(os.path.join(home, sub), exist_ok=True)
        if self._mpl_cache:
            shutil.copy(self._mpl_cache, os.path.join(home, ".config/matplotlib", self._mpl_cache.name))
        connection = dict(connection, ip=os.path.join(home, ".kernel"))
        path = os.path.join(home, "kernel.json")
        Path(path).write_text(json.dumps(connection))
        env = self._environment(home)
        settings = self.settings

        def limit():  # runs in the child before exec
            for name, value in ((resource.RLIMIT_AS, settings.memory), (resource.RLIMIT_CPU, settings.cpu_time),
                                (resource.RLIMIT_FSIZE, settings.file_size), (resource.RLIMIT_CORE, 0)):
                try:
                    resource.setrlimit(name, (value, value))
                except (ValueError, OSError):
                    pass

        process = subprocess.Popen(self._kernel_argv(path), cwd=home, env=env, preexec_fn=limit,
                                   start_new_session=True, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return SandboxProcess(connection, process, [home])


class ForkServer:
    """The `zygote` program in a bubblewrap sandbox of its own, and the pipe to talk to it."""

    def __init__(self, launcher: KernelLauncher):
        self.launcher = launcher
        self.process: subprocess.Popen | None = None
        self.root_pid = 0
        self._log = tempfile.TemporaryFile()

    def _start(self) -> None:
        settings = self.launcher.settings
        info_read, info_write = os.pipe()
        argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
                "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
                # to make each notebook's home and IPC namespace, then drop to the learner's uid
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN",
                "--cap-add", "CAP_SYS_ADMIN"]
        argv += _system_binds()
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(settings.scratch_size), "--perms", "0755", "--tmpfs", "/scratch",
                 "--perms", "0755", "--dir", "/run/autograder"]
        if self.launcher._mpl_cache:
            argv += ["--ro-bind", str(self.launcher._mpl_cache), "/run/autograder/fontlist.json"]
        argv += ["--chdir", "/scratch", "--info-fd", str(info_write), "--clearenv"]
        env = dict(self.launcher._environment("/scratch"), MPLCONFIGDIR="/scratch/.mpl",
                   MPLBACKEND="module://matplotlib_inline.backend_inline")
        for name, value in env.items():
            argv += ["--setenv", name, value]
        argv += [sys.executable, "-c", (Path(__file__).parent / "zygote.py").read_text()]
        self.process = subprocess.Popen(argv, pass_fds=(info_write,), start_new_session=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        os.close(info_write)
        info = _read_info(info_read)
        if info is None or self._read(timeout=180).get("ready") is not True:
            self.stop()
            raise RuntimeError("the fork server did not start: " + self._log_tail())
        self.root_pid = info["child-pid"]

    def ask(self, request: dict, timeout: float = 60) -> dict:
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

    def spawn(self, connection: dict) -> "ForkedKernel":
        s = self.launcher.settings
        request = {
            "op": "spawn", "uid": self.launcher.uid, "connection": connection,
            "limits": {"memory": s.memory, "cpu_time": s.cpu_time, "file_size": s.file_size,
                       "processes": s.processes},
            "env": self.launcher._environment("{home}"),
        }
        reply = self.ask(request)
        home = reply["home"]
        client = dict(connection, ip=f"/proc/{self.root_pid}/root{home}/.kernel")
        return ForkedKernel(client, self, reply["pid"], home)

    def reap(self, pid: int, home: str) -> None:
        try:
            clean = self.ask({"op": "reap", "pid": pid, "uid": self.launcher.uid, "home": home}).get("clean")
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


def _reserve_uid() -> tuple[int, int]:
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
    for uid in range(61000, 65000):
        if uid in in_use:
            continue
        fd = os.open(folder / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except BlockingIOError:
            os.close(fd)
    raise SandboxUnavailable("no free sandbox user id between 61000 and 65000")


def _read_info(fd: int, timeout: float = 30) -> dict | None:
    deadline = time.monotonic() + timeout
    data = b""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while time.monotonic() < deadline:
            chunk = pipe.read(4096)
            if not chunk:
                break
            data += chunk
            try:
                return json.loads(data)
            except ValueError:
                continue
    return None


def _system_binds() -> list[str]:
    """Read-only binds of the system and of this Python environment, nothing else."""
    args: list[str] = []
    for top in ("/usr", "/etc"):
        if os.path.isdir(top) and not os.path.islink(top):
            args += ["--ro-bind", top, top]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    made = {"/", "/usr", "/etc", "/home", "/run"}
    for prefix in sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}):
        if any(prefix == m or prefix.startswith(m + "/") for m in ("/usr",)):
            continue
        parents = list(reversed(Path(prefix).parents))[1:]
        for parent in parents:
            if str(parent) not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += ["--ro-bind", prefix, prefix]
        made.add(prefix)
    return args


def exposed_paths() -> list[str]:
    """Host paths a sandboxed kernel can read (for the check that no course data is among them)."""
    binds = _system_binds()
    return [binds[i + 1] for i, arg in enumerate(binds) if arg == "--ro-bind"]


def _matplotlib_font_cache() -> Path | None:
    """Build matplotlib's font list once, so no kernel spends a second rebuilding it."""
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    if not path.exists():
        font_manager.json_dump(font_manager.fontManager, path)
    return path if path.exists() else None
