import math

import numpy as np
import pytest

import minidl
from minidl import backend, nn, optim, random, train
from minidl.analysis import norms
from minidl.autograd import Tensor


def relu_net(bias):
    minidl.manual_seed(0)
    f64 = np.float64
    return nn.Sequential(nn.Conv2d(1, 3, 3, bias=bias, dtype=f64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(12, 7, bias=bias, dtype=f64), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(7, 4, bias=bias, dtype=f64)).eval()


@pytest.mark.parametrize("bias", [False, True])
def test_dividing_each_layer_by_its_norm_scales_outputs_by_the_product_and_keeps_predictions(bias):
    model = relu_net(bias)
    x = Tensor(np.random.default_rng(0).standard_normal((9, 1, 6, 6)))
    expected = {path: np.linalg.norm(backend.asnumpy(model[int(path)].weight.data))
                for path in ("0", "4", "7")}
    assert norms.layer_norms(model) == pytest.approx(expected)
    assert norms.product_of_norms(model) == pytest.approx(math.prod(expected.values()))
    normalized, product = norms.normalize_layers(model)
    assert product == pytest.approx(norms.product_of_norms(model))
    assert norms.layer_norms(normalized) == pytest.approx({"0": 1.0, "4": 1.0, "7": 1.0})
    before, after = model(x).numpy(), normalized.eval()(x).numpy()
    np.testing.assert_allclose(after * product, before, rtol=1e-10)
    np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))
    assert norms.layer_norms(model) == pytest.approx(expected)  # the original is untouched


def test_the_normalized_loss_is_the_cross_entropy_of_the_scaled_outputs():
    model = relu_net(False)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 1, 6, 6)), rng.integers(0, 4, 20)
    result = norms.normalized_loss(model, X, y)
    logits = model(Tensor(X)).numpy() / norms.product_of_norms(model)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert result["loss"] == pytest.approx(-log_probs[np.arange(20), y].mean(), rel=1e-10)
    assert result["accuracy"] == train.evaluate(model, nn.functional.cross_entropy, X, y)["accuracy"]
    assert result["product_of_norms"] == pytest.approx(norms.product_of_norms(model))
    zero = nn.Sequential(nn.Linear(2, 2, bias=False))
    zero[0].weight.data[...] = 0
    with pytest.raises(ValueError, match="layer '0' is zero"):
        norms.normalize_layers(zero)


def test_weight_perturbation_adds_seeded_noise_at_the_chosen_epochs_only():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(200, 100))
    callback = norms.WeightPerturbation(0.05, epochs=[2], seed=7, include_bias=False)
    weight, bias = model[0].weight.data.copy(), model[0].bias.data.copy()
    state = backend.asnumpy(random.uniform((3,)))
    minidl.manual_seed(0)
    nn.Sequential(nn.Linear(200, 100))
    callback.on_epoch_end(1, model, {})
    np.testing.assert_array_equal(model[0].weight.data, weight)
    callback.on_epoch_end(2, model, {})
    noise = backend.asnumpy(model[0].weight.data - weight)
    expected = 0.05 * np.random.default_rng(7).standard_normal((100, 200), dtype=np.float32)
    np.testing.assert_allclose(noise, expected, atol=1e-6)
    assert noise.std() == pytest.approx(0.05, rel=0.02)
    np.testing.assert_array_equal(model[0].bias.data, bias)
    assert callback.applied == [2]
    np.testing.assert_array_equal(backend.asnumpy(random.uniform((3,))), state)  # training stream untouched


def test_cosine_similarity_to_the_reference_solution():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 2, 30)
    flat = lambda m: np.concatenate([backend.asnumpy(p.data).ravel() for p in m.parameters()])  # noqa: E731
    w0 = flat(model).astype(np.float64)
    from_start = norms.CosineSimilarityTracker()
    from_epoch_two = norms.CosineSimilarityTracker(reference_epoch=2)
    train.fit(model, nn.functional.cross_entropy, optim.SGD(model.parameters(), lr=0.5), X, y, 3, 10,
              callbacks=[from_start, from_epoch_two], progress=False)
    w = flat(model).astype(np.float64)
    assert [h["epoch"] for h in from_start.history] == [0, 1, 2, 3]
    assert from_start.history[0]["cosine"] == 1.0
    assert from_start.history[-1]["cosine"] == pytest.approx(w0 @ w / np.linalg.norm(w0) / np.linalg.norm(w))
    assert [h["epoch"] for h in from_epoch_two.history] == [2, 3]
    assert from_epoch_two.history[0]["cosine"] == pytest.approx(1.0)
    given = norms.CosineSimilarityTracker(reference=model)
    assert given.similarity(model) == pytest.approx(1.0)
    negated = norms.CosineSimilarityTracker(reference={k: -v for k, v in model.state_dict().items()})
    assert negated.similarity(model) == pytest.approx(-1.0)
