"""What the instructor sees in the terminal: progress while grading, then a summary.

Every string a learner controls (file and folder names, reasons and messages that quote them)
goes through `shown`, which makes it a rich `Text` (never parsed as markup) with control
characters made visible, so a name can neither style the terminal nor move its cursor.
"""

from __future__ import annotations

import contextlib
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,  # fmt: skip
)
from rich.table import Table
from rich.text import Text

PIPED_WIDTH = 120


def make_console(file=None) -> Console:
    """A console for `file` (stdout); piped into a file or a CI log it is 120 columns wide."""
    file = file or sys.stdout
    width = None if getattr(file, "isatty", lambda: False)() else PIPED_WIDTH
    return Console(file=file, highlight=False, width=width)


def visible(text) -> str:
    """`text` with every control character written out (`\\x1b`, `\\n`)."""
    text = "" if text is None else str(text)
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def shown(text, style: str = "") -> Text:
    """Learner-controlled text, safe to print: plain text, control characters visible."""
    return Text(visible(text), style=style)


def line(*parts) -> Text:
    """A line of markup strings (ours) and Texts (from `shown`), joined."""
    return Text.assemble(*(Text.from_markup(p) if isinstance(p, str) else p for p in parts))


@contextlib.contextmanager
def progress_bar(console: Console, total: int) -> Iterator[Callable[[], None]]:
    """A bar of submissions graded / total, with rate and time left; yields `advance()`."""
    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("submissions"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("grading", total=total, rate="")

        def advance() -> None:
            progress.advance(task)
            done = progress.tasks[task].completed
            elapsed = progress.tasks[task].elapsed or 0
            if done and elapsed:
                progress.update(task, rate=f"{elapsed / done:.1f} s each")

        yield advance


def warn_unsandboxed(console: Console) -> None:
    console.print(Panel(
        "[bold]bubblewrap is not available: learner code will run as you, with resource limits "
        "only.[/]\nA hostile notebook could read or change your files, including the gradebook "
        "and hidden tests.\nInstall bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or "
        "grade on a Linux machine that has it.",
        title="WARNING: NO SANDBOX", border_style="red",
    ))  # fmt: skip


def print_summary(console: Console, outcome, *, verbose: bool = False) -> None:
    """The score table, the ungradable notebooks with their reasons, remarks, and where files
    are."""
    results = outcome.results
    lessons = sorted({r.assignment for r in results})
    by_student: dict = defaultdict(dict)
    for r in results:
        by_student[r.student][r.assignment] = r
    table = Table(title="Scores", show_lines=False)
    table.add_column("learner")
    for lesson in lessons:
        table.add_column(shown(lesson), justify="right", no_wrap=True)
    table.add_column("total", justify="right")
    for student in sorted(by_student):
        row, total, top = [shown(student)], 0.0, 0.0
        for lesson in lessons:
            r = by_student[student].get(lesson)
            if r is None:
                row.append("[dim]-[/]")
            elif r.status == "ungradable":
                row.append("[red]✗[/]")
                top += r.max_score
            else:
                row.append(f"{r.score:g}/{r.max_score:g}")
                total += r.score
                top += r.max_score
        row.append(f"[bold]{total:g}/{top:g}[/]")
        table.add_row(*row)
    graded = [r for r in results if r.status == "graded"]
    if graded:
        averages = ["[italic]average[/]"]
        for lesson in lessons:
            scores = [
                r.score / r.max_score for r in graded if r.assignment == lesson and r.max_score
            ]
            averages.append(f"{100 * sum(scores) / len(scores):.0f}%" if scores else "-")
        averages.append("")
        table.add_row(*averages, style="dim")
    console.print(table)
    bad = [r for r in results if r.status == "ungradable"]
    if bad:
        console.print(f"\n[bold red]✗ {len(bad)} ungradable[/] (each learner's reason is in "
                      "grades.json and below):")  # fmt: skip
        for r in bad:
            console.print(line("  ", shown(r.student), " / ", shown(r.assignment), "/",
                               shown(r.notebook or "?"), ": ", shown(r.reason)))  # fmt: skip
            if r.detail and (verbose or r.grader_error):
                console.print(
                    line(
                        "    ", shown("grader error (for you, not the learner): " + r.detail, "dim")
                    )
                )
    noted = [r for r in results if r.notes]
    if noted:
        console.print(f"\n[bold]{len(noted)} graded with remarks:[/]")
        for r in noted:
            for note in r.notes:
                console.print(
                    line("  ", shown(r.student), " / ", shown(r.assignment), ": ", shown(note))
                )
    flagged = defaultdict(set)  # a test cell's doing, the same for every learner: said once
    for r in results:
        if r.status == "graded" and r.detail:
            for text in r.detail.splitlines():
                flagged[(r.assignment, r.notebook, text)].add(r.student)
    if flagged:
        console.print("\n[bold]For you, not the learners[/] (see docs/nbgrader-compatibility.md):")
        for (assignment, notebook, text), students in sorted(flagged.items()):
            count = f" ({len(students)} notebook{'s' if len(students) > 1 else ''})"
            console.print(line("  ", shown(assignment), "/", shown(notebook), ": ", shown(text),
                               count))  # fmt: skip
    if outcome.interrupted:
        console.print(
            f"\n[bold yellow]Interrupted:[/] {len(results)} notebooks were graded and kept "
            "(grades.json, gradebook, feedback); run the same command again to grade the rest."
        )
    console.print(f"\n{len(results)} notebooks ({len(graded)} graded, {len(bad)} ungradable) in "
                  f"{outcome.seconds:.1f} s; isolation: {outcome.isolation}")  # fmt: skip
    for name, path in outcome.paths.items():
        console.print(line(f"  {name:<11} ", shown(path)))
    if outcome.grader_errors:
        console.print(
            f"\n[bold red]{len(outcome.grader_errors)} notebooks hit a grader error[/] "
            "(details above); they are marked ungradable until graded again."
        )
