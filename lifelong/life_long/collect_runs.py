"""Collect the life-long runs of a sweep folder: one table row per run and learning curves per (W, R, memory).

Every ``results.h5`` below the folder whose ``benchmark`` attribute is ``lifelong`` is a run. Row: run
folder, algorithm, seed, W (minutes), R, memory mode, chunks, hours trained, read-out accuracy before
training, after the last chunk and averaged over experience (area under the curve / hours), the paper's
oracle number before and after, and wall time.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..atomic_write import write_csv_rows
from ..provenance import stored_config
from .figure import save_comparison
from .results import LifelongResults, is_lifelong_file, read_results


def lifelong_row(res: LifelongResults, run: str) -> dict:
    cfg = stored_config(res.attrs)
    s = res.summary()
    return {
        "run": run,
        "algorithm": res.attrs.get("algorithm", "?"),
        "seed": cfg.get("seed"),
        "W": res.attrs.get("window_minutes"),
        "R": res.attrs.get("ratio"),
        "memory": res.attrs.get("memory_mode"),
        "chunks": int(res.attrs.get("n_chunks", len(res.chunk_seconds))),
        "hours": float(res.evals["hours"][-1]),
        "initial_acc": 100 * s["initial_acc"],
        "final_acc": 100 * s["final_acc"],
        "mean_acc": 100 * s["mean_acc"],
        "initial_oracle": 100 * s["initial_oracle"],
        "final_oracle": 100 * s["final_oracle"],
        "wall_seconds": float(res.attrs.get("wall_seconds", math.nan)),
    }


def collect_lifelong(sweep: Path, out: Path, stem: str, results_name: str = "results.h5"):
    """(rows, CSV path, figure paths, skipped); empty when the folder holds no life-long run. A life-long file
    that cannot be read (damaged, or written by something else) is listed in ``skipped`` as (path, reason)
    and the others are collected; files that are not HDF5 at all are the real-time collector's to list."""
    runs: list[tuple[str, LifelongResults]] = []
    rows: list[dict] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(Path(sweep).rglob(results_name)):
        if not is_lifelong_file(path):
            continue
        try:
            res = read_results(path)
        except Exception as exc:  # noqa: BLE001 - any damage: list it, keep collecting
            skipped.append((path, f"unreadable life-long results ({type(exc).__name__}: {exc})"))
            continue
        rel = path.parent.relative_to(sweep).as_posix() or "."
        runs.append((res.attrs.get("algorithm", "?"), res))
        rows.append(lifelong_row(res, rel))
    if not rows:
        return [], None, [], skipped
    order = sorted(range(len(rows)), key=lambda i: tuple(str(rows[i][k]) for k in ("algorithm", "W", "R", "memory",
                                                                                    "seed", "run")))
    rows = [rows[i] for i in order]
    csv_path = write_csv_rows(Path(out) / f"{stem}.csv", rows)
    figs = save_comparison([runs[i] for i in order], Path(out) / stem)
    return rows, csv_path, figs, skipped


def lifelong_text_table(rows: list[dict]) -> str:
    cols = [("algorithm", 12), ("seed", 4), ("W", 5), ("R", 4), ("memory", 9), ("chunks", 6), ("hours", 7),
            ("initial_acc", 8), ("final_acc", 8), ("mean_acc", 8), ("final_oracle", 8), ("wall_seconds", 6)]
    short = {"initial_acc": "acc0", "final_acc": "acc_end", "mean_acc": "acc_mean", "final_oracle": "oracle",
             "wall_seconds": "sec"}

    def cell(v) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
        return "-" if v is None else str(v)

    widths = [max(w, len(short.get(k, k))) for k, w in cols]
    lines = ["  ".join(short.get(k, k).rjust(w) for (k, _), w in zip(cols, widths))]
    for row in rows:
        lines.append("  ".join(cell(row.get(k)).rjust(w) for (k, _), w in zip(cols, widths)))
    return "\n".join(lines)
