"""Density-ratio rewards from a (strong, weak) pair of scorers (CDR, arXiv 2411.02481, Eq. 1):

    r(x, y) = log p_strong(y | x) - log p_weak(y | x)            reduction="sum"  (the paper's, RewardBench's)
    r(x, y) = mean_t log p_strong(y_t | .) - mean_t log p_weak(y_t | .)    reduction="mean"

Each model scores with its own tokenizer and template, so the two token counts may differ; "mean" divides
each model's sum by its own count. Units: nats (sum) or nats per token (mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .logprobs import LogProbScorer, ScoreResult

REDUCTIONS = ("sum", "mean")


def density_ratio(strong: ScoreResult, weak: ScoreResult, reduction: str = "sum") -> np.ndarray:
    """(N,) float64 rewards from two ScoreResults over the same N (prompt, response) pairs."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(strong) != len(weak):
        raise ValueError(f"strong and weak results differ in length: {len(strong)} != {len(weak)}")
    if reduction == "sum":
        return strong.sum - weak.sum
    return strong.mean - weak.mean


@dataclass
class RewardResult:
    """reward: (N,) float64; strong / weak: the two models' ScoreResults behind it."""
    reward: np.ndarray
    strong: ScoreResult
    weak: ScoreResult
    reduction: str

    def to_frame(self):
        """One row per response: each model's sum (nats) and token count, and both reductions of the ratio."""
        import pandas as pd

        return pd.DataFrame({"logp_strong": self.strong.sum, "logp_weak": self.weak.sum,
                             "n_tokens_strong": self.strong.n_tokens, "n_tokens_weak": self.weak.n_tokens,
                             "r_sum": density_ratio(self.strong, self.weak, "sum"),
                             "r_mean": density_ratio(self.strong, self.weak, "mean")})


class DensityRatioReward:
    """Scores (prompt, response) pairs under both models and returns the density ratio."""

    def __init__(self, strong: LogProbScorer, weak: LogProbScorer, reduction: str = "sum"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.strong, self.weak, self.reduction = strong, weak, reduction

    def score(self, prompts, responses, *, return_tokens: bool = False, record_ids=None) -> RewardResult:
        # Validate with both encoders before any model work, so a bad record fails fast.
        prepared = [m.encode(prompts, responses, record_ids) for m in (self.strong, self.weak)]
        s = self.strong.score_prepared(prepared[0], return_tokens=return_tokens)
        w = self.weak.score_prepared(prepared[1], return_tokens=return_tokens)
        return RewardResult(reward=density_ratio(s, w, self.reduction), strong=s, weak=w, reduction=self.reduction)

    __call__ = score


def load_reward(profile, reduction: str = "sum", **options) -> DensityRatioReward:
    """The profile's (strong, weak) pair as a DensityRatioReward; options go to both scorers."""
    from .models import load_scorer

    kw = {"dtype": profile.dtype, "profile": profile.name, "max_batch_tokens": profile.max_batch_tokens, **options}
    return DensityRatioReward(load_scorer(profile.strong, **kw), load_scorer(profile.weak, **kw), reduction)
