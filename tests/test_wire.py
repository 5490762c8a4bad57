"""Does the plain-data wire carry honest values faithfully and refuse everything else?"""

import base64
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from autograder import wire
from autograder.trusted.standins import GraderStandins, LearnerError
from autograder.untrusted import figures

figures.register(wire)  # as the bootstrap does inside a kernel: plots can be described


def roundtrip(value):
    """Described as in the learner's kernel, decoded as on the grader's side."""
    return wire.decode(json.loads(json.dumps(wire.encode(value, ["x"]))), GraderStandins())


def test_tensors_keep_dtype_shape_values_and_grad_flag():
    for tensor in (
        torch.tensor([[4.0, 0.0, 1.0]]),
        torch.tensor([[4, 0, 1]]),
        torch.ones(2, 3, 4, dtype=torch.float64),
        torch.tensor([True, False]),
        torch.tensor([[6.0]], requires_grad=True),
    ):
        back = roundtrip(tensor)
        assert type(back) is torch.Tensor
        assert back.dtype == tensor.dtype and back.shape == tensor.shape
        assert torch.equal(back.detach(), tensor.detach())
        assert back.requires_grad == tensor.requires_grad


def test_model_is_rebuilt_from_allowed_layers_with_its_weights_and_mode():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid(), nn.Softmax(dim=-1), nn.Dropout(0.3)
    ).eval()
    back = roundtrip(model)
    assert [type(m) for m in back] == [nn.Linear, nn.Linear, nn.Sigmoid, nn.Softmax, nn.Dropout]
    assert back[3].dim == -1 and back[4].p == 0.3 and back.training is False
    x = torch.randn(5, 6)
    assert torch.allclose(back[:3](x), model[:3](x))


def test_custom_module_becomes_a_stand_in_named_like_the_learners_class():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x):
            return self.fc(x)

    back = roundtrip(Net())
    assert type(back).__name__ == "Net" and isinstance(back.fc, nn.Linear)
    with pytest.raises(LearnerError):
        back(torch.ones(1, 3))  # no kernel to call: it must not run anything here


def test_unknown_objects_are_opaque_and_equal_nothing():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    back = roundtrip(AlwaysEqual())
    assert type(back).__name__ == "AlwaysEqual"
    assert (back == torch.tensor([[0.9975]])) is False and back != 1


def test_axes_are_rebuilt_with_lines_points_bars_and_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.5, 0.5], label="threshold")
    ax.scatter([6], [0.9975])
    ax.hlines(0.5, -8, 8)
    ax.bar(["bird", "mammal", "reptile"], [0.1392, 0.8420, 0.0188])
    ax.set_title("t"), ax.set_xlabel("z"), ax.set_ylabel("p")
    back = roundtrip(ax)
    plt.close(fig)
    assert back.get_title() == "t" and back.get_xlabel() == "z" and back.get_ylabel() == "p"
    assert list(back.lines[0].get_ydata()) == [0.5, 0.5]
    assert back.collections[0].get_offsets().tolist() == [[6.0, 0.9975]]
    assert [s.tolist() for s in back.collections[1].get_segments()] == [[[-8.0, 0.5], [8.0, 0.5]]]
    assert [round(p.get_height(), 4) for p in back.patches] == [0.1392, 0.842, 0.0188]
    assert [t.get_text() for t in back.get_xticklabels()] == ["bird", "mammal", "reptile"]


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "description",
    [
        {
            "t": "tensor",
            "dtype": "float32",
            "shape": [1],
            "npy": _npy(np.array([object()], dtype=object)),
            "requires_grad": False,
        },
        {
            "t": "tensor",
            "dtype": "float32",
            "shape": [2],
            "npy": _npy(np.ones(3, dtype=np.float32)),
            "requires_grad": False,
        },
        {
            "t": "tensor",
            "dtype": "float32",
            "shape": [3],
            "npy": _npy(np.ones(3, dtype=np.int64)),
            "requires_grad": False,
        },
        {
            "t": "tensor",
            "dtype": "complex64",
            "shape": [1],
            "npy": _npy(np.ones(1, dtype=np.complex64)),
            "requires_grad": False,
        },
        {"t": "scalar", "v": [1, 2]},
        {"t": "scalar", "v": 2**70},
        {
            "t": "module",
            "type": "Linear",
            "custom": False,
            "ref": None,
            "training": True,
            "args": {"in_features": 3, "out_features": 1, "bias": True, "device": "meta"},
            "children": [],
            "state": [],
        },
        {"t": "list", "items": [{"t": "nonsense"}]},
        ["not", "a", "dict"],
    ],
)
def test_malformed_or_dangerous_descriptions_are_refused(description):
    with pytest.raises(wire.WireError):
        wire.decode(description, GraderStandins())


def test_scalar_tensors_stay_scalars():
    """A loss is a 0-d tensor; it must not come back as shape (1,)."""
    back = roundtrip(torch.tensor(0.1720))
    assert back.shape == () and back.item() == pytest.approx(0.1720)


def _activation_classes():
    import torch.nn.modules.activation as activation

    return sorted(name for name in activation.__all__ if name != "MultiheadAttention")


# Layers a learner of these lessons may build a model from; kept in step with torch by the test
# below.
OTHER_LAYERS = [
    "Linear",
    "Bilinear",
    "Identity",
    "Flatten",
    "Unflatten",
    "Dropout",
    "AlphaDropout",
    "BatchNorm1d",
    "LayerNorm",
    "Sequential",
]


def test_every_activation_in_torch_nn_can_be_rebuilt():
    """A new torch release that adds an activation fails here until the wire knows it."""
    assert set(_activation_classes()) | set(OTHER_LAYERS) <= set(wire.LAYERS)


def _example(name):
    torch.manual_seed(1)
    special = {
        "Linear": lambda: nn.Linear(4, 3),
        "Bilinear": lambda: nn.Bilinear(4, 4, 2),
        "Unflatten": lambda: nn.Unflatten(1, (2, 2)),
        "BatchNorm1d": lambda: nn.BatchNorm1d(4),
        "LayerNorm": lambda: nn.LayerNorm(4),
        "PReLU": lambda: nn.PReLU(4, init=0.1),
        "Threshold": lambda: nn.Threshold(0.1, 20.0),
        "Softmax": lambda: nn.Softmax(dim=-1),
        "Softmin": lambda: nn.Softmin(dim=-1),
        "LogSoftmax": lambda: nn.LogSoftmax(dim=-1),
        "Sequential": lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU6()),
        "Hardtanh": lambda: nn.Hardtanh(-0.5, 2.0),
        "LeakyReLU": lambda: nn.LeakyReLU(0.3),
        "Softplus": lambda: nn.Softplus(beta=2.0, threshold=10.0),
        "ELU": lambda: nn.ELU(alpha=0.7),
        "CELU": lambda: nn.CELU(alpha=0.6),
        "GELU": lambda: nn.GELU(approximate="tanh"),
    }
    return special.get(name, lambda: getattr(nn, name)())()


@pytest.mark.parametrize("name", _activation_classes() + OTHER_LAYERS)
def test_each_layer_crosses_with_its_type_arguments_and_state(name):
    module = _example(name)
    if name == "BatchNorm1d":
        module(torch.randn(8, 4))  # running statistics move away from their defaults
    module.eval()
    back = roundtrip(module)
    assert type(back) is type(module)
    assert {k: v.shape for k, v in back.state_dict().items()} == {
        k: v.shape for k, v in module.state_dict().items()
    }
    x = torch.randn(3, 4, 4) if name in ("Softmax2d",) else torch.randn(3, 4)
    inputs = (x, x) if name == "Bilinear" else (x,)
    with torch.no_grad():
        assert torch.allclose(back(*inputs), module(*inputs), atol=1e-6), name


def test_a_stand_in_can_be_deep_copied_by_a_test():
    import copy

    class Net(nn.Module):
        def forward(self, x):
            return x

    back = roundtrip(Net())
    assert copy.deepcopy(back) is back
    function = wire.decode({"t": "callable", "ref": ["f"], "name": "f"}, GraderStandins())
    assert copy.deepcopy(function) is function


def test_a_module_crosses_as_its_name_and_becomes_the_graders_own():
    """A learner's `os` (patched or fake) reaches a test as the grader's untouched `os`."""
    import os
    import types

    fake = types.ModuleType("os")
    fake.getenv = lambda *args: "patched"
    assert wire.encode(fake) == {"t": "import", "name": "os"}
    assert roundtrip(fake) is os and roundtrip({"np": np})["np"] is np


@pytest.mark.parametrize(
    "name", ["antigravity", "this", "test.autotest", "idlelib.idle", "json.__main__"]
)
def test_modules_that_act_when_imported_are_refused(name):
    with pytest.raises(wire.WireError, match="does not import"):
        wire.decode({"t": "import", "name": name}, GraderStandins())


def test_a_module_outside_the_graders_installation_is_never_imported(tmp_path, monkeypatch):
    """A name that would find a file beside a notebook (or any folder on the path) is refused."""
    marker = tmp_path / "imported"
    leaves_a_mark = f"open({str(marker)!r}, 'w').close()\n"
    (tmp_path / "learner_helper.py").write_text(leaves_a_mark)
    (tmp_path / "learner_package").mkdir()
    (tmp_path / "learner_package" / "__init__.py").write_text(leaves_a_mark)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("learner_helper", "learner_package", "learner_package.sub", "no_such_module"):
        with pytest.raises(wire.WireError, match="not installed where the grader runs"):
            wire.decode({"t": "import", "name": name}, GraderStandins())
    assert not marker.exists()


@pytest.mark.parametrize("name", ["", "os;rm", "os path", ".os", "os.", "a" * 300, 3])
def test_a_malformed_module_name_is_refused(name):
    with pytest.raises(wire.WireError):
        wire.decode({"t": "import", "name": name}, GraderStandins())


def test_the_kernel_side_takes_no_module_from_the_grader():
    with pytest.raises(wire.WireError):
        wire.decode(wire.encode(np))
