"""The plain-data format that crosses the trust boundary: the only thing either side reads.

Self-contained on purpose: its source is sent into the learner's kernel, which uses `encode` to
describe its values and `decode` to rebuild the plain arguments the grader passes to learner
functions. The grader uses `decode` on whatever comes back and trusts nothing in it: every field
is checked for exact type, tensors travel as `.npy` bytes read with `allow_pickle=False`, layers
are rebuilt from an allow-list of `torch.nn` classes on the meta device, a `Budget` bounds what
one answer may cost to rebuild, and everything else becomes a stand-in chosen by the decoding
side (`Standins`). A module travels as its name only; the decoding side decides whether it has
a module of that name to put in its place. Descriptions of figures are made by
`untrusted/figures.py`, which registers itself in `ENCODERS` inside the kernel.
"""

import base64
import io
import math
import sys

MIME = "application/vnd.autograder.value+json"
MAX_ELEMENTS = 500_000  # per tensor or array: 4 MB of float64, within one message from the kernel
MAX_ITEMS = 10_000  # per list, tuple or dict
MAX_STRING = 100_000
MAX_DEPTH = 12
MAX_SHAPE = 16  # dimensions of a tensor, and entries of a layer's shape argument
MAX_CHILDREN = 256  # sub-layers per layer
MAX_STATE = 64  # parameters and buffers per layer
MAX_NAME = 200
TENSOR_DTYPES = (
    "float32", "float64", "float16", "bfloat16",
    "int64", "int32", "int16", "int8", "uint8", "bool",
)  # fmt: skip
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
ENCODERS = []  # functions value -> description or None, tried before the generic fallbacks


class WireError(ValueError):
    """A description that does not follow the format, or costs too much: never trusted."""


# ----------------------------------------------------------------------------------- encoding


def encode(value, ref=None, depth=0):
    """Describe `value` as JSON-able plain data; `ref` is its path in the learner's namespace."""
    if depth > MAX_DEPTH:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, bool):
        return {"t": "scalar", "v": value}
    if isinstance(value, int):
        return (
            {"t": "scalar", "v": value}
            if abs(value) < 2**63
            else {"t": "scalar", "v": float(value)}
        )
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
    if isinstance(value, type(sys)):
        name = getattr(value, "__name__", None)
        return {"t": "import", "name": name[:MAX_NAME] if isinstance(name, str) else ""}
    for encoder in ENCODERS:
        description = encoder(value)
        if description is not None:
            return description
    if callable(value):
        return {
            "t": "callable",
            "ref": ref,
            "name": str(getattr(value, "__name__", type(value).__name__)),
        }
    return {"t": "opaque", "type": type(value).__name__}


def state(value):
    """What a call must not change of an argument it was given: its description (values, dtype,
    shape, requires_grad) and which of its tensors hold a `.grad`. Two states compare with `==`."""
    return [encode(value), _grads(value, 0)]


def _grads(value, depth):
    torch = sys.modules.get("torch")
    if depth > MAX_DEPTH:
        return None
    if torch is not None and isinstance(value, torch.Tensor):
        return value.grad is not None
    if isinstance(value, (list, tuple)):
        return [_grads(item, depth + 1) for item in list(value)[:MAX_ITEMS]]
    if isinstance(value, dict):
        return [_grads(item, depth + 1) for item in list(value.values())[:MAX_ITEMS]]
    return None


def finite(value):
    """A JSON-able float: NaN and infinities become None."""
    return value if math.isfinite(value) else None


def _encode_float(value):
    if math.isfinite(value):
        return {"t": "scalar", "v": value}
    return {"t": "float", "v": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_array(array, kind, dtype_name=None, requires_grad=False):
    import numpy as np

    if array.dtype.hasobject or array.size > MAX_ELEMENTS:
        return {
            "t": "opaque",
            "type": "array too large" if array.size > MAX_ELEMENTS else "object array",
        }
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
                value = [int(n) for n in value][:MAX_SHAPE]  # a shape (LayerNorm, Unflatten)
            if isinstance(value, SCALAR_TYPES) or type(value) is list:
                description["args"][arg] = value
    for name, child in list(module.named_children())[:MAX_CHILDREN]:
        child_ref = None if ref is None else list(ref) + [name]
        description["children"].append([name, _encode_module(child, child_ref, depth + 1)])
    own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
    for name, tensor in own[:MAX_STATE]:
        description["state"].append([name, _encode_tensor(tensor)])
    return description


# ----------------------------------------------------------------------------------- decoding


class Budget:
    """What rebuilding one answer may cost the decoding side; WireError when it is spent."""

    def __init__(self, elements=2_000_000, items=200_000, layers=10_000, points=200_000):
        self.left = {"elements": elements, "items": items, "layers": layers, "points": points}

    def spend(self, kind, amount):
        self.left[kind] -= amount
        if self.left[kind] < 0:
            raise WireError(f"the answer is too large for the grader to read (too many {kind})")


class Standins:
    """How the decoding side represents what cannot cross as data. This default (used inside the
    learner's kernel for the grader's arguments) refuses all of it."""

    def function(self, ref, name):
        raise WireError("a function cannot be passed here")

    def custom_module(self, name, ref):
        raise WireError("a model of a custom class cannot be passed here")

    def axes(self, description, budget):
        raise WireError("a plot cannot be passed here")

    def figure(self, descriptions, budget):
        raise WireError("a figure cannot be passed here")

    def opaque(self, type_name):
        raise WireError(f"a value of type {type_name[:80]} cannot be passed here")

    def module(self, name):
        raise WireError("a module cannot be passed here")


def decode(obj, standins=None, budget=None):
    """Rebuild a value from its description, within `budget`."""
    return _Decoder(standins or Standins(), budget or Budget()).value(obj, 0)


def expect(condition, what):
    if not condition:
        raise WireError(what)


def get(obj, key, *types):
    expect(key in obj, "missing field " + key)
    value = obj[key]
    expect(type(value) in types, f"field {key} has type {type(value).__name__}")
    return value


def is_module_name(value):
    return 0 < len(value) <= MAX_NAME and all(part.isidentifier() for part in value.split("."))


def is_shape(value):
    return (
        type(value) is list
        and len(value) <= MAX_SHAPE
        and all(type(n) is int and 0 <= n < 2**31 for n in value)
    )


class _Decoder:
    def __init__(self, standins, budget):
        self.standins = standins
        self.budget = budget

    def value(self, obj, depth):
        expect(type(obj) is dict and depth <= MAX_DEPTH + 1, "not a description")
        kind = get(obj, "t", str)
        self.budget.spend("items", 1)
        if kind == "scalar":
            value = obj.get("v")
            expect(type(value) in SCALAR_TYPES, "bad scalar")
            expect(not isinstance(value, str) or len(value) <= MAX_STRING, "string too long")
            expect(not isinstance(value, int) or abs(value) < 2**63, "integer too large")
            return value
        if kind == "float":
            special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
            name = get(obj, "v", str)
            expect(name in special, "bad float")
            return special[name]
        if kind in ("list", "tuple"):
            items = get(obj, "items", list)
            expect(len(items) <= MAX_ITEMS, "too many items")
            values = [self.value(item, depth + 1) for item in items]
            return values if kind == "list" else tuple(values)
        if kind == "dict":
            pairs = get(obj, "items", list)
            expect(len(pairs) <= MAX_ITEMS, "too many items")
            result = {}
            for pair in pairs:
                expect(type(pair) is list and len(pair) == 2, "bad pair")
                expect(type(pair[0]) in (str, int), "bad key")
                result[pair[0]] = self.value(pair[1], depth + 1)
            return result
        if kind in ("tensor", "ndarray"):
            return self.array(obj, as_tensor=kind == "tensor")
        if kind == "dtype":
            import torch

            name = get(obj, "v", str)
            expect(name in TENSOR_DTYPES, "bad dtype")
            return getattr(torch, name)
        if kind == "module":
            return self.module(obj, depth)
        if kind == "callable":
            return self.standins.function(self.ref(obj), str(get(obj, "name", str))[:MAX_NAME])
        if kind == "axes":
            return self.standins.axes(get(obj, "v", dict), self.budget)
        if kind == "figure":
            return self.standins.figure(get(obj, "axes", list), self.budget)
        if kind == "opaque":
            return self.standins.opaque(get(obj, "type", str)[:MAX_NAME])
        if kind == "import":
            name = get(obj, "name", str)
            expect(is_module_name(name), "bad module name")
            return self.standins.module(name)
        raise WireError("unknown kind " + kind[:50])

    @staticmethod
    def ref(obj):
        ref = obj.get("ref")
        expect(ref is None or (type(ref) is list and all(type(s) is str for s in ref)), "bad ref")
        return ref

    def array(self, obj, as_tensor):
        import numpy as np

        dtype_name = get(obj, "dtype", str)
        shape = get(obj, "shape", list)
        expect(
            all(type(n) is int and n >= 0 for n in shape) and len(shape) <= MAX_SHAPE, "bad shape"
        )
        expect(math.prod(shape) <= MAX_ELEMENTS, "too many elements")
        self.budget.spend("elements", math.prod(shape))
        try:
            raw = base64.b64decode(get(obj, "npy", str), validate=True)
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        except (
            ValueError,
            OSError,
            EOFError,
        ) as error:  # includes "Object arrays cannot be loaded"
            raise WireError(f"unreadable array: {str(error)[:200]}") from None
        expect(type(array) is np.ndarray and list(array.shape) == shape, "shape mismatch")
        if not as_tensor:
            expect(array.dtype.name == dtype_name and dtype_name in TENSOR_DTYPES, "bad dtype")
            return array
        import torch

        expect(dtype_name in TENSOR_DTYPES, "bad dtype")
        expected = "float32" if dtype_name == "bfloat16" else dtype_name
        expect(array.dtype.name == expected, "dtype mismatch")
        tensor = torch.from_numpy(array.copy()).to(getattr(torch, dtype_name))
        if get(obj, "requires_grad", bool) and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor

    def module(self, obj, depth):
        import torch

        self.budget.spend("layers", 1)
        name = get(obj, "type", str)[:MAX_NAME]
        args = get(obj, "args", dict)
        expect(
            all(type(v) in SCALAR_TYPES or is_shape(v) for v in args.values()),
            "bad layer arguments",
        )
        args = {k: tuple(v) if type(v) is list else v for k, v in args.items()}
        children = get(obj, "children", list)
        state = get(obj, "state", list)
        expect(len(children) <= MAX_CHILDREN and len(state) <= MAX_STATE, "too many parts")
        if get(obj, "custom", bool) or name not in LAYERS:
            module = self.standins.custom_module(name, self.ref(obj))
        else:
            expect(set(args) <= set(LAYERS[name]), "unexpected layer argument")
            try:
                # On the meta device: sizes the learner claims allocate nothing here; the
                # parameters come from the (size-limited) state below.
                with torch.device("meta"):
                    module = getattr(torch.nn, name)(**args)
            except (TypeError, ValueError, RuntimeError) as error:
                raise WireError(f"cannot rebuild {name}: {error}") from None
            for child in list(module._modules):
                del module._modules[child]
        for pair in children:
            expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is str, "bad child")
            module.add_module(pair[0][:MAX_NAME], self.value(pair[1], depth + 1))
        own = dict(module.named_parameters(recurse=False))
        buffers = dict(module.named_buffers(recurse=False))
        given = set()
        for pair in state:
            expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is str, "bad state")
            key, tensor = pair[0], self.value(pair[1], depth + 1)
            expect(isinstance(tensor, torch.Tensor), "state is not a tensor")
            given.add(key)
            if key in buffers:
                module._buffers[key] = tensor.detach()
            else:
                # A parameter the layer does not have (or of another shape) is kept as the learner
                # had it: tests look at shapes and values, not at how the layer was constructed.
                own.pop(key, None)
                module._parameters[key] = torch.nn.Parameter(
                    tensor.detach(), requires_grad=tensor.is_floating_point()
                )
        for missing in own:
            module._parameters[missing] = None
        for missing in set(buffers) - given:
            module._buffers[missing] = None  # still on the meta device: nothing to compute with
        module.train(get(obj, "training", bool))
        return module
