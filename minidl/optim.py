"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update is exactly torch.optim.SGD's. For each parameter p with gradient g, at step t:

    d = g + weight_decay * p
    b = d                                       at the first step (t = 1)
    b = momentum * b + (1 - dampening) * d      afterwards
    d = d + momentum * b   (nesterov)   or   d = b   (otherwise)
    p = p - lr * d

In the notation of papers/000: with dampening = 0 this is eq. 12-13, v <- mu v + g, w <- w - lr v (the
PyTorch form); with dampening = momentum it is eq. 2-3, the blended average v <- mu v + (1 - mu) g, whose
steps are (1 - mu) times smaller for the same learning rate.
"""
from minidl.autograd import bump_version
from minidl.backend import xp


class SGD:
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False).

    Per-parameter momentum buffers are created lazily, on the parameter's device, at its first step.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD: got an empty parameter list")
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                            ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"SGD: {name} must be a non-negative number, got {value!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening = 0, got momentum="
                             f"{momentum}, dampening={dampening}")
        self.lr, self.momentum, self.dampening = float(lr), float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self.buffers = [None] * len(self.params)

    def zero_grad(self):
        """Forget every parameter's gradient (set it to None)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d = p.grad
            if self.weight_decay:
                d = d + self.weight_decay * p.data
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = d.copy()
                else:
                    buffer = self.buffers[i]
                    buffer *= self.momentum
                    buffer += (1.0 - self.dampening) * d
                d = d + self.momentum * self.buffers[i] if self.nesterov else self.buffers[i]
            p.data -= self.lr * d
            bump_version(p)

    def state_dict(self):
        """{'state': {index: {'momentum_buffer': array}}, 'hyperparameters': {...}} (buffers copied)."""
        state = {i: {"momentum_buffer": b.copy()} for i, b in enumerate(self.buffers) if b is not None}
        return {"state": state, "hyperparameters": {
            "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
            "weight_decay": self.weight_decay, "nesterov": self.nesterov}}

    def load_state_dict(self, state_dict):
        """Restore the buffers and hyperparameters written by :meth:`state_dict`."""
        buffers = [None] * len(self.params)
        for i, entry in state_dict["state"].items():
            buffer = entry["momentum_buffer"]
            if not 0 <= int(i) < len(self.params) or buffer.shape != self.params[int(i)].shape:
                raise ValueError(f"SGD.load_state_dict: buffer {i} of shape {buffer.shape} fits no "
                                 f"parameter")
            buffers[int(i)] = xp.array(buffer, copy=True)
        for name, value in state_dict["hyperparameters"].items():
            setattr(self, name, value)
        self.buffers = buffers
