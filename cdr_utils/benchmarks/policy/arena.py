"""Arena-Hard metrics: battles from pairwise judgments, Bradley-Terry scores against a baseline, and a seeded
bootstrap confidence interval; pure functions, conventions of arena-hard-auto v0.1's `show_result.py`
(the version the SimPO / CDR papers report, baseline gpt-4-0314):

- every question is judged twice, the answers' positions swapped: game 1 shows the baseline as assistant A,
  game 2 the model as A. A verdict is one of "A>>B", "A>B", "A=B", "B>A", "B>>A"; a decisive one (">>") counts
  as `weight` = 3 battles, any other verdict (None, unparseable) counts as none.
- Bradley-Terry by maximum-likelihood logistic regression on the battles (a tie = half a win, the same
  optimum as arena-hard's "duplicate the battles, count a tie once each way"), on the Elo scale:
  P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)), the baseline anchored at 1000. Fitted by glm.fit_logistic
  (Newton, a 1e-6 ridge): v0.1 uses scikit-learn's LogisticRegression(fit_intercept=False, penalty=None) on the
  duplicated battles, which agrees to 3e-8 Elo on the tests' planted strengths (2.9e-6 Elo from the exact MLE on
  the two-model hand computation, the ridge's share; scikit-learn 1.4e-7) but raises when all battles have one
  outcome (see glm.py), so it is not used.
- the score of a model = its predicted win rate against the baseline, in percent (the baseline scores 50);
  the interval = the 2.5 and 97.5 percentiles of the same quantity over bootstrap resamples of the battles
  (100 rounds by default), the point score = the fit on all battles.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ...chat import BadRecords, RecordError
from ...stats import bootstrap, percentile_interval
from . import checks
from .glm import fit_logistic

VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
SCALE, BASE, ANCHOR = 400.0, 10.0, 1000.0


def battles_from_games(records: Iterable[dict], *, weight: int = 3) -> pd.DataFrame:
    """Judgment records {"uid", "model", "baseline", "games": [game1, game2]} (each game {"score": verdict} or
    None) -> battles DataFrame (uid, model_a, model_b, winner in {"model_a", "model_b", "tie"}), with
    model_a = the baseline throughout and a decisive verdict repeated `weight` times. A bad record (no `games`,
    a missing field) raises chat.BadRecords naming it."""
    rows = []
    for rec in checks.records(records, _problems, "Arena-Hard judgments"):
        for g, game in enumerate(rec["games"]):
            score = (game or {}).get("score")
            if score not in VERDICTS:
                continue
            # Which *model* the verdict favours: in game 1 the baseline is A, in game 2 the model is A.
            a_wins = score in ("A>>B", "A>B")
            tie = score == "A=B"
            baseline_wins = (a_wins if g == 0 else (not a_wins)) and not tie
            winner = "tie" if tie else ("model_a" if baseline_wins else "model_b")
            n = weight if ">>" in score else 1
            rows += [{"uid": rec["uid"], "model_a": rec["baseline"], "model_b": rec["model"],
                      "winner": winner}] * n
    return pd.DataFrame(rows, columns=["uid", "model_a", "model_b", "winner"])


def _design(battles: pd.DataFrame, baseline: str):
    """The distinct battle kinds (model_a, model_b, winner) as logistic-regression rows: x (k, m) with
    +-ln(10) on the two models' columns (the baseline has none: its rating is fixed, which anchors the scale),
    y (k,) soft labels (tie = 0.5), each battle's kind code (n,), and the free models' names."""
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    if baseline not in models:
        raise ValueError(f"baseline {baseline!r} appears in no battle")
    free = [m for m in models if m != baseline]
    col = {m: k for k, m in enumerate(free)}
    kinds, codes = np.unique(battles[["model_a", "model_b", "winner"]].to_numpy(dtype=str), axis=0,
                             return_inverse=True)
    x = np.zeros((len(kinds), len(free)))
    for k, (a, b, _) in enumerate(kinds):
        for m, sign in ((a, 1.0), (b, -1.0)):
            if m in col:
                x[k, col[m]] += sign * math.log(BASE)
    y = np.array([{"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[w] for w in kinds[:, 2]])
    return x, y, codes.ravel(), free


def _ratings(x, y, counts, free, baseline) -> pd.Series:
    # Identical battles enter once, weighted by their count: the same likelihood, far fewer rows.
    w = fit_logistic(x, y, counts) if free else np.zeros(0)
    return pd.Series(np.r_[ANCHOR, ANCHOR + SCALE * w], index=[baseline, *free])


def bradley_terry(battles: pd.DataFrame, baseline: str) -> pd.Series:
    """Elo-scale Bradley-Terry ratings (index: model), the baseline at 1000: the maximum-likelihood fit of
    P(model_a wins) = s(ln(10) / 400 * (R_a - R_b)) with a tie counting as half a win."""
    x, y, codes, free = _design(battles, baseline)
    return _ratings(x, y, np.bincount(codes, minlength=len(y)).astype(float), free, baseline)


def win_rate_vs_baseline(ratings: pd.Series, baseline: str) -> pd.Series:
    """Predicted win rate (percent) of every model against the baseline under the Elo-scale BT model."""
    return 100.0 / (1.0 + BASE ** ((ratings[baseline] - ratings) / SCALE))


def arena_hard_scores(battles: pd.DataFrame, baseline: str, *, rounds: int = 100, seed: int = 0,
                      level: float = 0.95) -> pd.DataFrame:
    """Per model: score (win rate vs baseline, percent, from all battles), lower / upper (the bootstrap
    percentile interval at `level`), rating (Elo scale) and battle count. Resampling draws len(battles)
    battles with replacement from numpy's default_rng(seed): the same seed gives the same interval."""
    x, y, codes, free = _design(battles, baseline)
    ratings = _ratings(x, y, np.bincount(codes, minlength=len(y)).astype(float), free, baseline)

    def resampled(rows):  # a resample of the battles = new counts of each battle kind
        counts = np.bincount(codes[rows], minlength=len(y)).astype(float)
        return win_rate_vs_baseline(_ratings(x, y, counts, free, baseline), baseline).to_numpy()

    boot = bootstrap(resampled, len(codes), rounds=rounds, seed=seed).reshape(rounds, len(ratings))
    lower, upper = zip(*(percentile_interval(boot[:, k], level) for k in range(len(ratings))))
    counts = pd.concat([battles["model_a"], battles["model_b"]]).value_counts()
    table = pd.DataFrame({"score": win_rate_vs_baseline(ratings, baseline), "lower": lower, "upper": upper,
                          "rating": ratings, "battles": counts.reindex(ratings.index)})
    return table.sort_values("score", ascending=False).rename_axis("model")


def _problems(r: dict) -> list:
    out = checks.key(r, "uid") + checks.text(r, "model", empty_ok=False) + checks.text(r, "baseline",
                                                                                     empty_ok=False)
    games = r.get("games")
    if not isinstance(games, (list, tuple)) or len(games) != 2:
        return out + [("games", "missing field" if games is None else f"expected two games (the positions swapped), "
                                f"got {checks.kind(games)} {games!r:.60}")]
    for g, game in enumerate(games):
        if game is not None and not isinstance(game, dict):
            out.append((f"games[{g}]", f"expected a game {{'score', 'judgment'}} or null, got {checks.kind(game)}"))
        elif game is not None and not checks.absent(game.get("score")) and not isinstance(game["score"], str):
            out.append((f"games[{g}].score", "expected a verdict (e.g. 'A>B') or null, got "
                                             f"{checks.kind(game['score'])}"))
    return out


def arena_hard_table(records: Iterable[dict], *, items: Iterable | None = None, require_complete: bool = False,
                     rounds: int = 100, seed: int = 0, weight: int = 3) -> pd.DataFrame:
    """Judgment records (one baseline) -> arena_hard_scores' table plus "unparsed" (games whose verdict is null or
    not one of VERDICTS: no battle, counted) and, with the benchmark's `items` (or uids), "missing" / "missing_ids"
    (expected questions without a record) per model; require_complete=True raises naming them. A model whose
    verdicts are all unparseable keeps a row (score NaN). Bad records (a missing or wrong field, two baselines, a
    question judged twice for one model) raise chat.BadRecords naming them, before any fit."""
    recs = checks.records(records, _problems, "Arena-Hard judgments", unique=("model", "uid"),
                          what="one question judged twice")
    if not recs:
        raise ValueError("no Arena-Hard judgment records")
    baseline = recs[0]["baseline"]
    other = [RecordError(i, "baseline", f"{r['baseline']!r}, but record 0's baseline is {baseline!r} (one table, "
                         "one baseline)", where="Arena-Hard judgments")
             for i, r in enumerate(recs) if r["baseline"] != baseline]
    if other:
        raise BadRecords(other)
    models = list(dict.fromkeys(r["model"] for r in recs))
    unparsed = {m: 0 for m in models}
    for r in recs:
        unparsed[r["model"]] += sum((g or {}).get("score") not in VERDICTS for g in r["games"])
    battles = battles_from_games(recs, weight=weight)
    if battles.empty:
        raise RecordError(None, "games[].score", f"all {sum(unparsed.values())} verdicts of the {len(recs)} records "
                          "are unparseable (null or none of " + ", ".join(VERDICTS) + "): no battle to score",
                          where="Arena-Hard judgments")
    table = arena_hard_scores(battles, baseline, rounds=rounds, seed=seed)
    table = table.reindex([*table.index, *(m for m in models if m not in table.index)]).rename_axis("model")
    table["battles"] = table["battles"].fillna(0).astype(int)
    table["unparsed"] = [unparsed.get(m, 0) for m in table.index]
    expected = checks.item_keys(items, "uid")
    present = {m: {r["uid"] for r in recs if r["model"] == m} for m in models}
    lacking = checks.missing(present, expected, "Arena-Hard", "uid", "question", require_complete)
    if expected is not None:
        table["missing"] = [len(lacking[m]) if m in lacking else 0 for m in table.index]
        table["missing_ids"] = pd.Series([lacking.get(m, []) for m in table.index], index=table.index, dtype=object)
    return table
