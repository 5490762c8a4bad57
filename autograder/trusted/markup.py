"""Nothing a learner wrote may run in the browser of whoever reads the autograded notebook.

nbgrader's feedback template renders markdown cells without sanitising them, and the
formgrader shows autograded notebooks to instructors. This preprocessor, run in the autograde
step, turns every cell the learner authored as markdown or raw text into a fenced code block:
the words stay readable, no HTML, link or script in them is interpreted. Cells the instructor
wrote (nbgrader's read-only cells, restored from the gradebook) are left as they are.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor


def _instructor_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked")) and not meta.get("solution")


def fenced(text: str) -> str:
    """`text` as a fenced code block that no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+|~+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


class NeutraliseLearnerMarkup(NbGraderPreprocessor):
    """Learner-written markdown and raw cells become literal text."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type in ("markdown", "raw") and not _instructor_cell(cell):
            cell.cell_type = "markdown"
            cell.source = fenced(cell.source)
            cell.pop("attachments", None)
            cell.metadata.pop("format", None)
        return cell, resources
