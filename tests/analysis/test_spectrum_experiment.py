import csv
import json

from minidl.experiments import cli

FIGURES = ["conditioning_vs_accuracy.png", "conditioning_change_vs_accuracy_change.png",
           "test_error_vs_conditioning.png", "singular_values_vs_epochs.png", "spectrum_snapshots.png",
           "esd.png"]


def test_quick_run_writes_figures_records_and_the_summary_tables(tmp_path, capsys):
    assert cli.main(["spectrum", "--quick", "--out", str(tmp_path), "--no-progress", "--hidden", "16"]) == 0
    assert "best validation accuracy" in capsys.readouterr().out
    for name in FIGURES:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with open(tmp_path / "spectrum.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 4 * (3 + 1) * 2  # optimizers x dropouts x (epochs + epoch 0) x hidden layers
    assert {row["layer"] for row in rows} == {"0", "3"}
    assert {(row["optimizer"], row["dropout"]) for row in rows} == \
        {(o, p) for o in ("sgd", "momentum") for p in ("0.0", "0.25", "0.5", "0.75")}
    assert len(rows[0]["spectrum"].split()) == 16  # min(16, 64) singular values of layer 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs"] == 3 and len(summary["results"]) == 8
    for result in summary["results"]:
        settings_rows = [r for r in rows if r["optimizer"] == result["optimizer"]
                         and float(r["dropout"]) == result["dropout"] and r["val_accuracy"]]
        assert result["best_val_accuracy"] == max(float(r["val_accuracy"]) for r in settings_rows)
    with open(tmp_path / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown.count("| Baseline - no dropout |") == 2 and "Table 2" in markdown
