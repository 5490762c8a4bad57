"""Does the figure a test cell draws for a learner's feedback show their plot as they drew it?"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from known_answers import run_in_process, source_with

matplotlib.use("Agg")


@pytest.mark.parametrize(
    "decision_line", ["ax.axhline(0.5)", "ax.hlines(0.5, -8, 8)", "ax.plot([-8, 8], [0.5, 0.5])"]
)
def test_a_horizontal_line_is_drawn_across_the_plot_not_as_a_stub(decision_line):
    """axhline's x data are axes fractions (0 to 1): drawn as data, they make a stub near z = 0."""
    answer = (
        "def plot_sigmoid(z):\n"
        "    grid = torch.linspace(-8, 8, 200)\n"
        "    fig, ax = plt.subplots()\n"
        "    ax.plot(grid, torch.sigmoid(grid))\n"
        f"    {decision_line}\n"
        "    ax.plot([z], [torch.sigmoid(torch.tensor(z)).item()], 'o')\n"
        "    ax.set(title='sigmoid', xlabel='z', ylabel='p')\n"
        "    return ax\n"
    )
    drawn = {}
    outcomes = run_in_process(source_with("01-lemur", {"plot-sigmoid": answer}), drawn)
    try:
        assert outcomes["plot-sigmoid-test"].passed, outcomes["plot-sigmoid-test"].message
        feedback = [
            ax
            for figure in drawn["plot-sigmoid-test"]
            for ax in figure.axes
            if ax.get_title().startswith("Your plot_sigmoid")
        ]
        assert len(feedback) == 1, "the test draws the learner's plot once for the feedback"
        ax = feedback[0]
        ax.figure.canvas.draw()
        at_half = [
            line
            for line in ax.lines
            if len(line.get_ydata()) and np.allclose(line.get_ydata(), 0.5)
        ]
        assert len(at_half) == 1, "the learner's decision line is in the feedback figure"
        points = np.column_stack([at_half[0].get_xdata(), at_half[0].get_ydata()]).astype(float)
        left, right = sorted(at_half[0].get_transform().transform(points)[:, 0])[:: len(points) - 1]
        assert left <= ax.bbox.x0 + 1 and right >= ax.bbox.x1 - 1, "the line spans the whole plot"
    finally:
        for figure in {f for figures in drawn.values() for f in figures}:
            matplotlib.pyplot.close(figure)
