"""Grading a class: intake of submissions, the gradebook, worker processes, the output files.

Above the trust boundary: it uses `trusted` to run notebooks and `sandbox` through it, and is
used by the commands (`autograder grade`, the queue's workers).
"""
