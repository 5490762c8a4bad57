"""Answer the grader's probes inside the learner's kernel: a name's value, a call, a deletion.

Installed by the grader's bootstrap with `wire` set to the kernel's copy of the wire module.
The answer is published as one display message of the wire's MIME type; the grader decodes it
and trusts nothing in it. A name a test cell deletes is kept aside here, so that the test's own
copy of the learner's object still reaches it and a test cell can put it back, as in nbgrader.
"""

import json
import sys

wire = None  # the wire module, set by the bootstrap
deleted = {}  # learner names a test cell deleted -> their objects


def answer(request_text):
    from IPython import get_ipython
    from IPython.display import publish_display_data

    namespace = get_ipython().user_ns
    request = json.loads(request_text)
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
            result = wire.encode(target(*args, **kwargs))
    except BaseException as error:
        result = {"t": "raised", "ename": type(error).__name__, "evalue": str(error)[:2000]}
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in set(pyplot.get_fignums()) - figures if pyplot else ():
        pyplot.close(number)  # figures the grader's call made are data, not output to render
    publish_display_data({wire.MIME: result})


def resolve(namespace, ref):
    """The object at `ref` (a name, then attributes); a deleted name still reaches its object."""
    target = namespace[ref[0]] if ref[0] in namespace else deleted[ref[0]]
    for step in ref[1:]:
        target = getattr(target, step)
    return target
