"""Code that runs inside the sandbox, next to learner code: it imports nothing from `autograder`
(the package is not visible there) and the grader trusts nothing it produces."""
