"""bubblewrap command lines: the one place that says what a sandbox sees.

A sandbox sees a read-only system and Python environment, a private size-limited tmpfs, no
network, its own pid, IPC and UTS namespaces, and nothing of the course, the gradebook or other
submissions. Every sandbox loads the keyring seccomp filter.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

NAMESPACES = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
              "--unshare-cgroup-try", "--hostname", "sandbox"]  # fmt: skip


@dataclass
class Layout:
    """What goes inside one sandbox besides the system: folders, files and the program."""

    tmpfs: str  # the writable scratch folder (a learner's home, or the fork server's /scratch)
    tmpfs_size: int
    tmpfs_perms: str = "0755"
    dirs: list[tuple[str, str]] = field(default_factory=list)  # (path, perms) made inside
    ro_binds: list[tuple[str, str]] = field(default_factory=list)  # (host path, sandbox path)
    data: list[tuple[int, str]] = field(default_factory=list)  # (fd, sandbox path): read-only files
    caps: list[str] = field(default_factory=list)
    user_namespace: bool = False
    chdir: str = "/"
    env: dict = field(default_factory=dict)


def command(layout: Layout, program: list[str], *, info_fd: int, seccomp_fd: int) -> list[str]:
    """The bwrap argv that runs `program` in a sandbox laid out as `layout`."""
    argv = ["bwrap", "--die-with-parent", "--new-session", *NAMESPACES]
    argv += ["--unshare-user"] if layout.user_namespace else []
    for cap in layout.caps:
        argv += ["--cap-add", cap]
    argv += system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", "/run"]
    parent = str(Path(layout.tmpfs).parent)
    if parent not in ("/", "/run"):
        argv += ["--perms", "0755", "--dir", parent]
    argv += [
        "--size",
        str(layout.tmpfs_size),
        "--perms",
        layout.tmpfs_perms,
        "--tmpfs",
        layout.tmpfs,
    ]
    for path, perms in layout.dirs:
        argv += ["--perms", perms, "--dir", path]
    for source, target in layout.ro_binds:
        argv += ["--ro-bind", source, target]
    for fd, target in layout.data:
        argv += ["--perms", "0444", "--ro-bind-data", str(fd), target]
    argv += ["--chdir", layout.chdir, "--info-fd", str(info_fd), "--seccomp", str(seccomp_fd)]
    argv += ["--clearenv"]
    for name, value in layout.env.items():
        argv += ["--setenv", name, value]
    return argv + program


def system_binds() -> list[str]:
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
        if prefix == "/usr" or prefix.startswith("/usr/"):
            continue
        for parent in list(reversed(Path(prefix).parents))[1:]:
            if str(parent) not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += ["--ro-bind", prefix, prefix]
        made.add(prefix)
    return args


def exposed_paths() -> list[str]:
    """Host paths a sandboxed kernel can read (to check that no course data is among them)."""
    binds = system_binds()
    return [binds[i + 1] for i, arg in enumerate(binds) if arg == "--ro-bind"]
