"""Optimizer: the base that every optimizer builds on.

The base holds the parameters, their hyperparameters and a per-parameter state, and runs the step as a
template: for each parameter that has a gradient it calls the subclass's ``update(parameter, grad,
state)``, which changes ``parameter.data`` in place and creates the parameter's state lazily (with
``xp.zeros_like(parameter.data)``, on the parameter's own device) at its first step. Then the hooks
registered with :meth:`Optimizer.register_step_post_hook` run (singular value bounding is one).

A subclass defines three things:

- ``check(hyperparameters, where)``: the hyperparameters as canonical Python values (minidl.checks),
  raising on bad ones; it runs at construction and in :meth:`Optimizer.load_state_dict`;
- ``state_keys(hyperparameters)``: the names a parameter's state holds under those hyperparameters;
- ``update(parameter, grad, state)``: one parameter's step.

Hyperparameters are attributes (``optimizer.lr = 0.01`` between steps, as a scheduler does); each
assignment is checked as at construction, and one that changes which state a parameter needs (Adam's
amsgrad, RMSprop's momentum or centered, SGD's momentum) adds the new arrays as zeros and drops those no
longer used, so the state always matches ``state_keys`` of the current hyperparameters.

The optimizer holds the Parameter objects themselves, so after ``model.to(dtype)`` it updates the new
arrays; its state arrays follow the parameter's dtype at the next step.
"""
from collections.abc import Mapping

from minidl import backend, checks
from minidl.backend import xp
from minidl.autograd import Tensor, bump_version
from minidl.nn.module import Module

STEP = "step"  # the one state entry that is a count, not an array


class RemovableHandle:
    """What :meth:`Optimizer.register_step_post_hook` returns: ``remove()`` unregisters the hook."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Optimizer:
    """Base class of optimizers: parameters, hyperparameters as attributes, per-parameter state, hooks.

    Args:
        params: an iterable of Parameters (``model.parameters()``), each at most once.
        hyperparameters: a dict name -> value; after ``check`` each becomes an attribute
            (``optimizer.lr``), which may be changed between steps (and is checked again then).

    Attributes:
        params: the list of Parameters.
        state: one dict per parameter (empty until the parameter's first step).

    Raises:
        TypeError: when ``params`` is a Module (pass ``model.parameters()``), a single Tensor, or holds
            something that is not a Tensor requiring gradients.
        ValueError: when ``params`` is empty or holds a parameter twice, and for bad hyperparameters,
            at construction or when one is assigned later.
    """

    def __init__(self, params, hyperparameters):
        where = type(self).__name__
        if isinstance(params, Module):
            raise TypeError(f"{where}: expected the model's parameters, got the {type(params).__name__} "
                            f"itself; pass model.parameters()")
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: expected an iterable of Parameters, got a single Tensor; pass "
                            f"[tensor]")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{where}: expected an iterable of Parameters (model.parameters()), got "
                            f"{type(params).__name__}") from None
        if not params:
            raise ValueError(f"{where}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                got = "a Tensor that does not require grad" if isinstance(p, Tensor) else type(p).__name__
                raise TypeError(f"{where}: params[{i}] must be a Parameter (a Tensor that requires grad), "
                                f"got {got}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{where}: a parameter appears more than once in params")
        self.params = params
        self.state = [{} for _ in params]
        self._names = tuple(hyperparameters)
        self._step_post_hooks, self._next_hook = {}, 0
        for name, value in self.check(dict(hyperparameters), where).items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        """A hyperparameter assigned between steps is checked with the others, and the state follows it."""
        if name not in self.__dict__.get("_names", ()):
            object.__setattr__(self, name, value)
            return
        hyperparameters = self.check({**self.hyperparameters, name: value}, f"{type(self).__name__}.{name}")
        object.__setattr__(self, name, hyperparameters[name])
        keys = self.state_keys(hyperparameters)
        for p, entry in zip(self.params, self.state):
            if not entry:
                continue  # created at the parameter's first step
            for key in [key for key in entry if key not in keys]:
                del entry[key]
            for key in keys:
                if key not in entry:
                    entry[key] = xp.zeros_like(p.data)

    # ----------------------------------------------------------------- the subclass's part
    def check(self, hyperparameters, where):
        raise NotImplementedError(f"{type(self).__name__} does not define check")

    def state_keys(self, hyperparameters):
        raise NotImplementedError(f"{type(self).__name__} does not define state_keys")

    def update(self, parameter, grad, state):
        raise NotImplementedError(f"{type(self).__name__} does not define update")

    # ----------------------------------------------------------------- the step
    @property
    def hyperparameters(self):
        """The current hyperparameters, a dict name -> value."""
        return {name: getattr(self, name) for name in self._names}

    def zero_grad(self):
        """Forget every parameter's gradient (set it to None)."""
        for p in self.params:
            p.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient, in place, then run the post-step hooks.

        Args:
            closure: optional callable that recomputes the loss (and its gradients) first, as PyTorch's.

        Returns:
            the closure's loss, or None.

        Raises:
            TypeError: when a gradient is not a backend array (a Tensor, a list) or its shape or dtype
                differs from its parameter's.
        """
        loss = closure() if closure is not None else None
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            self._follow(i, p, state)
            self.update(p, p.grad, state)
            bump_version(p)
        args = () if closure is None else (closure,)
        for hook in list(self._step_post_hooks.values()):
            hook(self, args, {})
        return loss

    def _follow(self, i, p, state):
        """Check the gradient against the parameter; give state arrays the parameter's dtype (after
        ``model.to(dtype)`` the parameter's array is new, and the state follows it)."""
        if not backend.is_backend_array(p.grad):
            raise TypeError(f"{type(self).__name__}.step: the gradient of params[{i}] must be an array of "
                            f"the backend, got {type(p.grad).__name__}"
                            + ("; assign its array, tensor.data" if isinstance(p.grad, Tensor) else ""))
        if p.grad.shape != p.shape or p.grad.dtype != p.dtype:
            raise TypeError(f"{type(self).__name__}.step: the gradient of params[{i}] is {p.grad.shape} "
                            f"{p.grad.dtype} but the parameter is {p.shape} {p.dtype}")
        for name, value in state.items():
            if name != STEP and value.dtype != p.dtype:
                state[name] = value.astype(p.dtype)

    def register_step_post_hook(self, hook):
        """Run ``hook(optimizer, args, kwargs)`` after every step (PyTorch's signature).

        Returns:
            a handle whose ``remove()`` unregisters the hook.

        Raises:
            TypeError: when ``hook`` is not callable.
        """
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register_step_post_hook: expected a callable, got "
                            f"{type(hook).__name__}")
        key, self._next_hook = self._next_hook, self._next_hook + 1
        self._step_post_hooks[key] = hook
        return RemovableHandle(self._step_post_hooks, key)

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """{'state': {index: {name: array or step count}}, 'hyperparameters': {name: value}}, copied.

        Only parameters that have taken a step have an entry in 'state'.
        """
        state = {i: {name: value if name == STEP else value.copy() for name, value in entry.items()}
                 for i, entry in enumerate(self.state) if entry}
        return {"state": state, "hyperparameters": self.hyperparameters}

    def load_state_dict(self, state_dict):
        """Restore the state and hyperparameters written by :meth:`state_dict`.

        Everything is checked before anything changes: the hyperparameters' names (exactly this
        optimizer's) and values (as at construction), and each state entry's index, names (those the
        loaded hyperparameters use), step count, and arrays (the parameter's shape and dtype). Arrays
        are copied to the backend device.

        Raises:
            TypeError: when the dict, an entry or a value is of the wrong type.
            ValueError: for unknown or missing names, bad values, an index that fits no parameter, or
                an array of another shape or dtype than its parameter.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "hyperparameters"}:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise TypeError(f"{where}: expected a dict with keys 'hyperparameters' and 'state', got {got}")
        given = state_dict["hyperparameters"]
        if not isinstance(given, Mapping):
            raise TypeError(f"{where}: 'hyperparameters' must be a dict, got {type(given).__name__}")
        unknown = [name for name in given if name not in self._names]
        missing = [name for name in self._names if name not in given]
        if unknown or missing:
            raise ValueError(f"{where}: unknown hyperparameters {unknown}, missing {missing}")
        hyperparameters = self.check(dict(given), where)
        state = self._checked_state(state_dict["state"], self.state_keys(hyperparameters), where)
        for name, value in hyperparameters.items():
            object.__setattr__(self, name, value)
        self.state = state

    def _checked_state(self, given, keys, where):
        if not isinstance(given, Mapping):
            raise TypeError(f"{where}: 'state' must be a dict, got {type(given).__name__}")
        state = [{} for _ in self.params]
        for index, entry in given.items():
            i = checks.integer(index, "a state index", where, low=0, high=len(self.params) - 1)
            if not isinstance(entry, Mapping) or set(entry) != set(keys):
                got = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
                raise ValueError(f"{where}: state {i} must hold {sorted(keys)}, got {got}")
            p = self.params[i]
            for name, value in entry.items():
                if name == STEP:
                    state[i][name] = checks.integer(value, f"state {i} step", where, low=0)
                    continue
                if not hasattr(value, "shape") or not hasattr(value, "dtype") or isinstance(value, Tensor):
                    raise TypeError(f"{where}: state {i} {name} must be an array, got "
                                    f"{type(value).__name__}")
                if tuple(value.shape) != p.shape or value.dtype != p.dtype:
                    raise ValueError(f"{where}: state {i} {name} is {tuple(value.shape)} {value.dtype} "
                                     f"but params[{i}] is {p.shape} {p.dtype}")
                state[i][name] = backend.to_device(value).copy()
        return state
