"""Real price series: CSV reading and its named errors, the split by time, signals without look-ahead,
and the market environment that walks a series."""
import datetime
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from minidl.rl.markets import Action, MarketEnv, NormalPrices
from minidl.rl.series import (MIN_ROWS, PriceSeries, SeriesMarketEnv, make_series_market, market_signals,
                              reward_table)


def write_csv(path, prices, column="Close", extra="Open"):
    lines = [f"Date,{extra},{column}"] + [f"2020-01-{i:04d},1.0,{p}" for i, p in enumerate(prices)]
    path.write_text("\n".join(lines) + "\n")
    return f"{path}:{column}"


def walk(n, seed=0):
    return 100.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(seed).standard_normal(n)))


def test_reads_a_column_in_file_order_with_its_times(tmp_path):
    prices = walk(60)
    series = PriceSeries.load(write_csv(tmp_path / "p.csv", [repr(float(p)) for p in prices]))
    assert np.array_equal(series.prices, prices)
    assert series.times[:2] == ["2020-01-0000", "2020-01-0001"] and len(series) == 60
    assert series.name == "p.csv:Close"


@pytest.mark.parametrize("bad, message", [
    ("abc", "line 5: column 'Close' must hold a number, got 'abc'"),
    ("", "line 5: column 'Close' must hold a number, got ''"),
    ("0", "line 5: prices must be finite and > 0, got '0'"),
    ("-2.5", "line 5: prices must be finite and > 0, got '-2.5'"),
    ("nan", "line 5: prices must be finite and > 0, got 'nan'"),
    ("inf", "line 5: prices must be finite and > 0, got 'inf'"),
])
def test_bad_prices_are_named_with_their_line(tmp_path, bad, message):
    prices = [str(p) for p in walk(60)]
    prices[3] = bad                                            # line 5: header, then rows 0..3
    with pytest.raises(ValueError, match=f"PriceSeries.load: .*{message}"):
        PriceSeries.load(write_csv(tmp_path / "p.csv", prices))


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    prices = walk(60)
    path = tmp_path / "excel.csv"
    rows = "".join(f"{float(p)!r},d{i}\n" for i, p in enumerate(prices))
    path.write_text("Close,Date\n" + rows, encoding="utf-8-sig")
    series = PriceSeries.load(f"{path}:Close")
    assert np.array_equal(series.prices, prices) and series.times is None


@pytest.mark.parametrize("row, fields", [("2020-01-0003,1.0,1,234.5", 4), ("2020-01-0003,1.0", 2)])
def test_a_row_with_another_number_of_fields_than_the_header_is_refused(tmp_path, row, fields):
    path = tmp_path / "p.csv"
    write_csv(path, walk(60))
    lines = path.read_text().splitlines()
    lines[4] = row                                             # line 5: header, then rows 0..3
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"PriceSeries.load: .* line 5 has {fields} fields, the header 3; got "
                                         f"'{row}'"):
        PriceSeries.load(f"{path}:Close")


def test_missing_column_names_the_columns_there_are(tmp_path):
    source = write_csv(tmp_path / "p.csv", walk(60))
    with pytest.raises(ValueError, match=r"has no column 'Price'; its columns are \['Date', 'Open', 'Close'\]"):
        PriceSeries.load(source.replace(":Close", ":Price"))


def test_too_few_rows_missing_file_and_bad_sources(tmp_path):
    with pytest.raises(ValueError, match=f"at least {MIN_ROWS} rows of prices, got {MIN_ROWS - 1}"):
        PriceSeries.load(write_csv(tmp_path / "short.csv", walk(MIN_ROWS - 1)))
    with pytest.raises(FileNotFoundError, match="PriceSeries.load: no file .*absent.csv"):
        PriceSeries.load(f"{tmp_path}/absent.csv:Close")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        PriceSeries.load(f"{tmp_path}/empty.csv:Close")
    for source in ("nasdaq", "file.csv", "file.csv:", ":Close"):
        with pytest.raises(ValueError, match="'googl', 'eurusd' or 'path:column'"):
            PriceSeries.load(source)
    with pytest.raises(TypeError, match="source must be a str"):
        PriceSeries.load(tmp_path / "p.csv")


def test_constructor_refuses_what_load_refuses():
    with pytest.raises(ValueError, match="finite and > 0, got 0.0 at position 3"):
        PriceSeries(np.r_[walk(3), 0.0, walk(60)])
    with pytest.raises(ValueError, match="1-D"):
        PriceSeries(walk(120).reshape(2, 60))
    with pytest.raises(ValueError, match="at least"):
        PriceSeries(walk(10))


@pytest.mark.parametrize("name, rows, first, fmt", [
    ("googl", 2335, 196.946945, "%Y-%m-%d"),
    ("eurusd", 6225, 1.05227, "%d.%m.%Y %H:%M:%S.%f"),
])
def test_bundled_series_are_gym_anytradings_closes_in_time_order(name, rows, first, fmt):
    series = PriceSeries.load(name)
    assert len(series) == rows and series.prices[0] == first
    times = [datetime.datetime.strptime(label, fmt) for label in series.times]
    assert all(a < b for a, b in zip(times[:-1], times[1:]))


def test_split_by_time_with_gap_and_validation():
    series = PriceSeries(walk(200))
    periods = series.split(test_fraction=0.25, gap=10, validation_fraction=0.2)
    assert periods.test == range(150, 200) and periods.gap == range(140, 150)
    assert periods.validation == range(112, 140) and periods.fit == range(0, 112)
    assert periods.train == range(0, 140)
    with pytest.raises(ValueError, match="at least 10 prices"):
        series.split(test_fraction=0.02)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        series.split(test_fraction=1.0)
    with pytest.raises(TypeError, match="gap must be an integer"):
        series.split(gap=2.0)


def test_trailing_signals_by_hand():
    prices = np.array([1.0, 2.0, 3.0, 6.0, 2.0, 4.0, 5.0] + [3.0, 4.0] * 10)
    signals = market_signals(prices, fit_stop=15, reference="trailing", window=3)
    assert signals.first == 3 and np.all(np.isnan(signals.observations[:3]))
    # t = 3: the last three prices 1, 2, 3 have mean 2 and sd sqrt(2/3)
    assert signals.observations[3] == pytest.approx((6.0 - 2.0) / np.sqrt(2.0 / 3.0))
    deviations = np.array([prices[t] / prices[t - 3:t].mean() - 1.0 for t in range(3, prices.size)])
    scale = deviations[:12].std()
    assert signals.scale == pytest.approx(scale)
    np.testing.assert_allclose(signals.gains[3:], deviations / scale, rtol=1e-12)


def test_constant_signals_are_the_papers_reward_scaled():
    prices = NormalPrices().path(np.random.default_rng(0), 400) + 20.0
    signals = market_signals(prices, fit_stop=300, reference="constant")
    m, s = prices[:300].mean(), prices[:300].std()
    assert (signals.mean, signals.scale, signals.first) == (pytest.approx(m), pytest.approx(s), 0)
    env = MarketEnv(NormalPrices(), cost=1.0, hold_penalty=0.1, reference_price=m)
    table = reward_table(signals.gains, cost=1.0 / s, hold_penalty=0.1 / s)
    for action in Action:
        np.testing.assert_allclose(table[:, action] * s, env.reward(prices, action), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reference", ["trailing", "constant"])
def test_signals_before_a_tick_ignore_every_later_price(reference):
    prices = walk(300)
    later = prices.copy()
    later[200:] = np.random.default_rng(9).permutation(later[200:]) * 3.0
    a, b = (market_signals(p, fit_stop=150, reference=reference, window=20) for p in (prices, later))
    assert (a.scale, a.mean) == (b.scale, b.mean)
    assert np.array_equal(a.observations[:200], b.observations[:200], equal_nan=True)
    assert np.array_equal(a.gains[:200], b.gains[:200], equal_nan=True)


def test_signals_refuse_bad_arguments():
    with pytest.raises(ValueError, match="reference must be one of"):
        market_signals(walk(100), 50, reference="mean")
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        market_signals(walk(100), 50, window=1)
    with pytest.raises(ValueError, match="fit period must hold at least window"):
        market_signals(walk(100), 25, window=20)
    with pytest.raises(ValueError, match="must vary"):
        market_signals(np.ones(100), 50, reference="constant")


def test_env_walks_the_series_with_its_rewards():
    prices = walk(200)
    signals = market_signals(prices, fit_stop=120, window=10)
    env = SeriesMarketEnv(signals, range(10, 120), episode_length=5)
    observation, info = env.reset(options={"start": 30})
    assert info["tick"] == 30 and observation[0] == np.float32(signals.observations[30])
    table = reward_table(signals.gains)
    for step, action in enumerate([0, 1, 2, 1, 0]):
        observation, reward, terminated, truncated, info = env.step(action)
        assert reward == table[30 + step, action] and not terminated
        assert observation[0] == np.float32(signals.observations[31 + step])
        assert truncated == (step == 4)
    with pytest.raises(ValueError, match="call reset"):
        env.step(0)
    whole = SeriesMarketEnv(signals, range(120, 200), episode_length=None)
    whole.reset(seed=0)
    assert whole.episode_length == 79


def test_env_refuses_bad_periods_actions_and_options():
    signals = market_signals(walk(200), fit_stop=120, window=10)
    with pytest.raises(ValueError, match="period must lie within ticks 10..199"):
        SeriesMarketEnv(signals, range(0, 100))
    with pytest.raises(ValueError, match="episode_length must be an integer in"):
        SeriesMarketEnv(signals, range(10, 50), episode_length=40)
    env = SeriesMarketEnv(signals, range(10, 50), episode_length=5)
    with pytest.raises(ValueError, match=r"options\['start'\] must be an integer in \[10, 44\]"):
        env.reset(options={"start": 45})
    with pytest.raises(ValueError, match="options must be among"):
        env.reset(options={"prices": [1.0, 2.0]})
    env.reset(seed=1)
    for action in (3, -1, True, 1.0):
        with pytest.raises(ValueError, match="SeriesMarketEnv.step: expected an action in 0..2"):
            env.step(action)


def test_env_passes_check_env_and_seeds_only_through_reset():
    env = make_series_market("eurusd", period="test", episode_length=20)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(infinity|spec).*")
        check_env(env)
    first = [env.reset(seed=4)[1]["tick"] for _ in range(2)]
    assert first[0] == first[1]
    assert env.period.start == 6225 - round(0.25 * 6225)


def test_series_market_periods_start_at_the_first_reference():
    env = make_series_market("googl", period="fit", window=50)
    assert env.period == range(50, 1401)
    with pytest.raises(ValueError, match="period must be one of"):
        make_series_market("googl", period="gap")
