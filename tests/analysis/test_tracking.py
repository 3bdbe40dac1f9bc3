import csv
import json
import os

import numpy as np
import pytest

import minidl
from minidl import nn, optim, train
from minidl.analysis import spectrum
from minidl.analysis.tracking import SpectrumTracker


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0).astype(np.int64)


def trained(tracker, epochs=3):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = data()
    history = train.fit(model, nn.functional.cross_entropy, optim.SGD(model.parameters(), lr=0.1), X, y,
                        epochs, 16, validation=data(30, 1), callbacks=[tracker], progress=False)
    return model, history


def test_records_every_layer_every_epoch_with_the_metrics_of_fit():
    tracker = SpectrumTracker()
    model, history = trained(tracker)
    assert tracker.layer_names() == ["0", "2"]
    assert [(r["epoch"], r["layer"]) for r in tracker.history] == \
        [(e, layer) for e in range(4) for layer in ("0", "2")]
    first = tracker.history[0]
    assert "accuracy" not in first and first["epoch"] == 0
    for row in tracker.history[2:]:
        logs = history[row["epoch"] - 1]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert row[key] == logs[key]
    for layer in ("0", "2"):
        last = tracker.records(layer)[-1]
        np.testing.assert_allclose(last["spectrum"], spectrum.singular_values(model[int(layer)]))
        assert last["sigma_max"] == last["spectrum"][0] and last["sigma_min"] == last["spectrum"][-1]
        assert last["condition_number"] == pytest.approx(last["sigma_max"] / last["sigma_min"])
        assert last["stable_rank"] == pytest.approx((last["spectrum"] ** 2).sum() / last["sigma_max"] ** 2)


def test_epoch_zero_holds_the_weights_before_training():
    minidl.manual_seed(0)
    before = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    tracker = SpectrumTracker(layers=["2"])
    trained(tracker, epochs=1)
    np.testing.assert_allclose(tracker.records("2")[0]["spectrum"], spectrum.singular_values(before[2]))
    assert tracker.records("2")[0]["spectrum"].tolist() != tracker.records("2")[1]["spectrum"].tolist()


def test_every_and_layer_choice_by_path_or_object():
    tracker = SpectrumTracker(layers="0", every=2)
    trained(tracker, epochs=5)
    assert [r["epoch"] for r in tracker.history] == [0, 2, 4]
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    assert [name for name, _ in SpectrumTracker(layers=[model[2]]).tracked(model)] == ["2"]
    with pytest.raises(ValueError, match=r"no layer '5'.*\['0', '2'\]"):
        SpectrumTracker(layers=["5"]).tracked(model)
    with pytest.raises(ValueError, match="not a part"):
        SpectrumTracker(layers=[nn.Linear(2, 2)]).tracked(model)
    with pytest.raises(ValueError, match="every"):
        SpectrumTracker(every=0)
    epochs, values = tracker.series("condition_number", "0")
    assert epochs.tolist() == [0, 2, 4] and values.dtype == np.float64
    assert np.isnan(tracker.series("val_accuracy", "0")[1][0])


def test_csv_has_one_row_per_epoch_per_layer_and_the_whole_spectrum(tmp_path):
    tracker = SpectrumTracker()
    trained(tracker, epochs=2)
    path = tmp_path / "run" / "spectrum.csv"
    tracker.to_csv(path)
    assert os.listdir(path.parent) == ["spectrum.csv"]  # no temporary file left behind
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    header = list(rows[0])
    assert header[:6] == ["epoch", "layer", "sigma_max", "sigma_min", "condition_number", "stable_rank"]
    assert header[-1] == "spectrum" and "val_accuracy" in header
    for row, record in zip(rows, tracker.history):
        np.testing.assert_allclose([float(v) for v in row["spectrum"].split()], record["spectrum"], rtol=1e-8)
        assert float(row["condition_number"]) == pytest.approx(record["condition_number"])
    assert rows[0]["val_accuracy"] == ""


def test_json_turns_spectra_into_lists_and_infinity_into_null(tmp_path):
    tracker = SpectrumTracker()
    tracker.history.append({"epoch": 1, "layer": "0", "condition_number": np.inf,
                            "spectrum": np.array([1.0, 0.0])})
    loaded = json.loads(tracker.to_json(tmp_path / "h.json"))
    assert loaded == [{"epoch": 1, "layer": "0", "condition_number": None, "spectrum": [1.0, 0.0]}]
    assert json.loads((tmp_path / "h.json").read_text()) == loaded


def test_a_diverged_weight_is_reported_with_its_layer_path():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    model[2].weight.data[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"layer '2' \(Linear\) contains NaN or inf"):
        SpectrumTracker().on_epoch_end(4, model, {"epoch": 4, "loss": 1.0})
