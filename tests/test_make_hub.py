"""`make hub`: does it start the demo class's hub, print its URL and logins that work, stop on
Ctrl-C, and does `make hub-clean` remove the demo accounts?

The Makefile's own targets run, with a temporary HUB_ROOT, a free port, accounts named
`hub-<random>-...` (so a `make hub` someone is running is not touched) and the servers'
environment the hub test builds (`.hub-env`) instead of a new one.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, ctrl_c_reaches_it

sys.path.insert(0, str(REPO / "deploy" / "hub"))
import launch

LOGIN = re.compile(r"^\s*(instructor|learner)\s+user (\S+)\s+password (\S+)\s*$")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def log_in(url: str, user: str, password: str) -> tuple[int, str]:
    """POST the hub's login form (with its XSRF token) as a browser would; status and Location."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    form = opener.open(f"{url}/hub/login", timeout=60).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form)[1]
    data = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    try:
        response = opener.open(f"{url}/hub/login?next=/hub/home", data=data, timeout=60)
        return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def _alive(root: Path) -> bool:
    """Does the process group of the JupyterHub that `make hub` started under `root` still exist?"""
    pid_file = root / "state" / "jupyterhub.pid"
    if not pid_file.is_file():
        return False
    try:
        os.killpg(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def _skip_without_root() -> None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("the hub makes OS accounts: needs root on Linux (CI runs as root)")


def _skip_without_a_hub() -> None:
    _skip_without_root()
    if shutil.which(launch.PROXY) is None:
        pytest.skip(f"`{launch.PROXY}` is not installed (.ci/run installs it)")


def test_docs_name_what_make_hub_makes():
    """Do the README and docs/hub.md name the accounts, folder and port `make hub` really uses?"""
    makefile = (REPO / "Makefile").read_text()
    assert f"HUB_ROOT ?= {launch.DEFAULT_ROOT}" in makefile and "HUB_PORT ?= 8000" in makefile
    names = launch.demo_names()
    for doc in (REPO / "README.md", REPO / "docs" / "hub.md"):
        text = doc.read_text()
        assert str(launch.DEFAULT_ROOT) in text, doc
        for name in names["instructors"] + names["learners"]:
            assert name in text, (doc, name)


@pytest.mark.slow
def test_make_hub_prints_url_and_logins_then_stops_and_cleans_up(tmp_path):
    _skip_without_a_hub()
    env = launch.build_environment(launch.reusable_environment_dir())
    root = Path(tempfile.mkdtemp(prefix="make-hub-"))
    prefix = f"hub-{secrets.token_hex(3)}"
    extra = f"HUB_ARGS=--prefix {prefix} --env {env}"
    make = [
        "make",
        "--no-print-directory",
        f"HUB_ROOT={root}",
        "HUB_PORT=0",  # any free port, chosen as the hub starts: the URL it prints says which
        extra,
    ]
    process = subprocess.Popen(
        [*make, "hub"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    output = []
    try:
        for line in process.stdout:  # until the hub says it runs, or make ends
            output.append(line)
            if line.startswith("Ctrl-C stops the hub"):
                break
        said = "".join(output)
        url = re.search(r"The course hub is running at (http://\S+?)/? ", said)
        assert url, said[-3000:]
        logins = {m[2]: (m[1], m[3]) for m in map(LOGIN.match, said.splitlines()) if m}
        assert sorted(role for role, _ in logins.values()) == [
            "instructor",
            "learner",
            "learner",
        ], said
        for user, (_role, password) in logins.items():
            assert user.startswith(prefix + "-") and pwd.getpwnam(user)
            status, where = log_in(url[1], user, password)
            assert status == 302 and "/hub/home" in where, (user, status, where)
        user, (_role, password) = next(iter(logins.items()))
        assert log_in(url[1], user, password + "x")[0] == 403

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        process.wait(timeout=120)
        assert not launch._answers(f"{url[1]}/hub/health"), "the hub still answers after Ctrl-C"
        assert not _alive(root), "JupyterHub's process group outlived Ctrl-C"
        cleaned = subprocess.run(
            [*make, "hub-clean"], cwd=REPO, check=False, capture_output=True, text=True, timeout=300
        )
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        for user in [*logins, f"{prefix}-grader"]:
            with pytest.raises(KeyError):
                pwd.getpwnam(user)
        assert not root.exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if _alive(root):  # the hub runs in a session of its own: end it too
            os.killpg(int((root / "state" / "jupyterhub.pid").read_text()), signal.SIGKILL)
        for group in launch.demo_names(prefix).values():
            for name in group:
                launch.remove_account(name)
        shutil.rmtree(root, ignore_errors=True)


def test_hub_clean_names_what_it_could_not_remove_and_removes_the_rest():
    """An account someone made with a demo learner's group as its primary group: groupdel refuses
    that group. `make hub-clean` says so and exits non-zero, and still removes everything else."""
    _skip_without_root()
    root = Path(tempfile.mkdtemp(prefix="make-hub-"))
    prefix = f"hub-{secrets.token_hex(3)}"
    names = [name for group in launch.demo_names(prefix).values() for name in group]
    stuck, other = f"{prefix}-learner2", f"{prefix}-other"
    try:
        for name in names:
            launch.make_account(name, root / "home" / name, password=False)
        made = launch._retry(["useradd", "--no-create-home", "--gid", stuck, other])
        assert made.returncode == 0, made.stderr
        cleaned = subprocess.run(
            ["make", "--no-print-directory", f"HUB_ROOT={root}", f"HUB_ARGS=--prefix {prefix}",
             "hub-clean"],
            cwd=REPO, check=False, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert cleaned.returncode != 0, cleaned.stdout
        assert "removed the demo accounts" not in cleaned.stdout
        assert f"groupdel {stuck}" in cleaned.stderr and other in cleaned.stderr, cleaned.stderr
        for name in names:
            with pytest.raises(KeyError):
                pwd.getpwnam(name)
        assert not root.exists()
    finally:
        launch._retry(["userdel", other])
        for name in names:
            launch.remove_account(name)
        shutil.rmtree(root, ignore_errors=True)


def _hub_for_test(root: Path, port: int) -> launch.Hub:
    nobody = launch.Account("nobody", 65534, 65534, root)
    return launch.Hub(root, root / "env", "course", nobody, [], [], port)


def test_a_port_in_use_is_refused_with_what_to_do(tmp_path):
    if shutil.which(launch.PROXY) is None:
        pytest.skip(f"`{launch.PROXY}` is not installed (.ci/run installs it)")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        hub = _hub_for_test(tmp_path, port)
        with pytest.raises(launch.HubError) as refused:
            launch.start(hub, tmp_path / "hub.log")
    assert f"port {port} is in use by another program" in str(refused.value)
    assert "0 picks any free port" in str(refused.value)
    assert not (tmp_path / "hub.log").exists()  # nothing was started


class ZmqLikeListener:
    """Another program on a loopback port, as a Jupyter kernel's zmq socket is: it greets whoever
    connects with bytes that are not HTTP."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"\xff" + bytes(8) + b"\x7f")

    def close(self):
        self.sock.close()


@pytest.mark.slow
def test_a_port_taken_before_the_hub_binds_it_is_chosen_again(monkeypatch):
    """The ports are chosen just before JupyterHub starts; another program (here one that speaks
    like a kernel's zmq socket) can still take one first. The hub then starts on others."""
    _skip_without_a_hub()
    env = launch.build_environment(launch.reusable_environment_dir())
    root = Path(tempfile.mkdtemp(prefix="hub-ports-"))
    prefix = f"hub-{secrets.token_hex(3)}"
    taken = ZmqLikeListener()
    chosen = []
    real = launch.free_ports

    def first_public_port_taken(n):
        ports = real(n)
        if not chosen:
            ports[-1] = taken.port  # the public port, when any port was asked for
        chosen.append(list(ports))
        return ports

    monkeypatch.setattr(launch, "free_ports", first_public_port_taken)
    process = None
    try:
        hub = launch.demo_hub(root, env, 0, prefix=prefix)
        launch.lay_out(hub)
        log = hub.state / "jupyterhub.log"
        process = launch.start(hub, log)
        assert chosen[0][-1] == taken.port and len(chosen) == 2, chosen
        assert hub.port == chosen[1][-1] != taken.port
        assert launch._answers(f"{hub.url}/hub/health")
        assert any(m in log.read_text(errors="replace") for m in launch.PORT_TAKEN)
        settings = json.loads((hub.state / "settings.json").read_text())
        assert settings["bind_url"] == hub.url and settings["hub_port"] == hub.ports["hub_port"]
    finally:
        taken.close()
        if process is not None:
            launch.stop(process)
        for group in launch.demo_names(prefix).values():
            for name in group:
                launch.remove_account(name)
        shutil.rmtree(root, ignore_errors=True)
