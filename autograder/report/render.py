"""The class report as one HTML page: inline CSS, images as data: URIs, no script, nothing fetched.

Jinja2 escapes every value it writes (autoescape), so learner names, file names, reasons and
messages reach the page as text; only the report's own HTML (the lesson sections quoted from the
release, rendered with their raw HTML escaped) is marked safe. Learner text also goes through
`plain`, which writes out invisible characters (a right-to-left override in a name would otherwise
turn the text around it).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from pathlib import Path

from .aggregate import HELP_AT, ClassReport
from .plots import score_histogram

TEMPLATE = "report.html.j2"


def render(report: ClassReport) -> str:
    """The page for `report`."""
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        duration=duration, when=when, points=points, median=statistics.median, plain=plain
    )
    environment.globals.update(percent=percent, help_at=HELP_AT, safe=Markup)
    histograms = {
        lesson.name: score_histogram(list(lesson.scores.values()), lesson.max_score, lesson.name)
        for lesson in report.lessons
        if lesson.scores
    }
    return environment.get_template(TEMPLATE).render(report=report, histograms=histograms)


def plain(value) -> str:
    """Learner text with control and format characters written out (line breaks and tabs kept)."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() or ch in "\n\t" else ascii(ch)[1:-1] for ch in text)


def duration(value: timedelta) -> str:
    """A duration as a person says it: '45 min', '2 h 05 min', '3 d 4 h'."""
    minutes = round(value.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def points(value: float) -> str:
    return f"{value:g}"
