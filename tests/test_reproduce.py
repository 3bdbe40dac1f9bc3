"""`minidl reproduce`: every reproduction runs with --quick and writes its figures, tables and report.md;
the report helper and the experiments' building blocks do what they say."""
import csv
import importlib
import math
import re

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
from minidl.experiments.output import RunFolder

RANGES = [("accuracy", 0.0, 1.0), ("error", 0.0, 1.0), ("condition_number", 1.0, math.inf),
          ("cosine", -1.0, 1.0), ("fraction", 0.0, 1.0)]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """On shared cores, BLAS threads fighting each other slow these small products down tenfold."""
    with threadpool_limits(1):
        yield


def test_list_names_every_reproduction(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert listed == list(cli.REPRODUCTIONS)


def _numbers(path):
    """{column: [floats]} of a CSV, keeping the cells that are single numbers."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                pass
    return rows, columns


OFF_THE_ENGINE = [name for name, module in cli.REPRODUCTIONS.items()
                  if not hasattr(importlib.import_module(module), "EXPERIMENT")]


@pytest.mark.parametrize("name", OFF_THE_ENGINE)
def test_quick_run_writes_figures_tables_and_a_report(name, tmp_path, capsys):
    assert cli.main(["reproduce", name, "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    assert str(tmp_path) in capsys.readouterr().out
    assert not list(tmp_path.rglob(".partial-*"))

    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# ") and "Reproduces: papers/" in text
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    figures = sorted(p.name for p in tmp_path.glob("*.png"))
    assert figures and sorted(linked) == figures  # every figure is shown, every link resolves
    for figure in figures:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    findings = text.split(report.FINDINGS_HEADING, 1)[1].split("\n## ", 1)[0]
    verdicts = re.findall(r"^- \*\*([^*]+)\*\*: \S", findings, flags=re.MULTILINE)
    assert verdicts and set(verdicts) <= set(report.VERDICTS)
    assert f"{verdicts.count(report.HOLDS)} of {len(verdicts)} hold" in findings

    tables = sorted(tmp_path.glob("*.csv"))
    assert tables
    for table in tables:
        rows, columns = _numbers(table)
        assert rows, table.name
        for column, values in columns.items():
            assert all(math.isfinite(v) for v in values), f"{table.name}: {column} is not finite"
            for word, low, high in RANGES:
                if word in column and not column.endswith(("_std", "_points")):
                    assert all(low <= v <= high for v in values), \
                        f"{table.name}: {column} outside [{low}, {high}]"


# --------------------------------------------------------------------- the report helper
def test_judge_compares_a_margin_with_its_tolerance():
    assert report.judge(0.3, 0.1) == report.HOLDS
    assert report.judge(-0.3, 0.1) == report.DOES_NOT_HOLD
    assert report.judge(0.05, 0.1) == report.INCONCLUSIVE
    assert report.judge(0.0) == report.INCONCLUSIVE
    assert report.judge(1.0, math.nan) == report.INCONCLUSIVE
    assert report.judge(math.nan) == report.INCONCLUSIVE


def test_standard_error_is_the_sample_std_over_root_n():
    assert report.standard_error([1.0, 3.0]) == pytest.approx(1.0)  # std (ddof 1) sqrt(2), over sqrt(2)
    assert report.standard_error([2.0, 2.0, 2.0]) == 0.0
    assert math.isnan(report.standard_error([5.0]))
    assert report.describe_noise(math.nan) == "undefined with one seed"
    assert report.describe_noise(0.012345) == "0.0123"


def test_claim_accepts_only_the_three_verdicts():
    with pytest.raises(ValueError, match="verdict"):
        report.Claim("x", "maybe", "y")
    assert report.Claim("x", report.HOLDS, "y").as_dict() == \
        {"statement": "x", "verdict": "holds", "evidence": "y"}


def test_markdown_table_formats_cells():
    rows = [{"a": 1, "b": 0.123456789, "c": None}, {"a": "x|y", "b": math.inf, "c": True}]
    assert report.markdown_table(rows) == ("| a | b | c |\n|---|---|---|\n| 1 | 0.1235 |  |\n"
                                           "| x\\|y | inf | yes |")
    with pytest.raises(ValueError):
        report.markdown_table([])


def test_write_report_needs_its_figures_first_and_counts_the_verdicts(tmp_path):
    folder = RunFolder(tmp_path)
    claims = [report.Claim("A.", report.HOLDS, "1 > 0."), report.Claim("B.", report.INCONCLUSIVE, "noisy.")]
    arguments = dict(title="T", paper="papers/000 section 1", settings={"epochs": 3},
                     tables=[("caption", [{"x": 1.5}])], figures=[("f.png", "a figure")], claims=claims,
                     notes=["smaller data"])
    with pytest.raises(ValueError, match="f.png"):
        report.write_report(folder, **arguments)
    assert not (tmp_path / "report.md").exists()
    (tmp_path / "f.png").write_bytes(b"\x89PNG")
    report.write_report(folder, **arguments)
    text = (tmp_path / "report.md").read_text()
    assert "# T\n" in text and "- epochs: 3" in text and "| 1.5 |" in text and "![a figure](f.png)" in text
    assert "1 of 2 hold, 0 do not, 1 inconclusive." in text
    assert "- **holds**: A. Here: 1 > 0." in text and "- **inconclusive**: B. Here: noisy." in text
    assert "- smaller data" in text
    with pytest.raises(ValueError, match="claim"):
        report.render("T", "p", {}, [], [], [])


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
