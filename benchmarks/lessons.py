"""How long each lesson takes to run top to bottom in a fresh kernel, as a learner would run it.

Each lesson's learner release, with the reference answers typed in, is executed by nbclient in a
new `python3` kernel (kernel start, imports and every cell included), a few times, in a folder
holding the files released with it (06-train reads animals.csv); the median is printed. Target:
under 10 s per lesson.

    .venv/bin/python benchmarks/lessons.py --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient

from autograder.course import Course

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    course = Course.find(REPO)
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="lesson-timing-") as tmp:
        for lesson in course.lessons:
            folder = Path(tmp) / lesson
            shutil.copytree(course.release / lesson, folder)
            seconds = []
            for _ in range(args.repeat):
                nb = course.answered(lesson)
                start = time.perf_counter()
                here = {"metadata": {"path": str(folder)}}
                NotebookClient(nb, timeout=120, kernel_name="python3", resources=here).execute()
                seconds.append(time.perf_counter() - start)
            median = statistics.median(seconds)
            worst = max(worst, median)
            print(f"{lesson:<16} {median:5.1f} s  (runs: {', '.join(f'{s:.1f}' for s in seconds)})")
    print(f"slowest lesson: {worst:.1f} s (target: under 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
