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

from .chat import (BadRecords, RecordError, as_messages, candidate_text, candidates_problems, check_records,
                   completion_problems, is_number, prompt_id, prompt_problems, reward_problems, text_problems,
                   user_turn_problems, with_instruction)
from .stats import spearman

STRATEGIES = ("best_worst", "best_random")
CONDITION = "Write a response that deserves a quality rating of {rating} on a scale from 1 to {levels}."


def _records(rows, what: str) -> list:
    """The rows of a Dataset, a DataFrame or a list / tuple, as a list (each checked by the caller)."""
    if isinstance(rows, Dataset):
        return rows.to_list()
    if isinstance(rows, pd.DataFrame):
        return rows.to_dict("records")
    if isinstance(rows, (list, tuple)):
        return list(rows)
    raise ValueError(f"{what}: expected a datasets.Dataset, a list of dicts or a DataFrame, got {type(rows).__name__}"
                     + (" (one row? pass [row])" if isinstance(rows, dict) else ""))


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _prompt_ids(rows) -> list[str]:
    """Each row's prompt_id; BadRecords naming every row whose prompt an earlier row already has: one row per
    prompt (a prompt's candidates in one row), else it would get two pairs and count twice."""
    ids, first, errors = [], {}, []
    for i, row in enumerate(rows):
        pid = prompt_id(as_messages(row["prompt"]))
        ids.append(pid)
        name = i if row.get("id") is None else row["id"]
        if pid in first:
            errors.append(RecordError(name, "prompt", f"the same prompt as record {first[pid]!r} (prompt_id {pid}): "
                                      "put all of a prompt's candidates in one row"))
        else:
            first[pid] = name
    if errors:
        raise BadRecords(errors, "scored")
    return ids


def build_pairs(scored, *, strategy: str = "best_worst", min_margin: float | None = None, seed: int = 0,
                drop_nonfinite: bool = False):
    """(pairs Dataset, stats dict) from score_candidates' output: a Dataset, a list of dicts or a DataFrame with
    columns prompt (messages, or a string taken as one user turn, as score_candidates reads it), responses (N
    strings or {"response": string}), rewards (N numbers, nats; NaN or None for an empty response) and optionally
    customization, pair (strings) and id (unique). Every row is checked before any pair is built, as `cdr pairs`
    does: BadRecords (a ValueError) names each bad row (id or position) and field, the first 20 with their
    count. Two rows with the same prompt are refused (one row per prompt; two would give it two pairs). An
    empty `responses` list is a row without candidates, counted in "single"."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if min_margin is not None and not (is_number(min_margin) and math.isfinite(min_margin)):
        raise ValueError(f"min_margin must be a finite number (nats) or None, got {min_margin!r}")
    if strategy == "best_random":
        seed = _seed(seed)
    data = _records(scored, "scored")
    check_records(data, [prompt_problems, candidates_problems,
                         lambda r: reward_problems(r, drop_nonfinite, "drop_nonfinite=True")], source="scored")
    pids = _prompt_ids(data)
    stats = {"prompts": 0, "pairs": 0, "single": 0, "all_tied": 0, "identical_text": 0, "below_margin": 0,
             "nonfinite": 0, "empty_responses": 0}
    rows = []
    for row, pid in zip(data, pids):
        stats["prompts"] += 1
        texts = [candidate_text(c) for c in row["responses"]]
        rewards = [math.nan if r is None else float(r) for r in row["rewards"]]
        kept = [j for j, t in enumerate(texts) if t.strip()]  # an empty response is no candidate (NaN reward)
        stats["empty_responses"] += len(texts) - len(kept)
        texts, rewards = [texts[j] for j in kept], [rewards[j] for j in kept]
        if not all(math.isfinite(r) for r in rewards):  # only with drop_nonfinite (else refused above)
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
        rows.append({"prompt_id": pid, "prompt": [dict(m) for m in as_messages(row["prompt"])],
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


def _pair_problems(row, system_role: bool = True) -> list[tuple[str, str]]:
    """(field, problem) pairs of one preference pair (build_pairs' output row): prompt (messages or a string),
    chosen / rejected ([one assistant message]), score_chosen / score_rejected (finite numbers: a NaN / inf
    score has no rating), and a user turn to carry the condition when system_role=False."""
    out = prompt_problems(row) + completion_problems(row, "chosen") + completion_problems(row, "rejected")
    if not system_role:
        out += user_turn_problems(row, "system_role=False")
    for f in ("score_chosen", "score_rejected"):
        v = row.get(f)
        if v is None or not is_number(v):
            out.append((f, "missing field" if v is None else f"expected a number, got {type(v).__name__} {v!r:.40}"))
        elif not math.isfinite(v):
            out.append((f, f"non-finite score {v} (prompt_id {row.get('prompt_id')}) has no rating; drop or fix the "
                           "pair (build_pairs(drop_nonfinite=True))"))
    return out


def reward_augment(pairs, *, levels: int = 10, edges=None, system_role: bool = True):
    """(augmented Dataset, info) from build_pairs output (a Dataset, a list of dicts or a DataFrame): two rows per
    pair (see the module docstring). Rows gain `rating` (the conditioned target) and `swapped`; a swapped row's
    scores follow its responses (score_chosen = r_l, margin < 0). info holds the bin edges and counts.
    edges: reuse bins fitted elsewhere (e.g. on the train split) instead of fitting on `pairs`.
    Every pair is checked first (_pair_problems: prompt, chosen / rejected, two finite scores): BadRecords (a
    ValueError) names each bad pair (id or position) and field, the first 20 with their count. Several pairs of
    one prompt are allowed (ordinary preference data); each is augmented once."""
    levels = _levels(levels)
    if not isinstance(system_role, (bool, np.bool_)):
        raise ValueError(f"system_role must be True or False, got {system_role!r}")
    data = _records(pairs, "pairs")
    check_records(data, [lambda r: _pair_problems(r, system_role)], source="pairs")
    edges = fit_rating_bins([r["score_chosen"] for r in data] + [r["score_rejected"] for r in data], levels) \
        if edges is None else _edges(edges, levels)
    rows, same_bin = [], 0
    for row in data:
        prompt = as_messages(row["prompt"])
        r_w, r_l = (int(x) for x in to_rating([row["score_chosen"], row["score_rejected"]], edges))
        base = {k: row[k] for k in row if k not in ("prompt", "chosen", "rejected")}
        rows.append({**base, "prompt": conditioned_prompt(prompt, r_w, levels=levels, system_role=system_role),
                     "chosen": row["chosen"], "rejected": row["rejected"], "rating": r_w, "swapped": False})
        if r_w == r_l:
            same_bin += 1
            continue
        swapped = {**base, "score_chosen": row["score_rejected"], "score_rejected": row["score_chosen"],
                   "margin": row["score_rejected"] - row["score_chosen"]}
        rows.append({**swapped, "prompt": conditioned_prompt(prompt, r_l, levels=levels, system_role=system_role),
                     "chosen": row["rejected"], "rejected": row["chosen"], "rating": r_l, "swapped": True})
    info = {"edges": [float(e) for e in edges], "levels": levels, "pairs": len(data), "rows": len(rows),
            "same_bin": same_bin, "system_role": system_role}
    return Dataset.from_list(rows), info


def split_by_prompt(pairs, test_fraction: float, seed: int = 0) -> DatasetDict:
    """DatasetDict(train, test): whole prompts go to one side (seeded shuffle of the sorted prompt ids);
    test_fraction (in [0, 1), as `cdr pairs --test-fraction`) 0 puts everything in train (test empty). pairs: a
    Dataset or a list of dicts, each with a `prompt_id` (build_pairs writes it): BadRecords names any without."""
    if not is_number(test_fraction) or not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    seed = _seed(seed)
    data = _records(pairs, "pairs")
    check_records(data, [lambda r: text_problems(r, "prompt_id", noun="prompt_id")], source="pairs", unique_ids=False)
    pairs = pairs if isinstance(pairs, Dataset) else Dataset.from_list(data)
    pids = [r["prompt_id"] for r in data]
    ids = sorted(set(pids))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = min(len(ids) - 1, max(1, round(test_fraction * len(ids)))) if len(ids) > 1 and test_fraction > 0 else 0
    test_ids = {ids[k] for k in order[:n_test]}
    is_test = [pid in test_ids for pid in pids]
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
