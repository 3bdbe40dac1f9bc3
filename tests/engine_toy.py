"""A small experiment on the engine, for the engine's tests: the slope of a least-squares fit per seed.

Each trial fits y = w x + noise (w = condition["slope"]) on numbers drawn from its seed, and sleeps
TOY_SLEEP seconds (so a test can kill a sweep mid-run). With TOY_LOG set, it appends its condition and
seed to that file, so a test can count which trials ran.
"""
import os
import time

import numpy as np

from minidl.experiments import engine, stats
from minidl.experiments.output import figure_grid


def trial(settings, condition, seed):
    time.sleep(float(os.environ.get("TOY_SLEEP", "0")))
    if os.environ.get("TOY_LOG"):
        with open(os.environ["TOY_LOG"], "a") as log:
            log.write(f"{condition['slope']} {seed}\n")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(settings["points"], 8))
    y = x @ np.full(8, condition["slope"]) + settings["noise"] * rng.normal(size=settings["points"])
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {"slope": float(w.mean()), "weights": w.tolist()}


def conditions(settings):
    return [{"slope": 1.0}, {"slope": 1.5}]


def finish(settings, trials):
    low = [t.records["slope"] for t in engine.select(trials, slope=1.0)]
    high = [t.records["slope"] for t in engine.select(trials, slope=1.5)]
    claim = stats.paired("A steeper line gives a steeper fit.", high, low, "greater",
                         effect="fit(1.5) - fit(1.0)", smoke=settings["quick"])
    figure, axes = figure_grid(1, 1)
    axes[0, 0].plot(low, high, "o")
    figure.suptitle("fitted slopes")
    rows = [{"slope": t.condition["slope"], "seed": t.seed, "fit": t.records["slope"]} for t in trials]
    return engine.Results(
        title="Toy: fitted slopes", paper="[Dworakowski 2019, eq. 1]", claims=[claim],
        tables=[engine.Table("fits.csv", "One row per trial.", rows,
                             {"slope": "true slope", "seed": "seed", "fit": "mean fitted weight"},
                             in_report=True)],
        figures=[engine.Figure("fits.png", "Fitted slopes, paired by seed", figure,
                               engine.over_seeds(settings["seeds"]))],
        summary={"mean_fit": float(np.mean([row["fit"] for row in rows]))},
        notes=["A toy, not a paper's experiment."])


EXPERIMENT = engine.Experiment(
    name="toy", help="fit lines of two slopes", seeds=3,
    settings=(engine.Setting("points", 50, "points per fit", check=engine.positive),
              engine.Setting("noise", 0.5, "noise standard deviation", check=engine.nonnegative)),
    quick={"points": 20, "seeds": 2}, conditions=conditions, trial=trial, finish=finish)


if __name__ == "__main__":
    import argparse
    import sys
    parser = argparse.ArgumentParser()
    engine.add_arguments(parser, EXPERIMENT)
    engine.main(EXPERIMENT, parser.parse_args(sys.argv[1:]))
