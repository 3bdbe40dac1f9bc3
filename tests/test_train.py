"""train.fit and train.evaluate: learning, bookkeeping, callbacks, determinism and errors."""
import math
import sys

import numpy as np
import pytest

from minidl import Tensor, manual_seed, nn
from minidl.nn import functional as F
from minidl.optim import SGD
from minidl.train import TrainingError, evaluate, fit


def blobs(n=120, seed=0):
    """Two Gaussian classes in 2-D, centred at (-1, -1) and (1, 1): learnable by a linear model."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = (rng.normal(0, 0.7, (n, 2)) + np.where(y[:, None] == 1, 1.0, -1.0)).astype(np.float32)
    return X, y.astype(np.int64)


def mlp(seed=0, dropout=0.0):
    manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 2))


class Recorder:
    def __init__(self):
        self.calls = []

    def on_train_begin(self, model):
        self.calls.append(("begin", model))

    def on_epoch_end(self, epoch, model, logs):
        self.calls.append((epoch, model, logs))


def test_loss_decreases_and_the_history_has_one_entry_per_epoch():
    X, y = blobs()
    model = mlp()
    history = fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.2, momentum=0.9), X, y,
                  epochs=6, batch_size=16, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert all(set(h) == {"epoch", "loss", "accuracy", "seconds"} for h in history)
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0]
    assert history[-1]["accuracy"] > 0.9
    assert all(h["seconds"] > 0 for h in history)


def test_the_epoch_loss_and_accuracy_average_every_sample_once():
    X, y = blobs(50)
    model = mlp()
    history = fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.0), X, y, epochs=2, batch_size=16,
                  progress=False)  # lr = 0: the model never changes; 50 = 16 + 16 + 16 + 2
    logits = model(Tensor(X)).data
    full_loss = F.cross_entropy(Tensor(logits), y).item()
    for h in history:
        assert math.isclose(h["loss"], full_loss, rel_tol=1e-6)
        assert h["accuracy"] == (logits.argmax(axis=1) == y).mean()


def test_validation_metrics_match_evaluate():
    X, y = blobs()
    Xv, yv = blobs(40, seed=1)
    model = mlp(dropout=0.3)
    history = fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=32,
                  validation=(Xv, yv), progress=False)
    assert set(history[-1]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert model.training  # fit leaves the model in training mode
    result = evaluate(model, F.cross_entropy, Xv, yv)
    assert model.training  # evaluate restores the mode it found
    assert result == {"loss": history[-1]["val_loss"], "accuracy": history[-1]["val_accuracy"]}
    model.eval()
    logits = model(Tensor(Xv)).data
    assert result["accuracy"] == (logits.argmax(axis=1) == yv).mean()
    assert math.isclose(result["loss"], F.cross_entropy(Tensor(logits), yv).item(), rel_tol=1e-6)
    assert evaluate(model, F.cross_entropy, Xv, yv, batch_size=7) == pytest.approx(result, rel=1e-6)
    assert not model.training


def test_regression_has_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, F.mse_loss, SGD(model.parameters(), lr=0.1), X, y, epochs=20, batch_size=8,
                  validation=(X, y), progress=False)
    assert set(history[0]) == {"epoch", "loss", "val_loss", "seconds"}
    assert history[-1]["loss"] < 1e-3 * history[0]["loss"]
    np.testing.assert_allclose(model.weight.data, [[1.0, -2.0, 0.5]], atol=1e-2)


def test_callbacks_are_called_with_epoch_numbers_and_the_logs():
    X, y = blobs(40)
    model = mlp()
    recorder = Recorder()

    class EpochsOnly:
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, model, logs):
            self.epochs.append(epoch)

    only = EpochsOnly()
    history = fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=3, batch_size=10,
                  callbacks=[recorder, only], progress=False)
    assert recorder.calls[0] == ("begin", model)
    assert [c[0] for c in recorder.calls[1:]] == [1, 2, 3] and only.epochs == [1, 2, 3]
    assert all(c[1] is model for c in recorder.calls)
    assert [c[2] for c in recorder.calls[1:]] == history


def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(1, 2)

        def forward(self, x):
            seen.extend(x.data[:, 0].astype(int).tolist())
            return self.linear(x)

    X = np.arange(20, dtype=np.float32)[:, None]
    y = np.zeros(20, np.int64)
    model = Probe()
    fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.0), X, y, epochs=2, batch_size=6,
        progress=False)
    first, second = seen[:20], seen[20:]
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second and first != list(range(20))
    seen.clear()
    fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.0), X, y, epochs=2, batch_size=6,
        shuffle=False, progress=False)
    assert seen == list(range(20)) * 2


def test_progress_bar_only_when_asked_and_on_a_terminal(capfd, monkeypatch):
    X, y = blobs(40)
    model = mlp()
    fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=10,
        progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=10,
        progress=True)  # output captured: not a terminal, so no bar
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=10,
        progress=True)
    out, err = capfd.readouterr()
    assert "fit" in out + err


def test_a_nan_loss_raises_naming_the_epoch_and_batch():
    X, y = blobs(100)
    X[70] = np.nan  # in the third batch of 32 when the data is not shuffled
    model = mlp()
    with pytest.raises(FloatingPointError, match="fit: the loss became nan at epoch 1, batch 3"):
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=32,
            shuffle=False, progress=False)


class PoisonAfterEpoch2:
    """A callback that writes NaN into the last layer's bias after epoch 2 (behind the optimizer's back)."""

    def on_epoch_end(self, epoch, model, logs):
        if epoch == 2:
            model[3].bias.data[...] = np.nan


def test_a_loss_that_diverges_later_names_that_epoch():
    X, y = blobs(40)
    model = mlp()

    with pytest.raises(FloatingPointError, match="at epoch 3, batch 1$"):
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=4, batch_size=16,
            callbacks=[PoisonAfterEpoch2()], progress=False)


def train_once(seed):
    X, y = blobs(60)
    model = mlp(seed, dropout=0.2)
    history = fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9), X, y, epochs=3,
                  batch_size=8, validation=(X[:20], y[:20]), progress=False)
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history], model.state_dict()


def test_the_same_seed_gives_a_bit_identical_history():
    (first, weights_a), (second, weights_b), (other, _) = train_once(4), train_once(4), train_once(5)
    assert first == second
    for key in weights_a:
        np.testing.assert_array_equal(weights_a[key], weights_b[key])
    assert first != other


def test_float32_stays_float32_through_fit():
    X, y = blobs(40)
    model = mlp(dropout=0.1)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    fit(model, F.cross_entropy, optimizer, X, y, epochs=2, batch_size=16, progress=False)
    for p in model.parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    assert all(s["momentum_buffer"].dtype == np.float32 for s in optimizer.state)
    assert model(Tensor(X)).dtype == np.float32


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(y=np.zeros(5, np.int64)), ValueError, "fit: X has 40 samples but y has 5"),
    (dict(X=np.zeros((0, 2), np.float32), y=np.zeros(0, np.int64)), ValueError, "fit: got no samples"),
    (dict(batch_size=0), ValueError, "fit: batch_size must be an integer >= 1, got 0"),
    (dict(batch_size=True), TypeError, r"fit: batch_size must be an integer, got True \(bool\)"),
    (dict(batch_size=2.0), TypeError, r"fit: batch_size must be an integer, got 2.0 \(float\)"),
    (dict(epochs=-1), ValueError, "fit: epochs must be an integer >= 0, got -1"),
    (dict(validation=(np.zeros((3, 2), np.float32), np.zeros(2, np.int64))), ValueError,
     r"fit \(validation\): X has 3 samples but y has 2"),
])
def test_bad_arguments(kwargs, error, message):
    X, y = blobs(40)
    model = mlp()
    arguments = dict(X=X, y=y, epochs=1, batch_size=8, progress=False)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), **arguments)


def test_zero_epochs_train_nothing():
    X, y = blobs(40)
    model = mlp()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    assert fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=0, batch_size=8,
               progress=False) == []
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


class Saver:
    """A callback that keeps a copy of the weights at every epoch end, as a checkpoint writer would."""

    def __init__(self):
        self.saved = []

    def on_epoch_end(self, epoch, model, logs):
        self.saved.append((epoch, {k: v.copy() for k, v in model.state_dict().items()}))


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # the overflow is the point
def test_non_finite_weights_after_a_step_stop_training_before_any_callback_saves_them():
    X, y = blobs(40)
    y = np.stack([y * 1000.0, -y * 1000.0], axis=1).astype(np.float32)  # large regression targets
    model = mlp()
    saver = Saver()
    # lr 1e37: the first loss is finite, but the first step overflows the weights to infinity.
    with pytest.raises(TrainingError, match=r"fit: parameter \d\.(weight|bias) holds NaN or infinity after "
                                            r"the optimizer step at epoch 1, batch 1") as raised:
        fit(model, F.mse_loss, SGD(model.parameters(), lr=1e37), X, y, epochs=3, batch_size=8,
            callbacks=[saver], progress=False, divergence=None)
    assert saver.saved == [] and raised.value.history == []
    assert (raised.value.epoch, raised.value.batch) == (1, 1)


def test_the_error_keeps_the_history_of_the_completed_epochs():
    X, y = blobs(40)
    model = mlp()

    with pytest.raises(FloatingPointError) as raised:
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=4, batch_size=16,
            callbacks=[PoisonAfterEpoch2()], progress=False)
    assert isinstance(raised.value, TrainingError)
    assert [logs["epoch"] for logs in raised.value.history] == [1, 2]
    assert all(math.isfinite(logs["loss"]) for logs in raised.value.history)
    assert (raised.value.epoch, raised.value.batch) == (3, 1)


def test_the_divergence_guard_stops_a_finite_but_exploding_loss():
    X, y = blobs(40)
    model = mlp()
    # lr 1e4 with momentum: the loss grows by many orders of magnitude yet stays finite for a while.
    with pytest.raises(TrainingError, match=r"fit: the loss diverged at epoch \d+, batch \d+: .* more than "
                                            r"divergence=1000 times the first batch's [\d.]+; lower") as raised:
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=1e4, momentum=0.9), X, y, epochs=20,
            batch_size=8, progress=False, divergence=1e3)
    for p in model.parameters():
        assert np.isfinite(p.data).all()
    assert all(logs["loss"] < 1e3 * 2 for logs in raised.value.history)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # lr 1e4 without the guard overflows
def test_the_divergence_guard_is_configurable_and_can_be_turned_off():
    X, y = blobs(40)
    runs = {}
    for divergence in ("default", None, 1.5):
        model = mlp()
        guard = {} if divergence == "default" else {"divergence": divergence}
        try:
            runs[divergence] = len(fit(model, F.cross_entropy, SGD(model.parameters(), lr=1e4), X, y,
                                       epochs=1, batch_size=8, progress=False, **guard))
        except TrainingError as error:
            runs[divergence] = str(error)
    assert runs[None] == 1  # the loss reached about 1e31 in this epoch, finite all along
    assert "divergence=1e+06 times" in runs["default"] and "divergence=1.5 times" in runs[1.5]


@pytest.mark.parametrize("divergence, error, message", [
    (1.0, ValueError, r"fit: divergence must be > 1, got 1.0"),
    (float("nan"), ValueError, "fit: divergence must be a finite number, got nan"),
    ("10", TypeError, "fit: divergence must be a real number, got '10' .str."),
])
def test_bad_divergence(divergence, error, message):
    X, y = blobs(40)
    model = mlp()
    with pytest.raises(error, match=message):
        fit(model, F.cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=1, batch_size=8,
            progress=False, divergence=divergence)


def test_fit_refuses_an_optimizer_of_another_model():
    model, other = nn.Linear(2, 1), nn.Linear(2, 1)
    X, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    with pytest.raises(ValueError, match="fit: the optimizer updates none of the model's parameters"):
        fit(model, F.mse_loss, SGD(other.parameters(), lr=0.1), X, y, epochs=1, batch_size=4)
