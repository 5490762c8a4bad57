"""A real PostgreSQL server for a test: Debian's binaries, a throwaway cluster, a loopback port.

initdb refuses to run as root, so the cluster belongs to the `postgres` user (Debian's package
creates it) and every server command runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

MAX_CONNECTIONS = 100  # PostgreSQL's default, stated so the tests' bound is checked against it


def binaries() -> Path | None:
    """Debian's newest PostgreSQL bin folder, if PostgreSQL is installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why a server cannot be started here, or None."""
    if binaries() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; CI installs it)"
    if os.geteuid() != 0:
        return "starting a throwaway PostgreSQL as the `postgres` user needs root (CI runs as root)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no `postgres` user (Debian's postgresql package creates it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(database: str = "fleet"):
    """Start a server, create `database`; yields its libpq URL (postgresql://postgres@...)."""
    bin_dir = binaries()
    user = pwd.getpwnam("postgres")
    folder = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", free_port()

    def as_postgres(*argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=False,
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=300,
        )
        assert done.returncode == 0, f"{argv[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    as_postgres(
        str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"
    )
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
        f"-c max_connections={MAX_CONNECTIONS} -c fsync=off"
    )
    as_postgres(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), database)
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(folder, ignore_errors=True)


def new_database(dsn: str) -> str:
    """A new, empty database on the server of `dsn`; its URL."""
    import secrets

    import psycopg

    name = f"fleet_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + "/" + name
