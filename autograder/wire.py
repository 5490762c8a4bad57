"""Plain-data encoding of learner values, the only thing that crosses the trust boundary.

This module is self-contained on purpose: its source is sent to the learner's kernel, which uses
`encode` to describe its values and `decode` to rebuild arguments the grader passes to learner
functions. The grader uses `decode` on whatever comes back and trusts nothing in it: every field
is checked for exact type, tensors travel as `.npy` bytes read with `allow_pickle=False`, modules
are rebuilt from an allow-list of `torch.nn` layers, and anything else becomes an opaque stand-in.
"""
import base64
import io
import math
import sys

MIME = "application/vnd.autograder.value+json"
MAX_ELEMENTS = 4_000_000  # per tensor or array
MAX_ITEMS = 10_000  # per list, tuple or dict
MAX_STRING = 100_000
MAX_DEPTH = 12
TENSOR_DTYPES = (
    "float32", "float64", "float16", "bfloat16",
    "int64", "int32", "int16", "int8", "uint8", "bool",
)
# Layers a model may be rebuilt from, with the constructor arguments read off an instance:
# every activation in torch.nn and the layers a learner of these lessons reasonably builds.
LAYERS = {
    "Sequential": (),
    "Linear": ("in_features", "out_features", "bias"),
    "Bilinear": ("in1_features", "in2_features", "out_features", "bias"),
    "Identity": (),
    "Flatten": ("start_dim", "end_dim"),
    "Unflatten": ("dim", "unflattened_size"),
    "Dropout": ("p", "inplace"),
    "AlphaDropout": ("p", "inplace"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "CELU": ("alpha", "inplace"),
    "ELU": ("alpha", "inplace"),
    "GELU": ("approximate",),
    "GLU": ("dim",),
    "Hardshrink": ("lambd",),
    "Hardsigmoid": ("inplace",),
    "Hardswish": ("inplace",),
    "Hardtanh": ("min_val", "max_val", "inplace"),
    "LeakyReLU": ("negative_slope", "inplace"),
    "LogSigmoid": (),
    "LogSoftmax": ("dim",),
    "Mish": ("inplace",),
    "PReLU": ("num_parameters",),
    "RReLU": ("lower", "upper", "inplace"),
    "ReLU": ("inplace",),
    "ReLU6": ("inplace",),
    "SELU": ("inplace",),
    "SiLU": ("inplace",),
    "Sigmoid": (),
    "Softmax": ("dim",),
    "Softmax2d": (),
    "Softmin": ("dim",),
    "Softplus": ("beta", "threshold"),
    "Softshrink": ("lambd",),
    "Softsign": (),
    "Tanh": (),
    "Tanhshrink": (),
    "Threshold": ("threshold", "value", "inplace"),
}
SCALAR_TYPES = (bool, int, float, str, type(None))


class WireError(ValueError):
    """A description that does not follow the format: treated as a wrong answer, never trusted."""


# ----------------------------------------------------------------------------------- encoding

def encode(value, ref=None, depth=0):
    """Describe `value` as JSON-able plain data; `ref` is its path in the learner's namespace."""
    if depth > MAX_DEPTH:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, bool):
        return {"t": "scalar", "v": value}
    if isinstance(value, int):
        return {"t": "scalar", "v": value} if abs(value) < 2**63 else {"t": "scalar", "v": float(value)}
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, str):
        return {"t": "scalar", "v": value[:MAX_STRING]}
    if isinstance(value, (list, tuple)):
        items = [encode(item, None, depth + 1) for item in list(value)[:MAX_ITEMS]]
        return {"t": "list" if isinstance(value, list) else "tuple", "items": items}
    if isinstance(value, dict):
        pairs = [
            [key, encode(item, None, depth + 1)]
            for key, item in list(value.items())[:MAX_ITEMS]
            if isinstance(key, (str, int)) and not isinstance(key, bool)
        ]
        return {"t": "dict", "items": pairs}
    # Look modules up in sys.modules: a value of a learner-made subclass (of Tensor, Module,
    # ndarray) is described by what it is, whatever module its class claims to come from.
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return _encode_tensor(value)
        if isinstance(value, torch.nn.Module):
            return _encode_module(value, ref, depth)
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).replace("torch.", "")}
        if isinstance(value, torch.Size):
            return {"t": "tuple", "items": [encode(int(n)) for n in value]}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return _encode_array(value, "ndarray")
        if isinstance(value, np.generic):
            return encode(value.item(), ref, depth)
    if "matplotlib.figure" in sys.modules:
        from matplotlib.axes import Axes
        from matplotlib.figure import Figure
        if isinstance(value, Axes):
            return {"t": "axes", "v": _describe_axes(value)}
        if isinstance(value, Figure):
            return {"t": "figure", "axes": [_describe_axes(ax) for ax in value.axes[:16]]}
    if callable(value):
        return {"t": "callable", "ref": ref, "name": str(getattr(value, "__name__", type(value).__name__))}
    return {"t": "opaque", "type": type(value).__name__}


def _encode_float(value):
    if math.isfinite(value):
        return {"t": "scalar", "v": value}
    return {"t": "float", "v": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_array(array, kind, dtype_name=None, requires_grad=False):
    import numpy as np
    if array.dtype.hasobject or array.size > MAX_ELEMENTS:
        return {"t": "opaque", "type": "array too large" if array.size > MAX_ELEMENTS else "object array"}
    buffer = io.BytesIO()
    np.save(buffer, np.array(array, order="C", copy=True), allow_pickle=False)  # keeps 0-d as 0-d
    return {
        "t": kind,
        "dtype": dtype_name or str(array.dtype),
        "shape": [int(n) for n in array.shape],
        "npy": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "requires_grad": bool(requires_grad),
    }


def _encode_tensor(tensor):
    import torch
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_complex():
        return {"t": "opaque", "type": "Tensor"}
    name = str(tensor.dtype).replace("torch.", "")
    if name not in TENSOR_DTYPES:
        return {"t": "opaque", "type": "Tensor of " + name}
    plain = tensor.detach().cpu()
    if name == "bfloat16":
        plain = plain.float()
    return _encode_array(plain.numpy(), "tensor", name, tensor.requires_grad)


def _encode_module(module, ref, depth):
    cls = type(module)
    allowed = cls.__name__ in LAYERS and cls.__module__.startswith("torch.nn.modules")
    description = {
        "t": "module",
        "type": cls.__name__,
        "custom": not allowed,
        "ref": ref,
        "training": bool(module.training),
        "args": {},
        "children": [],
        "state": [],
    }
    if allowed:
        for arg in LAYERS[cls.__name__]:
            value = getattr(module, arg, None)
            if arg == "bias":
                value = getattr(module, "bias", None) is not None
            if isinstance(value, (tuple, list)) and all(type(n) is int for n in value):
                value = [int(n) for n in value][:16]  # a shape (LayerNorm, Unflatten)
            if isinstance(value, SCALAR_TYPES) or type(value) is list:
                description["args"][arg] = value
    for name, child in list(module.named_children())[:256]:
        child_ref = None if ref is None else list(ref) + [name]
        description["children"].append([name, _encode_module(child, child_ref, depth + 1)])
    own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
    for name, tensor in own[:64]:
        description["state"].append([name, _encode_tensor(tensor)])
    return description


def _describe_axes(ax):
    def colour(value):
        from matplotlib.colors import to_hex
        try:
            return to_hex(value, keep_alpha=True)
        except (ValueError, TypeError):
            return None

    def floats(values):
        import numpy as np
        array = np.asarray(values, dtype=float).ravel()[:20_000]
        return [v if math.isfinite(v) else None for v in array.tolist()]

    lines = [
        {
            "x": floats(line.get_xdata()),
            "y": floats(line.get_ydata()),
            "label": str(line.get_label())[:200],
            "color": colour(line.get_color()),
            "linestyle": str(line.get_linestyle()),
            "marker": str(line.get_marker()),
        }
        for line in ax.lines[:64]
    ]
    collections = []
    for collection in ax.collections[:64]:
        if hasattr(collection, "get_segments"):  # hlines, vlines, LineCollection
            collections.append({
                "segments": [[floats(point) for point in list(segment)[:2_000]]
                             for segment in collection.get_segments()[:2_000]],
                "label": str(collection.get_label())[:200],
            })
            continue
        offsets = collection.get_offsets()
        collections.append({
            "offsets": [floats(point) for point in list(offsets)[:20_000]],
            "label": str(collection.get_label())[:200],
        })
    patches = []
    for patch in ax.patches[:2_000]:
        if type(patch).__name__ == "Rectangle":
            patches.append({
                "x": float(patch.get_x()), "y": float(patch.get_y()),
                "width": float(patch.get_width()), "height": float(patch.get_height()),
                "color": colour(patch.get_facecolor()), "label": str(patch.get_label())[:200],
            })
    legend = ax.get_legend()
    return {
        "title": ax.get_title()[:500],
        "xlabel": ax.get_xlabel()[:500],
        "ylabel": ax.get_ylabel()[:500],
        "xlim": floats(ax.get_xlim()),
        "ylim": floats(ax.get_ylim()),
        "xticks": floats(ax.get_xticks()),
        "xticklabels": [t.get_text()[:200] for t in ax.get_xticklabels()][:200],
        "yticks": floats(ax.get_yticks()),
        "yticklabels": [t.get_text()[:200] for t in ax.get_yticklabels()][:200],
        "texts": [[floats(t.get_position()), t.get_text()[:500]] for t in ax.texts[:200]],
        "lines": lines,
        "collections": collections,
        "patches": patches,
        "legend": [t.get_text()[:200] for t in legend.get_texts()][:200] if legend else None,
    }


# ----------------------------------------------------------------------------------- decoding

def decode(obj, remote=None):
    """Rebuild a value from its description; `remote` calls back into the learner's kernel."""
    return _Decoder(remote).value(obj, 0)


def _expect(condition, what):
    if not condition:
        raise WireError(what)


def _is_shape(value):
    return type(value) is list and len(value) <= 16 and all(type(n) is int and 0 <= n < 2**31 for n in value)


def _get(obj, key, *types):
    _expect(key in obj, "missing field " + key)
    value = obj[key]
    _expect(type(value) in types, "field %s has type %s" % (key, type(value).__name__))
    return value


class _Decoder:
    def __init__(self, remote):
        self.remote = remote

    def value(self, obj, depth):
        _expect(type(obj) is dict and depth <= MAX_DEPTH + 1, "not a description")
        kind = _get(obj, "t", str)
        if kind == "scalar":
            value = obj.get("v")
            _expect(type(value) in SCALAR_TYPES, "bad scalar")
            _expect(not isinstance(value, str) or len(value) <= MAX_STRING, "string too long")
            _expect(not isinstance(value, int) or abs(value) < 2**63, "integer too large")
            return value
        if kind == "float":
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[_get(obj, "v", str)]
        if kind in ("list", "tuple"):
            items = _get(obj, "items", list)
            _expect(len(items) <= MAX_ITEMS, "too many items")
            values = [self.value(item, depth + 1) for item in items]
            return values if kind == "list" else tuple(values)
        if kind == "dict":
            pairs = _get(obj, "items", list)
            _expect(len(pairs) <= MAX_ITEMS, "too many items")
            result = {}
            for pair in pairs:
                _expect(type(pair) is list and len(pair) == 2, "bad pair")
                _expect(type(pair[0]) in (str, int), "bad key")
                result[pair[0]] = self.value(pair[1], depth + 1)
            return result
        if kind in ("tensor", "ndarray"):
            return self.array(obj, as_tensor=kind == "tensor")
        if kind == "dtype":
            import torch
            name = _get(obj, "v", str)
            _expect(name in TENSOR_DTYPES, "bad dtype")
            return getattr(torch, name)
        if kind == "module":
            return self.module(obj, depth)
        if kind == "callable":
            return RemoteFunction(self._ref(obj), str(_get(obj, "name", str))[:200], self.remote)
        if kind == "axes":
            return rebuild_axes(_get(obj, "v", dict))
        if kind == "figure":
            return rebuild_figure(_get(obj, "axes", list))
        if kind == "opaque":
            return opaque(_get(obj, "type", str))
        raise WireError("unknown kind " + kind[:50])

    @staticmethod
    def _ref(obj):
        ref = obj.get("ref")
        _expect(ref is None or (type(ref) is list and all(type(s) is str for s in ref)), "bad ref")
        return ref

    @staticmethod
    def array(obj, as_tensor):
        import numpy as np
        dtype_name = _get(obj, "dtype", str)
        shape = _get(obj, "shape", list)
        _expect(all(type(n) is int and n >= 0 for n in shape) and len(shape) <= 16, "bad shape")
        _expect(math.prod(shape) <= MAX_ELEMENTS, "too many elements")
        try:
            raw = base64.b64decode(_get(obj, "npy", str), validate=True)
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:  # includes "Object arrays cannot be loaded"
            raise WireError("unreadable array: %s" % str(error)[:200]) from None
        _expect(type(array) is np.ndarray and list(array.shape) == shape, "shape mismatch")
        if not as_tensor:
            _expect(array.dtype.name == dtype_name and dtype_name in TENSOR_DTYPES, "bad dtype")
            return array
        import torch
        _expect(dtype_name in TENSOR_DTYPES, "bad dtype")
        expected = "float32" if dtype_name == "bfloat16" else dtype_name
        _expect(array.dtype.name == expected, "dtype mismatch")
        tensor = torch.from_numpy(array.copy()).to(getattr(torch, dtype_name))
        if _get(obj, "requires_grad", bool) and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor

    def module(self, obj, depth):
        import torch
        name = _get(obj, "type", str)[:200]
        args = _get(obj, "args", dict)
        _expect(all(type(v) in SCALAR_TYPES or _is_shape(v) for v in args.values()), "bad layer arguments")
        args = {k: tuple(v) if type(v) is list else v for k, v in args.items()}
        children = _get(obj, "children", list)
        state = _get(obj, "state", list)
        if _get(obj, "custom", bool) or name not in LAYERS:
            module = remote_module_class(name)(self._ref(obj), self.remote)
        else:
            _expect(set(args) <= set(LAYERS[name]), "unexpected layer argument")
            try:
                # On the meta device: sizes the learner claims allocate nothing here; the
                # parameters come from the (size-limited) state below.
                with torch.device("meta"):
                    module = getattr(torch.nn, name)(**args)
            except (TypeError, ValueError, RuntimeError) as error:
                raise WireError("cannot rebuild %s: %s" % (name, error)) from None
            for child in list(module._modules):
                del module._modules[child]
        for pair in children:
            _expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is str, "bad child")
            module.add_module(pair[0][:200], self.value(pair[1], depth + 1))
        own = dict(module.named_parameters(recurse=False))
        buffers = dict(module.named_buffers(recurse=False))
        for pair in state:
            _expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is str, "bad state")
            key, tensor = pair[0], self.value(pair[1], depth + 1)
            _expect(isinstance(tensor, torch.Tensor), "state is not a tensor")
            if key in buffers:
                module._buffers[key] = tensor.detach()
            else:
                # A parameter the layer does not have (or of another shape) is kept as the learner
                # had it: tests look at shapes and values, not at how the layer was constructed.
                own.pop(key, None)
                module._parameters[key] = torch.nn.Parameter(
                    tensor.detach(), requires_grad=tensor.is_floating_point())
        for missing in own:
            module._parameters[missing] = None
        module.train(_get(obj, "training", bool))
        return module


# --------------------------------------------------------------------- trusted-side stand-ins

class LearnerError(Exception):
    """The learner's own code raised while the grader called it."""

    def __init__(self, function, ename, evalue):
        super().__init__(evalue)
        self.function, self.ename, self.evalue = function, ename, evalue

    def __str__(self):
        return self.evalue


def learner_error(function, ename, evalue):
    """A LearnerError that is also the learner's exception type where that is a builtin one, so a
    test's `except TypeError` and `type(error).__name__` behave as in the learner's own kernel."""
    import builtins
    safe = "".join(ch for ch in ename if ch.isalnum() or ch == "_")[:80] or "Exception"
    base = getattr(builtins, safe, None)
    bases = (LearnerError,)
    if isinstance(base, type) and issubclass(base, Exception) and base is not Exception:
        bases += (base,)
    try:
        cls = type(safe, bases, {})
    except TypeError:  # a builtin whose layout cannot be mixed in (OSError, ...)
        cls = type(safe, (LearnerError,), {})
    return cls(function, ename, evalue)


class RemoteFunction:
    """A learner function: calling it runs it in the learner's kernel on plain-data arguments."""

    def __init__(self, ref, name, remote):
        self._ref, self.__name__, self._remote = ref, name, remote

    def __call__(self, *args, **kwargs):
        if self._ref is None or self._remote is None:
            raise learner_error(self.__name__, "TypeError", "this function can only be checked by name")
        return self._remote.call(self._ref, self.__name__, args, kwargs)

    def __repr__(self):
        return "<learner function %s>" % self.__name__

    def __deepcopy__(self, memo):
        return self  # the learner's function, wherever a test keeps it


def remote_module_class(name):
    """A stand-in class named like the learner's own nn.Module subclass; forward runs remotely."""
    import torch

    def __init__(self, ref, remote):
        torch.nn.Module.__init__(self)
        self._ref, self._remote = ref, remote

    def forward(self, *args, **kwargs):
        if self._ref is None or self._remote is None:
            raise learner_error(type(self).__name__, "TypeError", "this model can only be checked by name")
        return self._remote.call(self._ref, type(self).__name__, args, kwargs)

    def __deepcopy__(self, memo):
        return self  # it lives in the learner's kernel; a copy here would be no copy there

    safe = "".join(ch for ch in name if ch.isalnum() or ch == "_")[:80] or "Module"
    namespace = {"__init__": __init__, "forward": forward, "__deepcopy__": __deepcopy__}
    return type(safe, (torch.nn.Module,), namespace)


class Opaque:
    """Something the grader cannot inspect: it equals nothing and has no attributes of interest."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return "<%s object>" % type(self).__name__


def opaque(type_name):
    safe = "".join(ch for ch in type_name if ch.isalnum() or ch in "_ ")[:80].replace(" ", "_")
    return type(safe or "object", (Opaque,), {})()


def rebuild_figure(axes_list):
    import matplotlib.pyplot as plt
    _expect(len(axes_list) <= 16, "too many axes")
    figure = plt.figure()
    for description in axes_list:
        _expect(type(description) is dict, "bad axes")
        _draw(figure.add_subplot(), description)
    plt.close(figure)
    return figure


def rebuild_axes(description):
    import matplotlib.pyplot as plt
    figure, ax = plt.subplots()
    _draw(ax, description)
    plt.close(figure)
    return ax


def _numbers(values, name):
    _expect(type(values) is list and len(values) <= 20_000, "bad " + name)
    _expect(all(v is None or type(v) in (int, float) for v in values), "bad " + name)
    return [math.nan if v is None else float(v) for v in values]


def _text(obj, key):
    value = obj.get(key, "")
    _expect(type(value) is str, "bad " + key)
    return value[:500]


def _draw(ax, d):
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle
    for line in d.get("lines", [])[:64]:
        _expect(type(line) is dict, "bad line")
        x, y = _numbers(line.get("x"), "line x"), _numbers(line.get("y"), "line y")
        _expect(len(x) == len(y), "line length")
        ax.plot(x, y, label=_text(line, "label"), color=line.get("color") if type(line.get("color")) is str else None,
                linestyle=_text(line, "linestyle") or "-", marker=_text(line, "marker") or "None")
    for collection in d.get("collections", [])[:64]:
        _expect(type(collection) is dict, "bad collection")
        if "segments" in collection:
            segments = collection["segments"]
            _expect(type(segments) is list and len(segments) <= 2_000, "bad segments")
            lines = [[_numbers(p, "segment point") for p in segment[:2_000]] for segment in segments]
            _expect(all(len(p) == 2 for segment in lines for p in segment), "bad segment point")
            ax.add_collection(LineCollection(lines, label=_text(collection, "label")))
            continue
        points = collection.get("offsets", [])
        _expect(type(points) is list, "bad offsets")
        pairs = [_numbers(p, "offset") for p in points[:20_000]]
        _expect(all(len(p) == 2 for p in pairs), "bad offset")
        ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], label=_text(collection, "label"))
    for patch in d.get("patches", [])[:2_000]:
        _expect(type(patch) is dict, "bad patch")
        x, y, w, h = _numbers([patch.get(k) for k in ("x", "y", "width", "height")], "patch")
        colour = patch.get("color")
        ax.add_patch(Rectangle((x, y), w, h, label=_text(patch, "label"),
                               facecolor=colour if type(colour) is str else None))
    for position, text in d.get("texts", [])[:200]:
        px, py = _numbers(position, "text position")
        _expect(type(text) is str, "bad text")
        ax.text(px, py, text[:500])
    ax.set_title(_text(d, "title"))
    ax.set_xlabel(_text(d, "xlabel"))
    ax.set_ylabel(_text(d, "ylabel"))
    for axis in ("x", "y"):
        limits = _numbers(d.get(axis + "lim", []), axis + "lim")
        if len(limits) == 2 and all(math.isfinite(v) for v in limits) and limits[0] != limits[1]:
            getattr(ax, "set_%slim" % axis)(*limits)
        ticks = _numbers(d.get(axis + "ticks", []), axis + "ticks")
        labels = d.get(axis + "ticklabels", [])
        _expect(type(labels) is list and all(type(t) is str for t in labels), "bad tick labels")
        if ticks and len(labels) == len(ticks):
            getattr(ax, "set_%sticks" % axis)(ticks, [t[:200] for t in labels])
    legend = d.get("legend")
    if legend is not None:
        _expect(type(legend) is list and all(type(t) is str for t in legend), "bad legend")
        ax.legend()
