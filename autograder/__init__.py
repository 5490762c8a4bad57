"""Activation functions with PyTorch: course tooling around nbgrader (build, sandboxed grading,
checks)."""

import sys
from importlib.metadata import PackageNotFoundError, version

# jsonschema (imported by nbformat and nbgrader) imports rfc3987_syntax, where installed, only to
# check "iri" string formats, and that import builds a parser for a second or more in every
# process; no schema used here has such a format.
sys.modules.setdefault("rfc3987_syntax", None)

try:
    __version__ = version("activation-functions-course")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
