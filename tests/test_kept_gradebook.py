"""A worker's opens of a SQLite gradebook share one engine, and read and write as nbgrader's do.

`keep_gradebook_engines` changes nbgrader's module globals for the life of a process, so it is
tried in a child process, never in the one that runs the tests.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import sys
    import autograder
    from autograder.course import use_alembic_api
    from autograder.grading.converters import keep_gradebook_engines

    use_alembic_api()
    from nbgrader.api import Gradebook as nbgraders
    from nbgrader.preprocessors import saveautogrades

    url = sys.argv[1]
    with nbgraders(url, "course") as gb:  # the tables, as nbgrader makes them
        gb.add_student("before")
    keep_gradebook_engines()
    keep_gradebook_engines()  # a second call changes nothing
    from nbgrader import api

    assert saveautogrades.Gradebook is api.Gradebook is not nbgraders
    assert issubclass(api.Gradebook, nbgraders)
    engines = set()
    for name in ("first", "second", "third"):
        with api.Gradebook(url, "course") as gb:
            engines.add(id(gb.engine))
            assert gb.find_student("before").id == "before"
            gb.update_or_create_student(name, first_name=name.title())
    assert len(engines) == 1, engines
    with api.Gradebook("sqlite://", "course") as memory:  # another database: its own engine
        assert id(memory.engine) not in engines
    print("ok")
    """
)


def test_opens_share_one_engine_and_see_each_others_writes(tmp_path):
    database = tmp_path / "gradebook.db"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, f"sqlite:///{database}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-3000:]
    with sqlite3.connect(database) as connection:  # committed, for any other process to read
        rows = connection.execute("SELECT id, first_name FROM student ORDER BY id").fetchall()
    assert rows == [("before", None), ("first", "First"), ("second", "Second"), ("third", "Third")]
