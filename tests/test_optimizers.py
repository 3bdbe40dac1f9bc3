"""The Optimizer base and the optimizers on it: equal to torch.optim over 20 float64 steps, argument
checks, lazy state, versions, hooks, state_dict checks, and following a model through .to(dtype)."""
import re

import numpy as np
import pytest
import torch

from minidl import Tensor, manual_seed, nn, optim

SHAPES = [(3, 4), (4,), (2,)]
STEPS = 20


def gradient(k, i, p):
    """A gradient that depends on the parameter (so trajectories must agree to agree later), with a
    parameter left without gradient every fifth step and an exact zero in every gradient."""
    if i == 2 and k % 5 == 4:
        return None
    rng = np.random.default_rng(1000 * k + i)
    g = rng.standard_normal(p.shape) + 0.5 * np.sin(p)
    g.flat[0] = 0.0
    return g


def starts():
    rng = np.random.default_rng(7)
    return [rng.standard_normal(shape) for shape in SHAPES]


def run_minidl(name, options):
    params = [nn.Parameter(a.copy()) for a in starts()]
    optimizer = getattr(optim, name)(params, **options)
    trajectory = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            p.grad = gradient(k, i, p.data)
        optimizer.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory


def run_torch(name, options):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in starts()]
    optimizer = getattr(torch.optim, name)(params, **options)
    trajectory = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            g = gradient(k, i, p.detach().numpy())
            p.grad = None if g is None else torch.from_numpy(g)
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


CONFIGURATIONS = [
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.02, "maximize": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "maximize": True, "betas": (0.5, 0.9)}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.02, "maximize": True, "eps": 1e-3}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-4}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.001, "maximize": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.2}),
]


@pytest.mark.parametrize("name, options", CONFIGURATIONS,
                         ids=[f"{n}-{'-'.join(o) or 'defaults'}" for n, o in CONFIGURATIONS])
def test_equal_to_torch_over_20_steps_in_float64(name, options):
    ours, theirs = run_minidl(name, options), run_torch(name, options)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}, param {i}")
    moved = [np.abs(x - s).max() for x, s in zip(ours[-1], starts())]
    assert min(moved) > 1e-3  # every parameter moved: the comparison is not between two still points


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_float32_parameters_and_state_stay_float32(name):
    p = nn.Parameter(np.ones((3, 2), np.float32))
    optimizer = getattr(optim, name)([p], lr=np.float32(0.1), **({"momentum": 0.9} if name in
                                                                 ("SGD", "RMSprop") else {}))
    for _ in range(3):
        p.grad = np.full((3, 2), 0.5, np.float32)
        optimizer.step()
    assert p.data.dtype == np.float32 and np.all(p.data < 1)
    assert all(value.dtype == np.float32 for key, value in optimizer.state[0].items() if key != "step")


# --------------------------------------------------------------------- construction
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_a_module_instead_of_its_parameters_names_the_fix(name):
    with pytest.raises(TypeError, match=f"^{name}: expected the model's parameters, got the Linear itself; "
                                        f"pass model.parameters\\(\\)"):
        getattr(optim, name)(nn.Linear(2, 2), lr=0.1)


@pytest.mark.parametrize("params, error, message", [
    ([], ValueError, "Adam: got an empty parameter list"),
    (nn.Parameter(np.ones(2)), TypeError, "Adam: expected an iterable of Parameters, got a single Tensor"),
    (3, TypeError, "Adam: expected an iterable of Parameters (model.parameters()), got int"),
    ([np.ones(2)], TypeError,
     "Adam: params[0] must be a Parameter (a Tensor that requires grad), got ndarray"),
    ([Tensor(np.ones(2))], TypeError, "Adam: params[0] must be a Parameter (a Tensor that requires grad), "
                                      "got a Tensor that does not require grad"),
])
def test_bad_parameter_lists(params, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        optim.Adam(params)


def test_a_parameter_given_twice_is_refused():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="^RMSprop: a parameter appears more than once in params"):
        optim.RMSprop([p, p])


@pytest.mark.parametrize("name, options, error, message", [
    ("Adam", {"lr": -1e-3}, ValueError, "Adam: lr must be >= 0, got -0.001"),
    ("Adam", {"lr": float("nan")}, ValueError, "Adam: lr must be a finite number, got nan"),
    ("Adam", {"betas": (1.0, 0.9)}, ValueError, "Adam: betas[0] must be in [0, 1), got 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, ValueError, "Adam: betas[1] must be in [0, 1), got -0.1"),
    ("Adam", {"betas": 0.9}, TypeError, "Adam: betas must be a pair of numbers, got 0.9"),
    ("Adam", {"eps": float("inf")}, ValueError, "Adam: eps must be a finite number, got inf"),
    ("Adam", {"amsgrad": "yes"}, TypeError, "Adam: amsgrad must be True or False, got 'yes' (str)"),
    ("AdamW", {"weight_decay": -0.01}, ValueError, "AdamW: weight_decay must be >= 0, got -0.01"),
    ("AdamW", {"maximize": None}, TypeError, "AdamW: maximize must be True or False, got None"),
    ("RMSprop", {"alpha": float("nan")}, ValueError, "RMSprop: alpha must be a finite number, got nan"),
    ("RMSprop", {"momentum": -0.5}, ValueError, "RMSprop: momentum must be >= 0, got -0.5"),
    ("RMSprop", {"centered": 1}, TypeError, "RMSprop: centered must be True or False, got 1 (int)"),
    ("RMSprop", {"eps": "1e-8"}, TypeError, "RMSprop: eps must be a real number, got '1e-8' (str)"),
])
def test_bad_hyperparameters(name, options, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        getattr(optim, name)([nn.Parameter(np.ones(2))], **options)


def test_numpy_scalars_are_accepted_as_hyperparameters():
    optimizer = optim.Adam([nn.Parameter(np.ones(2))], lr=np.float32(0.5), betas=(np.float64(0.8), 0.9),
                           amsgrad=np.bool_(True))
    assert optimizer.hyperparameters == {"lr": 0.5, "betas": (0.8, 0.9), "eps": 1e-8, "weight_decay": 0.0,
                                         "amsgrad": True, "maximize": False}


# --------------------------------------------------------------------- the step
def test_state_is_created_lazily_on_the_first_step_and_versions_are_bumped():
    a, b = nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(3, np.float32))
    optimizer = optim.Adam([a, b], amsgrad=True)
    assert optimizer.state == [{}, {}]
    a.grad = np.ones(2, np.float32)
    optimizer.step()
    assert set(optimizer.state[0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert optimizer.state[0]["step"] == 1 and optimizer.state[1] == {}
    assert (a._version, b._version) == (1, 0)
    np.testing.assert_array_equal(b.data, np.ones(3))


def test_a_saved_input_changed_by_a_step_is_seen_by_its_version():
    w = nn.Parameter(np.array([1.0, 2.0]))
    optimizer = optim.SGD([w], lr=0.1)
    version = w._version
    w.grad = np.ones(2)
    optimizer.step()
    assert w._version == version + 1


def test_a_gradient_of_another_dtype_is_refused():
    p = nn.Parameter(np.ones(2, np.float32))
    p.grad = np.ones(2)
    with pytest.raises(TypeError, match=re.escape("Adam.step: the gradient of params[0] is (2,) float64 but "
                                                  "the parameter is (2,) float32")):
        optim.Adam([p]).step()
    np.testing.assert_array_equal(p.data, np.ones(2))


def test_step_returns_the_closure_loss():
    p = nn.Parameter(np.array([3.0]))
    optimizer = optim.SGD([p], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_array_equal(p.data, [1.5])  # 3 - 0.25 * 6


def test_post_step_hooks_run_in_order_after_the_update_and_can_be_removed():
    p = nn.Parameter(np.array([1.0]))
    optimizer = optim.SGD([p], lr=1.0)
    calls = []
    first = optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append(("a", p.data[0], args)))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append(("b", opt is optimizer, kwargs)))
    p.grad = np.array([0.5])
    optimizer.step()
    assert calls == [("a", 0.5, ()), ("b", True, {})]
    first.remove()
    first.remove()  # removing twice is harmless
    optimizer.step()
    assert calls[2:] == [("b", True, {})]
    with pytest.raises(TypeError, match="^SGD.register_step_post_hook: expected a callable, got int"):
        optimizer.register_step_post_hook(3)


# --------------------------------------------------------------------- state_dict
def fresh(name, options):
    params = [nn.Parameter(a.copy()) for a in starts()]
    return params, getattr(optim, name)(params, **options)


def steps(params, optimizer, ks):
    for k in ks:
        for i, p in enumerate(params):
            p.grad = gradient(k, i, p.data)
        optimizer.step()


@pytest.mark.parametrize("name, options", [("Adam", {"amsgrad": True}), ("AdamW", {}),
                                           ("RMSprop", {"centered": True, "momentum": 0.9})])
def test_state_dict_round_trip_resumes_exactly(name, options):
    params, optimizer = fresh(name, options)
    steps(params, optimizer, range(6))
    reference = [p.data.copy() for p in params]
    params, optimizer = fresh(name, options)
    steps(params, optimizer, range(3))
    saved, saved_params = optimizer.state_dict(), [p.data.copy() for p in params]
    steps(params, optimizer, [99])  # must not leak into the saved copy
    resumed_params = [nn.Parameter(p) for p in saved_params]
    resumed = getattr(optim, name)(resumed_params, lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.hyperparameters == optimizer.hyperparameters
    steps(resumed_params, resumed, range(3, 6))
    for p, expected in zip(resumed_params, reference):
        np.testing.assert_array_equal(p.data, expected)


def break_lr(s):
    s["hyperparameters"]["lr"] = -5


def misspell_lr(s):
    s["hyperparameters"]["lrr"] = s["hyperparameters"].pop("lr")


def drop_amsgrad_state(s):
    del s["state"][0]["max_exp_avg_sq"]


def negative_step(s):
    s["state"][0]["step"] = -1


def tensor_state(s):
    s["state"][1]["exp_avg"] = Tensor(s["state"][1]["exp_avg"])


def wrong_dtype(s):
    s["state"][1]["exp_avg"] = s["state"][1]["exp_avg"].astype(np.float32)


def extra_top_level_key(s):
    s["param_groups"] = []


@pytest.mark.parametrize("change, error, message", [
    (break_lr, ValueError, "Adam.load_state_dict: lr must be >= 0, got -5"),
    (misspell_lr, ValueError, "Adam.load_state_dict: unknown hyperparameters ['lrr'], missing ['lr']"),
    (drop_amsgrad_state, ValueError, "Adam.load_state_dict: state 0 must hold ['exp_avg', 'exp_avg_sq', "
                                     "'max_exp_avg_sq', 'step'], got ['exp_avg', 'exp_avg_sq', 'step']"),
    (negative_step, ValueError, "Adam.load_state_dict: state 0 step must be an integer >= 0, got -1"),
    (tensor_state, TypeError, "Adam.load_state_dict: state 1 exp_avg must be an array, got Tensor"),
    (wrong_dtype, ValueError, "Adam.load_state_dict: state 1 exp_avg is (4,) float32 but params[1] is (4,) "
                              "float64"),
    (extra_top_level_key, TypeError, "Adam.load_state_dict: expected a dict with keys 'hyperparameters' and "
                                     "'state', got ['hyperparameters', 'param_groups', 'state']"),
])
def test_a_bad_state_dict_is_refused_and_changes_nothing(change, error, message):
    params, source = fresh("Adam", {"amsgrad": True})
    steps(params, source, range(2))
    state = source.state_dict()
    change(state)
    params, target = fresh("Adam", {"amsgrad": True, "lr": 0.5})
    steps(params, target, range(1))
    before = target.state_dict()
    with pytest.raises(error, match="^" + re.escape(message)):
        target.load_state_dict(state)
    after = target.state_dict()
    assert after["hyperparameters"] == before["hyperparameters"]
    for i, entry in before["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][i][key], value)


# --------------------------------------------------------------------- following model.to(dtype)
def test_an_optimizer_built_before_a_dtype_move_updates_the_new_arrays():
    manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.1, amsgrad=True)
    x = np.random.default_rng(0).standard_normal((4, 3))

    def step(model, optimizer):
        optimizer.zero_grad()
        (model(Tensor(x.astype(model[0].weight.dtype))) ** 2).sum().backward()
        optimizer.step()

    for _ in range(3):
        step(model, optimizer)
    stale = [p.data for p in model.parameters()]
    stale_copies = [a.copy() for a in stale]
    saved = optimizer.state_dict()
    model.double()
    step(model, optimizer)
    for p, old, copy in zip(model.parameters(), stale, stale_copies):
        assert p.data.dtype == np.float64 and p.data is not old
        np.testing.assert_array_equal(old, copy)  # the float32 arrays of before the move are untouched
    assert all(v.dtype == np.float64 for s in optimizer.state for k, v in s.items() if k != "step")

    # The same step from a float64 copy whose optimizer state is the float32 state cast to float64.
    manual_seed(0)
    twin = nn.Sequential(nn.Linear(3, 2)).double()
    twin.load_state_dict({k: a.astype(np.float64) for k, a in zip(["0.weight", "0.bias"], stale_copies)})
    twin_optimizer = optim.Adam(twin.parameters(), lr=0.1, amsgrad=True)
    twin_optimizer.load_state_dict({"hyperparameters": saved["hyperparameters"], "state": {
        i: {k: v if k == "step" else v.astype(np.float64) for k, v in entry.items()}
        for i, entry in saved["state"].items()}})
    step(twin, twin_optimizer)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data)



# --------------------------------------------------------------------- gradients and hyperparameters set by hand
@pytest.mark.parametrize("name", ["SGD", "Adam"])
@pytest.mark.parametrize("grad, message", [
    (Tensor(np.ones(2)), "must be an array of the backend, got Tensor; assign its array, tensor.data"),
    ([1.0, 1.0], "must be an array of the backend, got list"),
])
def test_a_gradient_that_is_not_an_array_is_refused_and_changes_nothing(name, grad, message):
    p = nn.Parameter(np.ones(2))
    p.grad = grad
    with pytest.raises(TypeError, match=re.escape(f"{name}.step: the gradient of params[0] {message}")):
        getattr(optim, name)([p], lr=0.1).step()
    assert type(p.data) is np.ndarray
    np.testing.assert_array_equal(p.data, np.ones(2))


@pytest.mark.parametrize("name, attribute, value, error, message", [
    ("SGD", "lr", -5.0, ValueError, "SGD.lr: lr must be >= 0, got -5.0"),
    ("SGD", "lr", "0.1", TypeError, "SGD.lr: lr must be a real number, got '0.1' (str)"),
    ("SGD", "momentum", 0.0, ValueError, "SGD.momentum: nesterov needs momentum > 0 and dampening = 0"),
    ("Adam", "betas", (0.9, 1.0), ValueError, "Adam.betas: betas[1] must be in [0, 1), got 1.0"),
    ("RMSprop", "centered", 1, TypeError, "RMSprop.centered: centered must be True or False, got 1 (int)"),
])
def test_a_bad_hyperparameter_assigned_between_steps_is_refused(name, attribute, value, error, message):
    options = {"lr": 0.1, "momentum": 0.9, "nesterov": True} if name == "SGD" else {}
    optimizer = getattr(optim, name)([nn.Parameter(np.ones(2))], **options)
    before = optimizer.hyperparameters
    with pytest.raises(error, match="^" + re.escape(message)):
        setattr(optimizer, attribute, value)
    assert optimizer.hyperparameters == before


def test_an_assigned_hyperparameter_is_stored_canonically():
    optimizer = optim.Adam([nn.Parameter(np.ones(2))])
    optimizer.lr, optimizer.betas, optimizer.amsgrad = np.float32(0.5), [0.5, 0.25], np.bool_(True)
    assert optimizer.hyperparameters["lr"] == 0.5 and type(optimizer.lr) is float
    assert optimizer.betas == (0.5, 0.25) and optimizer.amsgrad is True


@pytest.mark.parametrize("name, options, change", [
    ("Adam", {"lr": 0.1}, {"amsgrad": True}),
    ("Adam", {"lr": 0.1, "amsgrad": True}, {"amsgrad": False}),
    ("RMSprop", {}, {"momentum": 0.9, "centered": True}),
    ("RMSprop", {"momentum": 0.9, "centered": True}, {"momentum": 0.0, "centered": False}),
    ("SGD", {"lr": 0.1}, {"momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, {"momentum": 0.0}),
])
def test_switching_state_options_mid_run_continues_as_torch_started_from_that_state(name, options, change):
    """torch.optim raises KeyError when amsgrad or RMSprop's momentum is turned on mid-run, and keeps
    stale buffers when they are turned off. Here the state follows: new arrays start at zero (SGD's
    buffer at its next first step) and unused ones go, so the state_dict loads back, and the run goes on
    exactly as torch does from that state."""
    params, optimizer = fresh(name, options)
    steps(params, optimizer, range(3))
    for attribute, value in change.items():
        setattr(optimizer, attribute, value)
    saved = optimizer.state_dict()
    for entry in saved["state"].values():
        assert set(entry) == set(optimizer.state_keys(optimizer.hyperparameters))
    twin_params = [nn.Parameter(p.data.copy()) for p in params]
    twin = getattr(optim, name)(twin_params, lr=0.5)
    twin.load_state_dict(saved)

    torch_params = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    torch_optimizer = getattr(torch.optim, name)(torch_params, **{**options, **change})
    for p, t in zip(params, torch_params):
        for key, value in optimizer.state[params.index(p)].items():
            torch_optimizer.state[t][key] = torch.tensor(float(value)) if key == "step" else \
                torch.from_numpy(value.copy())
    steps(params, optimizer, range(3, 6))
    steps(twin_params, twin, range(3, 6))
    for k in range(3, 6):
        for i, t in enumerate(torch_params):
            g = gradient(k, i, t.detach().numpy())
            t.grad = None if g is None else torch.from_numpy(g)
        torch_optimizer.step()
    for p, q, t in zip(params, twin_params, torch_params):
        np.testing.assert_array_equal(p.data, q.data)
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)
