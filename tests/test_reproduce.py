"""`minidl reproduce`: the list of reproductions, the Markdown table helper, and the experiments' building
blocks (each reproduction's quick run and claims are tested in tests/experiments/)."""
import math

import numpy
import pytest
from threadpoolctl import threadpool_limits

import minidl
from data_tools import linearly_separable
from minidl import nn, optim, train
from minidl.analysis import compression, norms
from minidl.autograd import Tensor
from minidl.experiments import cli, gradient_perturbation, init_perturbation, low_rank, normalized_loss, \
    pruning_curves, report


@pytest.fixture(autouse=True)
def one_blas_thread():
    """On shared cores, BLAS threads fighting each other slow these small products down tenfold."""
    with threadpool_limits(1):
        yield


def test_list_names_every_reproduction(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert listed == list(cli.REPRODUCTIONS)


# --------------------------------------------------------------------- the report helper
def test_markdown_table_formats_cells():
    rows = [{"a": 1, "b": 0.123456789, "c": None}, {"a": "x|y", "b": math.inf, "c": True}]
    assert report.markdown_table(rows) == ("| a | b | c |\n|---|---|---|\n| 1 | 0.1235 |  |\n"
                                           "| x\\|y | inf | yes |")
    with pytest.raises(ValueError):
        report.markdown_table([])


# --------------------------------------------------------------------- the experiments' building blocks
@pytest.mark.parametrize("build, x", [
    (lambda change: gradient_perturbation.build_fcn(8, change), numpy.ones((4, 64), dtype=numpy.float32)),
    (lambda change: gradient_perturbation.build_resnet(4, change),
     numpy.ones((4, 1, 8, 8), dtype=numpy.float32)),
])
def test_the_perturbation_layer_reaches_the_tracked_layer(build, x):
    """Same weights and input: the forward pass is the same, the tracked layer's gradient is not."""
    gradients, outputs = [], []
    for change in ("no change", "gradient perturbation"):
        minidl.manual_seed(0)
        model, tracked = build(change)
        assert any(module is tracked for module in model.modules())
        output = model(Tensor(x))
        (output * output).sum().backward()
        outputs.append(output.numpy())
        gradients.append(tracked.weight.grad.copy())
    numpy.testing.assert_array_equal(outputs[0], outputs[1])
    assert not numpy.allclose(gradients[0], gradients[1])


def test_init_perturbation_model_and_accuracy():
    minidl.manual_seed(0)
    two, one = init_perturbation.build("cross-entropy", 0.1), init_perturbation.build("exponential", 0.1)
    assert two.weight.shape == (2, 5) and one.weight.shape == (1, 5)
    one.weight.data[:] = numpy.array([[1, 0, 0, 0, 0]], dtype=numpy.float32)
    one.bias.data[:] = 0
    X = numpy.eye(5, dtype=numpy.float32) - 0.5  # first coordinate +0.5 only in the first row
    assert init_perturbation.accuracy(one, X, numpy.array([[1], [-1], [-1], [-1], [1]])) == 0.8
    two.weight.data[:] = numpy.array([[-1, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=numpy.float32)
    two.bias.data[:] = 0
    assert init_perturbation.accuracy(two, X, numpy.array([1, 0, 0, 0, 0])) == 1.0


def test_losses_callback_records_epoch_zero_and_chosen_epochs():
    X, y, _ = linearly_separable(40, 5, seed=0, zero_one=True)
    minidl.manual_seed(0)
    model = init_perturbation.build("cross-entropy", 0.1)
    every, chosen = (init_perturbation.Losses(nn.functional.cross_entropy, (X, y), (X, y), epochs=epochs)
                     for epochs in (None, [2]))
    train.fit(model, nn.functional.cross_entropy, optim.SGD(model.parameters(), lr=0.1), X, y, 3, 8,
              callbacks=[every, chosen], progress=False)
    assert [r["epoch"] for r in every.rows] == [0, 1, 2, 3] and [r["epoch"] for r in chosen.rows] == [2]
    assert chosen.rows[0] == every.rows[2]
    final = train.evaluate(model, nn.functional.cross_entropy, X, y)
    assert every.rows[-1]["train_loss"] == pytest.approx(final["loss"])
    assert every.rows[-1]["test_accuracy"] == pytest.approx(final["accuracy"])


def test_step_schedule_divides_the_rate_by_ten_twice():
    minidl.manual_seed(0)
    model = normalized_loss.build(2, 0.1)
    optimizer = optim.SGD(model.parameters(), lr=5.0)
    schedule = normalized_loss.StepSchedule(optimizer, 0.01, 8)
    assert schedule.rates == pytest.approx([0.01] * 4 + [0.001] * 2 + [0.0001] * 2)
    assert optimizer.lr == 0.01
    seen = []
    for epoch in range(1, 9):
        seen.append(optimizer.lr)
        schedule.on_epoch_end(epoch, model, {})
    assert seen == pytest.approx(schedule.rates)


def test_normalized_conv_net_keeps_predictions_and_divides_outputs():
    minidl.manual_seed(0)
    model = normalized_loss.build(3, 0.2)
    assert all(getattr(m, "bias", None) is None for m in model.modules())
    x = numpy.random.default_rng(0).random((5, 1, 8, 8), dtype=numpy.float32)
    normalized, product = norms.normalize_layers(model)
    numpy.testing.assert_allclose(normalized(Tensor(x)).numpy() * product, model(Tensor(x)).numpy(),
                                  rtol=1e-4)
    X, y = x, numpy.arange(5)
    measured = normalized_loss.measure(model, (X, y), (X, y))
    assert measured["train_error"] == measured["test_error"]
    assert measured["product_of_norms"] == pytest.approx(product)
    assert measured["normalized_train_loss"] == pytest.approx(
        train.evaluate(normalized, nn.functional.cross_entropy, X, y)["loss"], rel=1e-5)


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_pruned_classifier_sees_the_features_of_the_whole_model(network):
    minidl.manual_seed(0)
    features, classifier = pruning_curves.build(network, channels=2)
    model = nn.Sequential(features, classifier)
    x = numpy.random.default_rng(0).random((3, 1, 8, 8), dtype=numpy.float32)
    inputs = pruning_curves.features_of(features, x, batch_size=2)
    numpy.testing.assert_allclose(classifier(Tensor(inputs)).numpy(), model(Tensor(x)).numpy(),
                                  rtol=1e-5, atol=1e-6)


def test_low_rank_norm_kept_and_projected_accuracy():
    minidl.manual_seed(0)
    model = low_rank.build(2, 16)
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [16, 16, 10]
    W = model[0].weight.numpy().astype(numpy.float64)
    values = numpy.linalg.svd(W, compute_uv=False)
    kept = 100 * numpy.sqrt((values[:3] ** 2).sum() / (values ** 2).sum())
    assert low_rank.norm_kept(model[0], 3) == pytest.approx(kept)
    X = numpy.random.default_rng(1).random((30, 64), dtype=numpy.float32)
    y = numpy.random.default_rng(2).integers(0, 10, 30)
    replaced = low_rank.build(2, 16)
    replaced.load_state_dict(model.state_dict())
    replaced[0].weight.data[:] = compression.low_rank(model[0], 3)
    expected = train.evaluate(replaced, nn.functional.cross_entropy, X, y)["accuracy"]
    assert low_rank.projected_accuracy(model, 3, X, y) == pytest.approx(expected)
