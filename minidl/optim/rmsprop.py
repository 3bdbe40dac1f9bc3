"""RMSprop, with torch.optim.RMSprop's exact update.

For each parameter p with gradient g (-g with maximize):

    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g * g                 running mean of squared gradients
    a = a + (1 - alpha) * (g - a)                       (centered: running mean of gradients)
    s = sqrt(v - a * a) + eps   (centered)   or   sqrt(v) + eps
    b = momentum * b + g / s;  p = p - lr * b           (momentum > 0)
    p = p - lr * g / s                                  (otherwise)

RMSprop is Hinton's, from his Coursera lecture 6e (2012); the centered form is Graves,
"Generating Sequences With Recurrent Neural Networks", 2013.
"""
from minidl import checks
from minidl.backend import xp
from minidl.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    maximize=False).

    A parameter's state: ``step`` (an int) and ``square_avg`` (and ``momentum_buffer`` with momentum > 0,
    ``grad_avg`` when centered), arrays of its shape created at its first step, on its device.

    Raises:
        TypeError: for a Module instead of its parameters, a hyperparameter that is not a number, or
            centered / maximize that are not bools.
        ValueError: for an empty parameter list, or a negative or non-finite hyperparameter.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def check(self, h, where):
        checked = {name: checks.real(h[name], name, where, low=0)
                   for name in ("lr", "alpha", "eps", "weight_decay", "momentum")}
        for name in ("centered", "maximize"):
            checked[name] = checks.flag(h[name], name, where)
        return checked

    def state_keys(self, h):
        return (("step", "square_avg") + (("momentum_buffer",) if h["momentum"] > 0 else ())
                + (("grad_avg",) if h["centered"] else ()))

    def update(self, p, g, state):
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p.data))
            if self.momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if self.centered:
                state["grad_avg"] = xp.zeros_like(p.data)
        if self.maximize:
            g = -g
        state["step"] += 1
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        v = state["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        if self.centered:
            a = state["grad_avg"]
            a += (1 - self.alpha) * (g - a)
            scale = xp.sqrt(v - a * a) + self.eps
        else:
            scale = xp.sqrt(v) + self.eps
        if self.momentum > 0:
            b = state["momentum_buffer"]
            b *= self.momentum
            b += g / scale
            p.data -= self.lr * b
        else:
            p.data -= self.lr * (g / scale)
