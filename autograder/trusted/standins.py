"""What the grader holds in place of learner things that cannot cross as data.

A learner function becomes a `RemoteFunction` (calling it runs it in the learner's kernel on
plain-data copies of the arguments), a model of the learner's own class a stand-in module whose
forward does the same, a module the grader's own module of that name (imported only from the
grader's Python installation), anything else an `Opaque` that equals nothing. Errors the
learner's code raises come back as `LearnerError`s of the learner's builtin exception type.
"""

from __future__ import annotations

import builtins
import importlib.util
import site
import sys
import sysconfig
from pathlib import Path

from .. import wire
from .figures import rebuild_axes, rebuild_figure


class LearnerError(Exception):
    """The learner's own code raised while the grader called it."""

    def __init__(self, function: str, ename: str, evalue: str):
        super().__init__(evalue)
        self.function, self.ename, self.evalue = function, ename, evalue

    def __str__(self) -> str:
        return self.evalue


def learner_error(function: str, ename: str, evalue: str) -> LearnerError:
    """A LearnerError that is also the learner's exception type where that is a builtin one, so a
    test's `except TypeError` and `type(error).__name__` behave as in the learner's own kernel."""
    safe = _identifier(ename) or "Exception"
    base = getattr(builtins, safe, None)
    bases: tuple = (LearnerError,)
    if isinstance(base, type) and issubclass(base, Exception) and base is not Exception:
        bases += (base,)
    try:
        cls = type(safe, bases, {})
    except TypeError:  # a builtin whose layout cannot be mixed in (OSError, ...)
        cls = type(safe, (LearnerError,), {})
    return cls(function, ename, evalue)


class RemoteFunction:
    """A learner function: calling it runs it in the learner's kernel on plain-data arguments."""

    def __init__(self, ref, name: str, remote):
        self._ref, self.__name__, self._remote = ref, name, remote

    def __call__(self, *args, **kwargs):
        if self._ref is None or self._remote is None:
            raise learner_error(
                self.__name__, "TypeError", "this function can only be checked by name"
            )
        return self._remote.call(self._ref, self.__name__, args, kwargs)

    def call_and_compare(self, *args, **kwargs):
        """The call's result, and the positions of the arguments it changed (in the kernel)."""
        if self._ref is None or self._remote is None:
            return self(*args, **kwargs), []
        return self._remote.call(self._ref, self.__name__, args, kwargs, compare=True)

    def __repr__(self) -> str:
        return f"<learner function {self.__name__}>"

    def __deepcopy__(self, memo):
        return self  # the learner's function, wherever a test keeps it


def remote_module_class(name: str):
    """A stand-in class named like the learner's own nn.Module subclass; forward runs remotely."""
    import torch

    def __init__(self, ref, remote):
        torch.nn.Module.__init__(self)
        self._ref, self._remote = ref, remote

    def forward(self, *args, **kwargs):
        if self._ref is None or self._remote is None:
            raise learner_error(
                type(self).__name__, "TypeError", "this model can only be checked by name"
            )
        return self._remote.call(self._ref, type(self).__name__, args, kwargs)

    def __deepcopy__(self, memo):
        return self  # it lives in the learner's kernel; a copy here would be no copy there

    namespace = {
        "__init__": __init__,
        "forward": forward,
        "__deepcopy__": __deepcopy__,
        "_learner_model": True,
    }
    return type(_identifier(name) or "Module", (torch.nn.Module,), namespace)


def is_remote_model(value) -> bool:
    """Whether `value` stands in for a model of the learner's own class."""
    return getattr(type(value), "_learner_model", False) is True


class Opaque:
    """Something the grader cannot inspect: it equals nothing and has no attributes of interest."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


def opaque(type_name: str) -> Opaque:
    safe = "".join(ch for ch in type_name if ch.isalnum() or ch in "_ ")[:80].replace(" ", "_")
    return type(safe or "object", (Opaque,), {})()


class GraderStandins(wire.Standins):
    """Stand-ins on the grader's side; `remote` (the learner's kernel) answers calls."""

    def __init__(self, remote=None):
        self.remote = remote

    def function(self, ref, name):
        return RemoteFunction(ref, name, self.remote)

    def custom_module(self, name, ref):
        return remote_module_class(name)(ref, self.remote)

    def axes(self, description, budget):
        return rebuild_axes(description, budget)

    def figure(self, descriptions, budget):
        return rebuild_figure(descriptions, budget)

    def opaque(self, type_name):
        return opaque(type_name)

    def module(self, name):
        return grader_module(name)


# Modules that do something when imported (open a browser, print, run a test suite, start a GUI).
ACTS_WHEN_IMPORTED = {"antigravity", "this", "__hello__", "__phello__", "test", "idlelib",
                      "turtledemo", "tkinter", "turtle", "readline"}  # fmt: skip


def grader_module(name: str):
    """The grader's own module `name`, in the place of a module the learner's kernel holds.

    Only the name crosses the boundary. The module is one this process imported already, or one
    it imports from its own Python installation (standard library, installed packages): never
    a file beside a notebook, in the course or in the learner's folder.
    """
    if name in sys.modules:
        return sys.modules[name]
    parts = name.split(".")
    if "__main__" in parts or parts[0] in ACTS_WHEN_IMPORTED:
        raise wire.WireError(f"the grader does not import the module `{name}`")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if prefix in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(prefix)
            if spec is None or not _installed(spec):
                raise ImportError(prefix)
            importlib.import_module(prefix)
        except Exception:  # not installed here, or it failed to import: the test cannot use it
            raise wire.WireError(f"the module `{name}` is not installed where the grader runs") \
                from None  # fmt: skip
    return sys.modules[name]


def _installed(spec) -> bool:
    """Whether a module's code is part of this Python installation (built in, stdlib, packages)."""
    if spec.origin in ("built-in", "frozen"):
        return True
    places = [spec.origin] if spec.origin and spec.has_location else []
    places += list(spec.submodule_search_locations or [])
    roots = _installation()
    inside = [any(Path(place).resolve().is_relative_to(root) for root in roots) for place in places]
    return bool(inside) and all(inside)


def _installation() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages())
    return [Path(root).resolve() for root in roots]


def _identifier(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum() or ch == "_")[:80]
