"""Example messages without the learners in them: names, logins and e-mail addresses removed.

A failure message can quote what a learner's code printed or returned, or a path with their
login in it. The report shows one message per group as an example: the most common one that
names nobody (a message several learners share says the least about any of them), with any name
that remains replaced.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

PLACEHOLDER = "[learner]"
MAX_CHARS = 400


def anonymiser(names: set[str]) -> Callable[[str], str]:
    """A function that replaces each of `names` (a whole word, in any case) with a placeholder."""
    words = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not words:
        return lambda text: text
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words), re.IGNORECASE)
    return lambda text: pattern.sub(PLACEHOLDER, text)


def example(messages: list[str], strip: Callable[[str], str]) -> str:
    """One message for `messages`: the most common that names nobody, anonymised, clipped."""
    if not messages:
        return ""
    counts = Counter(messages)
    best = min(counts, key=lambda m: (strip(m) != m, -counts[m], len(m), m))
    text = strip(best)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"
