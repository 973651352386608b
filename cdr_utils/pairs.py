"""Scored candidates -> preference pairs (CDR's on-policy annotation), and reward-augmented relabeling.

build_pairs: for each prompt with N scored candidates, chosen = the best, rejected = the worst ("best_worst")
or a seeded random one of the strictly worse ("best_random"), as in the CDR paper (arXiv 2411.02481, Sec. 5)
and SimPO's on-policy data. Tie rules, each counted in the returned `stats`:
  - an empty response (its reward is NaN: score_candidates does not score it) is no candidate ("empty_responses");
  - fewer than two candidates: no pair ("single");
  - every reward equal: nothing to prefer ("all_tied");
  - best and worst tie for first place: the earliest candidate (by index) is the best, the earliest
    among the lowest is the worst;
  - chosen and rejected texts identical after trimming whitespace ("identical_text");
  - reward gap below `min_margin` nats ("below_margin");
  - a NaN / inf reward: RecordError naming the row and the candidate, or the row dropped ("nonfinite")
    when drop_nonfinite=True.
Output rows follow TRL's conversational preference format: `prompt` = the messages (no assistant turn),
`chosen` / `rejected` = [one assistant message]; plus prompt_id (a stable hash of the prompt), score_chosen,
score_rejected, margin = score_chosen - score_rejected (nats), customization and pair (what scored them).

reward_augment (Zhang et al., arXiv 2410.08067): each pair (x, y_w, r_w, y_l, r_l) becomes two rows whose
prompt states a target rating: conditioned on rating(r_w), y_w beats y_l; conditioned on rating(r_l), the
responses swap and y_l beats y_w. Density ratios are unbounded, so ratings are quantile bins fitted on the
data set's scores (both responses of every pair): rating = 1 + #{bin edges <= score}, edges at the 1/L ..
(L-1)/L quantiles, L = levels (10: UltraFeedback's 1-10 scale). When both responses fall in one bin, the
swapped row would contradict the first under an identical prompt, so only the unswapped row is kept (counted).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict

from .chat import BadRecords, RecordError, prompt_id, with_instruction
from .stats import spearman

STRATEGIES = ("best_worst", "best_random")
CONDITION = "Write a response that deserves a quality rating of {rating} on a scale from 1 to {levels}."


def _text(c) -> str:
    return c["response"] if isinstance(c, dict) else c


def build_pairs(scored, *, strategy: str = "best_worst", min_margin: float | None = None, seed: int = 0,
                drop_nonfinite: bool = False):
    """(pairs Dataset, stats dict) from a Dataset (or list of dicts) with columns prompt (messages),
    responses (N strings), rewards (N floats, nats) and optionally customization, pair (strings)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    stats = {"prompts": 0, "pairs": 0, "single": 0, "all_tied": 0, "identical_text": 0, "below_margin": 0,
             "nonfinite": 0, "empty_responses": 0}
    rows = []
    for i, row in enumerate(scored):
        stats["prompts"] += 1
        texts, rewards = [_text(c) for c in row["responses"]], [float(r) for r in row["rewards"]]
        pid = prompt_id(row["prompt"])
        if len(texts) != len(rewards):
            raise RecordError(i, "rewards", f"{len(rewards)} rewards for {len(texts)} responses")
        kept = [j for j, t in enumerate(texts) if t.strip()]  # an empty response is no candidate (NaN reward)
        stats["empty_responses"] += len(texts) - len(kept)
        texts, rewards = [texts[j] for j in kept], [rewards[j] for j in kept]
        bad = [j for j, r in enumerate(rewards) if not math.isfinite(r)]
        if bad:
            if not drop_nonfinite:
                raise RecordError(i, f"rewards[{bad[0]}]", f"non-finite reward {rewards[bad[0]]} (prompt_id {pid}); "
                                  "pass drop_nonfinite=True to drop such rows")
            stats["nonfinite"] += 1
            continue
        if len(texts) < 2:
            stats["single"] += 1
            continue
        r = np.array(rewards)
        if np.all(r == r[0]):
            stats["all_tied"] += 1
            continue
        best = int(np.argmax(r))  # argmax / argmin return the first index among ties
        if strategy == "best_worst":
            worst = int(np.argmin(r))
        else:  # a seeded draw among the strictly worse candidates, independent of row order
            lower = np.flatnonzero(r < r[best])
            worst = int(np.random.default_rng([seed, int(pid, 16)]).choice(lower))
        if texts[best].strip() == texts[worst].strip():
            stats["identical_text"] += 1
            continue
        margin = rewards[best] - rewards[worst]
        if min_margin is not None and margin < min_margin:
            stats["below_margin"] += 1
            continue
        rows.append({"prompt_id": pid, "prompt": [dict(m) for m in row["prompt"]],
                     "chosen": [{"role": "assistant", "content": texts[best]}],
                     "rejected": [{"role": "assistant", "content": texts[worst]}],
                     "score_chosen": rewards[best], "score_rejected": rewards[worst], "margin": margin,
                     "customization": row.get("customization", "") or "", "pair": row.get("pair", "") or ""})
    stats["pairs"] = len(rows)
    columns = ["prompt_id", "prompt", "chosen", "rejected", "score_chosen", "score_rejected", "margin",
               "customization", "pair"]
    return Dataset.from_list(rows) if rows else Dataset.from_dict({c: [] for c in columns}), stats


def _levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2 (the rating scale 1..levels), got {levels!r}")
    return int(levels)


def _scores(scores, what: str = "score") -> np.ndarray:
    """Scores as float64, every one finite: a NaN / inf score has no rating (it would land in the top bin)."""
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}s must be numbers: {err}") from None
    bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
    if bad.size:
        k = int(bad[0])
        raise RecordError(k, what, f"non-finite {what} {values.reshape(-1)[k]} has no rating"
                          + (f" ({bad.size} such scores, at {bad[:20].tolist()})" if bad.size > 1 else ""))
    return values


def fit_rating_bins(scores, levels: int = 10) -> np.ndarray:
    """(levels - 1,) bin edges: the 1/L .. (L-1)/L quantiles of `scores` (nats). Raises RecordError naming the
    first non-finite score (rating bins need at least one score, all finite)."""
    levels = _levels(levels)
    scores = _scores(scores)
    if scores.size == 0:
        raise ValueError("rating bins need at least one score, all finite")
    return np.quantile(scores, np.arange(1, levels) / levels)


def _edges(edges, levels: int | None = None) -> np.ndarray:
    try:
        edges = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bin edges must be numbers: {err}") from None
    if edges.ndim != 1 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) < 0):
        raise ValueError(f"bin edges must be a finite, non-decreasing list of numbers, got {edges.tolist()}")
    if levels is not None and len(edges) != levels - 1:
        raise ValueError(f"{len(edges)} bin edges for {levels} levels: expected {levels - 1}")
    return edges


def to_rating(scores, edges) -> np.ndarray:
    """Ratings 1..len(edges)+1: 1 + the number of edges at or below each score. A non-finite score raises
    RecordError naming its position (NaN would otherwise sort above every edge and get the top rating)."""
    return 1 + np.searchsorted(_edges(edges), _scores(scores), side="right")


def conditioned_prompt(prompt, rating: int | None = None, *, levels: int = 10, system_role: bool = True) -> list[dict]:
    """The prompt conditioned on a target rating (default: the top one, for inference). system_role=True: the
    text goes into a system message (before an existing system message's text, in the same message);
    False: it is prepended, once, to the first user turn."""
    text = CONDITION.format(rating=levels if rating is None else int(rating), levels=levels)
    return with_instruction(prompt, text, system_role=system_role, what="the rating condition")


def reward_augment(pairs, *, levels: int = 10, edges=None, system_role: bool = True):
    """(augmented Dataset, info) from build_pairs output: two rows per pair (see the module docstring).
    Rows gain `rating` (the conditioned target) and `swapped`; a swapped row's scores follow its responses
    (score_chosen = r_l, margin < 0). info holds the bin edges and counts.
    edges: reuse bins fitted elsewhere (e.g. on the train split) instead of fitting on `pairs`.
    Every pair's two scores must be finite numbers: otherwise RecordError (BadRecords) naming the rows."""
    levels = _levels(levels)
    problems = []
    for k, row in enumerate(pairs):
        for f in ("score_chosen", "score_rejected"):
            v = row.get(f) if isinstance(row, dict) else None
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                problems.append(RecordError(k, f, "missing field" if v is None else
                                            f"expected a number, got {v!r:.40}"))
            elif not math.isfinite(v):
                problems.append(RecordError(k, f, f"non-finite score {v} (prompt_id {row.get('prompt_id')}) has no "
                                                  "rating; drop or fix the pair (build_pairs(drop_nonfinite=True))"))
    if problems:
        raise BadRecords(problems, "pairs")
    edges = fit_rating_bins(list(pairs["score_chosen"]) + list(pairs["score_rejected"]), levels) \
        if edges is None else _edges(edges, levels)
    rows, same_bin = [], 0
    for row in pairs:
        r_w, r_l = (int(x) for x in to_rating([row["score_chosen"], row["score_rejected"]], edges))
        base = {k: row[k] for k in row if k not in ("prompt", "chosen", "rejected")}
        rows.append({**base, "prompt": conditioned_prompt(row["prompt"], r_w, levels=levels, system_role=system_role),
                     "chosen": row["chosen"], "rejected": row["rejected"], "rating": r_w, "swapped": False})
        if r_w == r_l:
            same_bin += 1
            continue
        swapped = {**base, "score_chosen": row["score_rejected"], "score_rejected": row["score_chosen"],
                   "margin": row["score_rejected"] - row["score_chosen"]}
        rows.append({**swapped, "prompt": conditioned_prompt(row["prompt"], r_l, levels=levels,
                                                             system_role=system_role),
                     "chosen": row["rejected"], "rejected": row["chosen"], "rating": r_l, "swapped": True})
    info = {"edges": [float(e) for e in edges], "levels": levels, "pairs": len(pairs), "rows": len(rows),
            "same_bin": same_bin, "system_role": system_role}
    return Dataset.from_list(rows), info


def split_by_prompt(pairs, test_fraction: float, seed: int = 0) -> DatasetDict:
    """DatasetDict(train, test): whole prompts go to one side (seeded shuffle of the sorted prompt ids);
    test_fraction 0 puts everything in train (test empty)."""
    ids = sorted(set(pairs["prompt_id"]))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = min(len(ids) - 1, max(1, round(test_fraction * len(ids)))) if len(ids) > 1 and test_fraction > 0 else 0
    test_ids = {ids[k] for k in order[:n_test]}
    is_test = [pid in test_ids for pid in pairs["prompt_id"]]
    return DatasetDict(train=pairs.select([k for k, t in enumerate(is_test) if not t]),
                       test=pairs.select([k for k, t in enumerate(is_test) if t]))


def pair_frame(pairs):
    """One row per pair: scores, margin (nats), chosen / rejected length in characters, and their difference."""
    chosen = [c[0]["content"] for c in pairs["chosen"]]
    rejected = [r[0]["content"] for r in pairs["rejected"]]
    frame = pd.DataFrame({"prompt_id": pairs["prompt_id"], "score_chosen": pairs["score_chosen"],
                          "score_rejected": pairs["score_rejected"], "margin": pairs["margin"],
                          "len_chosen": [len(t) for t in chosen], "len_rejected": [len(t) for t in rejected]})
    frame["length_diff"] = frame["len_chosen"] - frame["len_rejected"]
    return frame


def strategy_summary(frames: dict):
    """Per strategy (frames: {name: pair_frame}): pairs, mean / median margin (nats), mean length difference
    (characters, chosen minus rejected), share of pairs whose chosen response is the longer one (%), and the
    Spearman correlation of length difference with margin."""
    return pd.DataFrame({name: {"pairs": len(f), "mean margin": f["margin"].mean(),
                                "median margin": f["margin"].median(), "mean length diff": f["length_diff"].mean(),
                                "chosen longer (%)": 100 * (f["length_diff"] > 0).mean(),
                                "spearman(length diff, margin)": spearman(f["length_diff"], f["margin"])}
                         for name, f in frames.items()}).T
