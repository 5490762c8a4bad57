"""Does an nbgrader course's configuration mean here what it means to nbgrader?"""

from traitlets.config import Config

from autograder.course import load_config
from autograder.sandbox.limits import Limits, Sandboxing


def test_settings_under_names_nbgrader_calls_outdated_still_apply(tmp_path):
    """nbgrader moves AutogradeApp.* to Autograde.* (and the like) and warns: so does the grader."""
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.AutogradeApp.permissions = 644\nc.NbGrader.course_id = 'old-style'\n"
    )
    config = load_config(tmp_path)
    assert config.Autograde.permissions == 644
    assert config.CourseDirectory.course_id == "old-style"


def test_a_configuration_in_current_names_is_read_as_written(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Autograde.permissions = 6\n")
    assert load_config(tmp_path) == Config({"Autograde": {"permissions": 6}})


def test_nbgraders_cell_timeout_limits_learner_cells_and_test_cells_when_stricter():
    limits = Sandboxing.resolve(Config({"Execute": {"timeout": 2}})).limits
    assert (limits.cell_timeout, limits.test_timeout) == (2, 2)
    default = Limits()
    config = Config({"Execute": {"timeout": 600}, "Limits": {"test_timeout": 30}})
    limits = Sandboxing.resolve(config).limits
    assert (limits.cell_timeout, limits.test_timeout) == (default.cell_timeout, 30)
    limits = Sandboxing.resolve(Config({"Execute": {"timeout": None}})).limits
    assert limits.cell_timeout == default.cell_timeout
    assert limits.test_timeout == default.test_timeout


def test_the_courses_autograde_preprocessors_run_with_the_trusted_step_in_executes_place():
    """A course's own list is kept as written; markup is made inert only after scoring."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import IgnorePattern, LimitOutput, SaveAutoGrades

    from autograder.grading.worker import autograde_pipeline
    from autograder.trusted.markup import NeutraliseLearnerMarkup

    trusted = object()
    default = autograde_pipeline(list(Autograde().autograde_preprocessors), trusted)
    assert default[0] is trusted and IgnorePattern in default and LimitOutput in default
    assert default[default.index(SaveAutoGrades) + 1] is NeutraliseLearnerMarkup
    execute, save = "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.SaveAutoGrades"
    custom = ["mycourse.Checks", execute, save]
    expected = ["mycourse.Checks", trusted, save, NeutraliseLearnerMarkup]
    assert autograde_pipeline(custom, trusted) == expected
