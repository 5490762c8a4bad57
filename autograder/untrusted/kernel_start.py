"""Start an IPython kernel whose own messages stay within what the grader reads.

The grader's sockets refuse any message larger than `c.Limits.answer_size` (ZeroMQ then drops
the connection, and with it the rest of the cell's messages). An honest kernel must never send
one: this module, run inside the sandbox, makes the kernel replace the content of an oversized
output with a short notice before it is sent. A kernel whose learner code removes the guard only
delays its own notebook. Self-contained: it runs where the autograder package is not visible.
"""

import os
import sys

LIMIT_VARIABLE = "AUTOGRADER_MESSAGE_LIMIT"
OUTPUTS = ("stream", "display_data", "execute_result", "update_display_data", "error")
HEADROOM = 64 * 1024  # header, signature and framing of a message


def guard_messages(limit):
    """Make every Session of this process shrink output messages larger than `limit` bytes."""
    from jupyter_client.session import Session

    send = Session.send
    content_limit = max(1024, int(limit) - HEADROOM)

    def bounded_send(self, stream, msg_or_type, content=None, *args, **kwargs):
        if isinstance(msg_or_type, dict):
            kind, body = (
                msg_or_type.get("msg_type") or msg_or_type.get("header", {}).get("msg_type"),
                msg_or_type.get("content"),
            )
        else:
            kind, body = msg_or_type, content
        if isinstance(body, dict):
            size = len(self.pack(body))
            if size > content_limit:
                if kind not in OUTPUTS:
                    return None  # widget and other traffic: the grader keeps none of it
                body = shrunk(kind, body, size)
                if isinstance(msg_or_type, dict):
                    msg_or_type["content"] = body
                else:
                    content = body
        return send(self, stream, msg_or_type, content, *args, **kwargs)

    Session.send = bounded_send


def shrunk(kind, content, size):
    notice = f"[an output of {size} bytes, more than the grader reads, was left out]"
    if kind == "stream":
        return {"name": content.get("name", "stdout"), "text": notice + "\n"}
    if kind == "error":
        return {
            "ename": str(content.get("ename", "Error"))[:200],
            "evalue": notice,
            "traceback": [notice],
        }
    body = {"data": {"text/plain": notice}, "metadata": {}}
    if kind == "execute_result":
        body["execution_count"] = content.get("execution_count")
    if "transient" in content:
        body["transient"] = {}
    return body


def no_debugger():
    """No one attaches a debugger to a grading kernel: with debugpy unimportable, ipykernel
    starts without one, which spares every sandbox some 0.1 s of imports and 7 MiB."""
    sys.modules["debugpy"] = None


def lighten(shell):
    """Render each error once: IPython renders a second copy of every traceback for its history,
    which no one reads in a grading kernel (it keeps the error's name and value here). With torch
    imported, rendering a traceback costs some 10 ms of CPU, a large share of what a kernel whose
    learner left an answer undone spends. The traceback the learner reads is unchanged."""
    if hasattr(shell, "_format_exception_for_storage"):

        def name_and_value(exception, *args, **kwargs):
            return {"ename": type(exception).__name__, "evalue": str(exception), "traceback": []}

        shell._format_exception_for_storage = name_and_value


def skip_unread_messages(kernel):
    """Spare each execute two round trips to the kernel's IOPub thread and a message no one reads.

    At the end of every execute ipykernel flushes stdout and stderr, and each flush waits for
    the IOPub thread even when nothing was printed: a third of what a probe costs the kernel.
    Here a stream with nothing written since its last flush returns at once; anything printed
    still reaches the grader before the kernel reports itself idle, since the IOPub thread sends
    in order. And the kernel no longer echoes each request's code back (`execute_input`), which
    the grader ignores."""
    from ipykernel.iostream import OutStream

    flush = OutStream.flush

    def flush_if_written(self):
        if getattr(self, "_buffers", True):  # another ipykernel: flush as it does
            flush(self)

    OutStream.flush = flush_if_written
    kernel._publish_execute_input = lambda code, parent, execution_count: None


def trim(app):
    """What a grading kernel leaves out once initialised, however it was started (forked by the
    fork server or on its own)."""
    lighten(app.shell)
    skip_unread_messages(app.kernel)


def main():
    guard_messages(int(os.environ[LIMIT_VARIABLE]))
    no_debugger()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv[0] = "ipykernel_launcher"
    app = IPKernelApp.instance()
    app.initialize()
    trim(app)
    app.start()


if __name__ == "__main__":
    main()
