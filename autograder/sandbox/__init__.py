"""Where learner code runs: bubblewrap sandboxes with limits, started one per kernel or forked.

Below every command and both sides of the trust boundary: nothing here reads notebooks or
grades; it starts, reaches and ends learner processes.
"""
