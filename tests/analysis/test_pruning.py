import numpy as np
import pytest

import minidl
from minidl import nn, train
from minidl.analysis import pruning
from minidl.autograd import Tensor


def float64_mlp(dropout=0.5):
    minidl.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8, dtype=np.float64), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(8, 6, dtype=np.float64), nn.ReLU(), nn.Linear(6, 3, dtype=np.float64))


def test_frame_potential_is_bounded_by_n_and_n_squared_over_d_with_equality_for_tight_frames():
    rng = np.random.default_rng(0)
    for n, d in [(7, 3), (3, 5), (10, 10)]:
        assert pruning.frame_potential(rng.standard_normal((n, d))) >= max(n, n * n / d) - 1e-9
    angles = np.pi * np.arange(6) / 6  # six unit vectors spread over the half circle: a tight frame
    harmonic = np.stack([np.cos(angles), np.sin(angles)], axis=1) * rng.uniform(0.5, 2, (6, 1))
    assert pruning.frame_potential(harmonic) == pytest.approx(36 / 2)
    orthonormal = np.eye(5)[:3] * np.array([[2.0], [0.1], [7.0]])  # norms do not matter
    assert pruning.frame_potential(orthonormal) == pytest.approx(3.0)
    repeated = np.ones((4, 3))
    assert pruning.frame_potential(repeated) == pytest.approx(16.0)
    np.testing.assert_allclose(pruning.frame_potential_contributions(repeated), [4.0] * 4)


def test_magnitude_and_random_orders():
    W = np.array([[3.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert pruning.pruning_order(W, "max_magnitude").tolist() == [1, 2, 0]
    assert pruning.pruning_order(W, "min_magnitude").tolist() == [0, 2, 1]
    random = pruning.pruning_order(W, "random", seed=4)
    assert sorted(random.tolist()) == [0, 1, 2]
    assert random.tolist() == pruning.pruning_order(W, "random", seed=4).tolist()
    with pytest.raises(ValueError, match="criterion must be one of"):
        pruning.pruning_order(W, "largest")


@pytest.mark.parametrize("criterion, best", [("max_frame_potential", max), ("min_frame_potential", min)])
def test_frame_potential_pruning_is_greedy_on_the_remaining_frame_potential(criterion, best):
    W = np.random.default_rng(1).standard_normal((6, 3))
    order = pruning.pruning_order(W, criterion).tolist()
    assert sorted(order) == list(range(6))
    alive = list(range(6))
    for unit in order[:-1]:
        remaining = {u: pruning.frame_potential(W[[v for v in alive if v != u]]) for u in alive}
        assert remaining[unit] == pytest.approx(best(remaining.values()))
        alive.remove(unit)


def test_a_pruned_model_computes_what_the_masked_original_computes():
    model = float64_mlp().eval()
    x = Tensor(np.random.default_rng(2).standard_normal((10, 5)))
    for layer, units in [(0, [1, 4, 6]), (3, [0, 5])]:
        pruned = pruning.prune_units(model, layer, units).eval()
        masked = pruning.mask_units(model, layer, units).eval()
        assert pruned[layer].out_features == model[layer].out_features - len(units)
        following = 3 if layer == 0 else 5
        assert pruned[following].in_features == model[following].in_features - len(units)
        assert [type(m) for m in pruned] == [type(m) for m in model]
        np.testing.assert_allclose(pruned(x).numpy(), masked(x).numpy(), rtol=1e-12, atol=1e-14)
        assert not np.allclose(pruned(x).numpy(), model(x).numpy())
    assert model[0].weight.shape == (8, 5)  # the original is untouched


def test_pruning_rejects_what_it_cannot_prune():
    model = float64_mlp()
    with pytest.raises(ValueError, match="output layer"):
        pruning.prune_units(model, 5, [0])
    with pytest.raises(ValueError, match="is not a Linear"):
        pruning.prune_units(model, 1, [0])
    with pytest.raises(ValueError, match="all 8 units"):
        pruning.prune_units(model, 0, range(8))
    with pytest.raises(ValueError, match=r"in \[0, 8\)"):
        pruning.mask_units(model, 0, [8])
    with pytest.raises(ValueError, match="Flatten at 0"):
        pruning.prune_units(nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Linear(2, 2)), 1, [0])
    with pytest.raises(TypeError, match="nn.Sequential"):
        pruning.prune_units(nn.Linear(2, 2), 0, [0])


def test_pruning_curves_start_at_the_unpruned_accuracy_and_average_random_runs():
    model = float64_mlp(dropout=0.0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    full = train.evaluate(model, nn.functional.cross_entropy, X, y)["accuracy"]
    curves = pruning.pruning_curves(model, "0", X, y, counts=[0, 2, 7], repeats=3)
    assert set(curves) == set(pruning.CRITERIA)
    for criterion, curve in curves.items():
        assert curve["units"].tolist() == [0, 2, 7]
        assert curve["accuracy"][0] == full
    seeds = [pruning.pruning_curve(model, "0", X, y, "random", [7], seed=s)[1][0] for s in range(3)]
    assert curves["random"]["accuracy"][2] == pytest.approx(np.mean(seeds))
    assert curves["random"]["std"][2] == pytest.approx(np.std(seeds))
    order = pruning.pruning_order(model[0], "max_magnitude")
    expected = train.evaluate(pruning.prune_units(model, 0, order[:2]), nn.functional.cross_entropy, X, y)
    assert curves["max_magnitude"]["accuracy"][1] == expected["accuracy"]
    assert not any(curves["max_magnitude"]["std"])


def test_all_orders_are_permutations():
    W = np.random.default_rng(5).standard_normal((7, 4))
    for criterion in pruning.CRITERIA:
        assert sorted(pruning.pruning_order(W, criterion).tolist()) == list(range(7))
