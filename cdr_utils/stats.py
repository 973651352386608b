"""Resampling and rank statistics, in one place: the seeded (stratified) bootstrap every interval in the
project uses, and Spearman's rank correlation.

A bootstrap resample draws, within each stratum (an array of row indices), as many rows as the stratum holds,
with replacement, from numpy's `default_rng(seed)`: the same seed gives the same interval. Strata keep subset
sizes fixed where a score weights subsets (RewardBench sections); one stratum of all rows is the plain bootstrap.
"""
from __future__ import annotations

import numpy as np


def resample(rng: np.random.Generator, strata) -> np.ndarray:
    """One resample: for each stratum s, s[rng.integers(0, len(s), len(s))], concatenated."""
    return np.concatenate([s[rng.integers(0, len(s), len(s))] for s in strata])


def bootstrap(statistic, strata, *, rounds: int, seed: int = 0) -> np.ndarray:
    """(rounds,) values of statistic(resampled row indices). strata: index arrays, or an int n (one stratum
    of range(n))."""
    strata = [np.arange(strata)] if isinstance(strata, (int, np.integer)) else [np.asarray(s) for s in strata]
    rng = np.random.default_rng(seed)
    return np.array([statistic(resample(rng, strata)) for _ in range(rounds)])


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The (1 - level) / 2 and (1 + level) / 2 percentiles of `values`, NaNs ignored; (NaN, NaN) if empty."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.isnan(values).all():
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def spearman(x, y) -> float:
    """Spearman's rank correlation (scipy.stats.spearmanr: average ranks for ties). NaN for fewer than 3 points
    (two points correlate +-1 by construction) or a constant input."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)
