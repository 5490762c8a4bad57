"""Answer the grader's probes inside the learner's kernel: the value of a name, or a call.

Installed by the grader's bootstrap with `wire` set to the kernel's copy of the wire module.
The answer is published as one display message of the wire's MIME type; the grader decodes it
and trusts nothing in it.
"""

import json
import sys

wire = None  # the wire module, set by the bootstrap


def answer(request_text):
    from IPython import get_ipython
    from IPython.display import publish_display_data

    namespace = get_ipython().user_ns
    request = json.loads(request_text)
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot else set()
    try:
        if request["op"] == "fetch":
            name = request["name"]
            result = wire.encode(namespace[name], [name]) if name in namespace else {"t": "missing"}
        else:
            target = namespace[request["ref"][0]]
            for step in request["ref"][1:]:
                target = getattr(target, step)
            args = [wire.decode(a) for a in request["args"]]
            kwargs = {k: wire.decode(v) for k, v in request["kwargs"].items()}
            result = wire.encode(target(*args, **kwargs))
    except BaseException as error:
        result = {"t": "raised", "ename": type(error).__name__, "evalue": str(error)[:2000]}
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in set(pyplot.get_fignums()) - figures if pyplot else ():
        pyplot.close(number)  # figures the grader's call made are data, not output to render
    publish_display_data({wire.MIME: result})
