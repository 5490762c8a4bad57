"""The night's job, end to end: `autograder grade` (with feedback) against plain nbgrader.

Lays out N synthetic submissions round-robin over the lessons, each lesson's alternately with the
reference answers and with its first answer left undone, in identical throwaway course folders,
then times

- `autograder grade` as instructors run it (grades and feedback), with a phase breakdown:
  start-up until the first notebook starts, with its timeline (the parent starting the workers,
  each worker's process up, its fork server begun, ready); per notebook the kernel start, the
  learner's cells, the test cells (probes included), nbgrader's bookkeeping and the feedback
  page; the tail (grades.json, the CSV, the class report);
- plain `nbgrader autograde` followed by `nbgrader generate_feedback`;
- the floor: forking a warm kernel from the sandbox's fork server and running a submission's
  learner cells in it, with nothing else, for each lesson answered and with its first answer
  undone, in seconds and core-seconds, and its mean over the same submissions as the figure it is
  set against (the steady state's too);
- optionally a large run (`--large 400`, ours only): notebooks per minute and peak memory per
  worker, so the cost of a class of any size is a computed figure.

CPU figures are core-seconds of the whole process tree, sandboxes and kernels included, counted by
a cgroup made for each run (`cputime.py`; as root, or with a delegated cgroup); peak
memory is sampled every 0.1 s from /proc: proportional set size (PSS), so that pages a forked
kernel shares with its fork server count once, for the tree and for each worker with its sandbox.
A sample reads one process after another. A process it has read that ends before it is done (a
reaped kernel, the fork server's short-lived helper that kills it) leaves its share of the pages
it shared to the processes read after it, which then count it again; such a sample is dropped.

    .venv/bin/python benchmarks/grading.py --submissions 40 --large 400
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import cputime
import nbformat

from autograder.course import Course

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COURSE = Course.find(REPO)
PER_NOTEBOOK = [
    "kernel start",
    "learner cells",
    "test cells",
    "nbgrader bookkeeping",
    "feedback",
    "results",
    "kernel cpu",
]
FLOOR_RUNS = 3  # the floor of each notebook is the median of this many runs
TIMELINE = ["pool starting", "worker process up", "fork server begun", "worker ready"]
START_UP = ["intake", "gradebook prepare", "stage", "worker imports", "worker warm-up"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lessons", nargs="*", help="default: all lessons")
    parser.add_argument(
        "--skip-nbgrader", action="store_true", help="only time autograder grade and the floor"
    )
    parser.add_argument(
        "--large", type=int, default=0, help="also grade this many submissions (ours only)"
    )
    args = parser.parse_args()
    if args.large and args.large <= args.submissions:
        parser.error("--large must be more than --submissions (its steady state is the difference)")
    lessons = args.lessons or COURSE.lessons
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    print(f"{args.submissions} submissions over {len(lessons)} lessons, {args.jobs} jobs, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    caveat = cputime.caveat()
    if caveat:
        print(caveat)
    with tempfile.TemporaryDirectory(prefix="autograder-bench-") as tmp:
        tmp = Path(tmp)
        floor = measure_floor(lessons)
        report_floor(floor, lessons, args.submissions)

        ours = run_ours(tmp / "ours", lessons, args.submissions, args.jobs, env)
        report_ours(ours, args.submissions)

        if not args.skip_nbgrader:
            plain = tmp / "plain"
            lay_out(plain, lessons, args.submissions)
            for lesson in lessons:
                subprocess.run([str(BIN / "nbgrader"), "generate_assignment", lesson, "--force"],
                               cwd=plain, env=env, check=True, capture_output=True)  # fmt: skip
            graded = timed([str(BIN / "nbgrader"), "autograde", "*", "--force"], env, cwd=plain)
            feedback = timed(
                [str(BIN / "nbgrader"), "generate_feedback", "*", "--force"], env, cwd=plain
            )
            wall, cpu = graded["wall"] + feedback["wall"], graded["cpu"] + feedback["cpu"]
            n = args.submissions
            print(
                f"\nplain nbgrader (autograde + generate_feedback): {wall:7.1f} s  "
                f"{wall / n:.3f} s per submission  {cpu / n:.3f} core-s each  "
                f"peak {max(graded['peak'], feedback['peak']) / 2**20:.0f} MiB"
            )
            print(f"speed-up, end to end with feedback: {wall / ours['wall']:.2f}x "
                  f"(core-seconds: {cpu / ours['cpu']:.2f}x)")  # fmt: skip

        if args.large:
            large = run_ours(tmp / "large", lessons, args.large, args.jobs, env)
            per_minute = args.large / large["wall"] * 60
            marginal = (large["cpu"] - ours["cpu"]) / (args.large - args.submissions)
            print(
                f"\nlarge run, {args.large} submissions: {large['wall']:.1f} s, "
                f"{per_minute:.0f} notebooks per minute, "
                f"{large['cpu'] / args.large:.3f} core-s each, peak per worker "
                f"{large['worker_peak'] / 2**20:.0f} MiB, "
                f"whole tree {large['peak'] / 2**20:.0f} MiB"
            )
            print(
                f"steady state (core-seconds of the {args.large - args.submissions} notebooks "
                f"beyond the first {args.submissions}): {marginal:.3f} core-s per notebook"
            )
            beyond = mix_floor(floor, lessons, args.submissions, args.large)
            if beyond["cpu"] is not None:
                print(
                    f"  of which the floor of the same notebooks: {beyond['cpu']:.3f} core-s; "
                    f"grading beyond it: {marginal - beyond['cpu']:.3f} core-s per notebook"
                )
            print(f"a class of 1,000 on this machine: about {1000 / per_minute:.0f} minutes")
    return 0


def run_ours(course: Path, lessons: list[str], n: int, jobs: int, env: dict) -> dict:
    lay_out(course, lessons, n)
    from autograder.grading import gradebook

    gradebook.prepare(Course.find(course), lessons, [])  # as `autograder build` leaves a course
    phases_file = course.parent / f"{course.name}-phases.jsonl"
    env = dict(env, AUTOGRADER_PHASES=str(phases_file))
    launched = time.time()
    result = timed(
        [str(BIN / "autograder"), "grade", "--course", str(course), "--jobs", str(jobs)], env
    )
    result["phases"] = [json.loads(line) for line in phases_file.read_text().splitlines()]
    result["launched"] = launched
    return result


def report_ours(ours: dict, n: int) -> None:
    records = ours["phases"]
    starts = sorted(r["at"] for r in records if r.get("event") == "notebook start")
    totals: dict[str, list[float]] = defaultdict(list)
    cpu_totals: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if "phase" in r:
            totals[r["phase"]].append(r["wall"])
            cpu_totals[r["phase"]].append(r["cpu"])
    per = {name: sum(values) / n for name, values in totals.items()}
    cpu = {name: sum(values) / n for name, values in cpu_totals.items()}
    for table in (per, cpu):
        inside = (
            table.get("kernel start", 0)
            + table.get("learner cells", 0)
            + table.get("test cells", 0)
        )
        table["nbgrader bookkeeping"] = table.get("autograde", 0) - inside
    print(
        f"\nautograder grade (with feedback): {ours['wall']:7.1f} s  "
        f"{ours['wall'] / n:.3f} s per submission  "
        f"{ours['cpu'] / n:.3f} core-s each  peak {ours['peak'] / 2**20:.0f} MiB, "
        f"per worker {ours['worker_peak'] / 2**20:.0f} MiB"
    )
    print(f"  start-up until the first notebook starts: {starts[0] - ours['launched']:.2f} s")
    print("    timeline (seconds after launch; each worker in the order it started):")
    for name in TIMELINE:
        times = sorted(r["at"] - ours["launched"] for r in records if r.get("event") == name)
        print(f"      {name:<20} " + "  ".join(f"{t:5.2f}" for t in times))
    for name in START_UP:
        walls = totals.get(name, [0.0])
        print(f"    {name:<22} {max(walls):.2f} s (longest of {len(walls)})")
    print(
        "  per notebook (mean seconds: wall, and the grading process's own CPU; "
        "the kernel's is not in it):"
    )
    for name in PER_NOTEBOOK:
        print(f"    {name:<22} {per.get(name, 0):.3f}  cpu {cpu.get(name, 0):.3f}")
    tail = sum(totals.get("outputs", [])) + sum(totals.get("report", []))
    print(f"  tail (grades.json, CSV, class report): {tail:.2f} s")
    own = sum(cpu.get(name, 0) for name in ("autograde", "feedback", "results")) * n
    kernels = cpu.get("kernel cpu", 0) * n
    phased = sum(cpu.get(name, 0) for name in [*START_UP, "outputs", "report"]) * n
    print(
        f"  core-seconds, {ours['cpu']:.1f} in all: grading processes per notebook {own:.1f}, "
        f"kernels {kernels:.1f}, start-up and tail {phased:.1f}, outside any phase "
        f"{ours['cpu'] - own - kernels - phased:.1f} (the sandboxes' fork servers importing "
        "torch and the lessons' libraries, the command's own imports)"
    )


def dealt_to(lessons: list[str], i: int) -> tuple[str, bool]:
    """Submission `i`: its lesson, round-robin over `lessons`, and whether its first answer is left
    undone (every other round, so that each lesson has both kinds)."""
    return lessons[i % len(lessons)], (i // len(lessons)) % 2 == 1


def submission(lesson: str, undone: bool):
    """The notebook of a synthetic submission: the reference answers, or all but the first."""
    first = next(iter(COURSE.lesson(lesson).reference_answers()))
    return COURSE.answered(lesson, {first: "raise NotImplementedError()"} if undone else {})


def lay_out(course: Path, lessons: list[str], n: int) -> None:
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    for folder in ("source", "notebooks"):
        shutil.copytree(REPO / folder, course / folder)
    for i in range(n):
        lesson, undone = dealt_to(lessons, i)
        target = course / "submitted" / f"learner{i:03d}" / lesson
        target.mkdir(parents=True)
        nbformat.write(submission(lesson, undone), target / f"{lesson}.ipynb")


def measure_floor(lessons: list[str], repeat: int = FLOOR_RUNS) -> dict[tuple, dict]:
    """For each notebook `submission` makes of the lessons (answered, and one answer undone), the
    median of `repeat` runs of forking a kernel from a warm fork server and running the notebook's
    learner cells in it, nothing else: wall seconds, and core-seconds (the kernel's own CPU, as
    its sandbox reports it when the kernel ends, as in a grading run's "kernel cpu", plus this
    process's side of the protocol). `cpu` is None if no kernel CPU was reported (a sandbox mode
    without a fork server, or a kernel whose end could not be reaped)."""
    from autograder import phases
    from autograder.sandbox.launcher import KernelLauncher
    from autograder.sandbox.limits import Sandboxing
    from autograder.trusted.executor import is_test_cell

    launcher = KernelLauncher(Sandboxing.resolve(COURSE.config))
    launcher.warm_up()
    notebooks = {}
    for lesson in lessons:
        for undone in (False, True):
            cells = submission(lesson, undone).cells
            learner = [c for c in cells if c.cell_type == "code" and not is_test_cell(c)]
            notebooks[lesson, undone] = learner
    runs: dict[tuple, list[tuple]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "phases.jsonl"
        saved = os.environ.get(phases.VARIABLE)
        os.environ[phases.VARIABLE] = str(records)
        try:
            for _ in range(repeat):
                for (lesson, undone), cells in notebooks.items():
                    records.write_text("")
                    wall, own = _run_cells(launcher, lesson, cells)
                    kernel_cpu = _kernel_cpu(records)
                    runs[lesson, undone].append(
                        (wall, None if kernel_cpu is None else own + kernel_cpu)
                    )
        finally:
            if saved is None:
                os.environ.pop(phases.VARIABLE, None)
            else:
                os.environ[phases.VARIABLE] = saved
            launcher.close()
    floor = {}
    for key, measured in runs.items():
        cpus = [cpu for _, cpu in measured if cpu is not None]
        floor[key] = {
            "wall": statistics.median(wall for wall, _ in measured),
            "cpu": statistics.median(cpus) if len(cpus) == len(measured) else None,
        }
    return floor


def _run_cells(launcher, lesson: str, cells: list) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds to fork a kernel and run `cells` in it."""
    from autograder.trusted.kernel import LearnerKernel

    files = {name: (COURSE.source / lesson / name).read_bytes()
             for name in COURSE.instructor_files(lesson)}  # fmt: skip
    start, own = time.perf_counter(), time.process_time()
    kernel = LearnerKernel(launcher, launcher.limits, files).start()
    try:
        for cell in cells:
            kernel.run_cell(cell)
    finally:
        kernel.close()
    return time.perf_counter() - start, time.process_time() - own


def _kernel_cpu(records: Path) -> float | None:
    """The kernel CPU the sandbox reported in `records`, None if it reported none."""
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    reported = [line["cpu"] for line in lines if line.get("phase") == "kernel cpu"]
    return sum(reported) if reported else None


def mix_floor(floor: dict, lessons: list[str], first: int, last: int) -> dict:
    """The floor's mean over submissions first..last-1, each the notebook `dealt_to` makes it."""
    dealt = [dealt_to(lessons, i) for i in range(first, last)]
    cpus = [floor[notebook]["cpu"] for notebook in dealt]
    return {
        "wall": statistics.fmean(floor[notebook]["wall"] for notebook in dealt),
        "cpu": None if None in cpus else statistics.fmean(cpus),
    }


def report_floor(floor: dict, lessons: list[str], n: int) -> None:
    print(
        "floor: fork a warm kernel, run the notebook's learner cells, nothing else "
        f"(median of {FLOOR_RUNS}; answered, and with the first answer undone)"
    )

    def figures(measured: dict) -> str:
        cpu = measured["cpu"]
        return f"{measured['wall']:.3f} s" + (f" {cpu:.3f} core-s" if cpu is not None else "")

    for lesson in lessons:
        print(f"  {lesson:<22} {figures(floor[lesson, False]):<24} {figures(floor[lesson, True])}")
    mixed = mix_floor(floor, lessons, 0, n)
    label = f"mean of {n} submissions"
    print(
        f"  {label:<22} {figures(mixed)}"
        + ("" if mixed["cpu"] is not None else "  (no kernel CPU was reported: a sandbox without "
                                               "a fork server, or a kernel not reaped)")
    )  # fmt: skip


def timed(argv: list[str], env: dict, cwd: Path | None = None) -> dict:
    """Wall seconds, core-seconds and peak memory (the tree's, and the largest worker's)."""
    counter = cputime.CpuTime()
    try:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=counter.enter,
        )
        peaks = {"tree": 0, "worker": 0}
        threading.Thread(target=_sample, args=(process, peaks), daemon=True).start()
        _, err = process.communicate()
        wall = time.perf_counter() - start
        cpu = counter.seconds()
    finally:
        counter.close()
    if process.returncode:
        raise SystemExit(f"{argv[0]} failed:\n{err.decode()[-3000:]}")
    return {"wall": wall, "cpu": cpu, "peak": peaks["tree"], "worker_peak": peaks["worker"]}


def _sample(process: subprocess.Popen, peaks: dict) -> None:
    known: set[int] = set()  # once a worker, always (an exiting process's cmdline is unreadable)
    while process.poll() is None:
        children, rss = _processes()
        samples = {"tree": [_members(process.pid, children)]}
        # each worker with its sandbox and kernels; a worker forked by another is its own
        known |= {pid for pid in samples["tree"][0] if pid not in known and _is_worker(pid)}
        workers = known & set(rss)
        samples["worker"] = [_members(worker, children, workers) for worker in workers]
        for name, groups in samples.items():
            for members in groups:
                counted = [pid for pid in members if pid in rss]
                if _still_running(counted):  # else the sample counted shared pages twice
                    peaks[name] = max(peaks[name], sum(rss[pid] for pid in counted))
        time.sleep(0.1)


def _still_running(pids: list[int]) -> bool:
    """Whether every process in `pids` is still running (not gone, not a zombie)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
        except (OSError, IndexError):
            return False
    return True


def _is_worker(pid: int) -> bool:
    """A grading worker: started by multiprocessing's spawn, or forked from one that was."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"multiprocessing.spawn" in f.read()
    except OSError:
        return False


def _processes() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Parent -> children, and pid -> proportional set size in bytes, of every process."""
    children: dict[int, list[int]] = {}
    pss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            with open(f"/proc/{entry}/smaps_rollup") as f:
                line = next(line for line in f if line.startswith("Pss:"))
            pss[int(entry)] = int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError, StopIteration):
            continue
    return children, pss


def _members(root: int, children: dict, others: set[int] = frozenset()) -> list[int]:
    """`root` and its descendants, leaving out the subtrees of `others`."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(child for child in children.get(pid, []) if child not in others)
    return found


if __name__ == "__main__":
    raise SystemExit(main())
