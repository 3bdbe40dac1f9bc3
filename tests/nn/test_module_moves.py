"""Module.to / double / float, and load_state_dict's strict mode, checks before writing and versions."""
import re

import numpy as np
import pytest

from minidl import Tensor, manual_seed, nn
from minidl.nn.module import IncompatibleKeys


class Counted(nn.Module):
    """A Linear and a BatchNorm1d, plus an integer buffer that a dtype move must leave alone."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)
        self.register_buffer("steps", np.arange(3, dtype=np.int64))

    def forward(self, x):
        return self.norm(self.linear(x))


def make(seed=0):
    manual_seed(seed)
    return Counted()


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)


# --------------------------------------------------------------------- dtype moves
def test_double_casts_parameters_gradients_and_float_buffers_and_keeps_the_objects():
    model = make()
    parameters = list(model.parameters())
    (model(Tensor(X)) ** 2).sum().backward()
    before = snapshot(model)
    grads = [p.grad.copy() for p in parameters]
    versions = [p._version for p in parameters]
    assert model.double() is model
    assert list(model.parameters()) == parameters and all(a is b for a, b in zip(model.parameters(),
                                                                                   parameters))
    for p, g, version in zip(parameters, grads, versions):
        assert p.data.dtype == np.float64 and p.grad.dtype == np.float64
        np.testing.assert_array_equal(p.grad, g.astype(np.float64))
        assert p._version == version + 1
    state = model.state_dict()
    assert state["norm.running_mean"].dtype == np.float64 and state["norm.running_var"].dtype == np.float64
    assert state["steps"].dtype == np.int64  # integer buffers are not floating: left alone
    for key, value in before.items():
        np.testing.assert_array_equal(state[key], value.astype(state[key].dtype))
    assert model.eval()(Tensor(X.astype(np.float64))).dtype == np.float64
    assert model.float() is model
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    for key, value in before.items():  # float32 -> float64 -> float32 is exact
        np.testing.assert_array_equal(model.state_dict()[key], value)


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype("float64")])
def test_to_takes_any_spelling_of_a_dtype(dtype):
    model = make().to(dtype)
    assert all(p.dtype == np.float64 for p in model.parameters())


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0"])
def test_to_a_device_says_how_the_device_is_chosen(device):
    with pytest.raises(TypeError, match=f"^Counted.to: expected a floating dtype, got the device '{device}'; "
                                        f"the device is chosen once per process by MINIDL_BACKEND"):
        make().to(device)


def test_to_the_same_dtype_changes_nothing():
    model = make()
    arrays = [p.data for p in model.parameters()]
    versions = [p._version for p in model.parameters()]
    model.to(np.float32)
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))
    assert [p._version for p in model.parameters()] == versions


@pytest.mark.parametrize("dtype, got", [(np.int64, "int64"), ("bool", "bool"), (None, "None"),
                                        ("no such type", "'no such type'"), (np.complex128, "complex128")])
def test_to_refuses_non_floating_dtypes(dtype, got):
    model = make()
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"^Counted.to: expected a floating dtype such as numpy.float64, "
                                        r"got " + re.escape(got)):
        model.to(dtype)
    for key, value in model.state_dict().items():
        assert value.dtype == before[key].dtype


# --------------------------------------------------------------------- load_state_dict
def test_float64_weights_into_a_float32_model_name_the_fix():
    source, target = make(0).double(), make(1)
    with pytest.raises(ValueError, match=re.escape("convert the model first with model.to(numpy.float64)")):
        target.load_state_dict(source.state_dict())
    target.to(np.float64).load_state_dict(source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)


def test_strict_load_returns_empty_key_lists():
    result = make(1).load_state_dict(make(0).state_dict())
    assert result == IncompatibleKeys([], []) and result.missing_keys == [] and result.unexpected_keys == []


def test_non_strict_load_writes_what_fits_and_reports_the_rest():
    source, target = make(0), make(1)
    state = snapshot(source)
    del state["linear.bias"], state["steps"]
    state["head.weight"] = np.ones((1, 2), np.float32)
    kept = target.linear.bias.data.copy()
    result = target.load_state_dict(state, strict=False)
    assert result == (["steps", "linear.bias"], ["head.weight"])  # state_dict order
    assert result.missing_keys == ["steps", "linear.bias"] and result.unexpected_keys == ["head.weight"]
    np.testing.assert_array_equal(target.linear.bias.data, kept)
    np.testing.assert_array_equal(target.linear.weight.data, source.linear.weight.data)
    with pytest.raises(ValueError, match="missing keys"):
        target.load_state_dict(state)  # strict by default


def test_non_strict_load_still_refuses_a_shape_mismatch():
    target = make(1)
    before = snapshot(target)
    state = {"linear.bias": np.zeros(2, np.float32), "linear.weight": np.zeros((3, 2), np.float32)}
    with pytest.raises(ValueError, match=re.escape("linear.weight: expected (2, 3) float32, got (3, 2)")):
        target.load_state_dict(state, strict=False)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("bad, message", [
    (lambda a: Tensor(a), "Counted.load_state_dict: ['steps'] is a Tensor; pass its array, tensor.data"),
    (lambda a: a.tolist(), "Counted.load_state_dict: ['steps'] must be an array, got list"),
    (lambda a: 3, "Counted.load_state_dict: ['steps'] must be an array, got int"),
])
def test_a_value_of_the_wrong_type_fails_before_anything_is_written(bad, message):
    source, target = make(0), make(1)
    state = snapshot(source)
    state["steps"] = bad(state["steps"])  # the last key: every other value would be written first
    before = snapshot(target)
    versions = [p._version for p in target.parameters()]
    with pytest.raises(TypeError, match="^" + re.escape(message)):
        target.load_state_dict(state)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert [p._version for p in target.parameters()] == versions


def test_a_state_that_is_not_a_mapping_is_refused():
    with pytest.raises(TypeError, match="^Counted.load_state_dict: expected a mapping key -> array, "
                                        "got list"):
        make().load_state_dict(list(make().state_dict().values()))


def test_a_load_bumps_the_version_of_the_written_parameters_only():
    source, target = make(0), make(1)
    state = {"linear.weight": source.linear.weight.data.copy()}
    versions = {key: p._version for key, p in target.named_parameters()}
    target.load_state_dict(state, strict=False)
    after = {key: p._version for key, p in target.named_parameters()}
    assert after == {key: v + (key == "linear.weight") for key, v in versions.items()}


@pytest.mark.parametrize("strict", ["no", None, 0])
def test_strict_must_be_a_bool(strict):
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="^Sequential.load_state_dict: strict must be True or False, got"):
        model.load_state_dict({}, strict=strict)


@pytest.mark.parametrize("dtype", ["float", float])
def test_the_ambiguous_float_is_refused(dtype):
    model = nn.Sequential(nn.Linear(2, 2))  # NumPy read "float" as float64, where .float() means float32
    with pytest.raises(TypeError, match="^Sequential.to: .* is ambiguous: float64 for NumPy, float32 for "
                                        "PyTorch's torch.float"):
        model.to(dtype)
    assert model[0].weight.dtype == np.float32
