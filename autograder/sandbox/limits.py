"""What a learner's notebook may use, and how it is isolated: the one place for the defaults.

Set them in the course's nbgrader_config.py (`c.Limits.cell_timeout = 30`,
`c.Isolation.mode = "bubblewrap"`). The grading command resolves them once into a picklable
`Sandboxing` and hands that to every worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from traitlets import Bool, Enum, Float, Integer
from traitlets.config import Config, Configurable


class Limits(Configurable):
    """Limits for executing one learner notebook, and the grader's own budget for it."""

    cell_timeout = Float(60, help="Seconds one learner cell may run.").tag(config=True)
    notebook_timeout = Float(
        300, help="Seconds a whole notebook may take, test cells included."
    ).tag(config=True)
    memory = Integer(2 * 1024**3, help="Address-space limit of the kernel, bytes.").tag(config=True)
    cpu_time = Integer(300, help="CPU seconds per process.").tag(config=True)
    processes = Integer(128, help="Processes and threads of the sandbox user.").tag(config=True)
    file_size = Integer(64 * 1024**2, help="Largest file the kernel may write, bytes.").tag(
        config=True
    )
    scratch_size = Integer(256 * 1024**2, help="Size of the kernel's private home, bytes.").tag(
        config=True
    )
    output_size = Integer(1024**2, help="Output kept per notebook, bytes.").tag(config=True)
    test_timeout = Float(
        60, help="Seconds one test cell may run in the grader (counted in notebook_timeout)."
    ).tag(config=True)
    answer_size = Integer(
        8 * 1024**2,
        help="Bytes of one answer the grader reads from a kernel (a probe's reply, or outputs "
        "sent during it).",
    ).tag(config=True)

    def values(self) -> dict:
        return {name: getattr(self, name) for name in self.class_trait_names(config=True)}


class Isolation(Configurable):
    """How learner kernels are isolated from the machine and from each other."""

    mode = Enum(
        ["auto", "bubblewrap", "none"],
        "auto",
        help="'auto' uses bubblewrap when it works here; 'bubblewrap' refuses to grade without "
        "it; 'none' runs learner code with limits only (unsafe for untrusted submissions).",
    ).tag(config=True)
    fork_server = Bool(
        True, help="As root, fork kernels from a sandboxed process that has torch imported."
    ).tag(config=True)


@dataclass(frozen=True)
class Sandboxing:
    """Limits and the isolation mode actually in use, resolved once per grading run."""

    mode: str  # "bubblewrap-root" | "bubblewrap-user" | "none"
    fork_server: bool = True
    limit_values: dict = field(default_factory=dict)

    @property
    def limits(self) -> Limits:
        return Limits(**self.limit_values)

    @classmethod
    def resolve(cls, config: Config | None = None, **limit_overrides) -> Sandboxing:
        """Read the limits and isolation settings of `config`, and choose the mode (probes
        bwrap)."""
        from .isolation import choose_mode

        config = config or Config()
        isolation = Isolation(config=config)
        limits = Limits(config=config)
        values = dict(limits.values(), **limit_overrides)
        values["cell_timeout"] = _stricter_cell_timeout(config, values["cell_timeout"])
        values["test_timeout"] = _stricter_cell_timeout(config, values["test_timeout"])
        return cls(choose_mode(isolation.mode), isolation.fork_server, values)


def _stricter_cell_timeout(config: Config, cell_timeout: float) -> float:
    """nbgrader's `c.Execute.timeout`, where an instructor already set it, limits every cell too
    (learner cells in the kernel, test cells in the grader), as it does in nbgrader."""
    execute = config.get("Execute", {})
    timeout = execute.get("timeout") if hasattr(execute, "get") else None
    if isinstance(timeout, (int, float)) and timeout > 0:
        return min(cell_timeout, float(timeout))
    return cell_timeout
