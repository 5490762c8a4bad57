"""Core-seconds of a command's whole process tree, counted by a cgroup of its own.

`getrusage(RUSAGE_CHILDREN)` counts a descendant only once it has been reaped, and its own
descendants only if it reaped them in turn. A grading run's sandboxes end by being killed with
their pid namespace, so their fork servers' imports and the kernels they reaped never reach the
grading process: about half of a run's CPU. A cgroup counts every task that ran in it, reaped or
not. Making one needs root (or a delegated cgroup); elsewhere the figure falls back to the reaped
children, and says so.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path


class CpuTime:
    """The CPU of a process started with `enter` as its `preexec_fn`, and of its descendants."""

    def __init__(self) -> None:
        self.group = _new_group()
        self._start = self._read()

    @property
    def complete(self) -> bool:
        """Whether every process of the tree is counted (a cgroup), not only the reaped ones."""
        return self.group is not None

    def enter(self) -> None:
        """In the child, before exec: join the group (children inherit it)."""
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        """Core-seconds since this was made, once the tree has ended (waits up to 30 s for it)."""
        if self.group is not None:
            deadline = time.monotonic() + 30
            while (self.group / "cgroup.procs").read_text().strip():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        return self._read() - self._start

    def close(self) -> None:
        if self.group is not None:
            try:
                self.group.rmdir()
            except OSError:  # a process of the tree still running: the group goes with it
                pass

    def _read(self) -> float:
        if self.group is None:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        if (self.group / "cpuacct.usage").exists():  # cgroup v1
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        for line in (self.group / "cpu.stat").read_text().splitlines():  # cgroup v2
            name, value = line.split()
            if name == "usage_usec":
                return int(value) / 1e6
        raise OSError(f"{self.group}/cpu.stat has no usage_usec")


def counts_everything() -> bool:
    """Whether this process can make the cgroups that count a tree's CPU in full."""
    probe = CpuTime()
    probe.close()
    return probe.complete


def caveat() -> str | None:
    """What a reader of the figures must know when they cannot count everything, else None."""
    if counts_everything():
        return None
    return (
        "core-seconds: no cgroup could be made here (run as root for full figures), so they "
        "count reaped processes only, not most of the sandboxes' CPU"
    )


def _new_group() -> Path | None:
    """A new, empty cgroup below this process's own, or None if none can be made here."""
    for own in _own_groups():
        group = own / f"autograder-bench-{os.getpid()}-{time.monotonic_ns()}"
        try:
            group.mkdir()
        except OSError:
            continue
        if (group / "cpuacct.usage").exists() or (group / "cpu.stat").exists():
            return group
        group.rmdir()
    return None


def _own_groups() -> list[Path]:
    """This process's own cgroup folders: in cgroup v1's cpuacct hierarchy, and in cgroup v2."""
    mounts: dict[str, tuple[str, Path]] = {}  # hierarchy -> (its root as mounted, mount point)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype, options = fields[fields.index("-") + 1], fields[-1].split(",")
            if fstype == "cgroup" and "cpuacct" in options:
                mounts.setdefault("cpuacct", (fields[3], Path(fields[4])))
            elif fstype == "cgroup2":
                mounts.setdefault("", (fields[3], Path(fields[4])))
    found = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                if name in mounts:
                    root, mount = mounts[name]
                    if os.path.commonpath([root, path]) == root:  # else: not visible here
                        found.append(mount / os.path.relpath(path, root))
    return found
