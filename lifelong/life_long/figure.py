"""Learning-curve figures of the life-long benchmark.

``save_curve``: one run — read-out accuracy (held-out-tuned SVM, the paper's oracle number dashed, 1-NN
dotted when measured) against hours of experience, chance as a grey line, the child's age on the top axis
when the source has ages. ``save_comparison``: many runs — one panel per (W, R) cell, one line per
algorithm (seeds averaged). Written as PNG and PDF.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic_write import atomic_path  # noqa: E402
from .results import LifelongResults  # noqa: E402


def _save(fig, stem: Path) -> list[Path]:
    out = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        out.append(path)
    plt.close(fig)
    return out


def draw_curve(ax, res: LifelongResults, label: str | None = None, colour=None, extras: bool = True) -> None:
    e = res.evals
    x = e["hours"]
    line, = ax.plot(x, 100 * e["svm_acc"], "o-", color=colour, ms=3, label=label or "SVM (alpha on held-out part)")
    if extras:
        ax.plot(x, 100 * e["svm_perf_oracle"], "--", color=line.get_color(), alpha=0.7,
                label="SVM, best alpha on test (paper's number)")
        if np.isfinite(e["knn_acc"]).any():
            ax.plot(x, 100 * e["knn_acc"], ":", color=line.get_color(), label="1-NN")
        ax.axhline(100 * float(e["chance"][0]), color="0.6", lw=0.8, label="chance")


def _age_axis(ax, res: LifelongResults) -> None:
    hours, age = res.evals["hours"], res.evals["age_months"]
    if not np.isfinite(age).all() or len(hours) < 2 or np.any(np.diff(hours) <= 0):
        return
    top = ax.secondary_xaxis("top", functions=(lambda h: np.interp(h, hours, age),
                                               lambda a: np.interp(a, age, hours)))
    top.set_xlabel("age (months)")


def save_curve(res: LifelongResults, stem: str | Path, title: str = "") -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    draw_curve(ax, res)
    _age_axis(ax, res)
    ax.set_xlabel("hours of experience (chunks trained on)")
    ax.set_ylabel("read-out accuracy (%)")
    ax.set_title(title or f"{res.attrs.get('algorithm', '')}: W {res.attrs.get('window_minutes', '?')} min, "
                 f"R {res.attrs.get('ratio', '?')}, memory {res.attrs.get('memory_mode', '?')}")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, Path(stem))


def save_comparison(runs: list[tuple[str, LifelongResults]], stem: str | Path) -> list[Path]:
    """``runs``: (algorithm label, results). Panels per (W, R); seeds of one algorithm averaged."""
    cells: dict[tuple, dict[str, list[LifelongResults]]] = defaultdict(lambda: defaultdict(list))
    for label, res in runs:
        cell = (res.attrs.get("window_minutes"), res.attrs.get("ratio"), res.attrs.get("memory_mode"))
        cells[cell][label].append(res)
    keys = sorted(cells, key=lambda c: tuple(str(v) for v in c))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False, sharey=True)
    for ax, cell in zip(axes[0], keys):
        for label, group in sorted(cells[cell].items()):
            lengths = {len(r.evals["svm_acc"]) for r in group}
            if len(lengths) != 1:                        # different evaluation grids: draw them separately
                for r in group:
                    draw_curve(ax, r, label=label, extras=False)
                continue
            acc = np.mean([r.evals["svm_acc"] for r in group], axis=0)
            ax.plot(group[0].evals["hours"], 100 * acc, "o-", ms=3, label=f"{label} (n={len(group)})")
        chance = next(iter(cells[cell].values()))[0].evals["chance"][0]
        ax.axhline(100 * float(chance), color="0.6", lw=0.8)
        w, r, m = cell
        ax.set_title(f"W {w} min, R {r}, memory {m}", fontsize=9)
        ax.set_xlabel("hours of experience")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("read-out accuracy (%)")
    axes[0][-1].legend(fontsize=7)
    return _save(fig, Path(stem))
