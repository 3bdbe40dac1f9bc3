"""Deep Q: a ReLU network that regresses a Q-table, and fitted Q-iteration with a target network.

[Dworakowski 2019, sections 4.3.2, 5.1.2 and 5.4], docs/onenow.md.

- :func:`q_network` builds the fully connected ReLU network (the paper's shape is 1-25-2: the price in,
  the Q value of accumulate and of distribute out; here every Q column by default, 1-25-3), initialized
  with a truncated normal within +-1/sqrt(fan_in) as the original did with scipy's truncnorm.
- :func:`regress_q` trains it by momentum SGD on the squared residual (mse) against Q-table rows, with
  training stochasticity (:func:`stochasticity_batch_size`) and dropout, a SpectrumTracker on every
  Linear layer, and the error on a held-out test set after every epoch (never trained on: evaluated in
  eval mode under no_grad, which the original did not do).
- :func:`fitted_q_iteration` is the deep counterpart of tabular Q-learning: it regresses the Bellman
  target r + gamma max_a' Q_target(s', a') on sampled transitions, with a target network copied from
  the online one every K updates, and so needs no Q-table at all.

Training stochasticity ([Dworakowski 2019, section 5.1.2], eq. 19-20) is the share of the training set that an
update does *not* see: a rate s in [0, 1] means batches of B = max(1, ceil((1 - s) N)) of the N training
rows. s = 0 is full-batch gradient descent (eq. 20); s = 0.25, 0.5, 0.75 use 3/4, 1/2, 1/4 of the set
per update; s = 1 (or any s > 1 - 1/N) is single-sample SGD (eq. 19). An epoch is floor(N / B) updates
on disjoint batches of exactly B rows of a fresh permutation of the set, so every update of a run sees
the same number of rows.

Inputs are standardized with the training set's mean and standard deviation per feature; a
:class:`QNetwork` keeps that shift and scale with the model, so it is always called on raw
observations.
"""
import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from minidl import backend, checks, init, nn, optim, random
from minidl.analysis.tracking import SpectrumTracker
from minidl.autograd import Tensor, no_grad


def q_network(sizes=(1, 25, 3), dropout=0.0, init_std=1.0):
    """A ReLU network Linear(sizes[0], sizes[1]) - ReLU [- Dropout] - ... - Linear(sizes[-2], sizes[-1]).

    Every weight and bias is drawn from N(0, init_std^2) truncated to +-1/sqrt(fan_in) of its layer
    ([Dworakowski 2019, section 4.3.2]; the original's scipy truncnorm(-1/sqrt(fan_in), 1/sqrt(fan_in)) has
    init_std 1). ``dropout`` > 0 puts an inverted Dropout after every hidden ReLU. float32.
    Input (N, sizes[0]) -> output (N, sizes[-1]).

    Raises:
        TypeError: when a size is not an integer, or dropout, init_std not real numbers.
        ValueError: for fewer than two sizes, a size below 1, dropout outside [0, 1), init_std <= 0.
    """
    sizes = tuple(checks.integer(s, "every size", "q_network", low=1) for s in sizes)
    if len(sizes) < 2:
        raise ValueError(f"q_network: sizes must hold at least an input and an output size, got {sizes!r}")
    dropout = checks.real(dropout, "dropout", "q_network", low=0, high=1, high_open=True)
    init_std = checks.real(init_std, "init_std", "q_network", low=0, low_open=True)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if layers:
            layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout > 0.0 else [])
        linear = nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        for parameter in (linear.weight, linear.bias):
            init.truncated_normal(parameter, 0.0, init_std, -bound, bound)
        layers.append(linear)
    return nn.Sequential(*layers)


def output_layer(model):
    """Path (as in ``model.named_modules()``) of the last Linear layer of ``model``."""
    paths = [path for path, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not paths:
        raise ValueError(f"output_layer: {type(model).__name__} has no Linear layer")
    return paths[-1]


def stochasticity_batch_size(rate, n_samples):
    """Batch size B = max(1, ceil((1 - rate) N)) of the stochasticity ``rate`` in [0, 1] on N samples.

    rate 0 -> N (full-batch gradient descent), 0.25 -> ceil(3N/4), 0.5 -> ceil(N/2), 0.75 -> ceil(N/4),
    1 -> 1 (single-sample SGD) [Dworakowski 2019, section 5.1.2].

    Raises:
        TypeError: when n_samples is not an integer or rate not a real number.
        ValueError: when n_samples < 1 or rate lies outside [0, 1].
    """
    n_samples = checks.integer(n_samples, "n_samples", "stochasticity_batch_size", low=1)
    rate = checks.real(rate, "rate", "stochasticity_batch_size", low=0, high=1)
    return max(1, math.ceil((1.0 - rate) * n_samples - 1e-9))


class QNetwork:
    """Q(x) = model((x - shift) / scale): a network with the input standardization it was trained with.

    model maps (N, F) standardized features to (N, A) Q values; shift and scale are (F,) float32.
    """

    def __init__(self, model, shift, scale):
        self.model = model
        self.shift = np.asarray(shift, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    @classmethod
    def fitted_to(cls, model, X):
        """A QNetwork standardizing with the mean and standard deviation of the rows of X (N, F);
        a constant feature gets scale 1."""
        X = _features(X, "QNetwork.fitted_to")
        scale = X.std(axis=0)
        return cls(model, X.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def standardize(self, X):
        """(N, F) float32 standardized features of raw observations X (N, F) (or (N,) when F = 1)."""
        X = _features(X, "QNetwork.standardize")
        if X.shape[1] != self.shift.size:
            raise ValueError(f"QNetwork: expected observations with {self.shift.size} features, "
                             f"got shape {X.shape}")
        return ((X - self.shift) / self.scale).astype(np.float32)

    def predict(self, X):
        """Q values (N, A) float64 of raw observations X (N, F), in eval mode under no_grad."""
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                output = self.model(Tensor(backend.to_device(self.standardize(X))))
        finally:
            self.model.train(was_training)
        return backend.asnumpy(output.data).astype(np.float64)

    def error(self, X, Y):
        """Mean squared error of the Q values of X (N, F) against Y (N, A), in eval mode under no_grad.

        Only reads the parameters: this is how a held-out set is scored.
        """
        Y = np.asarray(Y, dtype=np.float64)
        prediction = self.predict(X)
        if prediction.shape != Y.shape:
            raise ValueError(f"QNetwork.error: expected targets of shape {prediction.shape}, got {Y.shape}")
        return float(np.mean((prediction - Y) ** 2))

    def policy(self):
        """Greedy policy observation (F,) -> argmax_a Q(observation, a) (ties to the lowest index)."""
        return lambda observation: int(np.argmax(self.predict(np.asarray(observation)[None])[0]))


def _features(X, where, name="the observations"):
    """X as float64 (N, F), checked to hold N >= 1 rows of finite numbers."""
    X = _finite_float64(X, name, where)
    X = X[:, None] if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{where}: expected observations of shape (N, F) or (N,), got {X.shape}")
    return X


def _finite_float64(X, name, where):
    """X as a float64 array of finite numbers; anything else raises an error naming ``name``."""
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be real numbers, got an array of dtype {X.dtype}")
    return checks.finite(X.astype(np.float64), name, where)


@dataclass
class QRegression:
    """What :func:`regress_q` trained.

    Attributes:
        network: the QNetwork.
        history: one dict per epoch 0..epochs: epoch, train_mse (mean over the epoch's updates; absent
            at epoch 0, before training), test_mse, test_gain (test_mse of the epoch before minus this
            one; absent at epoch 0).
        tracker: the SpectrumTracker of every Linear layer; its records also hold the epoch's train_mse,
            test_mse and test_gain.
        layer: path of the output layer in the tracker's records.
        batch_size: rows per update.
    """
    network: QNetwork
    history: list
    tracker: SpectrumTracker
    layer: str
    batch_size: int


def regress_q(X_train, Y_train, X_test, Y_test, hidden=(25,), stochasticity=0.0, dropout=0.0, lr=0.01,
              momentum=0.9, epochs=100, seed=0, progress=False):
    """Train a :func:`q_network` to regress Q-table rows by momentum SGD on the mse
    [Dworakowski 2019, section 5.4].

    Every epoch draws a fresh permutation of the N training rows and makes floor(N / B) updates on
    disjoint batches of exactly B = :func:`stochasticity_batch_size` rows (the N mod B rows left over
    sit this epoch out), so the rate alone sets the noise of every update: rates 0, 0.25,
    0.5, 0.75 make 1, 1, 2, 4 updates per epoch when 4 divides N. After every epoch the held-out set
    is scored by :meth:`QNetwork.error` (eval mode, no_grad: it never changes a parameter) and the
    tracker records the singular values of every Linear layer.

    Args:
        X_train: (N, F) or (N,) observations (the price, for the paper's market); Y_train: (N, A) their
            Q values (A = 2 for the paper's accumulate/distribute, 3 with hold).
        X_test, Y_test: the held-out set, never trained on.
        hidden: widths of the hidden layers; the network is F - hidden... - A.
        stochasticity: rate in [0, 1] giving the batch size B.
        dropout: drop probability after every hidden ReLU.
        lr, momentum: of minidl.optim.SGD.
        epochs: passes over the training set.
        seed: seeds the initialization, the batch order and the dropout masks (minidl.manual_seed), so
            runs with the same seed start from the same weights.
        progress: show a tqdm bar over epochs.

    Returns a QRegression.

    Raises:
        TypeError: for non-numeric data or a non-integer epochs.
        ValueError: for data holding NaN or infinity (naming which array and where), shapes that do not
            match, or arguments out of range.
        FloatingPointError: when the training loss becomes NaN or infinite (with finite data: lower lr).
    """
    X_train, X_test = _features(X_train, "regress_q", "X_train"), _features(X_test, "regress_q", "X_test")
    Y_train = _finite_float64(Y_train, "Y_train (the Q targets)", "regress_q")
    Y_test = _finite_float64(Y_test, "Y_test (the Q targets)", "regress_q")
    if Y_train.ndim != 2 or Y_train.shape[0] != X_train.shape[0] or Y_test.shape != (X_test.shape[0],
                                                                                     Y_train.shape[1]):
        raise ValueError(f"regress_q: expected Q targets (N, A) matching the observations, got train "
                         f"{X_train.shape} -> {Y_train.shape}, test {X_test.shape} -> {Y_test.shape}")
    epochs = checks.integer(epochs, "epochs", "regress_q", low=0)
    random.manual_seed(seed)
    model = q_network((X_train.shape[1], *hidden, Y_train.shape[1]), dropout)
    network = QNetwork.fitted_to(model, X_train)
    n = X_train.shape[0]
    batch_size = stochasticity_batch_size(stochasticity, n)
    inputs = backend.to_device(network.standardize(X_train))
    targets = backend.to_device(Y_train.astype(np.float32))
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    tracker = SpectrumTracker()
    history = [{"epoch": 0, "test_mse": network.error(X_test, Y_test)}]
    tracker.record(0, model, history[0])
    bar = tqdm(range(1, epochs + 1), desc=f"regress Q (B = {batch_size})", unit="epoch",
               disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = random.host_generator().permutation(n)
        losses = []
        for start in range(0, n - batch_size + 1, batch_size):
            index = backend.to_device(order[start:start + batch_size])
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(Tensor(inputs[index])), targets[index])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        if not np.isfinite(losses).all():
            raise FloatingPointError(f"regress_q: the training loss became non-finite at epoch {epoch}; "
                                     f"lower lr (got {lr})")
        test_mse = network.error(X_test, Y_test)
        logs = {"epoch": epoch, "train_mse": float(np.mean(losses)), "test_mse": test_mse,
                "test_gain": history[-1]["test_mse"] - test_mse}
        history.append(logs)
        tracker.on_epoch_end(epoch, model, logs)
        bar.set_postfix(train_mse=f"{logs['train_mse']:.4g}", test_mse=f"{test_mse:.4g}")
    return QRegression(network=network, history=history, tracker=tracker, layer=output_layer(model),
                       batch_size=batch_size)


@dataclass
class Transitions:
    """Sampled experience: observations (N, F), actions (N,) int64, rewards (N,), next_observations
    (N, F), and n_actions, the size of the action space.

    Observations are float32 as the environment shows them; rewards float64.
    """
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    n_actions: int

    def __len__(self):
        return self.actions.size


def sample_transitions(env, n_samples, seed):
    """``n_samples`` transitions of ``env`` under uniformly random actions (an off-policy data set).

    ``seed`` seeds the actions and the environment. Episodes end by truncation only (the markets go on),
    so every transition bootstraps from its next observation.

    Raises:
        TypeError: when ``n_samples`` is not an integer.
        ValueError: when it is below 1, or the market terminates.
    """
    n_samples = checks.integer(n_samples, "n_samples", "sample_transitions", low=1)
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=int(rng.integers(2**32)))
    observations, actions, rewards, following = [], [], [], []
    while len(actions) < n_samples:
        action = int(rng.integers(env.action_space.n))
        next_observation, reward, terminated, truncated, _ = env.step(action)
        if terminated:
            raise ValueError("sample_transitions: expected markets that never terminate, got a terminal step")
        observations.append(observation)
        actions.append(action)
        rewards.append(reward)
        following.append(next_observation)
        observation = env.reset()[0] if truncated else next_observation
    return Transitions(np.array(observations), np.array(actions, dtype=np.int64), np.array(rewards),
                       np.array(following), int(env.action_space.n))


@dataclass
class FittedQIteration:
    """What :func:`fitted_q_iteration` learned: the QNetwork, the loss of every update (iterations,)
    float64 and the number of target-network copies made."""
    network: QNetwork
    losses: np.ndarray
    target_updates: int


def fitted_q_iteration(transitions, gamma, iterations, target_every=50, hidden=(32,), lr=0.01, momentum=0.9,
                       batch_size=None, seed=0, progress=False):
    """Fitted Q-iteration with a target network on sampled transitions (the deep counterpart of eq. 7).

    Each update draws ``batch_size`` transitions (s, a, r, s') (all of them when None, else a fresh
    random subset) and takes one momentum-SGD step on the mean of (Q(s, a) - y)^2 with the fixed target
    y = r + gamma max_a' Q_target(s', a'). The target network starts as a copy of the online one and
    is copied again every ``target_every`` updates, so each period regresses one Bellman backup of the
    last copy; with enough updates per period this is value iteration with a function approximator.

    Args:
        transitions: a Transitions (see :func:`sample_transitions`).
        gamma: discount in [0, 1).
        iterations: number of updates.
        target_every: updates between copies of the online network into the target network (K).
        hidden: hidden widths of the :func:`q_network` (F - hidden... - A).
        lr, momentum: of minidl.optim.SGD.
        seed: seeds the initialization and the batches.

    Returns a FittedQIteration.

    Raises:
        TypeError: for non-real gamma or non-integer counts.
        ValueError: for gamma outside [0, 1), counts below 1, batch_size above the transitions, or
            non-finite observations or rewards (named).
    """
    gamma = checks.real(gamma, "gamma", "fitted_q_iteration", low=0, high=1, high_open=True)
    iterations = checks.integer(iterations, "iterations", "fitted_q_iteration", low=1)
    target_every = checks.integer(target_every, "target_every", "fitted_q_iteration", low=1)
    n = len(transitions)
    if batch_size is not None:
        batch_size = checks.integer(batch_size, "batch_size", "fitted_q_iteration", low=1, high=n)
    random.manual_seed(seed)
    observations = _features(transitions.observations, "fitted_q_iteration")
    n_actions = transitions.n_actions
    online = q_network((observations.shape[1], *hidden, n_actions))
    target = q_network((observations.shape[1], *hidden, n_actions))
    target.load_state_dict(online.state_dict())
    target.eval()
    network = QNetwork.fitted_to(online, observations)
    states = backend.to_device(network.standardize(observations))
    next_states = backend.to_device(network.standardize(transitions.next_observations))
    chosen = backend.to_device(np.eye(n_actions, dtype=np.float32)[transitions.actions])     # (N, A) one-hot
    rewards = _finite_float64(transitions.rewards, "transitions.rewards", "fitted_q_iteration")
    rewards = backend.to_device(rewards.astype(np.float32))
    optimizer = optim.SGD(online.parameters(), lr=lr, momentum=momentum)
    losses = np.empty(iterations)
    updates = 0
    for step in tqdm(range(iterations), desc="fitted Q", unit="update", disable=not progress, leave=False):
        index = slice(None) if batch_size is None else backend.to_device(
            random.host_generator().choice(n, batch_size, replace=False))
        with no_grad():
            y = rewards[index] + gamma * target(Tensor(next_states[index])).data.max(axis=1)
        optimizer.zero_grad()
        q_taken = (online(Tensor(states[index])) * Tensor(chosen[index])).sum(axis=1)
        loss = nn.functional.mse_loss(q_taken, y)
        loss.backward()
        optimizer.step()
        losses[step] = loss.item()
        if not math.isfinite(losses[step]):
            raise FloatingPointError(f"fitted_q_iteration: the loss became {losses[step]} at update "
                                     f"{step + 1}; lower lr (got {lr})")
        if (step + 1) % target_every == 0:
            target.load_state_dict(online.state_dict())
            updates += 1
    return FittedQIteration(network=network, losses=losses, target_updates=updates)
