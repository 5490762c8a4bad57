"""A fork server that lives inside the sandbox: import torch once, fork a fresh kernel per notebook.

`sandbox.forkserver.ForkServer` runs this module (`python -m autograder_zygote`, with the
untrusted modules bound read-only into the sandbox) inside a bubblewrap sandbox (no network,
read-only system, a tmpfs at /scratch) as root of that sandbox with only the capabilities to
make homes, namespaces and drop to the learner's uid. It never runs learner code itself. For
each notebook it forks a child that drops to an unprivileged user id, limits itself, and becomes
an IPython kernel with torch, numpy, matplotlib and ipykernel already imported (the imports cost
seconds; the fork, milliseconds).
When grading of that notebook ends, every process of that user id is killed and its folder
removed, so nothing of one learner is alive or on disk when the next one starts.

Protocol: one JSON object per line on stdin, one reply per line on stdout.
  {"op": "spawn", "uid": U, "connection": {...}, "limits": {...}, "env": {...}, "files": {...}}
      -> {"pid": P, "home": "/scratch/<random>"}   ("{home}" in strings becomes the home;
      files, name -> base64, are written read-only into the home before the kernel starts)
  {"op": "poll", "pid": P}  -> {"alive": bool}
  {"op": "reap", "pid": P, "uid": U, "home": "/scratch/N"}  -> {"clean": bool}
This file must not import the autograder package (it is not visible in the sandbox); it imports
its neighbour `autograder_kernel_start`, bound beside it.
"""

import base64
import ctypes
import gc
import importlib
import json
import os
import resource
import secrets
import select
import shutil
import signal
import sys

LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWIPC = 0x08000000

LIMITS = {
    "memory": resource.RLIMIT_AS,
    "cpu_time": resource.RLIMIT_CPU,
    "file_size": resource.RLIMIT_FSIZE,
    "processes": resource.RLIMIT_NPROC,
}


# What every lesson imports, and what every kernel's start imports (IPython's magics and debugger,
# tornado's asyncio loop): once here, not in each kernel.
PRELOAD = (
    "ipykernel.debugger", "ipykernel.ipkernel", "ipykernel.kernelapp",
    "IPython.core.interactiveshell", "IPython.core.completerlib", "IPython.core.debugger",
    "IPython.core.logger", "IPython.core.magics.execution", "IPython.core.oinspect",
    "IPython.extensions.storemagic", "faulthandler", "tornado.platform.asyncio",
    "matplotlib.pyplot", "matplotlib_inline.backend_inline", "numpy",
    "torch", "torch.nn", "torch.nn.functional",
)  # fmt: skip


def preload():
    """Import what every lesson imports, without starting threads or event loops."""
    os.makedirs("/scratch/.mpl", exist_ok=True)
    font_cache = "/run/autograder/fontlist.json"
    if os.path.exists(font_cache):
        import matplotlib
        from matplotlib import font_manager

        shutil.copy(
            font_cache,
            f"/scratch/.mpl/fontlist-v{font_manager.FontManager.__version__}.json",
        )
        del matplotlib
    import sqlite3  # noqa: F401

    from autograder_kernel_start import no_debugger

    no_debugger()
    for name in PRELOAD:
        importlib.import_module(name)
    from matplotlib.backends.registry import backend_registry

    backend_registry.list_all()  # read by every kernel's start: read once, here


IDLE = 0.5  # seconds without a request after which the server uses its time for preload_later


def preload_later():
    """What only some lessons need, imported after the server says it is ready: before it forks
    its first kernel, or once it has waited IDLE seconds for work."""
    import torch
    import torch.optim

    # The first optimizer a process makes imports torch's compiler stack (seconds).
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    # What a kernel's first error imports to render its traceback.
    import pygments.formatters.terminal256
    import pygments.styles
    import stack_data  # noqa: F401

    pygments.styles.get_style_by_name("default")


def spawn(request):
    uid = int(request["uid"])
    # A fresh, unguessable home that only this learner's uid can enter; /scratch itself is not
    # writable by learners, so nothing can be planted for the next notebook.
    home = "/scratch/" + secrets.token_hex(12)
    os.mkdir(home, 0o700)
    os.chown(home, uid, uid)
    for name, data in sorted(request.get("files", {}).items()):
        write_read_only(home, name, base64.b64decode(data), uid)
    pid = os.fork()
    if pid:
        return {"pid": pid, "home": home}
    code = 1
    try:
        gc.enable()
        become_learner(request, home)
        from autograder_kernel_start import guard_messages, trim

        guard_messages(request["message_limit"])
        from ipykernel.kernelapp import IPKernelApp
        from traitlets.config import Config

        config = Config()
        config.IPKernelApp.connection_file = home + "/.kernel.json"
        config.IPKernelApp.quiet = True
        config.IPKernelApp.matplotlib = (
            "inline"  # pyplot was imported before this kernel's shell existed
        )
        config.HistoryManager.hist_file = ":memory:"
        app = IPKernelApp.instance(config=config)
        # That config is the whole command line: building the parser for one (every option of every
        # class) would cost most of the kernel's start.
        app.parse_command_line = lambda argv=None: None
        app.initialize([])
        trim(app)
        app.start()
        code = 0
    finally:
        os._exit(code)


def write_read_only(home, name, data, uid):
    """An instructor's file in the learner's home: readable, not writable, by the learner."""
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    folder = home
    for part in parts[:-1]:
        folder = os.path.join(folder, part)
        if not os.path.isdir(folder):
            os.mkdir(folder, 0o755)
            os.chown(folder, uid, uid)  # so that the learner's uid can empty it when reaped
    path = os.path.join(folder, parts[-1])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def become_learner(request, home):
    """In the forked child: detach, own IPC namespace, drop privileges, limits, private home."""
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 4096)
    # SysV and POSIX IPC objects would outlive the notebook's processes: give it its own.
    if LIBC.unshare(CLONE_NEWIPC) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC) failed")
    uid = int(request["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from here on, no capabilities
    os.umask(0o077)
    for name, value in request["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    for sub in ("/tmp", "/.config", "/.config/matplotlib"):
        os.makedirs(home + sub, mode=0o700, exist_ok=True)
    with open(home + "/.kernel.json", "w") as f:
        json.dump(dict(request["connection"], ip=home + "/.kernel"), f)
    os.chdir(home)
    os.environ.clear()
    os.environ.update(
        {name: value.replace("{home}", home) for name, value in request["env"].items()}
    )
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def reap(request):
    """Kill every process of the learner's uid, reap the kernel, remove its home."""
    uid, home, pid = int(request["uid"]), request["home"], int(request["pid"])
    killer = os.fork()
    if killer == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(100):  # kill(-1) reaches every process this uid may signal
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
            for root, dirs, _files in os.walk(home):
                for d in dirs:
                    try:
                        os.chmod(os.path.join(root, d), 0o700)
                    except OSError:
                        pass
            shutil.rmtree(home, ignore_errors=True)
            code = 0
        finally:
            os._exit(code)
    os.waitpid(killer, 0)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        os.rmdir(home)  # emptied by the learner's uid above; only root may remove it from /scratch
    except OSError:
        pass
    return {"clean": not _running_as(uid) and not os.path.exists(home), "cpu": cpu}


def _running_as(uid):
    """Processes of `uid` that are not zombies waiting for the sandbox's init to reap them."""
    running = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.stat("/proc/" + pid).st_uid == uid:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        running.append(pid)
        except OSError:
            continue
    return running


def poll(request):
    if int(request["pid"]) <= 0:  # waitpid(0) would reap any child
        return {"alive": False}
    try:
        done, _status = os.waitpid(int(request["pid"]), os.WNOHANG)
    except ChildProcessError:
        return {"alive": False}
    return {"alive": done == 0}


def main():
    # No collections while torch and the rest are imported (a quarter of the sandbox's start-up
    # CPU, and start-up waits for it); what is imported then is frozen out of the collector's
    # reach, so that a kernel's collections never walk, and so copy, the pages it shares with
    # this process. Each kernel collects as usual (`spawn`).
    gc.disable()
    preload()
    gc.freeze()
    handlers = {"spawn": spawn, "poll": poll, "reap": reap}
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    later = [preload_later]
    requests = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)
    pending = b""
    while True:
        if later and not pending and not select.select([requests], [], [], IDLE)[0]:
            _import_later(later)  # nothing is asked of us: use the time
            continue
        while b"\n" not in pending:
            chunk = requests.read(65536)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        if later and request["op"] == "spawn":
            # Before the first kernel, not beside it: a kernel that needs these and finds them
            # missing imports its own copy (torch's compiler stack: 0.8 s and 70 MiB more, in
            # every sandbox whose first notebook trains a model).
            _import_later(later)
        out.write(json.dumps(handlers[request["op"]](request)) + "\n")
        out.flush()


def _import_later(later):
    later.pop(0)()
    gc.collect()  # the imports' garbage, before what they left is frozen too
    gc.freeze()
    if hasattr(LIBC, "malloc_trim"):
        LIBC.malloc_trim(0)  # and the memory it held back to the system (some 6 MiB)


if __name__ == "__main__":
    main()
