"""data_tools.batches: every sample once per pass, seeded orders, the last partial batch, and fit on it."""
import re

import numpy as np
import pytest

from data_tools import batches
from minidl import Tensor, manual_seed, nn, optim, train
from minidl.nn import functional as F

X = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
Y = np.arange(23)


def collect(*args, **kwargs):
    return [(xb.copy(), yb.copy()) for xb, yb in batches(*args, **kwargs)]


def test_every_sample_once_with_the_last_partial_batch_kept():
    result = collect(X, Y, 5, seed=0)
    assert [len(yb) for _, yb in result] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in result])
    assert sorted(seen) == list(range(23)) and list(seen) != list(range(23))
    for xb, yb in result:  # rows stay paired
        np.testing.assert_array_equal(xb, X[yb])


def test_drop_last():
    assert [len(yb) for _, yb in collect(X, Y, 5, seed=0, drop_last=True)] == [5, 5, 5, 5]
    assert [len(yb) for _, yb in collect(X[:20], Y[:20], 5, seed=0, drop_last=True)] == [5, 5, 5, 5]
    assert collect(X[:4], Y[:4], 5, drop_last=True) == []


def test_without_shuffle_the_order_is_kept():
    result = collect(X, Y, 10, shuffle=False)
    assert [list(yb) for _, yb in result] == [list(range(10)), list(range(10, 20)), [20, 21, 22]]


def test_edge_sizes():
    assert collect(X[:0], Y[:0], 4) == []
    (xb, yb), = collect(X, Y, 100, seed=1)
    assert sorted(yb) == list(range(23))
    assert [len(yb) for _, yb in collect(X, Y, 1, seed=1)] == [1] * 23


def orders(**kwargs):
    return [list(yb) for _, yb in batches(X, Y, 4, **kwargs)]


def test_seeds():
    assert orders(seed=3) == orders(seed=3) and orders(seed=3) != orders(seed=4)
    assert orders(seed=np.int64(3)) == orders(seed=3)
    generator = np.random.default_rng(3)
    first, second = orders(seed=generator), orders(seed=generator)
    assert first == orders(seed=3) and second != first  # a Generator's draws continue
    manual_seed(5)
    a = orders()
    manual_seed(5)
    assert orders() == a  # None: minidl's host generator, repeated by manual_seed


def test_batches_are_copies():
    (xb, _), *_ = batches(X, Y, 4, seed=0)
    xb[...] = -1
    assert X.min() == 0


def test_the_order_is_drawn_when_the_iteration_starts():
    generator = np.random.default_rng(0)
    state = generator.bit_generator.state
    iterator = batches(X, Y, 4, seed=generator)
    assert generator.bit_generator.state == state
    next(iterator)
    assert generator.bit_generator.state != state


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(X=X.tolist()), TypeError, "batches: X must be an array of shape (N, ...), got list; convert it "
                                    "with numpy.asarray"),
    (dict(y=np.float32(3)), TypeError, "batches: y must be an array of shape (N, ...), got float32"),
    (dict(y=Y[:5]), ValueError, "batches: X has 23 samples but y has 5"),
    (dict(batch_size=0), ValueError, "batches: batch_size must be an integer >= 1, got 0"),
    (dict(batch_size=2.0), TypeError, "batches: batch_size must be an integer, got 2.0 (float)"),
    (dict(batch_size=True), TypeError, "batches: batch_size must be an integer, got True (bool)"),
    (dict(seed=-1), ValueError, "batches: seed must be an integer >= 0, got -1"),
    (dict(seed=1.5), TypeError, "batches: seed must be an integer, got 1.5 (float)"),
    (dict(shuffle="yes"), TypeError, "batches: shuffle must be True or False, got 'yes' (str)"),
    (dict(drop_last=1), TypeError, "batches: drop_last must be True or False, got 1 (int)"),
])
def test_bad_arguments_fail_at_the_call(kwargs, error, message):
    arguments = dict(X=X, y=Y, batch_size=4) | kwargs
    with pytest.raises(error, match="^" + re.escape(message)):
        batches(**arguments)


def test_fit_is_the_hand_written_loop_over_batches():
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((30, 3)).astype(np.float32), rng.integers(0, 2, 30)

    def model_and_optimizer():
        manual_seed(11)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 2))
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    model, optimizer = model_and_optimizer()
    train.fit(model, F.cross_entropy, optimizer, data, labels, 3, 8, progress=False)
    by_hand, optimizer = model_and_optimizer()
    for epoch in range(3):
        for xb, yb in batches(data, labels, 8):
            optimizer.zero_grad()
            F.cross_entropy(by_hand(Tensor(xb)), yb).backward()
            optimizer.step()
    for p, q in zip(model.parameters(), by_hand.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
