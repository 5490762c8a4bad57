"""Reach a sandboxed kernel's sockets without resolving a path the learner controls.

The kernel's ZeroMQ sockets are files in the learner's home, a folder learner code can write.
Connecting by path would follow a link a learner put there, to any socket of the host. Instead,
each socket is opened once, before any learner code runs, component by component with
O_NOFOLLOW from the sandbox's root, checked to be a socket, and connected through
`/proc/self/fd/N`: the grader always reaches that inode, whatever the folder holds later.
"""

from __future__ import annotations

import os
import stat

CHANNELS = {"shell": 1, "iopub": 2, "stdin": 3, "control": 4, "hb": 5}


class SocketError(RuntimeError):
    """A kernel socket is missing or is not a socket."""


def open_socket(root: str, path: str) -> int:
    """An O_PATH descriptor of the socket at `path` inside the sandbox whose root is `root`."""
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)  # /proc/<pid>/root: the one link we follow
    try:
        parts = [p for p in path.split("/") if p]
        for index, part in enumerate(parts):
            if part in (".", ".."):
                raise SocketError(f"unexpected path component in {path}")
            last = index == len(parts) - 1
            flags = os.O_PATH | os.O_NOFOLLOW | (0 if last else os.O_DIRECTORY)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except OSError as error:
                raise SocketError(f"{path}: {error.strerror}") from None
            os.close(fd)
            fd = child
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise SocketError(f"{path} is not a socket")
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_kernel_sockets(root: str, ip: str) -> dict[str, int]:
    """Descriptors of every channel's socket (`<ip>-<port>`), or SocketError."""
    fds: dict[str, int] = {}
    try:
        for channel, port in CHANNELS.items():
            fds[channel] = open_socket(root, f"{ip}-{port}")
    except BaseException:
        close(fds)
        raise
    return fds


def sockets_exist(root: str, ip: str) -> bool:
    """Has the kernel bound all its sockets yet (checked without following links)?"""
    try:
        close(open_kernel_sockets(root, ip))
        return True
    except (SocketError, OSError):
        return False


def endpoint(fd: int) -> str:
    return f"ipc:///proc/self/fd/{fd}"


def close(fds: dict[str, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
