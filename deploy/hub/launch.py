"""Start the course hub here with a demo class (`make hub`); the tests use the same steps.

One folder holds everything the hub needs besides its OS accounts:

    <root>/course/     the course folder: a copy of this repository's course, owned by the grader
                       account, mode 700 (learners can never read source/ or the gradebook)
    <root>/exchange/   nbgrader's exchange, writable by everyone (mode 777, as nbgrader asks)
    <root>/env/        the Python environment of every server, built from `autograder publish`
                       (outside the course folder, readable by all, nothing secret in it)
    <root>/jupyter/    the config folders that JUPYTER_CONFIG_PATH names for learners and graders
    <root>/home/       the demo accounts' home folders
    <root>/state/      JupyterHub's database, cookie secret and settings (root only)

    python deploy/hub/launch.py [--root DIR] [--port 8000]   start (as root), Ctrl-C stops
    python deploy/hub/launch.py --remove [--root DIR]        remove the demo accounts and DIR
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COURSE_FILES = ("nbgrader_config.py", "source", "notebooks", "solutions")
DEFAULT_ROOT = Path("/srv/activation-functions-hub")
DEMO_PREFIX = "hub"
PROXY = "configurable-http-proxy"
START_TIMEOUT = 180  # seconds for the hub (and its proxy and course service) to answer


class HubError(RuntimeError):
    """Something the person starting the hub has to fix; the message says what."""


# ------------------------------------------------------------------------------------ people


@dataclass
class Account:
    """An OS account of the course: its name, ids, home and (for people) web password."""

    name: str
    uid: int
    gid: int
    home: Path
    password: str = ""

    def env(self, python_env: Path) -> dict[str, str]:
        """What a login gives this account: HOME, USER and the course environment first on PATH."""
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PATH": f"{python_env / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        }

    def run(
        self,
        argv: list[str],
        *,
        python_env: Path,
        config: Path,
        cwd: Path | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess:
        """Run a command as this account (setpriv drops root's ids), in its home by default, with
        the Jupyter config folder its servers get (`config`)."""
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        env = {**self.env(python_env), "JUPYTER_CONFIG_PATH": str(config)}
        return subprocess.run(
            drop + argv,
            cwd=cwd or self.home,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _retry(argv: list[str]) -> subprocess.CompletedProcess:
    """useradd/userdel, retried while another process holds the lock on /etc/passwd."""
    for _ in range(120):
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        if done.returncode == 0 or "lock" not in done.stderr.lower():
            return done
        time.sleep(0.25)  # the lock belongs to another program; there is nothing to wait on
    return done


def make_account(name: str, home: Path, *, password: bool) -> Account:
    """An OS account with a private home (created if missing); a fresh web password if asked."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
        done = _retry(
            [
                "useradd",
                "--no-create-home",
                "--home-dir",
                str(home),
                "--shell",
                shell,
                "--user-group",
                name,
            ]
        )
        if done.returncode != 0:
            raise HubError(f"useradd {name}: {done.stderr.strip()}") from None
        entry = pwd.getpwnam(name)
    if Path(entry.pw_dir) != home:
        raise HubError(
            f"the account {name} already exists with home {entry.pw_dir}, not {home}; "
            f"remove it (userdel {name}) or choose another --root"
        )
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)
    account = Account(name, entry.pw_uid, entry.pw_gid, home)
    if password:
        account.password = secrets.token_urlsafe(12)
        done = subprocess.run(
            ["chpasswd"],
            input=f"{name}:{account.password}\n",
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise HubError(f"chpasswd {name}: {done.stderr.strip()}")
    return account


def remove_account(name: str) -> None:
    """Remove an account made here, and its group; anything still running as it is killed first.

    Raises HubError, saying why, if the account or its group is still there afterwards.
    """
    import pwd

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = None
    if uid is not None:
        kill_processes_of(uid)
        done = _retry(["userdel", name])
        if done.returncode != 0:
            raise HubError(f"userdel {name}: {done.stderr.strip()}")
    if subprocess.run(["getent", "group", name], check=False, capture_output=True).returncode == 0:
        done = _retry(["groupdel", name])
        if done.returncode != 0:
            raise HubError(f"groupdel {name}: {done.stderr.strip()}")


def remove_demo(root: Path, prefix: str = DEMO_PREFIX) -> int:
    """`make hub-clean`: the demo accounts, their groups and `root`; what stayed is named."""
    left = []
    for group in demo_names(prefix).values():
        for name in group:
            try:
                remove_account(name)
            except HubError as error:
                left.append(str(error))
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        left.append(f"{root} could not be removed entirely")
    if left:
        print("hub-clean: not everything was removed:", *left, sep="\n  ", file=sys.stderr)
        return 1
    print(f"removed the demo accounts and {root}")
    return 0


def kill_processes_of(uid: int) -> None:
    """SIGKILL every process running as `uid` (an account this module created for the course)."""
    for _ in range(50):
        pids = [
            int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid
        ]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)  # killed processes leave /proc asynchronously


def _owner(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except FileNotFoundError:
        return None


# -------------------------------------------------------------------------------------- layout


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` different loopback ports that nothing listens on now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@dataclass
class Hub:
    """One course hub: where its files are, who its people are, which ports it uses."""

    root: Path
    python_env: Path
    course_id: str
    grader: Account
    instructors: list[Account]
    learners: list[Account]
    port: int  # where browsers reach it; 0 asks for any free port, chosen when the hub starts
    ip: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # loopback ports, chosen by `start`

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def course_dir(self) -> Path:
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def config_dir(self, role: str) -> Path:
        return self.root / "jupyter" / role

    def settings(self) -> dict:
        """What deploy/hub/jupyterhub_config.py reads (docs/hub.md describes each key)."""
        return {
            "course_id": self.course_id,
            "bind_url": self.url,
            **self.ports,
            "state_dir": str(self.state),
            "python_env": str(self.python_env),
            "course_dir": str(self.course_dir),
            "grader": self.grader.name,
            "instructors": [a.name for a in self.instructors],
            "learners": [a.name for a in self.learners],
            "learner_config": str(self.config_dir("learner")),
            "grader_config": str(self.config_dir("grader")),
        }

    def as_grader(self, *argv: str, timeout: float = 900) -> str:
        """Run an instructor's command in the course folder as the grader account; its output."""
        done = self.grader.run(
            list(argv),
            python_env=self.python_env,
            config=self.config_dir("grader"),
            cwd=self.course_dir,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise HubError(
                f"{' '.join(argv)} failed as {self.grader.name} (exit {done.returncode}):\n"
                + (done.stdout + done.stderr)[-4000:]
            )
        return done.stdout + done.stderr


def lay_out(hub: Hub) -> None:
    """Course folder, exchange, config folders and settings, with the ownership each needs."""
    hub.root.mkdir(parents=True, exist_ok=True)
    hub.root.chmod(0o755)
    if not hub.course_dir.exists():
        hub.course_dir.mkdir()
        for name in COURSE_FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, hub.course_dir / name)
    for path in [hub.course_dir, *hub.course_dir.rglob("*")]:
        os.lchown(path, hub.grader.uid, hub.grader.gid)
    hub.course_dir.chmod(0o700)
    hub.exchange.mkdir(exist_ok=True)
    hub.exchange.chmod(0o777)
    for role in ("learner", "grader"):
        target = hub.config_dir(role)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(HERE / "jupyter" / role, target)
        lines = [
            "c = get_config()  # noqa: F821",
            f"c.Exchange.root = {str(hub.exchange)!r}",
            f"c.CourseDirectory.course_id = {hub.course_id!r}",
        ]
        if role == "grader":
            lines.append(f"c.CourseDirectory.root = {str(hub.course_dir)!r}")
        (target / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    (hub.root / "jupyter").chmod(0o755)
    hub.state.mkdir(exist_ok=True)
    hub.state.chmod(0o700)
    write_settings(hub)


def write_settings(hub: Hub) -> None:
    (hub.state / "settings.json").write_text(json.dumps(hub.settings(), indent=1) + "\n")


def release(hub: Hub, lessons: list[str]) -> None:
    """Release lessons into the exchange as the grader (again, if they were released before)."""
    for lesson in lessons:
        hub.as_grader("nbgrader", "release_assignment", lesson, "--force")


# ------------------------------------------------------------------------------------- running


def start(hub: Hub, log: Path) -> subprocess.Popen:
    """Start JupyterHub (as root: it starts each server as its user); return once it answers.

    Its loopback ports (and the public one, if any was asked for) are chosen here, just before it
    binds them; if another program takes one of them first, they are chosen again."""
    if shutil.which(PROXY) is None:
        raise HubError(f"{PROXY} is not installed: npm install -g {PROXY}")
    any_port, attempt = hub.port == 0, 1
    while True:
        _choose_ports(hub, any_port)
        write_settings(hub)
        before = log.stat().st_size if log.exists() else 0
        try:
            return _start_once(hub, log, before)
        except HubError:
            if attempt == START_ATTEMPTS or not _port_taken(log, before):
                raise
        attempt += 1


PORT_TAKEN = ("EADDRINUSE", "Address already in use")  # as Node and Python say it
START_ATTEMPTS = 3


def _choose_ports(hub: Hub, any_port: bool) -> None:
    names = ("hub_port", "proxy_api_port", "service_port")
    if not any_port and not _free(hub.ip, hub.port):
        raise HubError(
            f"port {hub.port} is in use by another program: choose another (--port, or "
            "HUB_PORT=... with make; 0 picks any free port)"
        )
    chosen = free_ports(len(names) + any_port)
    if any_port:
        hub.port = chosen.pop()
    hub.ports = dict(zip(names, chosen, strict=True))


def _free(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def _port_taken(log: Path, since: int) -> bool:
    """Did the hub or its proxy say, in what it logged after `since`, that a port was taken?"""
    if not log.exists():
        return False
    with log.open("rb") as f:
        f.seek(since)
        said = f.read().decode(errors="replace")
    return any(marker in said for marker in PORT_TAKEN)


def _start_once(hub: Hub, log: Path, since: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env["COURSE_HUB_SETTINGS"] = str(hub.state / "settings.json")
    env["PATH"] = f"{hub.python_env / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    command = [str(hub.python_env / "bin" / "jupyterhub"), "-f", str(HERE / "jupyterhub_config.py")]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=hub.state,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (hub.state / "jupyterhub.pid").write_text(str(process.pid))  # its process group, for cleanup
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(f"{hub.url}/hub/health"):
        if _port_taken(log, since):  # the hub may wait for its proxy until the deadline
            stop(process)
            raise HubError(f"a port of the hub was taken by another program:\n{_tail(log)}")
        if process.poll() is not None:
            stop(process)  # the proxy it started may still run in its process group
            raise HubError(f"JupyterHub exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            stop(process)
            raise HubError(f"JupyterHub did not answer within {START_TIMEOUT} s:\n{_tail(log)}")
        time.sleep(0.25)  # polling a server that is starting; nothing to wait on instead
    return process


def stop(process: subprocess.Popen) -> None:
    """SIGTERM lets JupyterHub stop the servers, the course service and the proxy it started;
    whatever is left of its process group is killed, and this returns once the group is gone
    (killed members are reaped by init, which can take a moment on a busy machine)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # nothing to wait on for processes this one did not start


def _answers(url: str) -> bool:
    """Does a web server answer 200 at `url`? Not if nothing listens, or what listens is not one
    (another program on the port, speaking another protocol)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


# ---------------------------------------------------------------------------------- make hub


def servers_python() -> Path:
    """An interpreter every account can run (the servers run as learners): the system's python3."""
    for candidate in (Path("/usr/bin/python3"), Path(sys.executable)):
        real = candidate.resolve()
        if real.is_file() and all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
            return candidate
    raise HubError("no Python that every account may run: install python3 (and python3-venv)")


def reusable_environment_dir() -> Path:
    """Where the tests keep the servers' environment between runs: `.hub-env` in this checkout if
    every account can reach it (servers run as learners), else a folder in /var/tmp named after
    the checkout."""
    if all(os.stat(p).st_mode & 0o001 for p in [REPO, *REPO.parents]):
        return REPO / ".hub-env"
    tag = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"course-hub-env-{tag}"


def build_environment(env: Path, python: Path | None = None) -> Path:
    """`env`: the publish of this course (`autograder publish`) installed with the pinned
    versions, for every server of the hub; rebuilt only when the dependencies or the package
    change. Learners can run it, and it holds nothing secret."""
    inputs = [
        REPO / "pyproject.toml",
        REPO / "constraints.txt",
        *sorted(p for p in (REPO / "autograder").rglob("*") if p.is_file() and p.suffix != ".pyc"),
    ]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    stamp = env / ".built-from"
    if stamp.is_file() and stamp.read_text() == digest:
        return env
    print(
        f"building the servers' Python environment in {env} (a few minutes the first time)",
        flush=True,
    )
    shutil.rmtree(env, ignore_errors=True)
    _check([str(python or servers_python()), "-m", "venv", str(env)])
    with tempfile.TemporaryDirectory(prefix="course-publish-") as tmp:
        published = Path(tmp) / "publish"
        _check(
            [sys.executable, "-m", "autograder", "--course", str(REPO), "publish", str(published)]
        )
        _check(
            [
                str(env / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-c",
                str(REPO / "constraints.txt"),
                str(published),
            ]
        )
    _check(["chmod", "-R", "a+rX", str(env)])
    stamp.write_text(digest)
    return env


def _check(argv: list[str]) -> None:
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise HubError(f"{' '.join(argv)} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def demo_names(prefix: str = DEMO_PREFIX) -> dict[str, list[str]]:
    return {
        "grader": [f"{prefix}-grader"],
        "instructors": [f"{prefix}-instructor"],
        "learners": [f"{prefix}-learner1", f"{prefix}-learner2"],
    }


def demo_hub(root: Path, python_env: Path, port: int, prefix: str = DEMO_PREFIX) -> Hub:
    """The demo class's accounts (created if missing, fresh passwords) and its hub layout."""
    from autograder.course import load_config

    names = demo_names(prefix)
    people = {
        role: [make_account(n, root / "home" / n, password=role != "grader") for n in group]
        for role, group in names.items()
    }
    (root / "home").chmod(0o755)
    course_id = load_config(REPO).CourseDirectory.course_id
    return Hub(
        root=root,
        python_env=python_env,
        course_id=course_id,
        grader=people["grader"][0],
        instructors=people["instructors"],
        learners=people["learners"],
        port=port,
    )


def _require_root() -> None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        raise HubError(
            "the hub starts each person's server as their own OS account: run it as root "
            "on Linux (sudo make hub)"
        )
    for tool in ("useradd", "userdel", "chpasswd", "setpriv"):
        if shutil.which(tool) is None:
            raise HubError(f"`{tool}` is not installed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The course hub with a demo class on this machine."
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"default: {DEFAULT_ROOT}")
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="the port browsers use (default 8000; 0: any free port)",
    )
    parser.add_argument("--remove", action="store_true", help="remove the demo accounts and --root")
    parser.add_argument(
        "--prefix", default=DEMO_PREFIX, help=f"of the demo account names (default {DEMO_PREFIX})"
    )
    parser.add_argument(
        "--env", type=Path, help="an environment built earlier (default: build <root>/env)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    try:
        _require_root()
        if args.remove:
            return remove_demo(args.root, args.prefix)
        args.root.mkdir(parents=True, exist_ok=True)
        args.root.chmod(0o755)
        env = args.env or build_environment(args.root / "env")
        hub = demo_hub(args.root, env, args.port, prefix=args.prefix)
        lay_out(hub)
        from autograder.course import Course

        release(hub, Course.find(REPO).lessons)
        log = hub.state / "jupyterhub.log"
        process = start(hub, log)
    except HubError as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2
    print(f"\nThe course hub is running at {hub.url}/  (log: {log})\n")
    for account in hub.instructors + hub.learners:
        role = "instructor" if account in hub.instructors else "learner"
        print(f"  {role:10}  user {account.name:16}  password {account.password}")
    print(
        f"\nLearners: Nbgrader > Assignment List. Instructors: {hub.url}/services/{hub.course_id}/ "
        f"(JupyterLab in {hub.course_dir}: its Terminal runs `autograder grade`) and "
        f"{hub.url}/services/{hub.course_id}/formgrader"
    )
    print("Ctrl-C stops the hub; `make hub-clean` removes the demo accounts and files.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        process.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
