"""Loss modules with PyTorch's names, for loops written as ``loss = criterion(model(x), y)``.

Each holds its options and calls the functional op (minidl.nn.functional) that computes it.
"""
from minidl import checks
from minidl.nn import functional as F
from minidl.nn.module import Module


class CrossEntropyLoss(Module):
    """Mean over the batch of -log softmax(logits)[target] (torch.nn.CrossEntropyLoss with its defaults).

    Call: logits (N, C) Tensor, targets (N,) integer array or Tensor in [0, C) -> scalar Tensor.

    Raises:
        as :func:`minidl.nn.functional.cross_entropy`: TypeError for non-integer targets, ValueError
        for shapes that do not fit or targets outside [0, C).
    """

    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets)


class MSELoss(Module):
    """Squared error (prediction - target)^2, averaged ('mean') or summed ('sum') over every element
    (torch.nn.MSELoss).

    Call: prediction Tensor, target array or Tensor of the same shape -> scalar Tensor.

    Raises:
        ValueError: when reduction is not 'mean' or 'sum' (at construction), and as
            :func:`minidl.nn.functional.mse_loss` when the target's shape differs.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = checks.one_of(reduction, ("mean", "sum"), "reduction", "MSELoss")

    def forward(self, prediction, target):
        return F.mse_loss(prediction, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"
