"""Figures of the spectral analysis ([Dworakowski 2019, figures 7-17], [Heitmann 2019, figures 2-7]).

Every function draws with matplotlib's Agg canvas (no display, no pyplot state: safe on a headless
machine and inside notebooks alike) and returns the Figure; given ``path`` it also saves a PNG there
(atomically). Functions that draw on one set of axes take ``ax`` to draw into an existing figure.

Training curves come as *runs*: a SpectrumTracker, its history (a list of records), or a dict
{label: tracker or history} to compare several runs (one line each). ``layer`` picks the tracked layer
(default: the first one recorded).
"""
import math

import numpy
from matplotlib import colormaps, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minidl.analysis import geometry, random_matrix
from minidl.analysis.tracking import SpectrumTracker
from minidl.files import write_atomically


# --------------------------------------------------------------------- plumbing
def _figure(ax=None, figsize=(6.4, 4.4)):
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _finish(figure, path, dpi=120):
    if path is not None:
        write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=dpi,
                                                             bbox_inches="tight"))
    return figure


class _MinorLogFormatter(ticker.LogFormatterSciNotation):
    """Labels for minor log ticks where the decades alone would leave the axis nearly bare, written short
    (6.35, not 6.35 x 10^0): none when two or more decades are labelled; the ticks at 2 and 5 times a
    power of ten when one is; matplotlib's own choice when the axis spans about a decade or less."""

    def __call__(self, x, pos=None):
        low, high = sorted(self.axis.get_view_interval())
        if low <= 0 or x <= 0:
            return ""
        if math.floor(math.log10(high)) - math.ceil(math.log10(low)) + 1 >= 2:
            return ""
        if high / low > 12:
            mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
            return f"{x:g}" if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""
        return f"{x:.3g}" if super().__call__(x, pos) else ""


def _log(ax, which):
    """Log scale on ``which`` axis ('x' or 'y') with short minor-tick labels for narrow ranges."""
    getattr(ax, f"set_{which}scale")("log")
    getattr(ax, f"{which}axis").set_minor_formatter(_MinorLogFormatter(labelOnlyBase=False))


def _runs(runs):
    """{label: records} from a tracker, a list of records, or a dict of either."""
    if isinstance(runs, dict):
        return {str(label): _records(value) for label, value in runs.items()}
    return {None: _records(runs)}


def _records(value):
    if isinstance(value, SpectrumTracker):
        return value.history
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return value
    raise TypeError(f"plots: expected a SpectrumTracker, a list of records or a dict of them, got "
                    f"{type(value).__name__}")


def _layer_rows(records, layer):
    """The records of ``layer`` (default: the first layer recorded), in epoch order."""
    if not records:
        raise ValueError("plots: got no records to draw")
    layer = records[0]["layer"] if layer is None else layer
    rows = [row for row in records if row["layer"] == layer]
    if not rows:
        names = list(dict.fromkeys(row["layer"] for row in records))
        raise ValueError(f"plots: no records of layer {layer!r}; the layers are {names}")
    return sorted(rows, key=lambda row: row["epoch"]), layer


def _value(row, key):
    """row[key], or key(row) for a function; NaN where the record lacks it (epoch 0 has no metrics)."""
    try:
        value = key(row) if callable(key) else row.get(key)
    except KeyError:
        return math.nan
    return math.nan if value is None else float(value)


def _columns(rows, *keys):
    """Arrays of the given keys (or callables) over the rows that have all of them finite."""
    table = numpy.array([[_value(row, key) for key in keys] for row in rows], dtype=numpy.float64)
    keep = numpy.isfinite(table).all(axis=1) if len(table) else numpy.zeros(0, dtype=bool)
    return [table[keep, i] for i in range(len(keys))]


def _label(run, layer):
    return f"layer {layer}" if run is None else run


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


# --------------------------------------------------------------------- training curves
def conditioning_vs_accuracy(runs, layer=None, accuracy="val_accuracy", ax=None, path=None, title=None):
    """Accuracy (%) against the condition number (log axis), one line per run through the epochs, the
    last epoch a larger dot [Dworakowski 2019, figures 7 and 11]. Epoch 0, which has no accuracy, is left out."""
    figure, ax = _figure(ax)
    for run, records in _runs(runs).items():
        rows, name = _layer_rows(records, layer)
        kappa, acc = _columns(rows, "condition_number", accuracy)
        line, = ax.plot(kappa, 100 * acc, marker=".", label=_label(run, name))
        if len(kappa):
            ax.plot(kappa[-1:], 100 * acc[-1:], marker="o", color=line.get_color())
    _log(ax, "x")
    ax.set(xlabel="condition number sigma_max / sigma_min (log)", ylabel=f"{accuracy} (%)",
           title=title or "conditioning vs accuracy")
    ax.grid(alpha=0.3, which="both")
    _legend(ax)
    return _finish(figure, path)


def conditioning_change_vs_accuracy_change(runs, layer=None, accuracy="val_accuracy", ax=None,
                                           path=None, title=None):
    """Change of accuracy (percentage points) against change of conditioning between consecutive
    recorded epochs, one point per epoch [Dworakowski 2019, figure 8].

    The conditioning changes by orders of magnitude, so its change is measured in decades:
    log10 kappa(epoch) - log10 kappa(epoch - 1) (+1 is a tenfold rise).
    """
    figure, ax = _figure(ax)
    for run, records in _runs(runs).items():
        rows, name = _layer_rows(records, layer)
        kappa, acc = _columns(rows, "condition_number", accuracy)
        ax.scatter(numpy.diff(numpy.log10(kappa)), 100 * numpy.diff(acc), s=14, alpha=0.8,
                   label=_label(run, name))
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.axvline(0, color="0.6", linewidth=0.8)
    ax.set(xlabel="change in log10 condition number (decades)", ylabel=f"change in {accuracy} (points)",
           title=title or "change in conditioning vs change in accuracy")
    ax.grid(alpha=0.3)
    _legend(ax)
    return _finish(figure, path)


def singular_values_vs_epochs(runs, layer=None, axes=None, path=None, title=None):
    """Left: sigma_max (solid) and sigma_min (dashed) per epoch, log axis; right: the condition number
    per epoch, log axis [Dworakowski 2019, figures 9, 12 and 13]. ``axes``: an optional pair of Axes."""
    if axes is None:
        figure = Figure(figsize=(11, 4.2))
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, 2)
    left, right = axes
    figure = left.figure
    for run, records in _runs(runs).items():
        rows, name = _layer_rows(records, layer)
        epochs, top, bottom, kappa = _columns(rows, "epoch", "sigma_max", "sigma_min", "condition_number")
        line, = left.plot(epochs, top, label=_label(run, name))
        left.plot(epochs, bottom, linestyle="--", color=line.get_color())
        right.plot(epochs, kappa, color=line.get_color(), label=_label(run, name))
    left.set(xlabel="epoch", ylabel="singular value (log)", title="sigma_max (solid), sigma_min (dashed)")
    right.set(xlabel="epoch", ylabel="condition number (log)", title="conditioning")
    for ax in (left, right):
        _log(ax, "y")
        ax.grid(alpha=0.3, which="both")
        _legend(ax)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def singular_values_vs_conditioning(runs, layer=None, ax=None, path=None, title=None):
    """sigma_max (solid) and sigma_min (dashed) against the condition number, both log axes, one colour
    per run [Dworakowski 2019, figures 14-15]."""
    figure, ax = _figure(ax)
    for run, records in _runs(runs).items():
        rows, name = _layer_rows(records, layer)
        kappa, top, bottom = _columns(rows, "condition_number", "sigma_max", "sigma_min")
        line, = ax.plot(kappa, top, marker=".", label=_label(run, name))
        ax.plot(kappa, bottom, marker=".", linestyle="--", color=line.get_color())
    _log(ax, "x")
    _log(ax, "y")
    ax.set(xlabel="condition number (log)", ylabel="singular value (log)",
           title=title or "sigma_max (solid), sigma_min (dashed) vs conditioning")
    ax.grid(alpha=0.3, which="both")
    _legend(ax)
    return _finish(figure, path)


def test_error_vs_conditioning(runs, layer=None, error="val_loss", ylabel=None, ax=None, path=None,
                               title=None):
    """Test error against the condition number (log axis), one line per run [Dworakowski 2019, figures 16-17].

    error: the record key to plot (``val_loss`` for a regression), or a function of a record, such as
    ``lambda r: 100 * (1 - r["val_accuracy"])`` for a classification error in percent.
    """
    figure, ax = _figure(ax)
    for run, records in _runs(runs).items():
        rows, name = _layer_rows(records, layer)
        kappa, err = _columns(rows, "condition_number", error)
        ax.plot(kappa, err, marker=".", label=_label(run, name))
    _log(ax, "x")
    ax.set(xlabel="condition number (log)",
           ylabel=ylabel or (error if isinstance(error, str) else "test error"),
           title=title or "test error vs conditioning")
    ax.grid(alpha=0.3, which="both")
    _legend(ax)
    return _finish(figure, path)


def spectrum_snapshots(runs, layer=None, epochs=None, count=6, ax=None, path=None, title=None):
    """The whole spectrum sigma_1 >= sigma_2 >= ... (log axis) at several epochs, coloured from early
    (dark) to late (light). ``epochs`` defaults to ``count`` evenly spaced recorded epochs."""
    figure, ax = _figure(ax)
    runs = _runs(runs)
    if len(runs) != 1:
        raise ValueError(f"spectrum_snapshots: expected one run, got {len(runs)}")
    (run, records), = runs.items()
    rows, name = _layer_rows(records, layer)
    recorded = [row["epoch"] for row in rows]
    if epochs is None:
        picks = numpy.unique(numpy.linspace(0, len(rows) - 1, min(count, len(rows))).round().astype(int))
        chosen = [rows[i] for i in picks]
    else:
        missing = sorted(set(epochs) - set(recorded))
        if missing:
            raise ValueError(f"spectrum_snapshots: epochs {missing} were not recorded; recorded are "
                             f"{recorded}")
        chosen = [row for row in rows if row["epoch"] in set(epochs)]
    cmap = colormaps["viridis"]
    for i, row in enumerate(chosen):
        spectrum = numpy.asarray(row["spectrum"], dtype=numpy.float64)
        ax.plot(numpy.arange(1, len(spectrum) + 1), spectrum, color=cmap(i / max(len(chosen) - 1, 1)),
                label=f"epoch {row['epoch']}")
    _log(ax, "y")
    ax.set(xlabel="index i", ylabel="sigma_i (log)",
           title=title or f"spectrum of {_label(run, name)} over epochs")
    ax.grid(alpha=0.3, which="both")
    _legend(ax)
    return _finish(figure, path)


# --------------------------------------------------------------------- one weight matrix
def esd_with_marchenko_pastur(source, bins=None, sigma=None, ax=None, path=None, title=None):
    """Histogram of the eigenvalues of X = W^T W / N (random_matrix conventions) with the fitted
    Marchenko-Pastur density and its bulk edge lambda_+ [Heitmann 2019, figures 6-7]; the title counts the
    spikes above the bulk. ``bins`` defaults to a third of the eigenvalues, between 10 and 60."""
    figure, ax = _figure(ax)
    fit = random_matrix.marchenko_pastur_fit(source, sigma)
    eigenvalues = fit["eigenvalues"]
    bins = max(10, min(60, len(eigenvalues) // 3)) if bins is None else bins
    ax.hist(eigenvalues, bins=bins, density=True, color="0.75", edgecolor="0.5", label="ESD")
    x = numpy.linspace(fit["lambda_minus"], fit["lambda_plus"], 400)
    ax.plot(x, random_matrix.marchenko_pastur_density(x, fit["Q"], fit["sigma"]), color="C3",
            label=f"Marchenko-Pastur (Q = {fit['Q']:.3g}, sigma = {fit['sigma']:.3g})")
    ax.axvline(fit["lambda_plus"], color="C3", linestyle="--", linewidth=1, label="bulk edge lambda_+")
    ax.set(xlabel="eigenvalue lambda of X", ylabel="density",
           title=title or f"ESD: {fit['spikes']} spike(s) above the bulk")
    ax.grid(alpha=0.3)
    _legend(ax)
    return _finish(figure, path)


def unit_graph(source, sigma=0.5, threshold=0.5, seed=0, ax=None, path=None, title=None):
    """The units of a layer as a graph [Heitmann 2019, section 3.2]: node area by ||w_i||, an edge where the
    Gaussian adjacency of the cosine distance is at least ``threshold`` (darker for stronger)."""
    figure, ax = _figure(ax, figsize=(6, 6))
    adjacency = geometry.gaussian_adjacency(source, sigma, threshold)
    norms = geometry.unit_norms(source)
    positions = geometry.force_layout(adjacency, seed=seed)
    rows, columns = numpy.nonzero(numpy.triu(adjacency))
    for i, j in zip(rows, columns):
        ax.plot(positions[[i, j], 0], positions[[i, j], 1], color="C0",
                alpha=0.15 + 0.6 * float(adjacency[i, j]), linewidth=0.8, zorder=1)
    scale = norms / norms.max() if norms.max() > 0 else norms
    ax.scatter(positions[:, 0], positions[:, 1], s=10 + 140 * scale, color="C1", edgecolor="k",
               linewidth=0.5, zorder=2)
    ax.set(xticks=[], yticks=[], aspect="equal",
           title=title or f"units: {len(norms)} nodes, {len(rows)} edges (threshold {threshold})")
    return _finish(figure, path)


def pruning_curves(curves, ax=None, path=None, title=None):
    """Accuracy (%) against the number of units pruned, one line per criterion, with +-1 std bars where
    the criterion is random [Heitmann 2019, figure 2]. curves: :func:`minidl.analysis.pruning.pruning_curves`."""
    figure, ax = _figure(ax)
    for criterion, curve in curves.items():
        std = numpy.asarray(curve.get("std", numpy.zeros_like(curve["accuracy"])))
        ax.errorbar(curve["units"], 100 * numpy.asarray(curve["accuracy"]),
                    yerr=100 * std if std.any() else None, marker=".", capsize=2, label=criterion)
    ax.set(xlabel="units pruned", ylabel="accuracy (%)", title=title or "accuracy vs units pruned")
    ax.grid(alpha=0.3)
    _legend(ax)
    return _finish(figure, path)
