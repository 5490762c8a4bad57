"""The one procrastinate task of the fleet: grade a (learner, lesson) payload on this machine.

The task runs on the worker's event loop and only hands the payload to the machine's grading
slots (`machine.Machine`), which grade in their own processes: test cells' time limits use
SIGALRM, which only a process's main thread receives, so nothing is graded in a loop or thread.
"""

from __future__ import annotations

import procrastinate

GRADE_TASK = "autograder.grade"


def register(app: procrastinate.App) -> None:
    """Add the grading task to `app` (the enqueuer defers it; `autograder worker` runs it)."""

    @app.task(name=GRADE_TASK, pass_context=True)
    async def grade(context: procrastinate.JobContext, payload: dict) -> str:
        machine = context.additional_context["machine"]
        return await machine.grade(context.job.id, payload)
