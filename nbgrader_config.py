"""nbgrader settings for this course; `autograder` reads the same file."""
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "activation-functions"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "notebooks"  # the learner release, committed
c.CourseDirectory.solution_directory = "solutions"  # executed worked solutions, committed

# The learner sees a stub where the reference answer was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Worked solutions are safe to hand out after the deadline: no hidden tests, no timing noise.
# The kernel sends printed text in pieces that depend on timing: coalescing them after Execute
# makes a cell that prints while it works (or a busy machine) give the same notebook every time.
c.GenerateSolution.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.Execute",
    "nbconvert.preprocessors.CoalesceStreamsPreprocessor",
]
c.CoalesceStreamsPreprocessor.enabled = True  # nbconvert registers it switched off
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

# Limits for grading learner code (see docs/threat-model.md). Sizes in bytes, times in seconds.
c.Sandbox.cell_timeout = 60
c.Sandbox.notebook_timeout = 300
c.Sandbox.memory = 2 * 1024**3
c.Sandbox.cpu_time = 300
c.Sandbox.processes = 128
c.Sandbox.file_size = 64 * 1024**2
c.Sandbox.scratch_size = 256 * 1024**2
c.Sandbox.output_size = 1024**2
