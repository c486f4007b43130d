"""``lifelong-collect SWEEP_DIR [--out DIR]``: gather a sweep's results into tables and comparison figures.

Real-time runs give ``comparison.csv`` and the paper's comparison figure; life-long runs give
``comparison_lifelong.csv`` (initial, final and mean read-out accuracy per run) and learning curves per
(W, R, memory) cell (lifelong/life_long/collect_runs.py).

    lifelong-run -m algorithm=simclr,mocov2,byol,swav,mae      # writes multirun/realtime/<time>/<job>/results.h5
    lifelong-collect multirun/realtime/<time>                  # -> comparison.csv, comparison.png/.pdf

Every ``results.h5`` under SWEEP_DIR (any depth) is one row: algorithm, seed, W (window minutes), R (ratio),
the exposure LR, the number of exposure runs per condition, the starting checkpoint's mean initial d' (big
and small images), wall time, the score (overall and per condition, lifelong/realtime/score.py) and the
model effects (mean and SEM over face pairs) at every human test point of every condition. Files that cannot
be read and Hydra job folders without a results file (unfinished or failed jobs) are skipped and listed.

The figure has rows build / break / switch and one column per algorithm; when the sweep also varies W, R or
the LR, a column per algorithm setting. Runs that differ only in the seed are pooled into one column.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic_write import write_csv_rows
from ..life_long.collect_runs import collect_lifelong, lifelong_text_table
from ..life_long.results import is_lifelong_file
from ..provenance import stored_config
from ..realtime.comparison_figure import column_from_results, humans_from_results, pool_score, save_comparison
from ..realtime.results import RealtimeResults, read_results
from .errors import EXIT_USER_ERROR

CONDITIONS = ("build", "break", "switch")
#: the paper's order of algorithms (algorithms.md overview); others follow alphabetically
PAPER_ORDER = ("simclr", "simclr_mlp4", "simclr_r50", "mocov2", "byol", "byol_mlp4", "byolneg", "swav", "simsiam",
               "barlowtwins", "mae", "dino", "dinoneg")
SETTINGS = ("W", "R", "lr")


@dataclass
class Run:
    path: Path
    res: RealtimeResults
    row: dict


def _settings(res: RealtimeResults) -> dict:
    """Seed, W, R and the exposure LR from the resolved config stored in the file."""
    cfg = stored_config(res.attrs)
    b = cfg.get("benchmark", {}) or {}
    lr = b.get("lr")
    if lr is None:
        lr = (cfg.get("algorithm", {}) or {}).get("realtime_lr")
    return {"seed": cfg.get("seed"), "W": b.get("window_minutes"), "R": b.get("ratio"), "lr": lr}


def summarise(res: RealtimeResults, run: str) -> dict:
    """One table row of a results file."""
    row = {"run": run, "algorithm": res.attrs.get("algorithm", "?"), **_settings(res)}
    row["pairs"] = max((c.arrays["effect"].shape[0] for c in res.conditions.values()), default=0)
    row["initial_dprime_big"] = float(np.mean(res.initial_dprime_big))
    row["initial_dprime_small"] = float(np.mean(res.initial_dprime_small))
    row["wall_seconds"] = float(res.attrs.get("wall_seconds", math.nan))
    s = res.score
    row["score_overall"] = s.overall_score if s is not None else math.nan
    row["rmse_overall"] = s.overall_rmse if s is not None else math.nan
    for cond in CONDITIONS:
        ok = s is not None and cond in s.conditions
        row[f"score_{cond}"] = float(s.score[s.conditions.index(cond)]) if ok else math.nan
    points = [int(t) for t in np.asarray(res.test_points)[1:]]
    for cond in CONDITIONS:
        c = res.conditions.get(cond)
        for k, tp in enumerate(points, start=1):
            row[f"{cond}_{tp}"] = float(c.effect_mean[k]) if c is not None else math.nan
    for cond in CONDITIONS:
        c = res.conditions.get(cond)
        for k, tp in enumerate(points, start=1):
            row[f"{cond}_{tp}_sem"] = float(c.effect_sem[k]) if c is not None else math.nan
    return row


def find_runs(sweep: Path, results_name: str = "results.h5") -> tuple[list[Run], list[tuple[Path, str]]]:
    """Readable runs, and (path, reason) of every skipped file or unfinished Hydra job under ``sweep``."""
    runs: list[Run] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(sweep.rglob(results_name)):
        if is_lifelong_file(path):                 # collected by collect_lifelong
            continue
        try:
            res = read_results(path)
        except Exception as exc:  # a corrupt or foreign file: list it, keep collecting
            skipped.append((path, f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        rel = path.parent.relative_to(sweep).as_posix() or "."
        runs.append(Run(path, res, summarise(res, rel)))
    for hydra_dir in sorted(sweep.rglob(".hydra")):
        job = hydra_dir.parent
        if hydra_dir.is_dir() and not (job / results_name).exists():
            skipped.append((job, f"unfinished: no {results_name} (the job failed or is still running)"))
    return runs, skipped


def _order(name: str) -> tuple:
    return (PAPER_ORDER.index(name), "") if name in PAPER_ORDER else (len(PAPER_ORDER), name)


def _sort_key(row: dict) -> tuple:
    return (_order(row["algorithm"]), *(str(row[k]) for k in SETTINGS), str(row["seed"]), row["run"])


def column_label(row: dict, varying: list[str]) -> str:
    return " ".join([row["algorithm"], *(f"{k}={row[k]}" for k in varying)])


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec) if isinstance(v, float) and spec != "s" else str(v)


def text_table(rows: list[dict]) -> str:
    """The printed table: settings, initial d', scores, the 12 effects, seconds (SEMs are in the CSV)."""
    effect_cols = [k for k in rows[0] if k.split("_")[0] in CONDITIONS and not k.endswith("_sem")]
    cols = [("algorithm", "s", 12), ("seed", "s", 5), ("W", "s", 5), ("R", "s", 4), ("lr", "s", 7), ("pairs", "s", 5),
            ("initial_dprime_big", ".2f", 6), ("score_overall", ".3f", 6),
            *((f"score_{c}", ".3f", 6) for c in CONDITIONS), *((k, "+.2f", 6) for k in effect_cols),
            ("wall_seconds", ".0f", 6)]
    short = {"initial_dprime_big": "d'0", "score_overall": "score", "wall_seconds": "sec", "score_build": "s.bld",
             "score_break": "s.brk", "score_switch": "s.swi"}

    def head(k: str) -> str:
        if k in short:
            return short[k]
        cond, _, tp = k.partition("_")
        return f"{cond[:3]}{tp}" if cond in CONDITIONS else k

    widths = [max(w, len(head(k))) for k, _, w in cols]
    lines = ["  ".join(head(k).rjust(w) if i else head(k).ljust(w) for i, ((k, _, _), w) in enumerate(zip(cols, widths)))]
    for row in rows:
        cells = [_fmt(row.get(k), spec) for k, spec, _ in cols]
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return "\n".join(lines)


def collect(sweep: Path, out: Path, stem: str = "comparison", results_name: str = "results.h5", title: str | None = None):
    """Table rows, CSV path, figure paths and skipped runs of a sweep folder."""
    runs, skipped = find_runs(sweep, results_name)
    if not runs:
        return [], None, [], skipped, []
    runs.sort(key=lambda r: _sort_key(r.row))
    rows = [r.row for r in runs]
    csv_path = write_csv_rows(out / f"{stem}.csv", rows)
    varying = [k for k in SETTINGS if len({str(r[k]) for r in rows}) > 1]
    groups: dict[str, list[RealtimeResults]] = {}
    for run in runs:
        groups.setdefault(column_label(run.row, varying), []).append(run.res)
    columns = [column_from_results(label, results) for label, results in groups.items()]
    pooled = pooled_rows(columns, groups)
    if pooled:
        write_csv_rows(out / f"{stem}_pooled.csv", pooled)
    humans = humans_from_results([r.res for r in runs])
    figs = save_comparison(columns, humans, runs[0].res.test_points, out / stem,
                           title=title or f"real-time benchmark: {len(runs)} runs of {sweep.name}")
    return rows, csv_path, figs, skipped, pooled


def _human_name(res: RealtimeResults) -> str:
    return str(stored_config(res.attrs).get("human_data", "jia2021"))


def pooled_rows(columns, groups: dict[str, list[RealtimeResults]]) -> list[dict]:
    """Columns pooled from several files (seeds, or pair subsets run as separate jobs): the score of the pooled
    curves (comparison_figure.pool_score), the pairs covered and any pair run more than once."""
    import human_data

    rows = []
    for col in columns:
        results = groups[col.label]
        if len(results) < 2:
            continue
        names = {_human_name(r) for r in results}
        if len(names) != 1:
            continue                        # files scored against different human data: no common score
        score = pool_score(col, human_data.load(names.pop()))
        runs = [(cond, int(p)) for r in results for cond, c in r.conditions.items()
                for p in np.asarray(c.arrays["exposed_pair"]).ravel()]
        repeated = sorted({p for cond, p in runs if runs.count((cond, p)) > 1})   # e.g. seeds pooled
        row = {"column": col.label, "files": len(results), "pairs": len({p for _, p in runs}),
               "repeated_pairs": " ".join(map(str, repeated)), "overall_score": score.overall_score,
               "overall_rmse": score.overall_rmse}
        for c, sc in zip(score.conditions, score.score):
            row[f"{c}_score"] = float(sc)
            row[f"{c}_runs"] = int(col.effects[c].shape[0])
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lifelong-collect", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", type=Path, help="a sweep folder (e.g. multirun/realtime/<time>) or any folder of runs")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: SWEEP_DIR)")
    ap.add_argument("--stem", default="comparison", help="file name stem of the table and figure")
    ap.add_argument("--results-name", default="results.h5", help="results file name of each run")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    if not args.sweep.is_dir():
        print(f"error: sweep folder {args.sweep} does not exist", file=sys.stderr)
        return EXIT_USER_ERROR
    out = args.out or args.sweep
    rows, csv_path, figs, skipped, pooled = collect(args.sweep, out, args.stem, args.results_name, args.title)
    ll_rows, ll_csv, ll_figs, ll_skipped = collect_lifelong(args.sweep, out, f"{args.stem}_lifelong", args.results_name)
    skipped = ll_skipped + skipped
    if ll_rows:
        print(lifelong_text_table(ll_rows))
        print(f"\n{len(ll_rows)} life-long runs; accuracies in %")
        print(f"table:  {ll_csv}\nfigure: {', '.join(str(f) for f in ll_figs)}\n")
    if rows:
        print(text_table(rows))
        print(f"\n{len(rows)} runs; effects = model Δd' (exposed − control) at each test point; SEMs in the CSV")
        print(f"table:  {csv_path}\nfigure: {', '.join(str(f) for f in figs)}")
    for row in pooled:
        again = f"; pairs run more than once: {row['repeated_pairs']}" if row["repeated_pairs"] else ""
        print(f"pooled {row['column']}: {row['files']} files, {row['pairs']} distinct pairs, score "
              f"{row['overall_score']:.3f} (RMSE {row['overall_rmse']:.3f}) of the pooled curves{again}")
    if pooled:
        print(f"pooled table: {out / (args.stem + '_pooled.csv')}")
    if skipped:
        print(f"\nskipped {len(skipped)}:")
        for path, why in skipped:
            print(f"  {path}: {why}")
    if not rows and not ll_rows:
        print(f"error: no readable {args.results_name} under {args.sweep}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
