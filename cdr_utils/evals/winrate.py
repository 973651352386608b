"""AlpacaEval 2 metrics: win rate and length-controlled (LC) win rate, pure functions of judgment records.

A judgment record follows alpaca_eval's annotation schema: `instruction`, `output_1` (the baseline's answer),
`output_2` (the evaluated model's), `generator_1`, `generator_2`, and `preference` on alpaca_eval's scale:
1 = output_1 (baseline) preferred, 2 = output_2 (model) preferred, 1.5 = a tie (alpaca_eval writes a tie as 0
and maps it to 1.5), a value in between = a soft preference (weighted judges), None = unparseable (dropped and
counted).

Length control (Dubois et al. 2024, arXiv 2404.04475; alpaca_eval `metrics/glm_winrate.py`, GLM
"length_controlled_v1"): fit, per model, a logistic regression of the preference for the model,
    P(model preferred | i) = s(theta_model + phi * tanh(delta_len_i / sd(delta_len)) + psi * difficulty_i),
where delta_len_i = len(output_1) - len(output_2) in characters and sd is its sample standard deviation (not
centered), then predict with delta_len = 0 and average over instructions: LC = 100 * mean_i
s(theta + psi * difficulty_i). Differences from the official fit, on purpose:
- official: L1 penalty with 5-fold cross-validated strength, and the fit regularized toward two "gamed"
  baselines' annotations (weight 0.2) from a hub file; here: the plain maximum-likelihood fit (a tiny ridge
  only against separation). With the intercept unpenalized, LC equals the raw win rate exactly whenever all
  length differences are equal (the intercept's score equation makes the mean prediction equal the mean label).
- official: instruction difficulty is a fixed per-instruction feature estimated once from the whole
  leaderboard; here: pass it (e.g. from a user's copy of alpaca_eval's `instruction_difficulty.csv`), or
  `instruction_difficulty()` estimates it from the judgments of the *other* models on the same instructions
  (leave-one-model-out, so a model's own outcomes never enter its difficulty), or none (zeros).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .glm import fit_logistic, sigmoid


def _frame(judgments) -> pd.DataFrame:
    df = judgments.copy() if isinstance(judgments, pd.DataFrame) else pd.DataFrame(list(judgments))
    missing = {"instruction", "output_1", "output_2", "preference"} - set(df.columns)
    if missing:
        raise ValueError(f"judgment records lack field(s) {sorted(missing)}")
    return df


def model_preference(preference) -> np.ndarray:
    """alpaca_eval's preference (1 = baseline, 2 = model, 0 or 1.5 = tie) -> P(model preferred) in [0, 1]."""
    pref = pd.to_numeric(pd.Series(preference, dtype=object), errors="coerce").astype(float)
    pref = pref.where(pref != 0.0, 1.5)
    if ((pref < 1) | (pref > 2)).any():
        raise ValueError("preferences must lie in [1, 2] (or be 0 for a tie, None for unparseable)")
    return (pref - 1.0).to_numpy()


def win_rate(judgments) -> dict:
    """Raw win rate of output_2 over output_1 in percent: mean P(model preferred), ties counting one half.

    Returns {"win_rate", "n_wins", "n_draws", "n_losses", "n_total", "n_unparsed"}.
    """
    df = _frame(judgments)
    p = model_preference(df["preference"])
    ok = ~np.isnan(p)
    p = p[ok]
    return {"win_rate": 100.0 * p.mean() if len(p) else float("nan"), "n_wins": int((p > 0.5).sum()),
            "n_draws": int((p == 0.5).sum()), "n_losses": int((p < 0.5).sum()), "n_total": int(len(p)),
            "n_unparsed": int((~ok).sum())}


def instruction_difficulty(judgments, *, exclude_generator: str | None = None, prior: float = 1.0) -> dict:
    """Per-instruction difficulty estimated from judgments: -logit of the smoothed mean P(model preferred)
    over the records of every generator except `exclude_generator` ((sum p + prior/2) / (n + prior)).
    Higher = harder for models against this baseline. Instructions no other generator answered get 0."""
    df = _frame(judgments)
    df["p"] = model_preference(df["preference"])
    df = df[df["p"].notna()]
    if exclude_generator is not None:
        df = df[df["generator_2"] != exclude_generator]
    grouped = df.groupby("instruction")["p"].agg(["sum", "count"])
    rate = (grouped["sum"] + prior / 2) / (grouped["count"] + prior)
    return (-np.log(rate / (1 - rate))).to_dict()


def length_controlled_win_rate(judgments, difficulty: Mapping[str, float] | str | None = "auto") -> dict:
    """win_rate() plus "length_controlled_winrate" (percent) and the fitted GLM weights.

    judgments: records of ONE model (one generator_2) against one baseline. difficulty: a mapping
    instruction -> difficulty, "auto" (estimated from `judgments` of other generators when the records hold
    several, see instruction_difficulty; else none) or None (no difficulty term).
    """
    df = _frame(judgments)
    generators = df["generator_2"].unique() if "generator_2" in df else [None]
    if difficulty == "auto":
        difficulty = None
    metrics = win_rate(df)
    df = df.assign(p=model_preference(df["preference"]))
    df = df[df["p"].notna()].reset_index(drop=True)
    if len(generators) != 1:
        raise ValueError(f"length_controlled_win_rate takes one model's records, got {list(generators)}")
    delta = (df["output_1"].str.len() - df["output_2"].str.len()).astype(float)
    sd = delta.std()  # pandas: ddof=1, as alpaca_eval
    std_delta = delta / sd if sd > 0 else delta * 0.0
    diff = np.array([float(difficulty.get(i, 0.0)) for i in df["instruction"]]) if difficulty else np.zeros(len(df))
    x = np.column_stack([np.tanh(std_delta.to_numpy()), diff, np.ones(len(df))])
    w = fit_logistic(x, df["p"].to_numpy(), unpenalized=(2,))
    x0 = x.copy()
    x0[:, 0] = 0.0  # the counterfactual: no length difference
    metrics["length_controlled_winrate"] = 100.0 * sigmoid(x0 @ w).mean()
    metrics["weights"] = {"np.tanh(std_delta_len)": w[0], "instruction_difficulty": w[1], "intercept": w[2]}
    return metrics


def alpaca_eval_table(judgments: Iterable[dict], difficulty: Mapping[str, float] | str | None = "auto"
                      ) -> pd.DataFrame:
    """One row per generator_2: win rate, LC win rate (percent), counts and the mean answer lengths.
    difficulty="auto": leave-one-model-out difficulty from the other generators' records (when present)."""
    df = _frame(judgments)
    rows = {}
    for gen, part in df.groupby("generator_2", sort=False):
        diff = (instruction_difficulty(df, exclude_generator=gen) if difficulty == "auto" and
                df["generator_2"].nunique() > 1 else (None if difficulty == "auto" else difficulty))
        m = length_controlled_win_rate(part, diff)
        rows[gen] = {"LC win rate": m["length_controlled_winrate"], "win rate": m["win_rate"],
                     "wins": m["n_wins"], "draws": m["n_draws"], "losses": m["n_losses"],
                     "unparsed": m["n_unparsed"], "length (chars)": part["output_2"].str.len().mean(),
                     "baseline length": part["output_1"].str.len().mean()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
