"""Structured pruning of the units of a Linear layer: by magnitude, by frame potential, at random.

[Heitmann 2019, section 3.1]. A unit i of a Linear layer with weight W (out, in) is its row w_i (and bias
entry b_i). Pruning it removes that row and bias entry and the matching column of the next Linear,
giving a smaller model (not a mask); in an nn.Sequential of Linear, ReLU and Dropout layers this is
exactly a model whose unit i always outputs 0 (:func:`mask_units` builds that masked model to compare).

Greedy criteria, named as in [Heitmann 2019, figure 2] by what they do to the pruned matrix:

- ``max_magnitude``: keep the Frobenius norm largest: remove the unit of smallest ||w_i|| first;
- ``min_magnitude``: keep it smallest: remove the unit of largest ||w_i|| first;
- ``max_frame_potential``: keep the frame potential of the remaining rows largest: remove the unit of
  smallest contribution c_i = sum_j <w^_i, w^_j>^2 first, recomputing contributions after each removal;
- ``min_frame_potential``: keep it smallest: remove the unit of largest contribution first;
- ``random``: a seeded random order.
"""
import copy

import numpy

from minidl import backend, train
from minidl.analysis.compression import linear_from, replace_module
from minidl.analysis.spectrum import weight_matrix
from minidl.nn import functional as F
from minidl.nn.layers import Dropout, Linear, ReLU, Sequential

CRITERIA = ("max_magnitude", "min_magnitude", "max_frame_potential", "min_frame_potential", "random")


def _normalized_rows(source, where):
    """Host float64 (m, n) rows of the weight scaled to unit length (zero rows stay zero)."""
    W = backend.asnumpy(weight_matrix(source, where=where)).astype(numpy.float64)
    norms = numpy.linalg.norm(W, axis=1, keepdims=True)
    return W / numpy.where(norms > 0, norms, 1.0)


def frame_potential(source):
    """FP(W^) = sum_{i, j} |<w^_i, w^_j>|^2 = ||W^ W^^T||_F^2 over the normalized rows w^_i [Heitmann 2019].

    For N unit vectors in R^d, FP >= max(N, N^2 / d), with equality exactly for orthonormal (N <= d) and
    tight (N >= d) frames. Rows that are zero count as zero vectors.
    """
    rows = _normalized_rows(source, "frame_potential")
    return float(((rows @ rows.T) ** 2).sum())


def frame_potential_contributions(source):
    """c_i = sum_j <w^_i, w^_j>^2 for every unit i: its share of the frame potential ((m,) float64)."""
    rows = _normalized_rows(source, "frame_potential_contributions")
    return ((rows @ rows.T) ** 2).sum(axis=1)


def pruning_order(source, criterion, seed=0):
    """Every unit index of the layer, in the order ``criterion`` removes them ((m,) int64).

    criterion: one of CRITERIA (module docstring); seed: the seed of the ``random`` order.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"pruning_order: criterion must be one of {CRITERIA}, got {criterion!r}")
    if criterion == "random":
        m = weight_matrix(source, where="pruning_order").shape[0]
        return numpy.random.default_rng(seed).permutation(m)
    if criterion.endswith("magnitude"):
        W = backend.asnumpy(weight_matrix(source, where="pruning_order")).astype(numpy.float64)
        norms = numpy.linalg.norm(W, axis=1)
        order = numpy.argsort(norms if criterion == "max_magnitude" else -norms, kind="stable")
        return order.astype(numpy.int64)
    rows = _normalized_rows(source, "pruning_order")
    gram2 = (rows @ rows.T) ** 2
    contribution = gram2.sum(axis=1)
    alive = numpy.ones(len(rows), dtype=bool)
    order = []
    for _ in range(len(rows)):
        loss = numpy.where(alive, 2 * contribution - numpy.diag(gram2), numpy.nan)  # FP lost by removal
        unit = int(numpy.nanargmin(loss) if criterion == "max_frame_potential" else numpy.nanargmax(loss))
        order.append(unit)
        alive[unit] = False
        contribution -= gram2[:, unit]
    return numpy.array(order, dtype=numpy.int64)


def _locate(model, layer, where):
    """(index of the pruned Linear, index of the next Linear) in a Sequential of Linear/ReLU/Dropout."""
    if not isinstance(model, Sequential):
        raise TypeError(f"{where}: expected an nn.Sequential, got {type(model).__name__}")
    for i, module in enumerate(model):
        if not isinstance(module, (Linear, ReLU, Dropout)):
            raise ValueError(f"{where}: expected a Sequential of Linear, ReLU and Dropout layers, "
                             f"got a {type(module).__name__} at {i}")
    try:
        index = int(layer)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected the layer's index in the Sequential, got {layer!r}") from None
    if not 0 <= index < len(model) or not isinstance(model[index], Linear):
        raise ValueError(f"{where}: layer {layer!r} is not a Linear of this Sequential")
    following = [j for j in range(index + 1, len(model)) if isinstance(model[j], Linear)]
    if not following:
        raise ValueError(f"{where}: layer {layer!r} is the output layer; its units are the outputs")
    return index, following[0]


def _check_units(units, m, where):
    """The sorted distinct unit indices ``units`` (integers in [0, m), fewer than all m)."""
    array = numpy.asarray(units)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"{where}: units must be integer indices, got {units!r} ({array.dtype})")
    units = numpy.unique(array.astype(numpy.int64))
    if units.size and (units[0] < 0 or units[-1] >= m):
        raise ValueError(f"{where}: unit indices must lie in [0, {m}), got {units.tolist()}")
    if units.size >= m:
        raise ValueError(f"{where}: cannot remove all {m} units of the layer")
    return units


def prune_units(model, layer, units):
    """A smaller copy of ``model`` without the given units of Linear ``layer`` (its index or path).

    Removes rows ``units`` of the layer's weight and bias and the same columns of the next Linear's
    weight. ``model`` is not changed.

    Raises:
        TypeError: when ``units`` are not integer indices.
        ValueError: for indices outside the layer, all of its units, or a layer that is not a hidden Linear.
    """
    index, following = _locate(model, layer, "prune_units")
    pruned = copy.deepcopy(model)
    first, second = pruned[index], pruned[following]
    units = _check_units(units, first.out_features, "prune_units")
    keep = numpy.setdiff1d(numpy.arange(first.out_features), units).tolist()
    bias = None if first.bias is None else first.bias.data[keep]
    replace_module(pruned, str(index), linear_from(first.weight.data[keep], bias))
    second_bias = None if second.bias is None else second.bias.data
    replace_module(pruned, str(following), linear_from(second.weight.data[:, keep], second_bias))
    return pruned


def mask_units(model, layer, units):
    """A copy of ``model`` of the same size whose ``units`` of Linear ``layer`` have zero weights and
    bias, so they output 0 after the ReLU: the model that :func:`prune_units` makes smaller.

    Raises:
        TypeError: when ``units`` are not integer indices.
        ValueError: for indices outside the layer, all of its units, or a layer that is not a hidden Linear.
    """
    index, _ = _locate(model, layer, "mask_units")
    masked = copy.deepcopy(model)
    target = masked[index]
    units = _check_units(units, target.out_features, "mask_units")
    target.weight.data[units.tolist()] = 0
    if target.bias is not None:
        target.bias.data[units.tolist()] = 0
    return masked


def pruning_curve(model, layer, X, y, criterion, counts=None, seed=0, loss_fn=F.cross_entropy):
    """Accuracy on (X, y) after removing the first n units of ``criterion``'s order, for each n in counts.

    counts defaults to 11 evenly spaced numbers from 0 to m - 1. Returns (counts, accuracies), two (k,)
    NumPy arrays [Heitmann 2019, figure 2].
    """
    index, _ = _locate(model, layer, "pruning_curve")
    m = model[index].out_features
    counts = numpy.unique(numpy.linspace(0, m - 1, 11).astype(numpy.int64)) if counts is None \
        else numpy.asarray(counts, dtype=numpy.int64)
    order = pruning_order(model[index], criterion, seed)
    accuracies = [train.evaluate(prune_units(model, index, order[:n]), loss_fn, X, y)["accuracy"]
                  for n in counts]
    return counts, numpy.array(accuracies, dtype=numpy.float64)


def pruning_curves(model, layer, X, y, criteria=CRITERIA, counts=None, repeats=5, seed=0,
                   loss_fn=F.cross_entropy):
    """:func:`pruning_curve` for several criteria; ``random`` is averaged over ``repeats`` seeds.

    Returns {criterion: {"units": counts, "accuracy": mean accuracies, "std": their standard deviation
    (zeros for the deterministic criteria)}}.
    """
    curves = {}
    for criterion in criteria:
        seeds = range(seed, seed + repeats) if criterion == "random" else [seed]
        runs = [pruning_curve(model, layer, X, y, criterion, counts, s, loss_fn) for s in seeds]
        accuracies = numpy.stack([accuracy for _, accuracy in runs])
        curves[criterion] = {"units": runs[0][0], "accuracy": accuracies.mean(axis=0),
                             "std": accuracies.std(axis=0)}
    return curves
