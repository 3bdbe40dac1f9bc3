"""The fit loop: minibatches, a progress bar, validation, callbacks and a per-epoch history.

Data arrives as host (NumPy) arrays or backend arrays; each minibatch is moved to the backend with
``backend.to_device`` (a no-op on the CPU), the one visible place where training data crosses to the GPU.
"""
import math
import sys
import time

import numpy
from tqdm import tqdm

from data_tools.batches import batches
from minidl import backend, checks, random
from minidl.autograd import Tensor, no_grad


class TrainingError(FloatingPointError):
    """Training stopped because the loss or the parameters went bad; nothing was passed to a callback.

    Attributes:
        history: the logs of the epochs completed before the failure (as ``fit`` would have returned).
        epoch, batch: where it happened (1-based).
    """

    def __init__(self, message, history, epoch, batch):
        super().__init__(message)
        self.history, self.epoch, self.batch = history, epoch, batch


def _check_data(X, y, where):
    """Raise unless X and y are arrays (host or backend) of one positive length."""
    for name, array in (("X", X), ("y", y)):
        if not isinstance(array, numpy.ndarray) and not backend.is_backend_array(array):
            raise TypeError(f"{where}: {name} must be a NumPy or backend array, got {type(array).__name__}; "
                            f"convert it with numpy.asarray(..., dtype=...)")
        if array.ndim == 0:
            raise ValueError(f"{where}: {name} must have a sample axis, got a 0-d array")
    if len(X) != len(y):
        raise ValueError(f"{where}: X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError(f"{where}: got no samples")


def _check_optimizer(model, optimizer):
    """Raise unless ``optimizer`` updates at least one parameter of ``model`` (when it lists its own)."""
    updated = getattr(optimizer, "params", None)
    if updated is None:
        return
    own = {id(p) for p in model.parameters()}
    if own and not any(id(p) in own for p in updated):
        raise ValueError("fit: the optimizer updates none of the model's parameters; build it from "
                         "model.parameters() of the model being trained")


def _check_loss(value, first, divergence, history, epoch, batch):
    """Raise TrainingError when the batch loss ``value`` is non-finite or beyond the divergence guard."""
    if not math.isfinite(value):
        raise TrainingError(f"fit: the loss became {value} at epoch {epoch}, batch {batch}",
                            history, epoch, batch)
    if divergence is not None and first > 0 and value > divergence * first:
        raise TrainingError(f"fit: the loss diverged at epoch {epoch}, batch {batch}: {value:.4g} is more "
                            f"than divergence={divergence:g} times the first batch's {first:.4g}; lower "
                            f"the learning rate, or pass divergence=None to train on", history, epoch, batch)


def _check_parameters(model, history, epoch, batch):
    """Raise TrainingError naming the first parameter that holds NaN or infinity after a step."""
    named = list(model.named_parameters())
    finite = [backend.xp.isfinite(parameter.data).all() for _, parameter in named]
    if finite and bool(backend.xp.stack(finite).all()):  # one device synchronization per step
        return
    for (name, _), ok in zip(named, finite):
        if not bool(ok):
            raise TrainingError(f"fit: parameter {name} holds NaN or infinity after the optimizer step at "
                                f"epoch {epoch}, batch {batch}; lower the learning rate", history, epoch, batch)


def _is_classification(output, y):
    return output.ndim == 2 and output.shape[1] > 1 and y.ndim == 1 and y.dtype.kind in "iu"


def _batch(array, index):
    return backend.to_device(array[index])


def evaluate(model, loss_fn, X, y, batch_size=1024):
    """Mean loss (and accuracy for integer class targets) of ``model`` on (X, y), in eval mode.

    X: (N, ...) inputs; y: (N,) integer classes or (N, ...) regression targets -> dict.
    The model's train/eval mode is restored afterwards.

    Raises:
        TypeError: when X or y is not an array (a nested list, a Tensor ...) or batch_size not an integer.
        ValueError: when they hold different numbers of samples, none at all, or batch_size < 1.
    """
    _check_data(X, y, "evaluate")
    batch_size = checks.integer(batch_size, "batch_size", "evaluate", low=1)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    classification = None
    try:
        with no_grad():
            for start in range(0, len(X), batch_size):
                index = slice(start, start + batch_size)
                xb, yb = _batch(X, index), _batch(y, index)
                output = model(Tensor(xb))
                total_loss += loss_fn(output, yb).item() * len(xb)
                if classification is None:
                    classification = _is_classification(output, yb)
                if classification:
                    correct += int((output.data.argmax(axis=1) == yb).sum())
    finally:
        model.train(was_training)
    result = {"loss": total_loss / len(X)}
    if classification:
        result["accuracy"] = correct / len(X)
    return result


def fit(model, loss_fn, optimizer, X, y, epochs, batch_size, shuffle=True, validation=None,
        callbacks=(), progress=True, divergence=1e6):
    """Train ``model`` with ``optimizer`` on (X, y) and return its history.

    Args:
        model: a Module mapping a (B, ...) Tensor to outputs.
        loss_fn: loss_fn(output Tensor, target backend array) -> scalar Tensor (e.g. cross_entropy).
        optimizer: an optimizer with zero_grad() and step() (e.g. minidl.optim.SGD).
        X: (N, ...) inputs; y: (N,) integer classes or (N, ...) regression targets.
        epochs: number of passes over the data.
        batch_size: samples per update (batch_size = N is full-batch gradient descent).
        shuffle: draw a new order every epoch from the seeded host generator (data_tools.batches).
        validation: optional (X_val, y_val), evaluated after every epoch.
        callbacks: objects with ``on_epoch_end(epoch, model, logs)``; ``on_train_begin(model)`` is
            called too where defined.
        progress: show a tqdm progress bar over epochs (only ever on a terminal).
        divergence: the divergence guard: training stops when a batch's loss exceeds ``divergence``
            times the first batch's loss (when that is positive); None turns the guard off.

    Returns:
        history: a list with one dict per epoch: epoch, loss, accuracy (classification), val_loss,
        val_accuracy (with validation), seconds.

    Raises:
        TypeError: when X, y (or the validation pair) are not arrays, or batch_size, epochs are not integers.
        ValueError: for X and y of different lengths or no samples, batch_size < 1, epochs < 0, a
            divergence factor not above 1, or an optimizer that updates none of the model's parameters.
        TrainingError (a FloatingPointError): when a batch's loss is NaN or infinite, when it passes the
            divergence guard, or when a parameter holds NaN or infinity after an optimizer step. The
            message names the epoch, the batch (and the parameter); the error's ``history`` holds the
            completed epochs. Training stops before any callback sees the bad epoch.
    """
    _check_data(X, y, "fit")
    batch_size = checks.integer(batch_size, "batch_size", "fit", low=1)
    epochs = checks.integer(epochs, "epochs", "fit", low=0)
    if validation is not None:
        _check_data(*validation, "fit (validation)")
    if divergence is not None:
        divergence = checks.real(divergence, "divergence", "fit", low=1, low_open=True)
    _check_optimizer(model, optimizer)
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)

    history, first_loss = [], None
    n = len(X)
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch", leave=False,
               disable=not progress or not sys.stderr.isatty())
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        total_loss, correct, classification = 0.0, 0, None
        for batch, (xb, yb) in enumerate(batches(X, y, batch_size, shuffle, random.host_generator()), 1):
            xb, yb = backend.to_device(xb), backend.to_device(yb)
            optimizer.zero_grad()
            output = model(Tensor(xb))
            loss = loss_fn(output, yb)
            value = loss.item()
            first_loss = value if first_loss is None else first_loss
            _check_loss(value, first_loss, divergence, history, epoch, batch)
            loss.backward()
            optimizer.step()
            _check_parameters(model, history, epoch, batch)
            total_loss += value * len(xb)
            if classification is None:
                classification = _is_classification(output, yb)
            if classification:
                correct += int((output.data.argmax(axis=1) == yb).sum())
        logs = {"epoch": epoch, "loss": total_loss / n}
        if classification:
            logs["accuracy"] = correct / n
        if validation is not None:
            for key, value in evaluate(model, loss_fn, *validation, batch_size=max(batch_size, 1024)).items():
                logs[f"val_{key}"] = value
        logs["seconds"] = time.perf_counter() - started
        for callback in callbacks:
            callback.on_epoch_end(epoch, model, logs)
        history.append(logs)
        bar.set_postfix({k: round(v, 4) for k, v in logs.items() if k not in ("epoch", "seconds")})
    return history
