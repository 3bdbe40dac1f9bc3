"""SpectrumTracker: a fit callback that records the singular values of weight matrices every epoch.

[Dworakowski 2019, section 5.2]: "as networks are trained, various statistics are captured between epochs": the
singular values of the weight matrices, the accuracy and the epoch. For every tracked layer and every
recorded epoch the tracker keeps one record (a dict):

    epoch, layer, sigma_max, sigma_min, condition_number, stable_rank,
    the epoch's metrics from fit (loss, accuracy, val_loss, val_accuracy, seconds),
    spectrum (all singular values, descending, a float64 NumPy array).

Epoch 0 (the weights before training, recorded by ``on_train_begin``) has no metrics. The tracker only
reads the weights: one decomposition per layer per recorded epoch, on the weights' device, the values
copied to the host once (see :mod:`minidl.analysis.spectrum`).
"""
import csv
import io
import json
import math

import numpy

from minidl import checks
from minidl.analysis.spectrum import spectral_summary
from minidl.files import write_atomically
from minidl.nn.layers import Conv2d, Linear
from minidl.nn.module import Module

STATISTICS = ("sigma_max", "sigma_min", "condition_number", "stable_rank")


class SpectrumTracker:
    """Record the spectrum of chosen layers during ``train.fit`` (pass it in ``callbacks``).

    Args:
        layers: module paths as in ``model.named_modules()`` ('0', '3', 'features.2'), or the layer
            objects themselves; None tracks every Linear and Conv2d of the model.
        every: record every ``every``-th epoch (epochs 0, every, 2 every, ...).

    Attributes:
        history: the records, in the order they were made (see the module docstring).

    Raises:
        TypeError: when ``every`` is not an integer.
        ValueError: when it is below 1.
    """

    def __init__(self, layers=None, every=1):
        every = checks.integer(every, "every", "SpectrumTracker", low=1)
        if isinstance(layers, (str, Module)):
            layers = [layers]
        self.layers = None if layers is None else list(layers)
        self.every = every
        self.history = []

    # ----------------------------------------------------------------- callback
    def on_train_begin(self, model):
        """Record epoch 0: the weights before the first update."""
        self.record(0, model)

    def on_epoch_end(self, epoch, model, logs):
        if epoch % self.every == 0:
            self.record(epoch, model, logs)

    def record(self, epoch, model, logs=None):
        """Append one record per tracked layer of ``model`` for ``epoch`` (metrics from ``logs``)."""
        metrics = {key: value for key, value in (logs or {}).items() if key != "epoch"}
        for name, layer in self.tracked(model):
            summary = spectral_summary(layer, name=name)
            row = {"epoch": epoch, "layer": name}
            row.update({key: summary[key] for key in STATISTICS})
            row.update(metrics)
            row["spectrum"] = summary["spectrum"]
            self.history.append(row)

    def tracked(self, model):
        """(path, layer) for every tracked layer of ``model``: in the model's order, or as listed."""
        named = list(model.named_modules())
        if self.layers is None:
            found = [(path, m) for path, m in named if isinstance(m, (Linear, Conv2d))]
            if not found:
                raise ValueError(f"SpectrumTracker: {type(model).__name__} has no Linear or Conv2d "
                                 f"layer to track")
            return found
        by_path, by_id = dict(named), {id(m): path for path, m in named}
        result = []
        for entry in self.layers:
            if isinstance(entry, Module):
                if id(entry) not in by_id:
                    raise ValueError(f"SpectrumTracker: the {type(entry).__name__} to track is not a "
                                     f"part of this {type(model).__name__}")
                result.append((by_id[id(entry)], entry))
            elif entry in by_path:
                result.append((entry, by_path[entry]))
            else:
                paths = [path for path, m in named if path and hasattr(m, "weight")]
                raise ValueError(f"SpectrumTracker: no layer {entry!r} in the model; layers with "
                                 f"weights are {paths}")
        return result

    # ----------------------------------------------------------------- reading
    def layer_names(self):
        """The tracked layer paths, in the order they were first recorded."""
        return list(dict.fromkeys(row["layer"] for row in self.history))

    def records(self, layer=None):
        """The records of one layer (all records when ``layer`` is None)."""
        return [row for row in self.history if layer is None or row["layer"] == layer]

    def series(self, key, layer):
        """(epochs, values) of one column for one layer, as NumPy arrays (NaN where missing)."""
        rows = self.records(layer)
        epochs = numpy.array([row["epoch"] for row in rows], dtype=numpy.int64)
        values = numpy.array([row.get(key, math.nan) for row in rows], dtype=numpy.float64)
        return epochs, values

    # ----------------------------------------------------------------- writing
    def to_csv(self, path):
        """Write the history as CSV, one row per epoch per layer, atomically.

        Columns: epoch, layer, the statistics, the metrics, then spectrum as space-separated values.
        """
        write_atomically(path, records_to_csv(self.history))

    def to_json(self, path=None):
        """The history as JSON text (spectra as lists; NaN and inf as null); written if ``path``."""
        text = json.dumps([_jsonable(row) for row in self.history], indent=1) + "\n"
        if path is not None:
            write_atomically(path, text)
        return text


def records_to_csv(records):
    """CSV text of records: epoch, layer, statistics and metrics first, a spectrum column last."""
    keys = list(dict.fromkeys(key for row in records for key in row if key != "spectrum"))
    has_spectrum = any("spectrum" in row for row in records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys + (["spectrum"] if has_spectrum else []))
    for row in records:
        cells = [row.get(key, "") for key in keys]
        if has_spectrum:
            spectrum = row.get("spectrum")
            cells.append("" if spectrum is None else " ".join(f"{v:.9g}" for v in spectrum))
        writer.writerow(cells)
    return buffer.getvalue()


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, numpy.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (numpy.integer,)):
        return int(value)
    if isinstance(value, (float, numpy.floating)):
        return float(value) if math.isfinite(value) else None
    return value
