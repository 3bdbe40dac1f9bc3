import numpy as np
import pytest
from matplotlib.figure import Figure

from minidl import nn
from minidl.analysis import plots, pruning, random_matrix
from minidl.analysis.tracking import SpectrumTracker

PNG = b"\x89PNG\r\n\x1a\n"


def records(kappa_scale=1.0):
    """A synthetic history of two layers over epochs 0..4 (epoch 0 without metrics)."""
    rows = []
    for epoch in range(5):
        for layer in ("0", "3"):
            spectrum = np.array([2.0 + epoch, 1.0, 0.5 / (1 + epoch)]) * kappa_scale
            row = {"epoch": epoch, "layer": layer, "sigma_max": spectrum[0], "sigma_min": spectrum[-1],
                   "condition_number": spectrum[0] / spectrum[-1], "stable_rank": 1.0, "spectrum": spectrum}
            if epoch:
                row.update(val_accuracy=0.5 + 0.1 * epoch, val_loss=1.0 / epoch)
            rows.append(row)
    return rows


def tracker():
    t = SpectrumTracker()
    t.history = records()
    return t


def test_every_figure_is_returned_and_saved_as_png_on_request(tmp_path):
    W = np.random.default_rng(0).standard_normal((30, 60))
    curves = {"random": {"units": np.array([0, 2]), "accuracy": np.array([0.9, 0.8]),
                         "std": np.array([0.0, 0.05])}}
    drawings = {
        "conditioning_vs_accuracy": lambda path: plots.conditioning_vs_accuracy(tracker(), path=path),
        "change": lambda path: plots.conditioning_change_vs_accuracy_change(records(), "3", path=path),
        "epochs": lambda path: plots.singular_values_vs_epochs({"a": records(), "b": tracker()}, path=path),
        "sv_kappa": lambda path: plots.singular_values_vs_conditioning(records(), path=path),
        "error": lambda path: plots.test_error_vs_conditioning(records(), path=path),
        "snapshots": lambda path: plots.spectrum_snapshots(tracker(), "3", epochs=[0, 4], path=path),
        "esd": lambda path: plots.esd_with_marchenko_pastur(W, path=path),
        "graph": lambda path: plots.unit_graph(nn.Linear(5, 12), threshold=0.0, path=path),
        "pruning": lambda path: plots.pruning_curves(curves, path=path),
    }
    for name, draw in drawings.items():
        assert isinstance(draw(None), Figure)
        path = tmp_path / f"{name}.png"
        assert isinstance(draw(path), Figure)
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in drawings)


def test_curves_plot_the_recorded_numbers_with_one_line_per_run():
    figure = plots.conditioning_vs_accuracy({"low": records(), "high": records(2.0)}, layer="3")
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    lines = [line for line in ax.get_lines() if line.get_label() in ("low", "high")]
    assert [line.get_label() for line in lines] == ["low", "high"]
    rows = [r for r in records() if r["layer"] == "3" and r["epoch"] > 0]  # epoch 0 has no accuracy
    np.testing.assert_allclose(lines[0].get_xdata(), [r["condition_number"] for r in rows])
    np.testing.assert_allclose(lines[0].get_ydata(), [100 * r["val_accuracy"] for r in rows])
    change = plots.conditioning_change_vs_accuracy_change(records(), "0").axes[0].collections[0]
    kappa = np.array([r["condition_number"] for r in rows])
    np.testing.assert_allclose(change.get_offsets()[:, 0], np.diff(np.log10(kappa)))
    np.testing.assert_allclose(change.get_offsets()[:, 1], 10.0)
    left, right = plots.singular_values_vs_epochs(records(), "0").axes
    assert left.get_yscale() == right.get_yscale() == "log"
    np.testing.assert_allclose(left.get_lines()[1].get_ydata(), [0.5 / (1 + e) for e in range(5)])
    np.testing.assert_allclose(right.get_lines()[0].get_xdata(), range(5))


def test_error_can_be_a_function_of_a_record():
    figure = plots.test_error_vs_conditioning(records(), error=lambda r: 100 * (1 - r["val_accuracy"]),
                                              ylabel="error (%)")
    np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), [40, 30, 20, 10])
    assert figure.axes[0].get_ylabel() == "error (%)"


def test_the_esd_figure_draws_the_fitted_marchenko_pastur_density():
    W = np.random.default_rng(1).standard_normal((50, 150)) * 0.3
    ax = plots.esd_with_marchenko_pastur(W).axes[0]
    fit = random_matrix.marchenko_pastur_fit(W)
    curve = [line for line in ax.get_lines() if line.get_label().startswith("Marchenko")][0]
    np.testing.assert_allclose(curve.get_ydata(), random_matrix.marchenko_pastur_density(
        curve.get_xdata(), 3.0, fit["sigma"]))
    assert f"{fit['spikes']} spike" in ax.get_title()


def test_drawing_into_given_axes_and_errors():
    figure = Figure()
    ax = figure.add_subplot()
    assert plots.spectrum_snapshots(records(), ax=ax) is figure
    assert len(ax.get_lines()) == 5
    with pytest.raises(ValueError, match=r"no records of layer '9'.*\['0', '3'\]"):
        plots.conditioning_vs_accuracy(records(), layer="9")
    with pytest.raises(ValueError, match="epochs \\[7\\] were not recorded"):
        plots.spectrum_snapshots(records(), epochs=[7])
    with pytest.raises(TypeError, match="SpectrumTracker, a list of records"):
        plots.conditioning_vs_accuracy("history")


def test_the_unit_graph_has_a_node_per_unit_sized_by_norm():
    W = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 3.0]])
    ax = plots.unit_graph(W, sigma=0.5, threshold=0.5).axes[0]
    nodes = ax.collections[0]
    assert len(nodes.get_offsets()) == 3
    sizes = nodes.get_sizes()
    assert sizes[2] > sizes[1] > sizes[0]
    assert len(ax.get_lines()) == 1  # only units 0 and 1 point the same way
    curves = pruning.pruning_curves(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)), 0,
                                    np.ones((4, 2), dtype=np.float32), np.array([0, 1, 0, 1]),
                                    criteria=["max_magnitude"], counts=[0, 1])
    assert [line.get_label() for line in plots.pruning_curves(curves).axes[0].containers] == ["max_magnitude"]
