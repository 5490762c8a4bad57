"""Activation functions with PyTorch: course tooling around nbgrader (build, sandboxed grading, checks)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("activation-functions-course")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
