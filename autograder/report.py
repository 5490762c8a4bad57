"""What the instructor sees in the terminal: progress while grading, then a summary."""
from __future__ import annotations

import contextlib
import sys
from collections import defaultdict
from typing import Callable, Iterator

from rich.console import Console
from rich.panel import Panel
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

# Piped into a file or a CI log, rich would assume 80 columns and squeeze the score table.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@contextlib.contextmanager
def progress_bar(total: int, *, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A bar of submissions graded / total, with rate and time left; yields `advance()`."""
    if not enabled:
        yield lambda: None
        return
    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("submissions"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("grading", total=total, rate="")

        def advance() -> None:
            progress.advance(task)
            done = progress.tasks[task].completed
            elapsed = progress.tasks[task].elapsed or 0
            if done and elapsed:
                progress.update(task, rate=f"{elapsed / done:.1f} s each")

        yield advance


def warn_unsandboxed() -> None:
    console.print(Panel(
        "[bold]bubblewrap is not available: learner code will run as you, with resource limits only.[/]\n"
        "A hostile notebook could read or change your files, including the gradebook and hidden tests.\n"
        "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or grade on a Linux machine that has it.",
        title="WARNING: NO SANDBOX", border_style="red"))


def print_summary(outcome, course) -> None:
    results = outcome.results
    lessons = sorted({r.assignment for r in results})
    by_student: dict = defaultdict(dict)
    for r in results:
        by_student[r.student][r.assignment] = r
    table = Table(title="Scores", show_lines=False)
    table.add_column("learner")
    for lesson in lessons:
        table.add_column(lesson, justify="right", no_wrap=True)
    table.add_column("total", justify="right")
    for student in sorted(by_student):
        row, total, top = [student], 0.0, 0.0
        for lesson in lessons:
            r = by_student[student].get(lesson)
            if r is None:
                row.append("[dim]-[/]")
            elif r.status == "ungradable":
                row.append("[red]✗[/]")
                top += r.max_score
            else:
                row.append(f"{_num(r.score)}/{_num(r.max_score)}")
                total += r.score
                top += r.max_score
        row.append(f"[bold]{_num(total)}/{_num(top)}[/]")
        table.add_row(*row)
    graded = [r for r in results if r.status == "graded"]
    if graded:
        averages = ["[italic]average[/]"]
        for lesson in lessons:
            scores = [r.score / r.max_score for r in graded if r.assignment == lesson and r.max_score]
            averages.append(f"{100 * sum(scores) / len(scores):.0f}%" if scores else "-")
        averages.append("")
        table.add_row(*averages, style="dim")
    console.print(table)
    bad = [r for r in results if r.status == "ungradable"]
    if bad:
        console.print(f"\n[bold red]✗ {len(bad)} ungradable[/] (each learner's reason is in grades.json and below):")
        for r in bad:
            console.print(f"  {r.student} / {r.assignment}/{r.notebook or '?'}: {r.reason}")
            if r.detail:
                console.print(f"    [dim]grader error (for you, not the learner): {r.detail}[/]")
    noted = [r for r in results if r.notes]
    if noted:
        console.print(f"\n[bold]{len(noted)} graded with remarks:[/]")
        for r in noted:
            for note in r.notes:
                console.print(f"  {r.student} / {r.assignment}: {note}")
    console.print(f"\n{len(results)} notebooks ({len(graded)} graded, {len(bad)} ungradable) in "
                  f"{outcome.seconds:.1f} s; isolation: {outcome.isolation}")
    for name, path in outcome.paths.items():
        console.print(f"  {name:<11} {path}")


def _num(value: float) -> str:
    return f"{value:g}"
