"""nbgrader settings for this course; `autograder` reads the same file."""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "activation-functions"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "notebooks"  # the learner release, committed
c.CourseDirectory.solution_directory = "solutions"  # executed worked solutions, committed

# The learner sees a stub where the reference answer was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Worked solutions are safe to hand out after the deadline: no hidden tests, no timing noise.
c.GenerateSolution.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.Execute",
]
c.Execute.record_timing = False
c.Execute.timeout = 120

# A learner who deletes a graded cell still gets it graded (as 0) instead of "needs manual grade".
c.OverwriteCells.add_missing_cells = True

# Feedback: no script from learner output survives; hidden tests are removed before export.
c.HTMLExporter.sanitize_html = True
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Limits for grading learner code (see docs/threat-model.md): the defaults are in
# autograder/sandbox/limits.py, which documents each one; set here only what differs, e.g.
#   c.Limits.cell_timeout = 30          # seconds one learner cell may run
#   c.Isolation.mode = "bubblewrap"     # refuse to grade where bubblewrap cannot run
