"""Layer norms, normalized networks, weight perturbations and similarity to a reference solution.

[Liang 2019]. A ReLU network without biases is positively homogeneous in each layer's weight:
f(x; W_1 / rho_1, ..., W_L / rho_L) = f(x; W_1, ..., W_L) / (rho_1 ... rho_L) for rho_l > 0, because
ReLU, max pooling and flattening commute with positive scaling. Dividing each layer by its Frobenius
norm rho_l = ||W_l||_F therefore keeps every prediction (the argmax) and scales the outputs by
1 / prod_l rho_l, while the cross-entropy of the normalized net changes ([Liang 2019, section 4.2],
figures 4-2 to 4-7). With biases the same holds when b_l is divided by rho_1 ... rho_l, which
:func:`normalize_layers` does.

Perturbation ([Liang 2019, section 3.5], figures 3-4 to 3-8): :class:`WeightPerturbation` adds
N(0, std^2) noise to the weights at chosen epochs; :class:`CosineSimilarityTracker` follows
cos(w, w_0) = <w_0, w> / (||w_0|| ||w||) between the flattened weights and a reference solution w_0.
"""
import copy
import math

from minidl import backend, checks, train
from minidl.backend import xp
from minidl.nn import functional as F
from minidl.nn.layers import Conv2d, Linear
from minidl.nn.module import Module


def weighted_layers(model):
    """(path, layer) for every Linear and Conv2d of ``model``, in registration order."""
    return [(path, m) for path, m in model.named_modules() if isinstance(m, (Linear, Conv2d))]


def layer_norms(model):
    """{path: ||W||_F} for every Linear and Conv2d weight of ``model`` (Python floats)."""
    return {path: float(xp.sqrt((layer.weight.data.astype("float64") ** 2).sum()))
            for path, layer in weighted_layers(model)}


def product_of_norms(model):
    """prod_l ||W_l||_F over the Linear and Conv2d layers of ``model`` [Liang 2019, figure 4-7]."""
    return math.prod(layer_norms(model).values())


def normalize_layers(model):
    """A copy of ``model`` with each weight divided by its Frobenius norm (``model`` is not changed).

    Each bias b_l is divided by rho_1 ... rho_l, the product of the norms up to its layer, so that the
    copy computes f(x) / prod_l rho_l exactly when the layers run in registration order with positively
    homogeneous operations between them (ReLU, pooling, flatten, dropout in evaluation). A bias-free
    network [Liang 2019, section 4.2] only has its weights divided.

    Returns:
        (normalized model, product of the norms).
    """
    normalized = copy.deepcopy(model)
    product = 1.0
    for path, layer in weighted_layers(normalized):
        rho = float(xp.sqrt((layer.weight.data.astype("float64") ** 2).sum()))
        if rho == 0:
            raise ValueError(f"normalize_layers: the weight of layer {path!r} is zero; it has no norm "
                             f"to divide by")
        product *= rho
        layer.weight.data /= layer.weight.dtype.type(rho)
        if layer.bias is not None:
            layer.bias.data /= layer.bias.dtype.type(product)
    return normalized, product


def normalized_loss(model, X, y, loss_fn=F.cross_entropy, batch_size=1024):
    """Loss and accuracy of the normalized network on (X, y), with the product of the norms.

    Returns a dict: loss, accuracy (classification), product_of_norms.
    """
    normalized, product = normalize_layers(model)
    result = train.evaluate(normalized, loss_fn, X, y, batch_size)
    result["product_of_norms"] = product
    return result


def _selected(model, include_bias):
    return [(key, p) for key, p in model.named_parameters() if include_bias or key.endswith("weight")]


class WeightPerturbation:
    """A fit callback that adds N(0, std^2) noise to the parameters at the end of chosen epochs.

    Args:
        std: standard deviation of the noise.
        epochs: the epochs after which to perturb ([Liang 2019] uses e.g. 25, 50, 75, 100, 150).
        seed: seed of this callback's own backend generator (the training stream is not touched).
        include_bias: perturb biases too ([Liang 2019] perturbs "the weights and biases").

    Attributes:
        applied: the epochs at which noise was added.

    Raises:
        TypeError: when ``std`` is not a real number.
        ValueError: when it is negative, NaN or infinite.
    """

    def __init__(self, std, epochs, seed=0, include_bias=True):
        self.std = checks.real(std, "std", "WeightPerturbation", low=0)
        self.epochs, self.include_bias = set(epochs), include_bias
        self.generator = xp.random.default_rng(seed)
        self.applied = []

    def on_epoch_end(self, epoch, model, logs):
        if epoch in self.epochs:
            self.perturb(model)
            self.applied.append(epoch)

    def perturb(self, model):
        """Add the noise to ``model``'s parameters now, in place, each in its own dtype."""
        for _, p in _selected(model, self.include_bias):
            p.data += p.dtype.type(self.std) * self.generator.standard_normal(p.shape, dtype=p.dtype)


def flat_cosine(arrays, references):
    """cos between the concatenations of two lists of same-shaped arrays: <r, a> / (||r|| ||a||)."""
    dot = sum((a.astype("float64") * r.astype("float64")).sum() for a, r in zip(arrays, references))
    left = sum((a.astype("float64") ** 2).sum() for a in arrays)
    right = sum((r.astype("float64") ** 2).sum() for r in references)
    values = backend.asnumpy(xp.stack([dot, left, right]))
    if values[1] == 0 or values[2] == 0:
        return math.nan
    return float(values[0] / math.sqrt(values[1] * values[2]))


class CosineSimilarityTracker:
    """A fit callback recording cos(w, w_0) between the model's flattened parameters and a reference.

    Args:
        reference: a state_dict or a Module giving w_0 (copied now); or None to take w_0 from the model
            itself, at the end of ``reference_epoch`` ([Liang 2019, figure 3-8] uses epoch 20), or at the
            start of training when ``reference_epoch`` is 0 (the default).
        include_bias: count biases as part of w.

    Attributes:
        history: list of {"epoch", "cosine"}, from the epoch w_0 was taken on.
    """

    def __init__(self, reference=None, reference_epoch=0, include_bias=True):
        self.include_bias, self.reference_epoch = include_bias, reference_epoch
        self.reference = None
        if reference is not None:
            state = reference.state_dict() if isinstance(reference, Module) else reference
            self.reference = {key: value.copy() for key, value in state.items()}
        self.history = []

    def _take_reference(self, model):
        self.reference = {key: p.data.copy() for key, p in _selected(model, self.include_bias)}

    def on_train_begin(self, model):
        if self.reference is None and self.reference_epoch == 0:
            self._take_reference(model)
            self.history.append({"epoch": 0, "cosine": 1.0})

    def on_epoch_end(self, epoch, model, logs):
        if self.reference is None and epoch == self.reference_epoch:
            self._take_reference(model)
        if self.reference is not None:
            self.history.append({"epoch": epoch, "cosine": self.similarity(model)})

    def similarity(self, model):
        """cos(w, w_0) for the model's parameters now."""
        selected = _selected(model, self.include_bias)
        missing = [key for key, _ in selected if key not in self.reference]
        if missing:
            raise ValueError(f"CosineSimilarityTracker: the reference has no {missing}")
        return flat_cosine([p.data for _, p in selected], [self.reference[key] for key, _ in selected])
