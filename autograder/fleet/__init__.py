"""Grading past one machine: PostgreSQL as nbgrader's gradebook and as a durable queue of jobs.

`enqueue` takes a class in on the instructor's machine and queues one job per (learner, lesson);
`machine` is `autograder worker`, run on every grading machine with its own checkout of the
course; `collect` writes what they graded into the instructor's course folder; `serve` grades
each submission as it arrives in nbgrader's exchange. docs/fleet.md explains the design.
"""
