"""Bad arguments, one table: each call must raise the stated exception with a message naming the
function, what was expected and what came; NumPy scalars are accepted wherever Python numbers are."""
import re
import warnings

import numpy as np
import pytest

from data_tools import linearly_separable, load_digits, random_crop, read_idx, split
from minidl import Tensor, checks, init, manual_seed, nn
from minidl.analysis import SpectrumTracker, WeightPerturbation, djm, edjm_score, energy_rank, prune_units
from minidl.analysis.random_matrix import marchenko_pastur_density, marchenko_pastur_edges
from minidl.nn import functional as F
from minidl.optim import SGD
from minidl.rl.deep_q import fitted_q_iteration, q_network, regress_q, stochasticity_batch_size
from minidl.rl.discretize import PriceGrid
from minidl.rl.markets import NormalPrices
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import value_iteration
from minidl.train import evaluate, fit

nan, inf = float("nan"), float("inf")


def weight(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype), requires_grad=True)


def data(*shape, dtype=np.float32):
    return Tensor(np.ones(shape, dtype=dtype))


def fit_on(X, y=None):
    manual_seed(0)
    model = nn.Linear(2, 2)
    y = np.zeros(2, np.int64) if y is None else y
    return fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=1, batch_size=2,
               progress=False)


def q_data(Y_train=None, X_train=None, Y_test=None):
    X = np.linspace(0, 1, 4) if X_train is None else X_train
    Y = np.zeros((4, 2)) if Y_train is None else Y_train
    return regress_q(X, Y, np.linspace(0, 1, 2), np.zeros((2, 2)) if Y_test is None else Y_test, epochs=1)


BAD_CALLS = {
    "relu(bool)": (lambda: F.relu(Tensor(np.array([True, False]))), TypeError,
                   "relu: expected a numeric (integer or floating) input, got dtype bool"),
    # non-finite and out-of-range hyperparameters
    "GradientPerturbation(nan)": (lambda: nn.GradientPerturbation(nan), ValueError,
                                  "GradientPerturbation: scale must be a finite number, got nan"),
    "GradientPerturbation(inf)": (lambda: nn.GradientPerturbation(inf), ValueError,
                                  "GradientPerturbation: scale must be a finite number, got inf"),
    "GradientPerturbation('3')": (lambda: nn.GradientPerturbation("3"), TypeError,
                                  "GradientPerturbation: scale must be a real number, got '3' (str)"),
    "gradient_perturbation(scale=-1)": (lambda: F.gradient_perturbation(data(2), -1.0), ValueError,
                                        "gradient_perturbation: scale must be >= 0, got -1.0"),
    "BatchNorm1d(eps=nan)": (lambda: nn.BatchNorm1d(3, eps=nan), ValueError,
                             "BatchNorm1d: eps must be a finite number, got nan"),
    "BatchNorm1d(eps=0)": (lambda: nn.BatchNorm1d(3, eps=0), ValueError, "BatchNorm1d: eps must be > 0, got 0"),
    "BatchNorm2d(momentum=1.5)": (lambda: nn.BatchNorm2d(3, momentum=1.5), ValueError,
                                  "BatchNorm2d: momentum must be in [0, 1], got 1.5"),
    "BatchNorm2d(momentum='0.1')": (lambda: nn.BatchNorm2d(3, momentum="0.1"), TypeError,
                                    "BatchNorm2d: momentum must be a real number, got '0.1' (str)"),
    "BatchNorm1d(num_features=2.0)": (lambda: nn.BatchNorm1d(2.0), TypeError,
                                      "BatchNorm1d: num_features must be an integer, got 2.0 (float)"),
    "Dropout(nan)": (lambda: nn.Dropout(nan), ValueError, "Dropout: p must be a finite number, got nan"),
    "dropout(p=1)": (lambda: F.dropout(data(2), 1), ValueError, "dropout: p must be in [0, 1), got 1"),
    "Linear(0, 2)": (lambda: nn.Linear(0, 2), ValueError, "Linear: in_features must be an integer >= 1, got 0"),
    # initializers
    "init.normal(std=-1)": (lambda: init.normal(weight(2, 2), std=-1), ValueError,
                            "init.normal: std must be >= 0, got -1"),
    "init.normal(mean=nan)": (lambda: init.normal(weight(2, 2), mean=nan), ValueError,
                              "init.normal: mean must be a finite number, got nan"),
    "init.uniform(low > high)": (lambda: init.uniform(weight(2, 2), 1.0, 0.0), ValueError,
                                 "init.uniform: high must be >= 1.0, got 0.0"),
    "init.uniform(high=inf)": (lambda: init.uniform(weight(2, 2), 0.0, inf), ValueError,
                               "init.uniform: high must be a finite number, got inf"),
    "init.xavier_uniform(gain=nan)": (lambda: init.xavier_uniform(weight(2, 2), gain=nan), ValueError,
                                      "init.xavier_uniform: gain must be a finite number, got nan"),
    "init.xavier_normal(gain=-1)": (lambda: init.xavier_normal(weight(2, 2), gain=-1), ValueError,
                                    "init.xavier_normal: gain must be >= 0, got -1"),
    "init.orthogonal(gain=inf)": (lambda: init.orthogonal(weight(2, 2), gain=inf), ValueError,
                                  "init.orthogonal: gain must be a finite number, got inf"),
    "init.orthogonal(1-D)": (lambda: init.orthogonal(weight(3)), ValueError,
                             "init.orthogonal: tensor must have at least 2 axes, got shape (3,)"),
    "init.constant(value=nan)": (lambda: init.constant(weight(2), nan), ValueError,
                                 "init.constant: value must be a finite number, got nan"),
    "init.kaiming_uniform(mode='fan')": (lambda: init.kaiming_uniform(weight(2, 2), mode="fan"), ValueError,
                                         "init.kaiming_uniform: mode must be one of 'fan_in', 'fan_out', got 'fan'"),
    "init.normal(ndarray)": (lambda: init.normal(np.zeros((2, 2))), TypeError,
                             "init.normal: tensor must be a Tensor, got array"),
    "init.zeros(int64 Tensor)": (lambda: init.zeros(Tensor(np.zeros(2, np.int64))), TypeError,
                                 "init.zeros: tensor must be a floating-point array, got dtype int64"),
    # int, bool, uint8 and object inputs to float layers
    "Linear(int64 input)": (lambda: nn.Linear(2, 2)(data(3, 2, dtype=np.int64)), TypeError,
                            "Linear: input must be a floating-point array, got dtype int64"),
    "Linear(int32 input)": (lambda: nn.Linear(2, 2)(data(3, 2, dtype=np.int32)), TypeError,
                            "Linear: input must be a floating-point array, got dtype int32"),
    "Linear(bool input)": (lambda: nn.Linear(2, 2)(data(3, 2, dtype=bool)), TypeError,
                           "Linear: input must be a floating-point array, got dtype bool"),
    "Linear(uint8 input)": (lambda: nn.Linear(2, 2)(data(3, 2, dtype=np.uint8)), TypeError,
                            "Linear: input must be a floating-point array, got dtype uint8"),
    "Tensor(object data)": (lambda: Tensor(np.array([[1, "a"]], dtype=object)), TypeError,
                            "Tensor: expected real numbers, got data of dtype object"),
    "linear(object x)": (lambda: F.linear(np.array([[1, "a"]], dtype=object), weight(2, 2)), TypeError,
                         "linear: x must be a floating-point array, got dtype object"),
    "linear(int64 x)": (lambda: F.linear(data(3, 2, dtype=np.int64), weight(2, 2)), TypeError,
                        "linear: x must be a floating-point array, got dtype int64"),
    "linear(list x)": (lambda: F.linear([[1.0, 2.0]], weight(2, 2)), TypeError,
                       "linear: x must be a floating-point array or Tensor, got list"),
    "Conv2d(int64 input)": (lambda: nn.Conv2d(1, 1, 2)(data(1, 1, 3, 3, dtype=np.int64)), TypeError,
                            "Conv2d: input must be a floating-point array, got dtype int64"),
    "conv2d(uint8 x)": (lambda: F.conv2d(data(1, 1, 3, 3, dtype=np.uint8), weight(1, 1, 2, 2)), TypeError,
                        "conv2d: the input must be a floating-point array, got dtype uint8"),
    "MaxPool2d(bool input)": (lambda: nn.MaxPool2d(2)(data(1, 1, 2, 2, dtype=bool)), TypeError,
                              "MaxPool2d: input must be a floating-point array, got dtype bool"),
    "BatchNorm1d(int64 input)": (lambda: nn.BatchNorm1d(2)(data(3, 2, dtype=np.int64)), TypeError,
                                 "BatchNorm1d: input must be a floating-point array, got dtype int64"),
    "BatchNorm2d(ndarray input)": (lambda: nn.BatchNorm2d(2)(np.ones((2, 2, 1, 1), np.float32)), TypeError,
                                   "BatchNorm2d: input must be a Tensor, got array"),
    "softmax(int64 x)": (lambda: F.softmax(data(2, 3, dtype=np.int64)), TypeError,
                         "softmax: x must be a floating-point array, got dtype int64"),
    "log_softmax(axis=2)": (lambda: F.log_softmax(data(2, 3), axis=2), ValueError,
                            "log_softmax: axis must be an integer in [-2, 1], got 2"),
    "flatten(start_axis=1.0)": (lambda: F.flatten(data(2, 3), 1.0), TypeError,
                                "flatten: start_axis must be an integer, got 1.0 (float)"),
    # losses
    "mse_loss(int64 target)": (lambda: F.mse_loss(weight(3), np.array([1, 2, 3])), TypeError,
                               "mse_loss: target must be a floating-point array, got dtype int64"),
    "mse_loss(bool target)": (lambda: F.mse_loss(weight(3), np.array([True, False, True])), TypeError,
                              "mse_loss: target must be a floating-point array, got dtype bool"),
    "mse_loss(int64 prediction)": (lambda: F.mse_loss(data(3, dtype=np.int64), np.zeros(3, np.float32)), TypeError,
                                   "mse_loss: prediction must be a floating-point array, got dtype int64"),
    "mse_loss(ndarray prediction)": (lambda: F.mse_loss(np.zeros(3, np.float32), np.zeros(3, np.float32)),
                                     TypeError, "mse_loss: prediction must be a Tensor, got array"),
    "mse_loss(reduction='none')": (lambda: F.mse_loss(weight(3), np.zeros(3, np.float32), "none"), ValueError,
                                   "mse_loss: reduction must be one of 'mean', 'sum', got 'none'"),
    "exponential_loss(int64 target)": (lambda: F.exponential_loss(weight(2), np.array([1, -1])), TypeError,
                                       "exponential_loss: target must be a floating-point array, got dtype int64"),
    "cross_entropy(empty batch)": (lambda: F.cross_entropy(weight(0, 3), np.zeros(0, np.int64)), ValueError,
                                   "cross_entropy: got an empty batch, logits of shape (0, 3); the mean loss"),
    "cross_entropy(int64 logits)": (lambda: F.cross_entropy(data(2, 3, dtype=np.int64), np.zeros(2, np.int64)),
                                    TypeError, "cross_entropy: logits must be a floating-point array, got dtype "
                                               "int64"),
    # training data
    "fit(X nested list)": (lambda: fit_on([[0.0, 1.0], [1.0, 0.0]]), TypeError,
                           "fit: X must be a NumPy or backend array, got list; convert it with numpy.asarray"),
    "fit(y list)": (lambda: fit_on(np.zeros((2, 2), np.float32), [0, 1]), TypeError,
                    "fit: y must be a NumPy or backend array, got list"),
    "fit(X 0-d)": (lambda: fit_on(np.array(1.0, np.float32), np.zeros(1, np.int64)), ValueError,
                   "fit: X must have a sample axis, got a 0-d array"),
    "fit(int64 X)": (lambda: fit_on(np.zeros((2, 2), np.int64)), TypeError,
                     "Linear: input must be a floating-point array, got dtype int64"),
    "evaluate(batch_size=0)": (lambda: evaluate(nn.Linear(2, 2), F.cross_entropy, np.zeros((2, 2), np.float32),
                                                np.zeros(2, np.int64), batch_size=0), ValueError,
                               "evaluate: batch_size must be an integer >= 1, got 0"),
    # reinforcement learning
    "regress_q(NaN targets)": (lambda: q_data(Y_train=np.array([[0, 1], [nan, 0], [0, 0], [1, nan]])), ValueError,
                               "regress_q: Y_train (the Q targets) must hold finite numbers, got 2 NaN or "
                               "infinite entries, the first at index (1, 0)"),
    "regress_q(inf test targets)": (lambda: q_data(Y_test=np.array([[0, 1], [inf, 0]])), ValueError,
                                    "regress_q: Y_test (the Q targets) must hold finite numbers, got 1"),
    "regress_q(NaN observations)": (lambda: q_data(X_train=np.array([0, 1, nan, 2])), ValueError,
                                    "regress_q: X_train must hold finite numbers, got 1 NaN or infinite entries, "
                                    "the first at index 2"),
    "regress_q(string targets)": (lambda: q_data(Y_train=np.full((4, 2), "x")), TypeError,
                                  "regress_q: Y_train (the Q targets) must be real numbers, got an array of dtype <U1"),
    "regress_q(epochs=1.5)": (lambda: regress_q(np.zeros(2), np.zeros((2, 2)), np.zeros(1), np.zeros((1, 2)),
                                                epochs=1.5), TypeError,
                              "regress_q: epochs must be an integer, got 1.5 (float)"),
    "q_network(dropout=nan)": (lambda: q_network((1, 2), dropout=nan), ValueError,
                               "q_network: dropout must be a finite number, got nan"),
    "q_network(sizes with 0)": (lambda: q_network((1, 0, 2)), ValueError,
                                "q_network: every size must be an integer >= 1, got 0"),
    "stochasticity_batch_size(rate=nan)": (lambda: stochasticity_batch_size(nan, 4), ValueError,
                                           "stochasticity_batch_size: rate must be a finite number, got nan"),
    "fitted_q_iteration(gamma=nan)": (lambda: fitted_q_iteration(None, nan, 1), ValueError,
                                      "fitted_q_iteration: gamma must be a finite number, got nan"),
    "NormalPrices(sd=nan)": (lambda: NormalPrices(sd=nan), ValueError,
                             "NormalPrices: sd must be a finite number, got nan"),
    "NormalPrices(mean='3')": (lambda: NormalPrices(mean="3"), TypeError,
                               "NormalPrices: mean must be a real number, got '3' (str)"),
    "PriceGrid(high=inf)": (lambda: PriceGrid(0.0, inf, 4), ValueError,
                            "PriceGrid: high must be a finite number, got inf"),
    "value_iteration(gamma=nan)": (lambda: value_iteration(None, nan), ValueError,
                                   "value_iteration: gamma must be a finite number, got nan"),
    "market_mdp(None)": (lambda: market_mdp(None, None), TypeError,
                         "market_mdp: env must be a MarketEnv or InventoryMarketEnv, got None"),
    # analysis
    "marchenko_pastur_edges(Q=nan)": (lambda: marchenko_pastur_edges(nan), ValueError,
                                      "marchenko_pastur_edges: the aspect ratio Q (longer side / shorter side) "
                                      "must be a finite number, got nan"),
    "marchenko_pastur_density(sigma=inf)": (lambda: marchenko_pastur_density(1.0, 2.0, sigma=inf), ValueError,
                                            "marchenko_pastur_density: the standard deviation sigma must be a "
                                            "finite number, got inf"),
    "WeightPerturbation(std=nan)": (lambda: WeightPerturbation(nan, [1]), ValueError,
                                    "WeightPerturbation: std must be a finite number, got nan"),
    "SpectrumTracker(every=2.0)": (lambda: SpectrumTracker(every=2.0), TypeError,
                                   "SpectrumTracker: every must be an integer, got 2.0 (float)"),
    "edjm_score(percentile=100)": (lambda: edjm_score(np.ones(3), percentile=100), ValueError,
                                   "edjm_score: percentile must be in [0, 100), got 100"),
    "djm(method='numeric')": (lambda: djm(nn.Linear(2, 2), np.ones((1, 2), np.float32), method="numeric"),
                              ValueError, "djm: method must be one of 'explicit', 'autograd', got 'numeric'"),
    "energy_rank(energy=nan)": (lambda: energy_rank(np.eye(3), nan), ValueError,
                                "energy_rank: energy must be a finite number, got nan"),
    "prune_units(units=[0.5])": (lambda: prune_units(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), 0,
                                                     [0.5]), TypeError,
                                 "prune_units: units must be integer indices, got [0.5] (float64)"),
    # data
    "split(test=nan)": (lambda: split(np.zeros((4, 1)), np.zeros(4, np.int64), test=nan), ValueError,
                        "split: test must be a finite number, got nan"),
    "split(seed=-1)": (lambda: split(np.zeros((4, 1)), np.zeros(4, np.int64), seed=-1), ValueError,
                       "split: seed must be an integer >= 0, got -1"),
    "load_digits(seed=None)": (lambda: load_digits(seed=None), TypeError, "split: seed must be an integer, got None"),
    "linearly_separable(margin=inf)": (lambda: linearly_separable(4, 2, margin=inf), ValueError,
                                       "linearly_separable: margin must be a finite number, got inf"),
    "random_crop(padding=1.5)": (lambda: random_crop(np.zeros((1, 1, 4, 4)), 2, 1.5, 0), TypeError,
                                 "random_crop: padding must be an integer, got 1.5 (float)"),
    "read_idx(max_bytes=1e9)": (lambda: read_idx(__file__, max_bytes=1e9), TypeError,
                                "read_idx: max_bytes must be an integer, got 1000000000.0 (float)"),
    "manual_seed(-1)": (lambda: manual_seed(-1), ValueError, "manual_seed: seed must be an integer >= 0, got -1"),
    # the checks themselves
    "checks.real(bool)": (lambda: checks.real(True, "lr", "f"), TypeError, "f: lr must be a real number, got True"),
    "checks.integer(np.float64)": (lambda: checks.integer(np.float64(2), "n", "f"), TypeError,
                                   "f: n must be an integer, got np.float64(2.0) (float64)"),
    "checks.finite(inf)": (lambda: checks.finite(np.array([1.0, inf]), "x", "f"), ValueError,
                           "f: x must hold finite numbers, got 1 NaN or infinite entries, the first at index 1"),
    "checks.instance": (lambda: checks.instance(3, (list, tuple), "x", "f"), TypeError,
                        "f: x must be a list or tuple, got 3 (int)"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_a_bad_call_raises_a_clear_error(name):
    call, error, message = BAD_CALLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clear error, not a NaN with a RuntimeWarning on the way
        with pytest.raises(error, match="^" + re.escape(message)):
            call()


def test_numpy_scalars_are_accepted_where_python_numbers_are():
    assert nn.GradientPerturbation(np.float32(3)).scale == 3.0
    assert nn.Dropout(np.float64(0.25)).p == 0.25
    norm = nn.BatchNorm1d(np.int64(3), eps=np.float32(1e-3), momentum=np.float16(0.5))
    assert (norm.num_features, norm.momentum) == (3, 0.5) and abs(norm.eps - 1e-3) < 1e-9
    assert nn.Linear(np.int32(2), np.uint8(3)).weight.shape == (3, 2)
    manual_seed(0)
    w = init.normal(weight(200, 200), mean=np.float32(1), std=np.float64(0.5))
    assert abs(float(w.data.mean()) - 1) < 0.01 and abs(float(w.data.std()) - 0.5) < 0.01
    bounded = init.uniform(weight(50), np.int64(-1), np.float32(1))
    assert bounded.data.min() >= -1 and bounded.data.max() < 1
    assert stochasticity_batch_size(np.float32(0.5), np.int64(10)) == 5
    assert checks.integer(np.uint8(7), "n", "f") == 7 and type(checks.integer(np.uint8(7), "n", "f")) is int
    assert NormalPrices(mean=np.float32(3), sd=np.int64(2)).sd == 2.0
    assert PriceGrid(np.float32(0), np.float64(1), np.int32(4)).n_bins == 4
    assert edjm_score(np.linspace(3.0, 1.0, 40), percentile=np.float32(50)) > 0


def test_a_float32_weight_never_gets_a_float64_grad():
    # float targets of the prediction's dtype are the rule; the float32 weight keeps float32 gradients
    layer = nn.Linear(2, 1)
    F.mse_loss(layer(data(4, 2)), np.zeros((4, 1), np.float32)).backward()
    assert layer.weight.grad.dtype == np.float32
    with pytest.raises(TypeError, match="mse_loss: target must be a floating-point array, got dtype int64"):
        F.mse_loss(layer(data(4, 2)), np.zeros((4, 1), np.int64))
    with pytest.raises(TypeError, match="mse_loss: target must have the prediction's dtype float32, got float64"):
        F.mse_loss(layer(data(4, 2)), np.zeros((4, 1), np.float64))


def test_regress_q_names_the_data_not_the_learning_rate():
    with pytest.raises(ValueError) as raised:
        q_data(Y_train=np.array([[0, 1], [nan, 0], [0, 0], [1, 1]]))
    assert "Y_train" in str(raised.value) and "lr" not in str(raised.value)
