"""The grader's side of the trust boundary: code here never runs learner code and never unpickles;
what comes from the learner's kernel is decoded by `wire` and checked before anything uses it."""
