"""Human-vs-model score of the real-time benchmark.

The paper only overlaid curves; this score is the harness's. Inputs: the model's effect matrix
M[c, k] (conditions x the 4 test points 400..1600 exposures), the human mean H[c, k] and the
human bootstrap samples B[c, k, i] (i = 1..100). With RMS(x) = sqrt(mean(x^2)):

* ``rmse``     = RMS_k(M - H)                    model's distance from humans, in d' units
* ``ceiling``  = RMS_{i,k}(B_i - H)              how far a human bootstrap curve lies from the
                                                 human mean: the distance a perfect model would
                                                 show given the human data's noise
* ``null_rmse``= RMS_k(H)                        distance of a model that does not learn (M = 0)
* ``score``    = clip((null_rmse - rmse) / (null_rmse - ceiling), 0, 1)
                 1 = within human noise; 0 = no better than not learning (or worse)
* ``sign_agreement`` = fraction of test points where sign(M) == sign(H)

Per condition over its 4 points, and ``overall`` over all 12 points pooled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Score:
    conditions: tuple[str, ...]
    rmse: np.ndarray            # [C]
    ceiling: np.ndarray         # [C]
    null_rmse: np.ndarray       # [C]
    score: np.ndarray           # [C]
    sign_agreement: np.ndarray  # [C]
    overall_rmse: float
    overall_ceiling: float
    overall_null_rmse: float
    overall_score: float
    overall_sign_agreement: float

    def as_table(self) -> str:
        lines = [f"{'condition':<10}{'RMSE':>8}{'ceiling':>9}{'null':>8}{'score':>8}{'signs':>8}"]
        for i, c in enumerate(self.conditions):
            lines.append(
                f"{c:<10}{self.rmse[i]:>8.3f}{self.ceiling[i]:>9.3f}{self.null_rmse[i]:>8.3f}"
                f"{self.score[i]:>8.3f}{self.sign_agreement[i]:>8.2f}"
            )
        lines.append(
            f"{'overall':<10}{self.overall_rmse:>8.3f}{self.overall_ceiling:>9.3f}{self.overall_null_rmse:>8.3f}"
            f"{self.overall_score:>8.3f}{self.overall_sign_agreement:>8.2f}"
        )
        return "\n".join(lines)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _normalised(rmse: float, ceiling: float, null: float) -> float:
    if null <= ceiling:
        raise ValueError(f"human effect (RMS {null:.3f}) is not above its own noise ({ceiling:.3f}); cannot normalise")
    return float(np.clip((null - rmse) / (null - ceiling), 0.0, 1.0))


def score_effects(
    conditions: tuple[str, ...] | list[str],
    model: np.ndarray,
    human_mean: np.ndarray,
    human_boot: np.ndarray,
) -> Score:
    """Score model effects [C, K] against human means [C, K] and bootstraps [C, K, N]."""
    model = np.asarray(model, dtype=np.float64)
    human_mean = np.asarray(human_mean, dtype=np.float64)
    human_boot = np.asarray(human_boot, dtype=np.float64)
    if model.shape != human_mean.shape or human_boot.shape[:2] != model.shape:
        raise ValueError(
            f"shape mismatch: model {model.shape}, human mean {human_mean.shape}, bootstraps {human_boot.shape}"
        )
    if not np.isfinite(model).all():
        raise ValueError(f"model effects contain non-finite values: {model}")
    dev_boot = human_boot - human_mean[..., None]
    rmse = np.array([_rms(model[c] - human_mean[c]) for c in range(len(model))])
    ceiling = np.array([_rms(dev_boot[c]) for c in range(len(model))])
    null = np.array([_rms(human_mean[c]) for c in range(len(model))])
    score = np.array([_normalised(r, ce, n) for r, ce, n in zip(rmse, ceiling, null)])
    signs = (np.sign(model) == np.sign(human_mean)).mean(1)
    o_rmse, o_ceil, o_null = _rms(model - human_mean), _rms(dev_boot), _rms(human_mean)
    return Score(
        conditions=tuple(conditions),
        rmse=rmse,
        ceiling=ceiling,
        null_rmse=null,
        score=score,
        sign_agreement=signs,
        overall_rmse=o_rmse,
        overall_ceiling=o_ceil,
        overall_null_rmse=o_null,
        overall_score=_normalised(o_rmse, o_ceil, o_null),
        overall_sign_agreement=float((np.sign(model) == np.sign(human_mean)).mean()),
    )
