"""Logistic regression with soft labels, fitted by Newton's method in numpy.

Used by Arena-Hard's Bradley-Terry scores (`arena.py`): battle outcomes (1 win, 0 loss, 0.5 tie) on +-ln(10)
model indicators. (AlpacaEval's length-controlled win rate no longer fits here: `winrate.py` runs alpaca_eval's
own scikit-learn LogisticRegressionCV, L1, to match alpaca_eval 0.6.6 bit for bit.)

A soft label y in [0, 1] contributes y log p + (1 - y) log(1 - p) to the log-likelihood: the same objective as
duplicating the row once with label 1 (weight y) and once with label 0 (weight 1 - y), which is how
Arena-Hard turns a tie into half a win ("one tie => one A win + one B win" on duplicated battles).

Why not scikit-learn's LogisticRegression(fit_intercept=False, penalty=None) as arena-hard-auto v0.1's
show_result.py: on the same battles it gives the same ratings (3e-8 Elo apart on tests' planted strengths), but
it raises when every battle has one outcome (a model that wins all its games: common in small runs and in
bootstrap resamples), where this fit's 1e-6 ridge keeps the ratings finite. (Measured with v0.1's
compute_mle_elo copied next to arena.bradley_terry: tests/peers/bt_sklearn_vs_newton.py.)
"""
from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function 1 / (1 + exp(-z))."""
    return np.exp(-np.logaddexp(0.0, -z))


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *, ridge: float = 1e-6,
                 unpenalized: tuple[int, ...] = (), tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Coefficients w (shape (d,)) maximizing sum_i weight_i [y_i log s(x_i w) + (1 - y_i) log(1 - s(x_i w))]
    - ridge / 2 * |w|^2 (columns listed in `unpenalized` carry no penalty).

    x: (n, d) design matrix (no intercept is added: pass a column of ones); y: (n,) soft labels in [0, 1];
    weight: (n,) non-negative row weights (default 1). The tiny default ridge only keeps the optimum finite
    when the data are separable (e.g. a model that wins every battle) or a column is all zeros; on ordinary
    data it moves the fit by O(ridge / n). Newton steps with step halving: the objective never decreases.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n, d = x.shape
    weight = np.ones(n) if weight is None else np.asarray(weight, dtype=float)
    if np.any((y < 0) | (y > 1)) or np.any(weight < 0):
        raise ValueError("labels must lie in [0, 1] and weights be non-negative")
    penalty = np.full(d, float(ridge))
    penalty[list(unpenalized)] = 0.0

    def objective(w):
        z = x @ w
        # log s(z) = -log(1 + e^-z), log(1 - s(z)) = -log(1 + e^z)
        ll = -(weight * (y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z))).sum()
        return ll - 0.5 * (penalty * w * w).sum()

    w = np.zeros(d)
    current = objective(w)
    for _ in range(max_iter):
        p = sigmoid(x @ w)
        grad = x.T @ (weight * (y - p)) - penalty * w
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-12 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-8:
            candidate = objective(w + scale * step)
            if candidate >= current - 1e-15:
                break
            scale /= 2
        w, previous, current = w + scale * step, current, candidate
        if np.abs(scale * step).max() < tol or abs(current - previous) < tol * max(1.0, abs(current)):
            break
    return w
