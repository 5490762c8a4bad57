"""The errors an instructor can act on: the command line turns each into one line and exit 2."""

from __future__ import annotations


class AutograderError(Exception):
    """A problem with the course, the machine or the command that the user has to fix."""


class CourseError(AutograderError):
    """Something about the course folder that the instructor has to fix."""


class SandboxUnavailable(AutograderError):
    """The configured isolation cannot run on this machine."""


class GraderBusy(AutograderError):
    """Another `autograder grade` is working on this course."""
