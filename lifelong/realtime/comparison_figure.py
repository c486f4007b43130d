"""The paper's comparison figure of the real-time benchmark across algorithms (realtime.md, paper Fig. 2 style).

A grid with one row per condition (build, break, switch) and one column per algorithm (or per algorithm
setting when a sweep varies W, R or the LR). In every panel the humans are drawn dashed with a band of +-1
bootstrap std and the model solid with +-1 SEM over its exposure runs, with the panel code of the
single-run figure (figure.py); rows share the paper's y range, widened to show every curve. Several results
files of one column (seeds) are pooled: the mean and SEM run over all their exposure runs together. Written
as PNG and PDF, each atomically.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .effects import mean_sem
from .figure import TITLES, draw_condition, panel_ylim, plt, save_fig
from .results import RealtimeResults
from .score import Score, score_effects

CONDITION_ORDER = ("build", "break", "switch")


@dataclass
class Column:
    """One column of the figure: the pooled model curves of one algorithm (setting)."""

    label: str
    effects: dict[str, np.ndarray] = field(default_factory=dict)   # condition -> per-run effects [R, 5]
    scores: dict[str, list[float]] = field(default_factory=dict)   # condition -> the files' scores
    n_files: int = 0
    pooled: Score | None = None     # score of the pooled mean curves (set by pool_score when humans are known)

    def curve(self, cond: str) -> tuple[np.ndarray, np.ndarray, int]:
        runs = self.effects[cond]
        m, s = mean_sem(runs)
        return m, s, runs.shape[0]


def column_from_results(label: str, results: list[RealtimeResults]) -> Column:
    """Pool the exposure runs of several results files (e.g. seeds) into one column."""
    col = Column(label, n_files=len(results))
    for res in results:
        for cond, c in res.conditions.items():
            eff = np.asarray(c.arrays["effect"], dtype=np.float64)
            col.effects[cond] = eff if cond not in col.effects else np.concatenate([col.effects[cond], eff])
            if res.score is not None and cond in res.score.conditions:
                col.scores.setdefault(cond, []).append(float(res.score.score[res.score.conditions.index(cond)]))
    return col


def pool_score(col: Column, human) -> Score:
    """Score of the column's pooled curves (mean effect over all its exposure runs) against ``human``
    (a ``human_data`` dataset): for disjoint pair subsets of one setting run as separate jobs, this is the
    score the single run over all their pairs gets."""
    conds = [c for c in CONDITION_ORDER if c in col.effects] + sorted(set(col.effects) - set(CONDITION_ORDER))
    model = np.stack([col.effects[c].mean(0)[1:] for c in conds])
    h_mean = np.stack([human.effect_mean(c)[1:] for c in conds])
    h_boot = np.stack([human.effects[c][1:] for c in conds])
    col.pooled = score_effects(conds, model, h_mean, h_boot)
    return col.pooled


def humans_from_results(results: list[RealtimeResults]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Human mean and bootstrap std per condition, from the first file that holds each condition."""
    humans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for res in results:
        if res.human_mean is None:
            continue
        for ci, cond in enumerate(res.conditions):
            humans.setdefault(cond, (np.asarray(res.human_mean[ci]), np.asarray(res.human_std[ci])))
    return humans


def draw_comparison(
    columns: list[Column],
    humans: dict[str, tuple[np.ndarray, np.ndarray]],
    test_points: np.ndarray,
    title: str | None = None,
):
    """The figure: rows = conditions present in any column (paper order), columns = ``columns``."""
    if not columns:
        raise ValueError("no columns to draw")
    conds = [c for c in CONDITION_ORDER if any(c in col.effects for col in columns)]
    conds += sorted({c for col in columns for c in col.effects} - set(conds))
    x = np.asarray(test_points)
    fig, axes = plt.subplots(
        len(conds), len(columns), figsize=(2.9 * len(columns) + 0.6, 2.5 * len(conds) + 0.6),
        squeeze=False, sharex=True,
    )
    for r, cond in enumerate(conds):
        h_mean, h_std = humans.get(cond, (None, None))
        row_values = []
        for k, col in enumerate(columns):
            ax = axes[r][k]
            if cond not in col.effects:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="0.5")
                ax.set_xticks(x)
                continue
            m, s, n = col.curve(cond)
            row_values += [m - s, m + s]
            scores = col.scores.get(cond, [])
            if col.pooled is not None and cond in col.pooled.conditions:
                note = f"score {col.pooled.score[col.pooled.conditions.index(cond)]:.2f}" + (
                    f" (pooled, {n} runs)" if col.n_files > 1 else "")
            else:
                note = (f"score {np.mean(scores):.2f}" + (f" (mean of {len(scores)})" if len(scores) > 1 else "")
                        if scores else None)
            legend = k == 0 and (r == 0 or cond == "switch")          # humans/model keys; switch's two parts
            draw_condition(ax, x, cond, m, s, n, h_mean, h_std, note, legend=legend, ylim=False)
            if r == 0:
                ax.set_title(col.label, fontsize=10)
        if h_mean is not None:
            row_values += [h_mean - h_std, h_mean + h_std]
        lim = panel_ylim(cond, row_values) if row_values else None
        for k in range(len(columns)):
            if lim is not None:
                axes[r][k].set_ylim(*lim)
            if k:
                axes[r][k].tick_params(labelleft=False)
        axes[r][0].set_ylabel(f"{TITLES.get(cond, cond)}\nΔd' (exposed − control)", fontsize=8)
    for k in range(len(columns)):
        axes[-1][k].set_xlabel("number of exposures")
        axes[-1][k].tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_comparison(
    columns: list[Column],
    humans: dict[str, tuple[np.ndarray, np.ndarray]],
    test_points: np.ndarray,
    stem: str | Path,
    title: str | None = None,
) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` atomically; returns the paths."""
    return save_fig(draw_comparison(columns, humans, test_points, title), stem)
