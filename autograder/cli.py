"""The `autograder` command: parses arguments, calls the module that does the work, maps errors.

Every error an instructor can act on (`AutograderError`) becomes one line, `autograder: ...`,
and exit status 2; anything else is a bug and keeps its traceback. `-v` shows tracebacks and the
grader's own details.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import __version__
from .errors import AutograderError

EXIT_GRADER_ERROR = 1  # graded, but some notebook hit an error on the grader's side
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", metavar="DIR", default=argparse.SUPPRESS,
                        help="course folder (default: the one holding nbgrader_config.py)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and the grader's own details")
    top = argparse.ArgumentParser(
        prog="autograder", parents=[common],
        description="Activation functions with PyTorch: build the lessons from source/, grade a "
                    "class with learner code sandboxed, report what it got wrong, check a "
                    "notebook's visible tests.",
    )  # fmt: skip
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", parents=[common], help="regenerate notebooks/ and solutions/ from source/")
    build.add_argument("--check", action="store_true", help="fail if notebooks/ or solutions/ are stale")

    grade = commands.add_parser("grade", parents=[common], help="grade a class into the gradebook, feedback/ and a CSV")
    grade.add_argument("submitted", nargs="?", metavar="SUBMITTED",
                       help="folder of <student>/<lesson>/<notebook>.ipynb (default: the course's submitted/)")
    grade.add_argument("--assignment", "-a", action="append", help="only this lesson (repeatable)")
    grade.add_argument("--student", "-s", action="append", help="only this learner (repeatable)")
    grade.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                       help="parallel graders (default: cores)")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")

    check = commands.add_parser("check", parents=[common], help="run a notebook's visible tests and print the verdicts")
    check.add_argument("notebook", help="a lesson notebook (.ipynb)")

    commands.add_parser("report", parents=[common],
                        help="write report/index.html: what the class got wrong, from grades.json "
                             "and the gradebook")
    commands.add_parser("demo", parents=[common], help="build the course, grade the bundled sample class, print the results")

    publish = commands.add_parser("publish", parents=[common], help="write the learner-only copy of the course into DIR")
    publish.add_argument("dir", metavar="DIR", help="an empty folder, or one an earlier publish wrote")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    course_dir = getattr(args, "course", None)
    verbose = getattr(args, "verbose", False)
    try:
        return run(args, course_dir, verbose)
    except AutograderError as error:
        if verbose:
            traceback.print_exc()
        print(f"autograder: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run(args: argparse.Namespace, course_dir: str | None, verbose: bool) -> int:
    if args.command == "demo":
        from .demo import main as demo

        return demo(course_dir=course_dir)
    if args.command == "check":
        from .check import main as check

        return check(notebook=args.notebook)
    from .course import Course

    course = Course.find(course_dir)
    if args.command == "publish":
        from .publish import main as publish

        return publish(course=course, target=args.dir)
    if args.command == "report":
        from .report import main as report

        return report(course=course)
    if args.command == "build":
        from .build import main as build

        return build(course=course, check=args.check)
    from .grading.batch import main as grade

    return grade(course=course, submitted=args.submitted, assignments=args.assignment, students=args.student,
                 jobs=args.jobs, feedback=not args.no_feedback, verbose=verbose)  # fmt: skip
