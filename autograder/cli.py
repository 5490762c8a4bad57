"""The `autograder` command: parses arguments and calls the module that does the work."""
from __future__ import annotations

import argparse
import os
import sys

from .course import Course, CourseError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Activation functions with PyTorch: build the lessons from source/, grade a class "
                    "with learner code sandboxed, check a notebook's visible tests.")
    parser.add_argument("--course", metavar="DIR", help="course folder (default: the one holding nbgrader_config.py)")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="regenerate notebooks/ and solutions/ from source/")
    build.add_argument("--check", action="store_true", help="fail if notebooks/ or solutions/ are stale")

    grade = commands.add_parser("grade", help="grade a class into the gradebook, feedback/ and a CSV")
    grade.add_argument("submitted", nargs="?", metavar="SUBMITTED",
                       help="folder of <student>/<lesson>/<notebook>.ipynb (default: the course's submitted/)")
    grade.add_argument("--assignment", "-a", action="append", help="only this lesson (repeatable)")
    grade.add_argument("--student", "-s", action="append", help="only this learner (repeatable)")
    grade.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel graders (default: cores)")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")

    check = commands.add_parser("check", help="run a notebook's visible tests and print the verdicts")
    check.add_argument("notebook", help="a lesson notebook (.ipynb)")

    commands.add_parser("demo", help="build the course, grade the bundled sample class, print the results")

    publish = commands.add_parser("publish", help="write the learner-only copy of the course into DIR")
    publish.add_argument("dir", metavar="DIR", help="an empty folder, or one an earlier publish wrote")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import main as demo
            return demo(course_dir=args.course)
        if args.command == "check":
            from .check import main as check_main
            return check_main(notebook=args.notebook)
        course = Course.find(args.course)
        if args.command == "publish":
            from .publish import main as publish_main
            return publish_main(course=course, target=args.dir)
        if args.command == "build":
            from .build import build as run_build
            report = run_build(course, check=args.check)
            if args.check:
                if report.stale:
                    print("stale (run `autograder build`):", *report.stale, sep="\n  ")
                    return 1
                print(f"notebooks/ and solutions/ are up to date ({len(report.lessons)} lessons, {report.seconds:.1f} s)")
            else:
                print(f"built {len(report.lessons)} lessons into {course.release.name}/ and "
                      f"{course.solutions.name}/ in {report.seconds:.1f} s")
            return 0
        if args.command == "grade":
            from .grade import main as grade_main
            return grade_main(course=course, submitted=args.submitted, assignments=args.assignment,
                              students=args.student, jobs=args.jobs, feedback=not args.no_feedback)
    except CourseError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    return 0
