"""Answer the grader's probes inside the learner's kernel: a name's value, a call, a deletion.

Installed by the grader's bootstrap with `wire` set to the kernel's copy of the wire module.
The answer is published as one display message of the wire's MIME type; the grader decodes it
and trusts nothing in it. A name a test cell deletes is kept aside here, so that the test's own
copy of the learner's object still reaches it and a test cell can put it back, as in nbgrader.

Figures a learner's function makes while called by one test cell stay open until that cell is
over (the next test cell's first call, or the next learner cell), as under Validate, where the
test cell runs in this kernel: a function that draws on the current figure instead of starting
its own then piles its second call's drawing onto its first, in both places. They are never
shown as output.
"""

import json
import sys

wire = None  # the wire module, set by the bootstrap
deleted = {}  # learner names a test cell deleted -> their objects
kept = set()  # figure numbers that calls of the running test cell made
running = [None]  # which test cell the kept figures belong to
PROBE_PREFIX = "__import__('sys').modules["  # how a probe cell starts (the grader's PROBE)


def close_kept():
    """Close the figures the calls of the last test cell made."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in sorted(kept) if pyplot else ():
        pyplot.close(number)
    kept.clear()


def before_cell(info):
    """IPython's pre_run_cell hook: a learner cell starts, so the last test cell is over."""
    if not str(getattr(info, "raw_cell", "")).startswith(PROBE_PREFIX):
        close_kept()
        running[0] = None


def answer(request_text):
    from IPython import get_ipython
    from IPython.display import publish_display_data

    namespace = get_ipython().user_ns
    request = json.loads(request_text)
    if request.get("cell") != running[0]:
        close_kept()
        running[0] = request.get("cell")
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot else set()
    try:
        op = request["op"]
        if op == "fetch":
            name = request["name"]
            result = wire.encode(namespace[name], [name]) if name in namespace else {"t": "missing"}
        elif op == "has":
            result = {"t": "scalar", "v": request["name"] in namespace}
        elif op == "delete":
            name, found = request["name"], request["name"] in namespace
            if found:
                deleted[name] = namespace.pop(name)
            result = {"t": "scalar", "v": found}
        elif op == "bind":
            namespace[request["name"]] = resolve(namespace, request["ref"])
            deleted.pop(request["name"], None)
            result = {"t": "scalar", "v": True}
        else:
            target = resolve(namespace, request["ref"])
            args = [wire.decode(a) for a in request["args"]]
            kwargs = {k: wire.decode(v) for k, v in request["kwargs"].items()}
            before = [wire.state(a) for a in args] if request.get("compare") else None
            result = wire.encode(target(*args, **kwargs))
            if before is not None:  # which arguments the call changed, as checks.call asks
                changed = [i for i, a in enumerate(args) if wire.state(a) != before[i]]
                result = {"t": "compared", "value": result, "changed": changed}
    except BaseException as error:
        result = {"t": "raised", "ename": type(error).__name__, "evalue": str(error)[:2000]}
    pyplot = sys.modules.get("matplotlib.pyplot")
    made = set(pyplot.get_fignums()) - figures if pyplot else set()
    if made:
        kept.update(made)
        inline = sys.modules.get("matplotlib_inline.backend_inline")
        if inline is not None:
            inline.show._draw_called = False  # figures the grader's calls made are data, not output
    publish_display_data({wire.MIME: result})


def resolve(namespace, ref):
    """The object at `ref` (a name, then attributes); a deleted name still reaches its object."""
    target = namespace[ref[0]] if ref[0] in namespace else deleted[ref[0]]
    for step in ref[1:]:
        target = getattr(target, step)
    return target
