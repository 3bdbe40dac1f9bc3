"""Adam and AdamW, with torch.optim.Adam's and torch.optim.AdamW's exact updates.

For each parameter p with gradient g (-g with maximize), at step t:

    g = g + weight_decay * p                    (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)             (AdamW: decoupled weight decay, instead)
    m = m + (1 - beta1) * (g - m)               first moment
    v = beta2 * v + (1 - beta2) * g * g         second moment
    v_max = max(v_max, v)                       (amsgrad; v_max replaces v below)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

Adam is Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; AdamW is Loshchilov and
Hutter, "Decoupled Weight Decay Regularization", ICLR 2019; amsgrad is Reddi et al., ICLR 2018.
"""
import math

from minidl import checks
from minidl.backend import xp
from minidl.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False).

    A parameter's state: ``step`` (an int), ``exp_avg`` and ``exp_avg_sq`` (and ``max_exp_avg_sq`` with
    amsgrad), arrays of its shape created at its first step, on its device.

    Raises:
        TypeError: for a Module instead of its parameters, a hyperparameter that is not a number,
            betas that are not a pair, or amsgrad / maximize that are not bools.
        ValueError: for an empty parameter list, a negative or non-finite lr, eps or weight_decay, or a
            beta outside [0, 1).
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def check(self, h, where):
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair of numbers, got {betas!r}")
        checked = {name: checks.real(h[name], name, where, low=0) for name in ("lr", "eps", "weight_decay")}
        checked["betas"] = tuple(checks.real(beta, f"betas[{i}]", where, low=0, high=1, high_open=True)
                                 for i, beta in enumerate(betas))
        for name in ("amsgrad", "maximize"):
            checked[name] = checks.flag(h[name], name, where)
        return checked

    def state_keys(self, h):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if h["amsgrad"] else ())

    def update(self, p, g, state):
        beta1, beta2 = self.betas
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
            if self.amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        if self.maximize:
            g = -g
        state["step"] += 1
        if self.weight_decay:
            if self.decoupled_weight_decay:
                p.data *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * (g * g)
        if self.amsgrad:
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step_size = self.lr / (1 - beta1 ** state["step"])
        denominator = xp.sqrt(v) / math.sqrt(1 - beta2 ** state["step"]) + self.eps
        p.data -= step_size * (m / denominator)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    maximize=False): Adam with decoupled weight decay, p <- p (1 - lr weight_decay) before the step.

    State and errors as :class:`Adam`.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
