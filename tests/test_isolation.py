"""Is nothing shared between two learners' kernels, and does the grader follow no learner's links?

One launcher (one sandbox uid, one fork server, as in a grading worker) runs two notebooks in a
row. The first leaves something behind by every channel a process has: a kernel keyring key, a
file in every folder it can write, a POSIX message queue, SysV shared memory, an abstract
socket, a process that tries to outlive it. The second looks for each. Then a learner swaps the
kernel's sockets for links to a socket of the host and breaks the kernel's own: the host socket
must never hear from the grader.
"""

from __future__ import annotations

import os
import socket
import stat

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.sandbox import sockets
from autograder.sandbox.launcher import KernelLauncher
from autograder.sandbox.limits import Sandboxing
from autograder.trusted.executor import execute_notebook

LEAVE = r"""
import ctypes, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
left = {}
# a key in the user's keyring (add_key: the syscall number is the machine's)
NR_ADD_KEY = {"x86_64": 248, "aarch64": 217}[os.uname().machine]
KEY_SPEC_USER_KEYRING = -4
left["keyring"] = libc.syscall(NR_ADD_KEY, b"user", b"MARK", b"MARK-VALUE", 10, KEY_SPEC_USER_KEYRING)
# a file in every folder this process can write
written = []
for root in ("/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/scratch", os.path.expanduser("~"), os.getcwd()):
    for folder, dirs, _ in os.walk(root):
        if folder.startswith(("/proc", "/sys")) or os.statvfs(folder).f_flag & os.ST_RDONLY:
            dirs[:] = []  # nothing can be left on a read-only mount
            continue
        if os.access(folder, os.W_OK):
            try:
                with open(os.path.join(folder, "MARK-FILE"), "w") as f:
                    f.write("MARK")
                written.append(folder)
            except OSError:
                pass
left["files"] = written
# a POSIX message queue and SysV shared memory
librt = ctypes.CDLL("librt.so.1", use_errno=True)
left["mqueue"] = librt.mq_open(b"/MARK-QUEUE", os.O_CREAT | os.O_RDWR, 0o666, None)
left["shm"] = libc.shmget(0x4D41524B, 4096, 0o1666)
# an abstract socket, held by a process that tries to outlive the notebook
child = subprocess.Popen([sys.executable, "-c",
    "import os, socket, time\n"
    "os.setsid()\n"
    "s = socket.socket(socket.AF_UNIX); s.bind('\\0MARK-SOCKET'); s.listen()\n"
    "time.sleep(3600)"], start_new_session=True)
"""

LOOK = r"""
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
found = []
NR_REQUEST_KEY = {"x86_64": 249, "aarch64": 218}[os.uname().machine]
if libc.syscall(NR_REQUEST_KEY, b"user", b"MARK", None, 0) >= 0:
    found.append("keyring")
for root in ("/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/scratch", os.path.expanduser("~"), os.getcwd()):
    for folder, dirs, files in os.walk(root):
        if folder.startswith(("/proc", "/sys")) or os.statvfs(folder).f_flag & os.ST_RDONLY:
            dirs[:] = []
            continue
        if "MARK-FILE" in files:
            found.append("file " + folder)
librt = ctypes.CDLL("librt.so.1", use_errno=True)
if librt.mq_open(b"/MARK-QUEUE", os.O_RDWR, 0, None) >= 0:
    found.append("mqueue")
if libc.shmget(0x4D41524B, 0, 0) >= 0:
    found.append("shm")
probe = socket.socket(socket.AF_UNIX)
try:
    probe.connect("\0MARK-SOCKET")
    found.append("abstract socket")
except OSError:
    pass
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit() and b"MARK-SOCKET" in open(f"/proc/{pid}/cmdline", "rb").read():
            found.append("process " + pid)
    except OSError:
        pass
"""


def graded_cell(source):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1, "grade_id": "look"}
    return cell


@pytest.fixture(scope="module")
def launcher():
    sandboxing = Sandboxing.resolve(None, cell_timeout=30, notebook_timeout=60)
    if sandboxing.mode == "none":
        pytest.skip("no sandbox here: learners would share everything")
    launcher = KernelLauncher(sandboxing)
    yield launcher
    launcher.close()


def test_nothing_one_learner_leaves_reaches_the_next(launcher):
    first = new_notebook(
        cells=[new_code_cell(LEAVE), graded_cell("assert left['files'] is not None, left")]
    )
    execute_notebook(first, launcher)
    assert first.cells[1].outputs[0].output_type == "stream", first.cells[1].outputs
    second = new_notebook(
        cells=[new_code_cell(LOOK), graded_cell("assert found == [], found\nprint('nothing')")]
    )
    execute_notebook(second, launcher)
    outputs = second.cells[1].outputs
    assert [o.get("text") for o in outputs] == ["nothing\n"], outputs


def test_the_keyring_is_closed_to_learner_code(launcher):
    nb = new_notebook(
        cells=[new_code_cell(LEAVE), graded_cell("assert left['keyring'] == -1, left['keyring']")]
    )
    execute_notebook(nb, launcher)
    assert nb.cells[1].outputs[0].output_type == "stream", nb.cells[1].outputs


BREAK_SOCKETS = r"""
import os
home = os.path.expanduser("~")
for port in range(1, 6):
    path = os.path.join(home, f".kernel-{port}")
    os.rename(path, path + ".old")
    os.symlink({host!r}, path)
kernel = get_ipython().kernel
for stream in (kernel.shell_stream, kernel.control_stream):
    stream.socket.close(linger=0)
kernel.iopub_socket.close(linger=0)
"""


@pytest.mark.slow  # waits out a cell limit: the broken kernel never answers
def test_the_grader_never_follows_a_learner_link_to_a_host_socket(launcher, tmp_path):
    host = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(host))
    listener.listen(16)
    listener.setblocking(False)
    nb = new_notebook(
        cells=[
            new_code_cell(BREAK_SOCKETS.replace("{host!r}", repr(str(host)))),
            new_code_cell("x = 1"),
            graded_cell("assert x == 1"),
        ]
    )
    execute_notebook(nb, launcher)
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_a_socket_path_through_a_link_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(real / "s-1"))
    (tmp_path / "linked").symlink_to(real)
    (real / "s-2").symlink_to(real / "s-1")
    (real / "s-3").write_text("not a socket")
    fd = sockets.open_socket("/", str(real / "s-1"))
    assert stat.S_ISSOCK(os.fstat(fd).st_mode)
    os.close(fd)
    for path in (tmp_path / "linked" / "s-1", real / "s-2", real / "s-3", real / "missing"):
        with pytest.raises(sockets.SocketError):
            sockets.open_socket("/", str(path))
    server.close()
