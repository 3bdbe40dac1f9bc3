"""Module: registration, traversal, modes, state_dict, save/load; Sequential as a container."""
import os
import re

import numpy as np
import pytest

from minidl import Tensor, manual_seed, nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.scale = nn.Parameter(np.ones(2, np.float32))
        self.register_buffer("count", np.zeros(3, np.float32))
        self.note = "not registered"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(x)


def test_named_parameters_keys_and_order_follow_pytorch():
    net = Net()  # module by module, depth first: a module's own parameters before its children's
    assert [k for k, _ in net.named_parameters()] == [
        "features.0.scale", "features.0.conv.weight", "features.0.conv.bias", "head.weight", "head.bias"]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert next(net.named_parameters())[1] is net.features[0].scale
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameters_come_once_as_in_pytorch_and_train_once():
    import torch
    from minidl import optim

    manual_seed(0)
    layer = nn.Linear(3, 3)
    tied = nn.Sequential(layer, nn.ReLU(), layer, nn.Linear(3, 2))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    reference.append(reference[0]).append(torch.nn.Linear(3, 2))
    assert [k for k, _ in tied.named_parameters()] == [k for k, _ in reference.named_parameters()] == [
        "0.weight", "0.bias", "3.weight", "3.bias"]
    assert list(tied.state_dict()) == list(reference.state_dict())  # every key, shared ones included
    optimizer = optim.SGD(tied.parameters(), lr=0.1)  # refused a parameter given twice before
    before = layer.weight.data.copy()
    tied(Tensor(np.ones((1, 3), np.float32))).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.data, before - 0.1 * layer.weight.grad)


def test_named_modules_children_and_nesting():
    net = Net()
    assert [k for k, _ in net.named_modules()] == ["", "features", "features.0", "features.0.conv",
                                                   "features.1", "features.2", "head"]
    assert list(net.children()) == [net.features, net.head]
    assert len(list(net.modules())) == 7


def test_state_dict_keys_in_pytorch_order_with_buffers_and_no_plain_attributes():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["features.0.scale", "features.0.count", "features.0.conv.weight",
                           "features.0.conv.bias", "head.weight", "head.bias"]
    assert state["head.weight"] is net.head.weight.data
    assert state["features.0.count"] is net.features[0].count


def test_reassigning_an_attribute_updates_the_registry():
    layer = nn.Linear(2, 2)
    layer.bias = None
    assert [k for k, _ in layer.named_parameters()] == ["weight"]
    layer.weight = None
    layer.weight = nn.Linear(3, 3)  # now a submodule
    assert [k for k, _ in layer.named_parameters()] == ["weight.weight", "weight.bias"]
    layer.weight = None
    layer.weight = Tensor(np.ones(2))  # a plain tensor is not a parameter
    assert list(layer.named_parameters()) == []
    block = Block()
    block.count = np.ones(3, np.float32)  # a buffer's new value stays a buffer
    np.testing.assert_array_equal(block.state_dict()["count"], np.ones(3))


@pytest.mark.parametrize("name, value, message", [
    ("weight", np.zeros((2, 2), np.float32), "cannot assign a ndarray to the parameter 'weight' (it would "
                                             "leave the model); assign a Parameter or None, or change its "
                                             "values with weight.data[...] = array"),
    ("weight", Tensor(np.zeros((2, 2), np.float32)), "cannot assign a Tensor to the parameter 'weight'"),
    ("weight", nn.ReLU(), "cannot assign a ReLU to the parameter 'weight'"),
])
def test_a_parameter_replaced_by_a_plain_value_is_refused_as_in_pytorch(name, value, message):
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="^Linear: " + re.escape(message)):
        setattr(layer, name, value)  # silently dropped the weight from parameters() and state_dict
    assert [k for k, _ in layer.named_parameters()] == ["weight", "bias"]


def test_a_submodule_replaced_by_a_plain_value_is_refused():
    net = Net()
    with pytest.raises(TypeError, match=re.escape("Net: cannot assign a function to the submodule 'head'")):
        net.head = lambda x: x
    assert "head.weight" in net.state_dict()


@pytest.mark.parametrize("name, array, error, message", [
    ("extra", [1.0, 2.0], TypeError, "the buffer 'extra' must be a backend array, got list"),
    ("extra", Tensor(np.ones(2)), TypeError, "the buffer 'extra' must be a backend array, got Tensor; "
                                             "pass tensor.data"),
    ("extra", None, TypeError, "the buffer 'extra' must be a backend array, got NoneType"),
    ("a.b", np.ones(2), ValueError, "name must be a new attribute name without dots, got 'a.b'"),
    ("scale", np.ones(2), ValueError, "name must be a new attribute name without dots, got 'scale'"),
    ("conv", np.ones(2), ValueError, "name must be a new attribute name without dots, got 'conv'"),
    ("note", np.ones(2), ValueError, "name must be a new attribute name without dots, got 'note'"),
    (3, np.ones(2), TypeError, "name must be a str, got int"),
])
def test_bad_buffers_are_refused_and_change_nothing(name, array, error, message):
    block = Block()
    before = list(block.state_dict())
    with pytest.raises(error, match="^Block.register_buffer: " + re.escape(message)):
        block.register_buffer(name, array)
    assert list(block.state_dict()) == before and isinstance(block.scale, nn.Parameter)


def test_a_buffer_keeps_taking_arrays_only():
    block = Block()
    with pytest.raises(TypeError, match=re.escape("Block.count: the buffer 'count' must be a backend array, "
                                                  "got list")):
        block.count = [0.0, 0.0, 0.0]
    block.register_buffer("count", np.full(3, 2.0, np.float32))  # registering again replaces it
    np.testing.assert_array_equal(block.state_dict()["count"], np.full(3, 2.0))


def test_setting_attributes_before_init_is_an_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError, match=r"Broken: call super\(\).__init__\(\)"):
        Broken()


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(Tensor(np.ones(1)))


def test_train_and_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.features.train()
    assert net.features[2].training and not net.training and not net.head.training
    net.train()
    assert all(m.training for m in net.modules())
    x = Tensor(np.ones((50, 50), np.float32))
    dropout = net.features[2]
    assert (dropout(x).data == 0).any()
    net.eval()
    assert dropout(x) is x


def test_zero_grad_clears_every_parameter():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model(Tensor(np.ones((4, 3), np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------- Sequential
def test_sequential_indexing_slicing_len_iter_and_append():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4), nn.ReLU()]
    model = nn.Sequential(*layers)
    assert len(model) == 4 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[3] and model[-2] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert list(model[::2]) == [layers[0], layers[2]]
    assert [k for k, _ in model[1:].named_parameters()] == ["1.weight", "1.bias"]
    with pytest.raises(IndexError):
        model[4]
    extra = nn.Linear(4, 1)
    assert model.append(extra) is model and model[4] is extra and len(model) == 5
    assert [k for k, _ in model.named_parameters()][-2:] == ["4.weight", "4.bias"]
    assert model(Tensor(np.ones((2, 2), np.float32))).shape == (2, 1)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: argument 1 is a function, not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


# --------------------------------------------------------------------- load_state_dict and files
def make_model(seed):
    manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_load_state_dict_copies_values_in_place():
    source, target = make_model(0), make_model(1)
    weight = target[0].weight.data
    target.load_state_dict(source.state_dict())
    assert target[0].weight.data is weight  # the same array, now holding the source's values
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)
        assert target.state_dict()[key] is not value
    x = Tensor(np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(source(x).data, target(x).data)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("3.bias"), r"missing keys \['3.bias'\], unexpected keys \[\], mismatched \[\]"),
    (lambda s: s.update(extra=np.ones(2, np.float32)), r"missing keys \[\], unexpected keys \['extra'\]"),
    (lambda s: s.update({"3.weight": np.ones((8, 3), np.float32)}),
     re.escape("missing keys [], unexpected keys [], mismatched ['3.weight: expected (3, 8) float32, got (8, 3) float32']")),
    (lambda s: s.update({"0.bias": np.ones(2)}),
     re.escape("missing keys [], unexpected keys [], mismatched ['0.bias: expected (2,) float32, got (2,) float64']")),
])
def test_load_state_dict_reports_bad_keys_and_changes_nothing(change, message):
    source, target = make_model(0), make_model(1)
    state = snapshot(source)
    change(state)
    before = snapshot(target)
    with pytest.raises(ValueError, match=r"^Sequential.load_state_dict: " + message):
        target.load_state_dict(state)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_lists_every_problem_at_once():
    state = snapshot(make_model(0))
    state.pop("0.weight")
    state["3.bias"] = np.ones(4, np.float32)
    state["surplus"] = np.ones(1, np.float32)
    with pytest.raises(ValueError) as error:
        make_model(1).load_state_dict(state)
    text = str(error.value)
    assert "'0.weight'" in text and "'surplus'" in text and "3.bias: expected (3,)" in text


def test_save_and_load_npz_round_trip(tmp_path):
    source, target = make_model(0), make_model(1)
    block = Block()
    block.count[...] = [1, 2, 3]
    path = tmp_path / "weights.npz"
    source.save(path)
    assert os.listdir(tmp_path) == ["weights.npz"]  # no temporary file left behind
    with np.load(path) as archive:
        assert sorted(archive.files) == sorted(source.state_dict())
    assert target.load(path) is target
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)
        assert target.state_dict()[key].dtype == np.float32
    block.save(str(tmp_path / "block.npz"))
    other = Block().load(tmp_path / "block.npz")
    np.testing.assert_array_equal(other.count, [1, 2, 3])


def test_loading_a_file_of_another_architecture_fails_and_changes_nothing(tmp_path):
    make_model(0).save(tmp_path / "small.npz")
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4))
    before = snapshot(other)
    with pytest.raises(ValueError, match=re.escape("3.weight: expected (4, 8) float32, got (3, 8) float32")):
        other.load(tmp_path / "small.npz")
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_replacing_a_child_keeps_its_place_in_a_sequential():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    replacement = nn.Linear(2, 3)
    setattr(model, "0", replacement)
    assert list(model) == [replacement, model[1], model[2]]
    assert [key for key, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
