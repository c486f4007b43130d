"""The paper-style human-vs-model figure of the real-time benchmark.

Three panels (build, break, switch): humans dashed with a band of +-1 bootstrap std, the model
solid with +-1 SEM over the face pairs. In the switch panel the model's points 0-2 are drawn in
the build colour and 2-4 in the break colour, as in the paper. Written as PNG and PDF.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic_write import atomic_path  # noqa: E402
from .results import RealtimeResults  # noqa: E402

BUILD_COLOUR = "#1f77b4"
BREAK_COLOUR = "#d62728"
HUMAN_COLOUR = "0.35"
PAPER_YLIM = {"build": (-0.1, 2.5), "break": (-3.0, 0.7), "switch": (-1.5, 1.5)}
TITLES = {"build": "Build (identity kept)", "break": "Break (identity swapped)", "switch": "Switch (build, then break)"}


def draw_figure(res: RealtimeResults, title: str | None = None):
    conds = list(res.conditions)
    fig, axes = plt.subplots(1, len(conds), figsize=(4.2 * len(conds), 3.6), squeeze=False)
    x = np.asarray(res.test_points)
    for ax, (ci, cond) in zip(axes[0], enumerate(conds)):
        c = res.conditions[cond]
        if res.human_mean is not None:
            hm, hs = res.human_mean[ci], res.human_std[ci]
            ax.plot(x, hm, "--", color=HUMAN_COLOUR, lw=1.8, marker="o", ms=4, label="humans (mean ± bootstrap std)")
            ax.fill_between(x, hm - hs, hm + hs, color=HUMAN_COLOUR, alpha=0.18, lw=0)
        m, e = c.effect_mean, c.effect_sem
        n = c.arrays["effect"].shape[0]
        if cond == "switch":
            ax.errorbar(x[:3], m[:3], yerr=e[:3], color=BUILD_COLOUR, lw=2, marker="o", ms=5, capsize=3,
                        label=f"model, build part (mean ± SEM, n={n})")
            ax.errorbar(x[2:], m[2:], yerr=e[2:], color=BREAK_COLOUR, lw=2, marker="o", ms=5, capsize=3,
                        label="model, break part")
        else:
            col = BUILD_COLOUR if cond == "build" else BREAK_COLOUR
            ax.errorbar(x, m, yerr=e, color=col, lw=2, marker="o", ms=5, capsize=3, label=f"model (mean ± SEM, n={n})")
        ax.axhline(0, color="0.6", lw=0.8)
        lo, hi = PAPER_YLIM.get(cond, (None, None))
        vals = [m - e, m + e] + ([res.human_mean[ci] - res.human_std[ci], res.human_mean[ci] + res.human_std[ci]]
                                 if res.human_mean is not None else [])
        vmin, vmax = float(np.min(vals)), float(np.max(vals))
        pad = 0.1 * max(1e-6, vmax - vmin)
        ax.set_ylim(min(lo, vmin - pad), max(hi, vmax + pad))
        ax.set_xticks(x)
        ax.set_xlabel("number of exposures")
        ax.set_title(TITLES.get(cond, cond))
        if res.score is not None and cond in res.score.conditions:
            k = res.score.conditions.index(cond)
            ax.text(0.02, 0.03 if cond != "break" else 0.93,
                    f"score {res.score.score[k]:.2f}   RMSE {res.score.rmse[k]:.2f} d'",
                    transform=ax.transAxes, fontsize=8, color="0.25")
        ax.legend(fontsize=7, loc="upper left" if cond != "break" else "lower left", frameon=False)
    axes[0][0].set_ylabel("Δd' (exposed − control)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(res: RealtimeResults, stem: str | Path, title: str | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` atomically; returns the paths."""
    stem = Path(stem)
    fig = draw_figure(res, title)
    out = []
    try:
        for ext in ("png", "pdf"):
            path = stem.with_suffix(f".{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150)
            out.append(path)
    finally:
        plt.close(fig)
    return out
