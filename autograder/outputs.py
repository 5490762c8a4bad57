"""Cell outputs as a person reads them, independent of how a kernel happened to send them."""

from __future__ import annotations

import nbformat


def ordered_streams(outputs: list) -> list:
    """Stream outputs merged into one stdout then one stderr per run between other outputs.

    How a kernel's prints are cut into messages, and whether a warning lands before or after a
    print, depends on timing (on a busy machine one `print` can arrive in two pieces); this order
    does not.
    """
    ordered, run = [], {}
    for output in [*outputs, None]:
        if output is not None and output.get("output_type") == "stream":
            run[output["name"]] = run.get(output["name"], "") + output["text"]
            continue
        for name in ("stdout", "stderr"):
            if run.get(name):
                ordered.append(nbformat.v4.new_output("stream", name=name, text=run[name]))
        run = {}
        if output is not None:
            ordered.append(output)
    return ordered
