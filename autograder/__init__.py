"""Activation functions with PyTorch: course tooling around nbgrader (build, sandboxed grading, checks)."""
