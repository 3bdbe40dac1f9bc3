"""SGD against steps computed by hand, its argument checks and its state_dict."""
import re

import numpy as np
import pytest

from minidl import nn
from minidl.optim import SGD

GRADS = [np.array([0.5, -1.0]), np.array([0.2, 0.4]), np.array([-1.0, 0.0])]


def run(steps, **options):
    """Parameters [1, -2] after ``steps`` SGD steps with the gradients GRADS (lr 0.1)."""
    p = nn.Parameter(np.array([1.0, -2.0]))
    optimizer = SGD([p], lr=0.1, **options)
    trajectory = []
    for g in GRADS[:steps]:
        p.grad = g.copy()
        optimizer.step()
        trajectory.append(p.data.copy())
    return trajectory


@pytest.mark.parametrize("options, expected", [
    ({}, [[0.95, -1.9], [0.93, -1.94], [1.03, -1.94]]),
    # b1 = g1; b2 = 0.9 b1 + g2 = [0.65, -0.5]; b3 = 0.9 b2 + g3 = [-0.415, -0.45]
    ({"momentum": 0.9}, [[0.95, -1.9], [0.885, -1.85], [0.9265, -1.805]]),
    # d = g + 0.9 b: [0.95, -1.9], then [0.2 + 0.585, 0.4 - 0.45]
    ({"momentum": 0.9, "nesterov": True}, [[0.905, -1.81], [0.8265, -1.805]]),
    # b1 = g1 (no dampening at the first step); b2 = 0.9 b1 + 0.5 g2 = [0.55, -0.7]
    ({"momentum": 0.9, "dampening": 0.5}, [[0.95, -1.9], [0.895, -1.83]]),
    # d1 = g1 + 0.1 p0 = [0.6, -1.2]; d2 = g2 + 0.1 p1 = [0.294, 0.212]; b2 = 0.9 d1 + d2
    ({"momentum": 0.9, "weight_decay": 0.1}, [[0.94, -1.88], [0.8566, -1.7932]]),
    ({"weight_decay": 0.1}, [[0.94, -1.88], [0.9106, -1.9012]]),
], ids=["plain", "momentum", "nesterov", "dampening", "momentum+weight_decay", "weight_decay"])
def test_sgd_steps_computed_by_hand(options, expected):
    np.testing.assert_allclose(run(len(expected), **options), expected, rtol=1e-13)


def test_sgd_on_a_real_gradient_and_lr_changes_between_steps():
    layer = nn.Linear(2, 1, bias=False, dtype=np.float64)
    layer.weight.data[...] = [[1.0, 2.0]]
    optimizer = SGD(layer.parameters(), lr=0.5)
    x = nn.Parameter(np.array([[1.0, 1.0]]))  # loss = (w . x)^2 / 2 -> grad = (w . x) x = [3, 3]
    loss = (layer(x) ** 2).sum() * 0.5
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.data, [[-0.5, 0.5]])
    optimizer.lr = 0.1
    optimizer.zero_grad()
    assert layer.weight.grad is None
    ((layer(x) ** 2).sum() * 0.5).backward()  # w . x = 0: no change
    optimizer.step()
    np.testing.assert_allclose(layer.weight.data, [[-0.5, 0.5]])


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    optimizer = SGD([a, b], lr=1.0, momentum=0.9, weight_decay=0.5)
    a.grad = np.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert optimizer.state[1] == {}
    np.testing.assert_allclose(a.data, [-0.5, -0.5])


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
                                     {"momentum": 0.5, "dampening": 0.3}])
def test_float32_parameters_stay_float32(options):
    p = nn.Parameter(np.ones((3, 2), np.float32))
    optimizer = SGD([p], lr=0.1, **options)
    for _ in range(3):
        p.grad = np.full((3, 2), 0.5, np.float32)
        optimizer.step()
    assert p.data.dtype == np.float32
    assert all(value.dtype == np.float32 for state in optimizer.state for value in state.values())


def test_the_momentum_buffer_does_not_alias_the_gradient():
    p = nn.Parameter(np.zeros(2))
    optimizer = SGD([p], lr=1.0, momentum=0.9)
    g = np.ones(2)
    p.grad = g
    optimizer.step()
    p.grad = g
    optimizer.step()  # b = 0.9 * 1 + 1
    np.testing.assert_array_equal(g, np.ones(2))
    np.testing.assert_allclose(p.data, [-2.9, -2.9])


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lr=0.1, nesterov=True), ValueError,
     "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum=0.0"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (dict(lr=-0.1), ValueError, "SGD: lr must be >= 0, got -0.1"),
    (dict(lr=True), TypeError, "SGD: lr must be a real number, got True (bool)"),
    (dict(lr="0.1"), TypeError, "SGD: lr must be a real number, got '0.1' (str)"),
    (dict(lr=float("nan")), ValueError, "SGD: lr must be a finite number, got nan"),
    (dict(lr=float("inf")), ValueError, "SGD: lr must be a finite number, got inf"),
    (dict(lr=0.1, momentum=-0.9), ValueError, "SGD: momentum must be >= 0"),
    (dict(lr=0.1, weight_decay=-1), ValueError, "SGD: weight_decay must be >= 0"),
    (dict(lr=0.1, dampening=-1), ValueError, "SGD: dampening must be >= 0"),
    (dict(lr=0.1, momentum=0.9, nesterov=1), TypeError, "SGD: nesterov must be True or False, got 1 (int)"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        SGD([nn.Parameter(np.ones(1))], **kwargs)


def test_numpy_scalars_are_numbers():
    optimizer = SGD([nn.Parameter(np.ones(1))], lr=np.float32(0.1), momentum=np.float64(0.9),
                    nesterov=np.bool_(True))
    assert (optimizer.lr, optimizer.momentum, optimizer.nesterov) == (float(np.float32(0.1)), 0.9, True)
    assert type(optimizer.lr) is float and type(optimizer.nesterov) is bool


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        SGD(iter([]), lr=0.1)


def make(momentum=0.9):
    params = [nn.Parameter(np.array([1.0, -2.0])), nn.Parameter(np.array([[0.5]]))]
    return params, SGD(params, lr=0.1, momentum=momentum, weight_decay=0.01, nesterov=True)


def step(params, optimizer, k):
    for i, p in enumerate(params):
        p.grad = np.sin(np.arange(p.size) + 3 * k + i).reshape(p.shape) + p.data
    optimizer.step()


def test_state_dict_round_trip_resumes_exactly():
    params, optimizer = make()
    for k in range(5):
        step(params, optimizer, k)
    reference = [p.data.copy() for p in params]

    params, optimizer = make()
    for k in range(2):
        step(params, optimizer, k)
    saved = optimizer.state_dict()
    saved_params = [p.data.copy() for p in params]
    step(params, optimizer, 99)  # must not leak into the saved copy
    assert saved["hyperparameters"] == {"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                        "weight_decay": 0.01, "nesterov": True}
    resumed_params = [nn.Parameter(p) for p in saved_params]
    resumed = SGD(resumed_params, lr=5.0)
    resumed.load_state_dict(saved)
    assert (resumed.lr, resumed.momentum, resumed.nesterov) == (0.1, 0.9, True)
    for k in range(2, 5):
        step(resumed_params, resumed, k)
    for p, expected in zip(resumed_params, reference):
        np.testing.assert_array_equal(p.data, expected)


def test_load_state_dict_rejects_buffers_that_fit_no_parameter():
    params, optimizer = make()
    step(params, optimizer, 0)
    state = optimizer.state_dict()
    state["state"][1]["momentum_buffer"] = np.ones(3)
    with pytest.raises(ValueError, match=re.escape("SGD.load_state_dict: state 1 momentum_buffer is (3,) "
                                                   "float64 but params[1] is (1, 1) float64")):
        make()[1].load_state_dict(state)
    state = optimizer.state_dict()
    state["state"][2] = {"momentum_buffer": np.ones(2)}
    with pytest.raises(ValueError, match=re.escape("SGD.load_state_dict: a state index must be an integer "
                                                   "in [0, 1], got 2")):
        make()[1].load_state_dict(state)


@pytest.mark.parametrize("change, message", [
    (lambda h: h.update(lr=-5), "SGD.load_state_dict: lr must be >= 0, got -5"),
    (lambda h: h.update(lrr=h.pop("lr")),
     "SGD.load_state_dict: unknown hyperparameters ['lrr'], missing ['lr']"),
    (lambda h: h.update(nesterov=True, momentum=0.0), "SGD.load_state_dict: nesterov needs momentum > 0"),
])
def test_load_state_dict_checks_the_hyperparameters_and_changes_nothing(change, message):
    params, optimizer = make()
    step(params, optimizer, 0)
    state = optimizer.state_dict()
    change(state["hyperparameters"])
    before = optimizer.state_dict()
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        optimizer.load_state_dict(state)
    assert optimizer.hyperparameters == before["hyperparameters"]
    np.testing.assert_array_equal(optimizer.state[0]["momentum_buffer"],
                                  before["state"][0]["momentum_buffer"])
