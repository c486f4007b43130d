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


def draw_condition(
    ax,
    x: np.ndarray,
    cond: str,
    mean: np.ndarray,
    sem: np.ndarray,
    n: int,
    human_mean: np.ndarray | None = None,
    human_std: np.ndarray | None = None,
    note: str | None = None,
    legend: bool = True,
    ylim: bool = True,
) -> None:
    """One condition's panel: humans dashed with a +-1 bootstrap-std band, the model solid with +-1 SEM
    (switch: build colour up to the switch, break colour after it), the zero line, an optional note."""
    if human_mean is not None:
        ax.plot(x, human_mean, "--", color=HUMAN_COLOUR, lw=1.8, marker="o", ms=4, label="humans (mean ± bootstrap std)")
        ax.fill_between(x, human_mean - human_std, human_mean + human_std, color=HUMAN_COLOUR, alpha=0.18, lw=0)
    m, e = mean, sem
    if cond == "switch":
        ax.errorbar(x[:3], m[:3], yerr=e[:3], color=BUILD_COLOUR, lw=2, marker="o", ms=5, capsize=3,
                    label=f"model, build part (mean ± SEM, n={n})")
        ax.errorbar(x[2:], m[2:], yerr=e[2:], color=BREAK_COLOUR, lw=2, marker="o", ms=5, capsize=3,
                    label="model, break part")
    else:
        col = BUILD_COLOUR if cond == "build" else BREAK_COLOUR
        ax.errorbar(x, m, yerr=e, color=col, lw=2, marker="o", ms=5, capsize=3, label=f"model (mean ± SEM, n={n})")
    ax.axhline(0, color="0.6", lw=0.8)
    if ylim:
        ax.set_ylim(*panel_ylim(cond, [m - e, m + e] + ([human_mean - human_std, human_mean + human_std]
                                                          if human_mean is not None else [])))
    ax.set_xticks(x)
    if note:
        ax.text(0.02, 0.03 if cond != "break" else 0.93, note, transform=ax.transAxes, fontsize=8, color="0.25")
    if legend:
        ax.legend(fontsize=7, loc="upper left" if cond != "break" else "lower left", frameon=False)


def panel_ylim(cond: str, values: list) -> tuple[float, float]:
    """The paper's y range for the condition, widened to show every value with a 10 % margin."""
    lo, hi = PAPER_YLIM.get(cond, (None, None))
    vmin, vmax = float(np.min(values)), float(np.max(values))
    pad = 0.1 * max(1e-6, vmax - vmin)
    return (vmin - pad if lo is None else min(lo, vmin - pad)), (vmax + pad if hi is None else max(hi, vmax + pad))


def draw_figure(res: RealtimeResults, title: str | None = None):
    conds = list(res.conditions)
    fig, axes = plt.subplots(1, len(conds), figsize=(4.2 * len(conds), 3.6), squeeze=False)
    x = np.asarray(res.test_points)
    for ax, (ci, cond) in zip(axes[0], enumerate(conds)):
        c = res.conditions[cond]
        note = None
        if res.score is not None and cond in res.score.conditions:
            k = res.score.conditions.index(cond)
            note = f"score {res.score.score[k]:.2f}   RMSE {res.score.rmse[k]:.2f} d'"
        draw_condition(
            ax, x, cond, c.effect_mean, c.effect_sem, c.arrays["effect"].shape[0],
            res.human_mean[ci] if res.human_mean is not None else None,
            res.human_std[ci] if res.human_mean is not None else None,
            note,
        )
        ax.set_xlabel("number of exposures")
        ax.set_title(TITLES.get(cond, cond))
    axes[0][0].set_ylabel("Δd' (exposed − control)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(res: RealtimeResults, stem: str | Path, title: str | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` atomically; returns the paths."""
    return save_fig(draw_figure(res, title), stem)


def save_fig(fig, stem: str | Path) -> list[Path]:
    """Write a figure as ``<stem>.png`` and ``<stem>.pdf``, each atomically, and close it; returns the paths."""
    stem = Path(stem)
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
