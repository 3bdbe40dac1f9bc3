"""The OneNow data set: simulated Q tables, CSV round trip, atomic writes, the merged training set."""
import numpy as np
import pytest

from data_tools import onenow
from minidl.rl.discretize import Discretizer
from minidl.rl.markets import make_market
from minidl.rl.mdp import market_mdp
from minidl.rl.tabular import value_iteration


@pytest.fixture(scope="module")
def tables():
    return onenow.build_tables(n_bins=10, gamma=0.5, n_samples=300, seed=0, capacity=2)


def test_tables_hold_prices_positions_and_q_rows_of_their_states(tables):
    assert tables["normal"].columns == ("price", "q_accumulate", "q_distribute", "q_hold")
    assert tables["inventory"].columns == ("price", "position", "q_accumulate", "q_distribute", "q_hold")
    env = make_market("inventory", capacity=2)
    discretizer = Discretizer.for_env(env, 10)
    q_star, _ = value_iteration(market_mdp(env, discretizer), 0.5)
    table = tables["inventory"]
    assert table.values.dtype == np.float64 and len(table) == 300
    observations = table.values[:, :2]
    assert np.array_equal(table.q_values, q_star[discretizer(observations)])
    assert set(np.unique(table.column("position"))) == {0.0, 1.0, 2.0}      # random play visits every q


def test_csv_round_trip_is_exact(tables, tmp_path):
    paths = onenow.save_tables(tables, tmp_path)
    assert paths["sine"].read_text().splitlines()[0] == "price,q_accumulate,q_distribute,q_hold"
    for name, path in paths.items():
        loaded = onenow.load_table(path)
        assert loaded.environment == name and loaded.columns == tables[name].columns
        assert loaded.values.dtype == np.float64 and np.array_equal(loaded.values, tables[name].values)


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tables, tmp_path, monkeypatch):
    path = onenow.save_table(tables["normal"], tmp_path / "normal.csv")
    before = path.read_bytes()

    def interrupted(file, *args, **kwargs):
        file.write(b"price,q_acc")
        raise KeyboardInterrupt

    monkeypatch.setattr(onenow.np, "savetxt", interrupted)
    with pytest.raises(KeyboardInterrupt):
        onenow.save_table(tables["sine"], path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["normal.csv"]


def test_merged_training_set_stacks_tables_with_q_outputs(tables):
    X, Y, names = onenow.merge_tables(tables)
    assert names == ("price", "position", "is_normal", "is_sine", "is_inventory")
    assert X.shape == (900, 5) and Y.shape == (900, 3) and X.dtype == Y.dtype == np.float64
    assert np.array_equal(X[300:600, 0], tables["sine"].column("price"))
    assert np.array_equal(X[:600, 1], np.zeros(600))                        # flat markets hold nothing
    assert np.array_equal(X[600:, 1], tables["inventory"].column("position"))
    assert np.array_equal(X[:, 2:].sum(axis=1), np.ones(900)) and X[650, 4] == 1.0
    assert np.array_equal(Y[600:], tables["inventory"].q_values)
    X_plain, _, plain_names = onenow.merge_tables([tables["normal"]], indicators=False)
    assert plain_names == ("price", "position") and X_plain.shape == (300, 2)


def test_q_learning_solver_builds_tables_too():
    table = onenow.build_tables(("sine",), n_bins=6, gamma=0.5, n_samples=50, solver="q_learning")["sine"]
    assert len(table) == 50 and np.all(np.isfinite(table.q_values)) and np.any(table.q_values != 0.0)


@pytest.mark.parametrize("call, message", [
    (lambda: onenow.MarketTable("x", ("price", "q_hold"), np.zeros((1, 2))),
     r"MarketTable: expected columns"),
    (lambda: onenow.MarketTable("x", ("price",) + onenow.Q_COLUMNS, np.zeros((1, 4), np.float32)),
     r"MarketTable: expected float64 values of shape \(N, 4\), got float32"),
    (lambda: onenow.merge_tables([]), r"merge_tables: expected at least one MarketTable"),
    (lambda: onenow.solve_market(None, None, 0.5, solver="magic"),
     r"solve_market: solver must be one of 'value_iteration', 'q_learning', got 'magic'"),
])
def test_bad_tables_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("rows", ["1,2,3\n", "1,2,3,4\n1,2,3\n", "1,2,3,x\n"])
def test_load_rejects_malformed_files(tmp_path, rows):
    path = tmp_path / "bad.csv"
    path.write_text("price,q_accumulate,q_distribute,q_hold\n" + rows)
    with pytest.raises(ValueError, match=r"load_table: expected rows of 4 numbers in .*bad.csv, got"):
        onenow.load_table(path)
