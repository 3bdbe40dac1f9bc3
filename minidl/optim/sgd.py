"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update is exactly torch.optim.SGD's. For each parameter p with gradient g, at step t:

    d = g + weight_decay * p
    b = d                                       at the first step (t = 1)
    b = momentum * b + (1 - dampening) * d      afterwards
    d = d + momentum * b   (nesterov)   or   d = b   (otherwise)
    p = p - lr * d

With dampening = 0 this is [Dworakowski 2019, eq. 12-13], v <- mu v + g, w <- w - lr v (the PyTorch
form); with dampening = momentum it is [Dworakowski 2019, eq. 2-3], the blended average
v <- mu v + (1 - mu) g, whose steps are (1 - mu) times smaller for the same learning rate.
"""
from minidl import checks
from minidl.optim.optimizer import Optimizer


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).

    A parameter's state is its momentum buffer ``momentum_buffer`` (with momentum > 0), created at its
    first step, on its device.

    Raises:
        TypeError: for a Module instead of its parameters, or a hyperparameter that is not a number
            (NumPy scalars are numbers) or, for nesterov, not a bool.
        ValueError: for an empty parameter list, a negative or non-finite hyperparameter, or nesterov
            without momentum > 0 and dampening = 0.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def check(self, h, where):
        checked = {name: checks.real(h[name], name, where, low=0)
                   for name in ("lr", "momentum", "dampening", "weight_decay")}
        checked["nesterov"] = checks.flag(h["nesterov"], "nesterov", where)
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError(f"{where}: nesterov needs momentum > 0 and dampening = 0, got momentum="
                             f"{checked['momentum']}, dampening={checked['dampening']}")
        return checked

    def state_keys(self, h):
        return ("momentum_buffer",) if h["momentum"] else ()

    def update(self, p, g, state):
        d = g
        if self.weight_decay:
            d = d + self.weight_decay * p.data
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = d.copy()
            else:
                buffer = state["momentum_buffer"]
                buffer *= self.momentum
                buffer += (1.0 - self.dampening) * d
            d = d + self.momentum * state["momentum_buffer"] if self.nesterov else state["momentum_buffer"]
        p.data -= self.lr * d
