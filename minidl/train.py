"""The fit loop: minibatches, a progress bar, validation, callbacks and a per-epoch history.

Data arrives as host (NumPy) arrays or backend arrays; each minibatch is moved to the backend with
``backend.to_device`` (a no-op on the CPU), the one visible place where training data crosses to the GPU.
"""
import math
import time

from tqdm import tqdm

from data_tools.batches import batches
from minidl import backend, random
from minidl.autograd import Tensor, no_grad


def _check_data(X, y, where):
    if len(X) != len(y):
        raise ValueError(f"{where}: X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError(f"{where}: got no samples")


def _is_classification(output, y):
    return output.ndim == 2 and output.shape[1] > 1 and y.ndim == 1 and y.dtype.kind in "iu"


def _batch(array, index):
    return backend.to_device(array[index])


def evaluate(model, loss_fn, X, y, batch_size=1024):
    """Mean loss (and accuracy for integer class targets) of ``model`` on (X, y), in eval mode.

    X: (N, ...) inputs; y: (N,) integer classes or (N, ...) regression targets -> dict.
    The model's train/eval mode is restored afterwards.
    """
    _check_data(X, y, "evaluate")
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
        callbacks=(), progress=True):
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
        progress: show a tqdm progress bar over epochs.

    Returns:
        history: a list with one dict per epoch: epoch, loss, accuracy (classification), val_loss,
        val_accuracy (with validation), seconds.

    Raises:
        FloatingPointError: naming the epoch and batch where the loss became NaN or infinite.
    """
    _check_data(X, y, "fit")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if validation is not None:
        _check_data(*validation, "fit (validation)")
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)

    history = []
    n = len(X)
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch", disable=not progress, leave=False)
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
            if not math.isfinite(value):
                raise FloatingPointError(f"fit: the loss became {value} at epoch {epoch}, batch {batch}")
            loss.backward()
            optimizer.step()
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
