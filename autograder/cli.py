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
    common.add_argument(
        "--course",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="course folder (default: the one holding nbgrader_config.py)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and the grader's own details",
    )
    top = argparse.ArgumentParser(
        prog="autograder", parents=[common],
        description="Activation functions with PyTorch: build the lessons from source/, grade a "
                    "class with learner code sandboxed, report what it got wrong, check a "
                    "notebook's visible tests.",
    )  # fmt: skip
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", parents=[common], help="regenerate notebooks/ and solutions/ from source/"
    )
    build.add_argument(
        "--check", action="store_true", help="fail if notebooks/ or solutions/ are stale"
    )

    grade = commands.add_parser(
        "grade", parents=[common], help="grade a class into the gradebook, feedback/ and a CSV"
    )
    grade.add_argument(
        "submitted",
        nargs="?",
        metavar="SUBMITTED",
        help="folder of <student>/<lesson>/<notebook>.ipynb (default: the course's submitted/)",
    )
    grade.add_argument("--assignment", "-a", action="append", help="only this lesson (repeatable)")
    grade.add_argument("--student", "-s", action="append", help="only this learner (repeatable)")
    grade.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel graders (default: cores)",
    )
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    grade.add_argument(
        "--queue",
        metavar="DSN",
        default=os.environ.get("AUTOGRADER_QUEUE"),
        help="grade on the fleet whose PostgreSQL queue this is, then collect the results "
        "(docs/fleet.md; default: $AUTOGRADER_QUEUE, else grade here)",
    )

    queue = argparse.ArgumentParser(add_help=False)
    queue.add_argument(
        "--queue",
        metavar="DSN",
        default=os.environ.get("AUTOGRADER_QUEUE"),
        help="the fleet's PostgreSQL database, e.g. postgresql://grader@db/course "
        "(default: $AUTOGRADER_QUEUE)",
    )
    enqueue = commands.add_parser(
        "enqueue",
        parents=[common, queue],
        help="take a class in and queue one grading job per learner and lesson",
    )
    enqueue.add_argument(
        "submitted",
        nargs="?",
        metavar="SUBMITTED",
        help="folder of <student>/<lesson>/<notebook>.ipynb (default: the course's submitted/)",
    )
    enqueue.add_argument(
        "--assignment", "-a", action="append", help="only this lesson (repeatable)"
    )
    enqueue.add_argument("--student", "-s", action="append", help="only this learner (repeatable)")

    worker = commands.add_parser(
        "worker",
        parents=[common, queue],
        help="grade the course's queued jobs on this machine until stopped",
    )
    worker.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks graded at once on this machine (default: cores)",
    )
    worker.add_argument("--name", help="this machine's name in the queue (default: host:pid)")
    worker.add_argument(
        "--scratch", metavar="DIR", help="working folder (default: a fresh temporary one)"
    )
    worker.add_argument(
        "--heartbeat",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between this machine's heartbeats (default: 10)",
    )
    worker.add_argument(
        "--stalled-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a machine silent this long is taken for dead and its jobs are queued "
        "again (default: 30)",
    )

    collect = commands.add_parser(
        "collect-results",
        parents=[common, queue],
        help="write what the fleet graded: autograded/, feedback/, grades.json, grades.csv",
    )
    collect.add_argument(
        "--no-wait", action="store_true", help="write what is graded now, do not wait for the rest"
    )

    serve = commands.add_parser(
        "serve",
        parents=[common, queue],
        help="grade on submit: queue each new submission in the exchange, release its feedback",
    )
    serve.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between looks at the exchange (default: 5)",
    )

    check = commands.add_parser(
        "check", parents=[common], help="run a notebook's visible tests and print the verdicts"
    )
    check.add_argument("notebook", help="a lesson notebook (.ipynb)")

    commands.add_parser(
        "report",
        parents=[common],
        help="write report/index.html: what the class got wrong, from grades.json "
        "and the gradebook",
    )
    commands.add_parser(
        "demo",
        parents=[common],
        help="build the course, grade the bundled sample class, print the results",
    )

    publish = commands.add_parser(
        "publish", parents=[common], help="write the learner-only copy of the course into DIR"
    )
    publish.add_argument(
        "dir", metavar="DIR", help="an empty folder, or one an earlier publish wrote"
    )
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
    if args.command in ("enqueue", "worker", "collect-results", "serve") or getattr(
        args, "queue", None
    ):
        return fleet(args, course, verbose)
    from .grading.batch import main as grade

    return grade(course=course, submitted=args.submitted, assignments=args.assignment,
                 students=args.student, jobs=args.jobs, feedback=not args.no_feedback,
                 verbose=verbose)  # fmt: skip


def fleet(args: argparse.Namespace, course, verbose: bool) -> int:
    """The commands of a grading fleet (autograder/fleet/, docs/fleet.md)."""
    if not args.queue:
        raise AutograderError(
            "name the fleet's database: --queue postgresql://... or $AUTOGRADER_QUEUE"
        )
    if args.command == "grade" and args.no_feedback:
        raise AutograderError(
            "a fleet always writes feedback: leave out --no-feedback with --queue"
        )
    if args.command == "worker":
        from .fleet.machine import main as worker

        return worker(course=course, dsn=args.queue, jobs=args.jobs, name=args.name,
                      scratch=args.scratch, heartbeat=args.heartbeat,
                      stalled_after=args.stalled_after)  # fmt: skip
    if args.command == "serve":
        from .fleet.serve import main as serve

        return serve(course=course, dsn=args.queue, poll=args.poll)
    from .fleet.collect import grade_main as grade
    from .fleet.collect import main as collect
    from .fleet.enqueue import main as enqueue

    if args.command == "enqueue":
        return enqueue(course=course, dsn=args.queue, submitted=args.submitted,
                       assignments=args.assignment, students=args.student)  # fmt: skip
    if args.command == "collect-results":
        return collect(course=course, dsn=args.queue, wait=not args.no_wait, verbose=verbose)
    return grade(course=course, dsn=args.queue, submitted=args.submitted,
                 assignments=args.assignment, students=args.student, verbose=verbose)  # fmt: skip
