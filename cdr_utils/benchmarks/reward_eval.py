"""A reward on RewardBench, RewardBench 2 or RM-Bench: every completion scored once, in ONE call to the reward,
and tables of the density ratio in both reductions next to baselines from that same pass.

The reward is any object with `.score(prompts, responses, record_ids=...)` returning a result with `.strong`
and `.weak` (each with `.sum`, nats, and `.n_tokens`), e.g. rewards.DensityRatioReward. A prompt's completions
are listed next to each other (RewardBench: chosen, rejected; RewardBench 2: chosen..., rejected...; RM-Bench:
the 3 chosen styles, then the 3 rejected), so the scorer's prefix sharing and its cache shards run each
prompt once. Methods (the tables' columns; rewardbench.method_rewards):

  density ratio (sum)    log p_s(y|x) - log p_w(y|x)                           nats (the paper's, RewardBench's)
  density ratio (mean)   sum_s / n_tokens_s - sum_w / n_tokens_w              nats per token (the CDR library's)
  strong log p (sum), (mean); weak log p (sum), (mean): each model's own likelihood as a reward
  longer response        the number of characters (equal lengths tie, and a tie never wins)
  random                 seeded uniform numbers (chance: 50 % RewardBench and RM-Bench, 25 % best-of-4)

Scores are percents: RewardBench sections (rewardbench.evaluate: ties lose), RewardBench 2 subsets and overall
(rewardbench2.score_rewardbench2: 1/k for a k-way tie for the top; Ties by its weighted formula), RM-Bench
domains and overall (rmbench.score_rmbench: the mean of hard, normal and easy). On RM-Bench the length
baseline is a bias probe, not a competitor: "longer response" always prefers the detailed and markdown versions
of a content to its concise one, so it scores low on hard and high on easy for length's sake alone (the gap,
not the average, is the signal); "style_preference" shows how often each method prefers the longer or markdown
style of ONE content (50 % = no style preference; the length baseline: 100 %).

`evaluate_benchmark(reward, benchmark, data, ...)` loads (hub, local file, offline mini-bench or rows given),
samples and evaluates: the entry point of `cdr evaluate --benchmark` and notebook 03.
"""
from __future__ import annotations

import numbers
import warnings

import datasets
import numpy as np
import pandas as pd

from . import rewardbench as rb
from . import rewardbench2 as rb2
from . import rmbench as rmb

METHODS = ("density ratio (sum)", "density ratio (mean)", "strong log p (sum)", "strong log p (mean)",
           "weak log p (sum)", "weak log p (mean)", "longer response", "random")
BENCHMARKS = ("rewardbench", "rewardbench2", "rm-bench")
_ALIASES = {"rewardbench": "rewardbench", "reward-bench": "rewardbench", "rewardbench2": "rewardbench2",
            "reward-bench-2": "rewardbench2", "rewardbench-2": "rewardbench2", "rm-bench": "rm-bench",
            "rmbench": "rm-bench"}


def _texts(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def score_pass(reward, rows, fields=("chosen", "rejected"), *, seed: int = 0):
    """Score every completion of `rows` (fields in this order, each a string or a list) in one reward.score
    call, a row's completions adjacent. Returns ({method: (n_completions,) rewards}, per-completion DataFrame,
    offsets: row i's completions are [offsets[i], offsets[i + 1]))."""
    prompts, responses, ids, info, offsets = [], [], [], [], [0]
    for row in rows:
        for field in fields:
            for k, text in enumerate(_texts(row[field])):
                prompts.append(row["prompt"])
                responses.append(text)
                ids.append(f"{row['id']}/{field}[{k}]")
                info.append({"id": row["id"], "group": row.get("subset", row.get("domain")), "field": field, "k": k})
        offsets.append(len(responses))
    result = reward.score(prompts, responses, record_ids=ids)
    methods = rb.method_rewards(result, responses, seed=seed)
    s, w = result.strong, result.weak
    frame = pd.DataFrame(info).assign(chars=[len(r) for r in responses], logp_strong=s.sum,
                                      n_tokens_strong=s.n_tokens, logp_weak=w.sum, n_tokens_weak=w.n_tokens,
                                      r_sum=methods["density ratio (sum)"], r_mean=methods["density ratio (mean)"])
    return {m: methods[m] for m in METHODS}, frame, np.array(offsets)


def _quietly(fn, *args, **kwargs):
    """fn(...) with its warnings collected; each distinct message re-issued once (not once per method)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, {str(w.message): w.category for w in caught}


def _rewarn(messages: dict) -> None:
    for message, category in messages.items():
        warnings.warn(message, category, stacklevel=3)


def evaluate_pairs(reward, rows, *, seed: int = 0, sections: dict | None = None) -> dict:
    """RewardBench-schema pairs -> {"scores": sections and "overall" (= RewardBench's Score) x methods, percent,
    "subsets": (section, subset, n) x methods, accuracy percent, "per_completion"}."""
    methods, frame, _ = score_pass(reward, rows, seed=seed)
    n, evals = len(rows), {}
    for name, r in methods.items():  # completions alternate chosen, rejected
        evals[name] = rb.evaluate((r[0::2], r[1::2]), rows, sections=sections)
    scores = pd.DataFrame({m: ev.sections for m, ev in evals.items()}).rename(index={"Score": "overall"})
    subsets = pd.concat({m: ev.subset_table().set_index(["section", "subset", "n"])["accuracy"]
                         for m, ev in evals.items()}, axis=1)
    scores.attrs.update(benchmark="rewardbench", rows=n)
    return {"scores": scores, "subsets": subsets, "per_completion": frame}


def evaluate_rewardbench2(reward, rows, *, seed: int = 0) -> dict:
    """RewardBench 2 rows (rewardbench2.load) -> {"scores": subsets and "overall" x methods, percent, with a
    "prompts" column; "ties": methods x the Ties parts and score, fractions as the official results file (only
    when a Ties subset is present); "per_completion": one row per completion (id, group, field, k, chars, both
    models' sums in nats and token counts, r_sum, r_mean)}."""
    rows = rb2.load(rows)
    methods, frame, off = score_pass(reward, rows, seed=seed)
    columns, ties, messages = {}, {}, {}
    for name, r in methods.items():
        (table, overall), caught = _quietly(rb2.score_rewardbench2, rows,
                                            [r[a:b] for a, b in zip(off[:-1], off[1:])])
        messages.update(caught)
        columns[name] = pd.concat([100 * table["score"], pd.Series({"overall": overall})])
        for subset in [s for s in table.index if s.lower() in rb2.TIES_NAMES]:
            ties[name, subset] = table.loc[subset].drop("prompts")
    _rewarn(messages)
    scores = pd.DataFrame(columns)
    scores.insert(0, "prompts", pd.concat([table["prompts"], pd.Series({"overall": len(rows)})]))
    scores.attrs.update(benchmark="rewardbench2", rows=len(rows), missing_subsets=table.attrs["missing_subsets"])
    out = {"scores": scores, "per_completion": frame}
    if ties:  # one row per method (and Ties subset, when a set holds both "Ties" and "mini-ties")
        parts = pd.DataFrame(ties).T.rename_axis(["method", "subset"])
        out["ties"] = parts.droplevel("subset") if parts.index.get_level_values(1).nunique() == 1 else parts
    return out


STYLE_NOTE = ("longer response: a content's detailed and markdown versions are longer than its concise one (in the "
              "mini-bench by construction), so this baseline prefers the richer style (style_preference near 100 %) "
              "and scores low on hard and high on easy for length's sake; read its hard-easy gap as the size of a "
              "pure length bias, not as accuracy")


def evaluate_rmbench(reward, rows, *, seed: int = 0) -> dict:
    """RM-Bench rows (rmbench.load) -> {"scores": domains and "overall" x methods, percent (domain average of
    hard, normal, easy; overall = total_avg), with an "examples" column; "hard_normal_easy": domains and
    overall x (method, hard / normal / easy), percent; "style_preference": methods x how often (percent, over
    the chosen and the rejected triple of every row) detailed beats concise, markdown beats detailed and
    markdown beats concise of ONE content (50 = no preference); "per_completion"}. scores.attrs["notes"] says
    how to read the length baseline."""
    rows = rmb.load(rows)
    methods, frame, _ = score_pass(reward, rows, seed=seed)
    columns, parts, style, messages = {}, {}, {}, {}
    for name, r in methods.items():
        r = r.reshape(len(rows), 6)  # chosen concise, detailed, markdown, then rejected
        (table, overall), caught = _quietly(rmb.score_rmbench, rows, r[:, :3], r[:, 3:])
        messages.update(caught)
        columns[name] = 100 * pd.concat([table["average"], pd.Series({"overall": overall["total_avg"]})])
        for part in ("hard", "normal", "easy"):
            parts[name, part] = 100 * pd.concat([table[part], pd.Series({"overall": overall[part]})])
        triples = np.concatenate([r[:, :3], r[:, 3:]])
        style[name] = {"detailed > concise (%)": 100 * np.mean(triples[:, 1] > triples[:, 0]),
                       "markdown > detailed (%)": 100 * np.mean(triples[:, 2] > triples[:, 1]),
                       "markdown > concise (%)": 100 * np.mean(triples[:, 2] > triples[:, 0])}
    _rewarn(messages)
    scores = pd.DataFrame(columns)
    scores.insert(0, "examples", pd.concat([table["examples"], pd.Series({"overall": len(rows)})]))
    scores.attrs.update(benchmark="rm-bench", rows=len(rows), notes=[STYLE_NOTE],
                        missing_domains=table.attrs["missing_domains"])
    return {"scores": scores, "hard_normal_easy": pd.DataFrame(parts),
            "style_preference": pd.DataFrame(style).T.rename_axis("method"), "per_completion": frame}


# -- loading and sampling --------------------------------------------------------------------------------------
def _chars(row, fields=("chosen", "rejected")) -> int:
    prompt = sum(len(m["content"]) for m in row["prompt"])
    return prompt + max(len(t) for f in fields for t in _texts(row[f]))


def sample_rows(ds, per_group: int | None, seed: int = 0, *, group: str = "subset", max_chars: int | None = None):
    """At most `per_group` rows of each value of `group` (subset or domain), drawn without replacement from
    default_rng(seed) group by group in order of appearance, rows kept in their order. A Ties prompt's "ref:<k>"
    and "tied:<k>" rows count as one unit (kept or dropped together: its score pairs them). max_chars: first
    drop units with a row whose prompt plus longest completion exceeds it (tiny models' short context)."""
    units: dict[tuple, list[int]] = {}
    for i, row in enumerate(ds):
        rid, key = str(row["id"]), row[group]
        ties = group == "subset" and str(key).lower() in rb2.TIES_NAMES and ":" in rid
        units.setdefault((key, rid.partition(":")[2] if ties else i), []).append(i)
    if max_chars is not None:
        units = {u: idx for u, idx in units.items() if all(_chars(ds[i]) <= max_chars for i in idx)}
    if per_group is not None:
        rng, by_group = np.random.default_rng(seed), {}
        for u in units:
            by_group.setdefault(u[0], []).append(u)
        drawn = [us[j] for us in by_group.values()
                 for j in rng.choice(len(us), min(per_group, len(us)), replace=False)]
        units = {u: units[u] for u in drawn}
    keep = sorted(i for idx in units.values() for i in idx)
    return ds if keep == list(range(len(ds))) else datasets.Dataset.from_list(ds.select(keep).to_list())


def evaluate_benchmark(reward, benchmark: str, data="minibench", *, per_section: int | None = None, seed: int = 0,
                       max_chars: int | None = None, sections: dict | None = None) -> dict:
    """Load, sample and evaluate. benchmark: "rewardbench", "rewardbench2" or "rm-bench"; data: "minibench"
    (the offline part in that benchmark's format, built from `seed`), a local .json / .jsonl / .parquet file,
    a hub id (allenai/reward-bench split filtered, allenai/reward-bench-2 split test, THU-KEG/RM-Bench's
    total_dataset.json), or rows (a Dataset or list of dicts). per_section: rows per section (RewardBench,
    split over its subsets by size), per subset (RewardBench 2; a Ties ref/tied pair counts once) or per
    domain (RM-Bench; safety-refuse and safety-response each), drawn with `seed`; None: all. max_chars: drop
    rows whose prompt plus longest completion is longer (a tiny model's 512 positions). sections: RewardBench
    only, subset -> section for a user's own subsets. Every row of `data` is checked (the schema's to_rows)
    before the reward runs: BadRecords (a ValueError) names each bad row and field, the first 20 with their count.
    Returns the tables of evaluate_pairs / evaluate_rewardbench2 / evaluate_rmbench; "scores" always has the
    groups and "overall" as rows and METHODS as columns (percent), its attrs name the benchmark and row count."""
    kind = _ALIASES.get(str(benchmark).lower())
    if kind is None:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")
    for name, value in (("per_section", per_section), ("max_chars", max_chars)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    if sections is not None and (kind != "rewardbench" or not isinstance(sections, dict) or not all(
            isinstance(v, str) and v.strip() for v in sections.values())):
        raise ValueError("sections: RewardBench only, a dict {subset: section name}" + (
            "" if kind == "rewardbench" else f", not for {kind}") + f"; got {sections!r:.80}")
    if kind == "rewardbench":  # a user's own subsets accepted
        full = rb.load(data, seed=seed, any_subset=True)
        ds = rb.sample(full, per_section, seed, max_chars=max_chars, sections=sections)
    else:
        full = (rb2 if kind == "rewardbench2" else rmb).load(data, seed=seed)
        ds = sample_rows(full, per_section, seed, group="subset" if kind == "rewardbench2" else "domain",
                         max_chars=max_chars)
    if len(ds) == 0:
        raise ValueError(f"max_chars={max_chars} leaves none of the {len(full)} rows of {kind} ({data!r:.80})")
    evaluate = {"rewardbench": evaluate_pairs, "rewardbench2": evaluate_rewardbench2, "rm-bench": evaluate_rmbench}
    out = evaluate[kind](reward, ds, seed=seed, **({"sections": sections} if kind == "rewardbench" else {}))
    out["scores"].attrs["data"] = data if isinstance(data, str) else f"{type(data).__name__} of {len(data)} rows"
    return out
