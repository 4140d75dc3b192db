"""Model quality on synthetic provinces: the credit model with its default settings
against the oracle (the generator's true PD) and the scorecard challenger, on several
realisations, with the spread that a test of about a hundred defaults leaves.

For each seed the province lives in its own data directory under ``--work`` (SQLite);
one that is not there yet is generated and loaded with ``finance synth ... --load``
(about 2.5 minutes and 2.3 GB for 100,000 enterprises x 36 months). Training is what
``finance credit train`` does with no options: outcomes known until the loan book's last
date (or today), training seed 42. Nothing is registered.

Printed per seed: the split, test defaults, the model's AUC, KS and Brier, the scorecard's
AUC and KS, the oracle's AUC, the gap (oracle - model) with its bootstrap standard error
(``--resamples`` resamplings of the test loans, model and oracle on the same resample),
and the expected gap: the same AUCs with the true PDs of the test loans as soft labels
instead of their drawn outcomes, which removes the test's own outcome noise and so shows
what the model gets right about the risk. Then the mean over seeds and whether the aim
(gap <= 0.02, KS > 0.3, model AUC >= scorecard AUC) holds on each.

    python bench/model_quality.py [--seeds 42,1,2,3,4,5] [--enterprises 100000]
        [--months 36] [--end 2026-10] [--work var/bench/provinces] [--linear-base/--no-...]

With ``--file FILE.csv --target COL [--bad-value V]`` it measures the ``--data`` path
instead, on a bank's file (e.g. a small real credit file): the tuning's candidates with
their cross-validated AUC, the blends of the best one with the WOE scorecard and the
scorecard's own on the same folds, the leave-one-fold-out estimate of the whole choice,
the winner, and the AUC on the held-out test rows of the model trained (the winner) and
of its parts, for each of ``--seeds``. ``--drawn N`` draws N grid candidates instead of
the product's 10 (all 432 at most; give ``--budget`` room for them): how much a much wider
search would gain on the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_ticks, load, stolen
from numpy.typing import NDArray

from credit import evaluate
from credit.dataset import outcomes_known_until, platform_training_set
from credit.train import train
from finance.core.db import make_engine, transaction

FINANCE = str(Path(sys.executable).with_name("finance"))
AIM_GAP, AIM_KS = 0.02, 0.3


def province(work: Path, seed: int, enterprises: int, months: int, end: str) -> Path:
    """The data directory of a seed's province, generated and loaded if missing."""
    directory = work / f"seed-{seed}-{enterprises}x{months}-{end}"
    if (directory / "loaded").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    print(f"seed {seed}: generating and loading {enterprises:,} x {months} ...", flush=True)
    started = time.perf_counter()
    command = [FINANCE, "synth", "--enterprises", str(enterprises), "--months", str(months)]
    command += ["--seed", str(seed), "--end", end, "--out", str(directory / "synth"), "--load"]
    environment = {**os.environ, "FINANCE_DATA_DIR": str(directory)}
    environment.pop("FINANCE_DATABASE_URL", None)
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    for path in (directory / "synth").iterdir():  # the database holds everything needed
        path.unlink()
    (directory / "synth").rmdir()
    (directory / "loaded").write_text(f"{time.perf_counter() - started:.0f} s\n")
    return directory


def soft_auc(truth: NDArray[np.float64], score: NDArray[np.float64]) -> float:
    """AUC with each loan bad with probability ``truth`` (pairs weighted p_i (1 - p_j))."""
    order = np.argsort(score, kind="stable")
    bad = truth[order]
    goods_below = np.concatenate([[0.0], np.cumsum(1 - bad)[:-1]])
    pairs = bad.sum() * (1 - bad).sum() - np.sum(bad * (1 - bad))
    return float(np.sum(bad * goods_below) / pairs)


def measure(directory: Path, linear_base: bool, resamples: int) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{directory / 'finance.db'}")
    with transaction(engine) as session:
        until = outcomes_known_until(session, dt.datetime.now(dt.UTC).date())
        data = platform_training_set(session, until)
    engine.dispose()
    started = time.perf_counter()
    result = train(data, linear_base=linear_base)
    seconds = time.perf_counter() - started
    report, test = result.report, result.test
    target = test["target"].to_numpy()
    model = test["pd"].to_numpy()
    oracle = test["oracle_pd"].to_numpy()
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(resamples):
        rows = rng.integers(0, len(target), len(target))
        if target[rows].min() != target[rows].max():
            gaps.append(
                evaluate.auc(target[rows], oracle[rows]) - evaluate.auc(target[rows], model[rows])
            )
    return {
        "observed_until": until.isoformat(),
        "split": (report["n_train"], report["n_valid"], report["n_test"]),
        "bads": int(target.sum()),
        "auc": report["auc"],
        "ks": report["ks"],
        "brier": report["brier"],
        "scorecard": (report["scorecard"]["auc"], report["scorecard"]["ks"]),
        "oracle": report["oracle_auc"],
        "gap": report["oracle_gap"],
        "se": float(np.std(gaps)),
        "expected_gap": soft_auc(oracle, oracle) - soft_auc(oracle, model),
        "train_seconds": seconds,
    }


def file_quality(path: Path, target: str, bad_value: str | None, seeds: list[int],
                 budget: float, drawn: int) -> None:  # fmt: skip
    from credit.dataset import file_training_set
    from credit.tuning import train_tuned

    data = file_training_set(path, target, bad_value=bad_value)
    print(f"{path.name}: {len(data.frame)} rows, {int(data.target.sum())} bad,"
          f" {len(data.categorical)} categorical of {data.frame.shape[1]} columns")  # fmt: skip
    for seed in seeds:
        result = train_tuned(data, seed=seed, budget_seconds=budget, drawn=drawn)
        tuning, report = result.report["tuning"], result.report
        tried = f"{tuning['tried']} of {tuning['of']} candidates in {tuning['seconds']} s"
        print(f"\nseed {seed}: {tried} (budget {budget:.0f} s), {tuning['folds']}-fold CV AUC")
        for row in tuning["candidates"]:
            print(f"  {row['name']:16}{row['cv_auc']:8.4f}  {row['rounds']:>4} rounds")
        for row in tuning["blend"]["weights"]:
            name = f"blend {row['scorecard_weight']:g}"
            print(f"  {name:16}{row['cv_auc']:8.4f}  {tuning['blend']['candidate']} + scorecard")
        print(f"  {'WOE scorecard':16}{tuning['scorecard_cv_auc']:8.4f}")
        selection = tuning["selection"]
        print(f"  {'selection':16}{selection['cv_auc']:8.4f}  leave-one-fold-out"
              f" ({selection['margin_over_scorecard']:+.4f} against the scorecard):"
              f" {', '.join(selection['chosen'])}")  # fmt: skip
        print(f"  winner: {tuning['winner']}: {tuning['why']}")
        lightgbm, card = report["lightgbm"]["auc"], report["scorecard"]["auc"]
        print(f"  held-out test ({report['n_test']} rows): model ({report['predictor']}) AUC"
              f" {report['auc']:.4f}, LightGBM {lightgbm:.4f}, scorecard {card:.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="42,1,2,3,4,5")
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--end", default="2026-10")
    parser.add_argument("--work", type=Path, default=Path("var/bench/provinces"))
    parser.add_argument("--linear-base", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--resamples", type=int, default=300)
    parser.add_argument("--file", type=Path, help="a bank's CSV file: measure --data training")
    parser.add_argument("--target", help="the target column of --file")
    parser.add_argument("--bad-value", help="the target value meaning bad")
    parser.add_argument("--budget", type=float, default=180.0, help="tuning budget, seconds")
    parser.add_argument("--drawn", type=int, default=10,
                        help="grid candidates drawn after the defaults (the product draws 10;"
                        " more measures the headroom of a wider search)")  # fmt: skip
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.file is not None:
        print(f"start: {load()}")
        ticks = cpu_ticks()
        file_quality(args.file, args.target, args.bad_value, seeds, args.budget, args.drawn)
        print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
        return
    results = {}
    print(f"start: {load()}")
    ticks = cpu_ticks()
    for seed in seeds:
        directory = province(args.work, seed, args.enterprises, args.months, args.end)
        results[seed] = measure(directory, args.linear_base, args.resamples)
    print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
    print(f"\n{args.enterprises:,} x {args.months} provinces (--end {args.end}), model defaults")
    header = "seed   train/valid/test    bads    AUC     KS  Brier  scorecard AUC/KS  oracle"
    print(header + "   gap (± SE)  expected gap  aim")
    for seed, r in results.items():
        met = r["gap"] <= AIM_GAP and r["ks"] > AIM_KS and r["auc"] >= r["scorecard"][0]
        split = "/".join(f"{n:,}" for n in r["split"])
        print(
            f"{seed:>4}  {split:>19}  {r['bads']:>5}  {r['auc']:.3f}  {r['ks']:.3f}  "
            f"{r['brier']:.4f}  {r['scorecard'][0]:.3f} / {r['scorecard'][1]:.3f}     "
            f"{r['oracle']:.3f}  {r['gap']:+.3f} (± {r['se']:.3f})  {r['expected_gap']:+.4f}"
            f"       {'met' if met else 'MISSED'}"
        )
    gaps = [r["gap"] for r in results.values()]
    expected = statistics.mean(r["expected_gap"] for r in results.values())
    until = ", ".join(sorted({r["observed_until"] for r in results.values()}))
    seconds = statistics.mean(r["train_seconds"] for r in results.values())
    print(
        f"mean gap {statistics.mean(gaps):+.4f}, mean expected gap {expected:+.4f};"
        f" gap within {AIM_GAP} on {sum(g <= AIM_GAP for g in gaps)} of {len(gaps)} seeds;"
        f" outcomes known until {until}; training {seconds:.1f} s each"
    )


if __name__ == "__main__":
    main()
