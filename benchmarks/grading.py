"""Seconds per submission: `autograder grade` against plain `nbgrader autograde`, and the floor.

Lays out N synthetic submissions (half with the reference answers, half with one answer left
undone), round-robin over the lessons, in two identical throwaway course folders; grades one
with `autograder grade --no-feedback` and the other with `nbgrader autograde`; and times the
floor: a fresh `python` that imports torch and runs the lesson's code cells. Peak memory is the
largest sum of resident memory over each command's whole process tree (sampled every 0.1 s).

    .venv/bin/python benchmarks/grading.py --submissions 40
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from autograder.course import Course

REPO = Path(__file__).resolve().parents[1]
MODES = {  # appended to the benchmark course's nbgrader_config.py
    "fork-server": "",
    "sandbox-per-kernel": "\nc.Limits.fork_server = False\n",
    "unsandboxed": "\nc.Limits.isolation = 'none'\n",
}
BIN = Path(sys.executable).parent
COURSE = Course.find(REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lessons", nargs="*", help="default: all lessons")
    parser.add_argument("--skip-nbgrader", action="store_true", help="only time autograder grade and the floor")
    parser.add_argument("--modes", nargs="*", default=["fork-server"], choices=sorted(MODES),
                        help="isolation modes of autograder grade to time (the cost of the sandbox)")
    args = parser.parse_args()
    lessons = args.lessons or sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    print(f"{args.submissions} submissions over {len(lessons)} lessons, {args.jobs} jobs, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="autograder-bench-") as tmp:
        plain = Path(tmp) / "plain"
        lay_out(plain, lessons, args.submissions)
        floor = measure_floor(lessons, Path(tmp), env)
        print(f"floor (python + import torch + the lesson's cells): {floor:.2f} s per notebook")
        t_ours = None
        for mode in args.modes:
            ours = Path(tmp) / f"ours-{mode}"
            lay_out(ours, lessons, args.submissions)
            with open(ours / "nbgrader_config.py", "a") as config:
                config.write(MODES[mode])
            seconds, mem = timed([str(BIN / "autograder"), "--course", str(ours), "grade", "--no-feedback",
                                  "--jobs", str(args.jobs)], env)
            t_ours = t_ours or seconds
            per = seconds / args.submissions
            print(f"autograder grade ({mode}): {seconds:7.1f} s  {per:.2f} s per submission  "
                  f"({per * args.jobs:.2f} core-s each, {per * args.jobs / floor:.2f}x the floor)  "
                  f"peak {mem / 2**20:.0f} MiB")
        if not args.skip_nbgrader:
            for lesson in lessons:
                run([str(BIN / "nbgrader"), "generate_assignment", lesson, "--force"], plain, env)
            t_plain, mem_plain = timed([str(BIN / "nbgrader"), "autograde", "*", "--force"], env, cwd=plain)
            per_plain = t_plain / args.submissions
            print(f"nbgrader autograde: {t_plain:7.1f} s  {per_plain:.2f} s per submission  "
                  f"peak {mem_plain / 2**20:.0f} MiB")
            print(f"speed-up: {t_plain / t_ours:.2f}x")
    return 0


def lay_out(course: Path, lessons: list[str], n: int) -> None:
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    for folder in ("source", "notebooks"):
        shutil.copytree(REPO / folder, course / folder)
    for i in range(n):
        lesson = lessons[i % len(lessons)]
        undone = {list(COURSE.exercises(lesson))[0]: "raise NotImplementedError()"} if i % 2 else {}
        nb = COURSE.answered(lesson, undone)
        target = course / "submitted" / f"learner{i:03d}" / lesson
        target.mkdir(parents=True)
        nbformat.write(nb, target / f"{lesson}.ipynb")


def measure_floor(lessons: list[str], tmp: Path, env: dict) -> float:
    """Mean seconds for a fresh python to import torch and run a lesson's code cells."""
    seconds = []
    for lesson in lessons:
        nb = COURSE.answered(lesson)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not c.source.lstrip().startswith("%"))
        script = tmp / f"floor-{lesson}.py"
        script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + code)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return sum(seconds) / len(seconds)


def run(argv: list[str], cwd: Path, env: dict) -> None:
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)


def timed(argv: list[str], env: dict, cwd: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of the whole process tree."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    threading.Thread(target=_sample, args=(process, peak), daemon=True).start()
    _, err = process.communicate()
    elapsed = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{argv[0]} failed:\n{err.decode()[-3000:]}")
    return elapsed, peak[0]


def _sample(process: subprocess.Popen, peak: list) -> None:
    while process.poll() is None:
        peak[0] = max(peak[0], _tree_rss(process.pid))
        time.sleep(0.1)


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


if __name__ == "__main__":
    sys.exit(main())
