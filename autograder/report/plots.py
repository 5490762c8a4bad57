"""The report's pictures: a lesson's score histogram as a PNG data: URI (matplotlib, no pyplot)."""

from __future__ import annotations

import base64
import io
import statistics

BINS = 10  # of 10 % each


def score_histogram(scores: list[float], max_score: float, lesson: str) -> str:
    """A data: URI of the histogram of `scores`, in % of `max_score`, with the median marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    percents = [100 * s / max_score if max_score else 0.0 for s in scores]
    figure = Figure(figsize=(5.2, 2.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    counts, _, bars = ax.hist(
        percents,
        bins=[100 * i / BINS for i in range(BINS + 1)],
        color="#4c72b0",
        edgecolor="white",
        linewidth=1.2,
    )
    ax.bar_label(bars, labels=[f"{c:g}" if c else "" for c in counts], fontsize=9, padding=1)
    title = f"{lesson}: {len(scores)} graded"
    if percents:
        median = statistics.median(percents)
        ax.axvline(median, color="#c44e52", linestyle="--", linewidth=1.5)
        title += f", median {median:.0f} % (dashed)"
    ax.set_xlim(0, 100)
    ax.set_ylim(0, max([*counts, 1]) * 1.25)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"score, % of {max_score:g} points", fontsize=10)
    ax.set_ylabel("learners", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
