"""Do environment.yml, pyproject.toml and constraints.txt describe the same environment?"""

import re
import tomllib

import yaml
from conftest import REPO

CONDA_NAMES = {"pytorch-cpu": "torch"}  # conda-forge package -> PyPI distribution


def _split(requirement: str) -> tuple[str, str]:
    """(name, version spec); extras such as psycopg's [binary] are PyPI's alone, conda has none."""
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^]]*\])?\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = dict(_split(r) for r in pyproject["project"]["dependencies"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {}
    for entry in env["dependencies"]:
        if isinstance(entry, str):
            name, spec = _split(entry.split("#")[0])
            if name not in ("python", "pip"):
                conda[CONDA_NAMES.get(name, name)] = spec
    assert conda == wanted
    pip_section = next(e["pip"] for e in env["dependencies"] if isinstance(e, dict))
    assert "-e ." in pip_section, "conda users need the autograder package itself"


def test_constraints_pin_every_dependency_exactly():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    needed = [
        _split(r)[0]
        for r in pyproject["project"]["dependencies"]
        + pyproject["project"]["optional-dependencies"]["test"]
    ]
    missing = [name for name in needed if name not in pins]
    assert not missing, f"not pinned in constraints.txt: {missing}"
    assert pins["torch"] == "2.13.0", "every learner must see the same numbers: pin torch exactly"


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_code = readme.split("```")[1]
    assert "make demo" in first_code and "make test" in first_code


def test_the_package_learners_install_holds_the_checks_and_nothing_of_the_course(tmp_path):
    """Visible test cells import autograder.checks, so learners install this package: its wheel
    must hold the package and none of source/, solutions/ or the known answers."""
    import shutil
    import subprocess
    import sys
    import zipfile

    copy = tmp_path / "course"
    shutil.copytree(
        REPO,
        copy,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "artifacts",
            "*.egg-info",
            "__pycache__",
            "gradebook.db*",
            ".demo",
            "lab",
        ),
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(copy),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/checks.py" in names
    outside = [n for n in names if not n.startswith("autograder/") and ".dist-info/" not in n]
    assert outside == [], f"the wheel holds course files: {outside[:5]}"
