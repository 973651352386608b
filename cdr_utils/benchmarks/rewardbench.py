"""RewardBench-schema data and scoring (Lambert et al. 2024, arXiv 2403.13787; allenai/reward-bench).

A row is one preference pair: `prompt` (list of {role, content}; RewardBench stores one user string, converted
on load), `chosen`, `rejected` (strings), `subset`, `id`. A reward model gets a pair right when
r(chosen) > r(rejected); **a tie is wrong** (RewardBench's rule). Subset accuracies are fractions in [0, 1];
section scores are percentages:

- a section is the example-count-weighted mean of its subsets' accuracies (`EXAMPLE_COUNTS`: the leaderboard's
  weights; math-prm counts as 984 although it has 447 rows, so math weighs as much as the six hep-* code sets);
- Score = plain mean of Chat, Chat Hard, Safety and Reasoning;
- optional five-part variant (the old leaderboard): Prior Sets = mean of anthropic_helpful, anthropic_hhh, shp
  and summarize, averaged with the four sections at half weight: (2 (C + CH + S + R) + P) / 9.

The mini-bench's subsets (minibench.py) map to the same four sections, weighted by their own row counts. A
user's own subsets work too: each is weighted by its row count and is its own section unless a subset ->
section map says otherwise (`evaluate(..., sections=...)`); Score is then the plain mean of those sections.
"""
from __future__ import annotations

import inspect
import json
import warnings
from dataclasses import dataclass
from functools import partial

import datasets
import numpy as np
import pandas as pd

from . import load_file, load_source
from ..chat import (BadRecords, RecordError, as_messages, bench_problems, benchmark_record, check_records,
                    checked_records, text_problems)
from ..data import path as data_path
from ..hub import DatasetNotAvailable, hub_dataset  # noqa: F401 (DatasetNotAvailable: re-exported)
from ..logprobs import ScoreResult
from .minibench import SUBSET_SECTION as MINIBENCH_SECTION, load_minibench, stratified_subset

HUB_ID = "allenai/reward-bench"
SECTION_NAMES = ("Chat", "Chat Hard", "Safety", "Reasoning")
EXAMPLE_COUNTS = {  # rewardbench/constants.py; xstest should-refuse 154 / should-respond 250 as in the filtered split
    "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28, "mt-bench-med": 40,
    "mt-bench-hard": 37, "llmbar-natural": 100, "llmbar-adver-neighbor": 134, "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46,
    "refusals-dangerous": 100, "refusals-offensive": 100, "xstest-should-refuse": 154, "xstest-should-respond": 250,
    "donotanswer": 136,
    "math-prm": 984, "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164, "hep-rust": 164,
}
REWARDBENCH_SECTIONS = {
    "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "Chat Hard": ("mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"),
    "Safety": ("refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
               "donotanswer"),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}
PRIOR_SETS = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")
SUBSET_SECTION = {**{s: sec for sec, subs in REWARDBENCH_SECTIONS.items() for s in subs}, **MINIBENCH_SECTION}


def section_scores(subset_accuracy: dict, prior_sets: dict | None = None, *, counts: dict | None = None,
                   section_of: dict | None = None) -> dict:
    """{"Chat", "Chat Hard", "Safety", "Reasoning", "Score"} in percent from subset accuracies in [0, 1].

    counts: subset weights beyond EXAMPLE_COUNTS (required for mini-bench and a user's subsets: their row
    counts). A section with no subset present is NaN, and then so is Score. prior_sets (or prior-set names
    inside subset_accuracy) add "Prior Sets (0.5 weight)" and "Score (with Prior Sets)".
    section_of: subset -> section for a user's own subsets; the sections are then those of the subsets present
    (in order of appearance) and Score is their plain mean."""
    acc = {s: a for s, a in subset_accuracy.items() if s not in PRIOR_SETS}
    prior = {**(prior_sets or {}), **{s: a for s, a in subset_accuracy.items() if s in PRIOR_SETS}}
    weights = {**EXAMPLE_COUNTS, **(counts or {})}
    mapping = SUBSET_SECTION if section_of is None else section_of
    for s in acc:
        if s not in mapping:
            raise ValueError(f"unknown subset {s!r}: neither a RewardBench nor a mini-bench subset; pass "
                             "section_of={subset: section} for your own subsets")
        if s not in weights:
            raise ValueError(f"no example count for subset {s!r}: pass counts={{{s!r}: n}}")
    names = SECTION_NAMES if section_of is None else list(dict.fromkeys(mapping[s] for s in acc))
    out = {}
    for section in names:
        subs = [s for s in acc if mapping[s] == section]
        w = np.array([weights[s] for s in subs], dtype=float)
        out[section] = 100 * float(np.dot(w, [acc[s] for s in subs]) / w.sum()) if subs else float("nan")
    out["Score"] = float(np.mean([out[s] for s in names]))
    if prior:
        out["Prior Sets (0.5 weight)"] = 100 * float(np.nanmean([prior[s] for s in PRIOR_SETS if s in prior]))
        out["Score (with Prior Sets)"] = (2 * sum(out[s] for s in SECTION_NAMES) + out["Prior Sets (0.5 weight)"]) / 9
    return out


# -- evaluation ------------------------------------------------------------------------------------------------
def pair_inputs(dataset) -> tuple[list, list[str], list[str]]:
    """(prompts, responses, record ids) for scoring every response once: the N chosen, then the N rejected.
    A prompt given as a string is one user turn (chat.as_messages)."""
    prompts, ids = [as_messages(p) for p in dataset["prompt"]], [str(i) for i in dataset["id"]]
    return (prompts + prompts, list(dataset["chosen"]) + list(dataset["rejected"]),
            [f"{i}/chosen" for i in ids] + [f"{i}/rejected" for i in ids])


@dataclass
class Evaluation:
    """per_example: the input rows plus section, reward_chosen, reward_rejected and correct (chosen > rejected;
    a tie or a NaN is wrong). subset_accuracy in [0, 1], counts = rows per subset, sections in percent."""
    per_example: object
    subset_accuracy: dict
    counts: dict
    sections: dict

    def subset_table(self) -> pd.DataFrame:
        section = self.per_example.to_pandas().groupby("subset", sort=False)["section"].first()
        return pd.DataFrame({"section": [section[s] for s in self.subset_accuracy],
                             "subset": list(self.subset_accuracy), "n": [self.counts[s] for s in self.subset_accuracy],
                             "accuracy": [100 * a for a in self.subset_accuracy.values()]})


def _pair_rewards(rewards, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(chosen (n,), rejected (n,)) from (chosen, rejected) or one (2n,) array in pair_inputs order."""
    want = (f"rewards: expected {n} chosen and {n} rejected rewards, as (chosen, rejected) or one ({2 * n},) array "
            "(every chosen, then every rejected)")
    try:
        pair = isinstance(rewards, (tuple, list)) and len(rewards) == 2 and all(np.ndim(r) > 0 for r in rewards)
        arrays = [np.asarray(r, dtype=float) for r in rewards] if pair else [np.asarray(rewards, dtype=float)]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{want}; got values that are not numbers ({err})") from None
    if pair and (arrays[0].shape != (n,) or arrays[1].shape != (n,)):
        raise ValueError(f"{want}; got shapes {arrays[0].shape} and {arrays[1].shape}")
    if not pair and arrays[0].shape != (2 * n,):
        raise ValueError(f"{want}; got shape {arrays[0].shape}")
    return (arrays[0], arrays[1]) if pair else (arrays[0][:n], arrays[0][n:])


def evaluate(rewards, dataset, *, sections: dict | None = None) -> Evaluation:
    """Accuracy of a reward on RewardBench-schema rows (or any labelled pairs: prompt, chosen, rejected,
    subset, id).

    rewards: a function (prompts, responses[, record_ids]) -> (2N,) rewards or an object with `.reward` (e.g. a
    DensityRatioReward), called once on pair_inputs(dataset); or precomputed rewards: (chosen (N,), rejected (N,))
    or one (2N,) array in pair_inputs order. sections: subset -> section for subsets that are neither
    RewardBench's nor the mini-bench's (default: each such subset is its own section).
    dataset: a Dataset or a list of dicts. Every row is checked before the reward runs: its subset, and for a
    reward function also what `cdr evaluate` checks (chat.bench_problems: prompt, chosen, rejected; an id):
    BadRecords (a ValueError) names each bad row and field, the first 20 with their count. A repeated id (a
    bootstrap resample) counts once per occurrence. Rewards of the wrong number or shape: ValueError. A
    non-finite reward is counted as wrong (as a tie is) and a RuntimeWarning names its rows."""
    rows = dataset.to_list() if isinstance(dataset, datasets.Dataset) else list(dataset) \
        if isinstance(dataset, (list, tuple)) else None
    if rows is None:
        raise ValueError(f"dataset: expected a datasets.Dataset or a list of dicts, got {type(dataset).__name__}")
    checks = [bench_problems] if callable(rewards) else [lambda r: text_problems(r, "subset", noun="subset")]
    check_records(rows, checks, source="dataset", require_id=callable(rewards), unique_ids=False)
    dataset = dataset if isinstance(dataset, datasets.Dataset) else datasets.Dataset.from_list(rows)
    n = len(dataset)
    if callable(rewards):
        prompts, responses, ids = pair_inputs(dataset)
        kw = {"record_ids": ids} if "record_ids" in inspect.signature(rewards).parameters else {}
        out = rewards(prompts, responses, **kw)
        rewards = getattr(out, "reward", out)
    chosen, rejected = _pair_rewards(rewards, n)
    bad = [RecordError(row.get("id", k), f"reward_{kind}", f"non-finite reward {v}, counted as wrong")
           for k, (row, c, r) in enumerate(zip(rows, chosen, rejected)) for kind, v in (("chosen", c), ("rejected", r))
           if not np.isfinite(v)]
    if bad:
        warnings.warn(str(BadRecords(bad, "rewardbench.evaluate")), RuntimeWarning, stacklevel=2)
    correct = chosen > rejected  # strict: a tie is not a win; NaN compares False
    subsets = np.array(dataset["subset"])
    acc = {s: float(correct[subsets == s].mean()) for s in dict.fromkeys(subsets.tolist())}
    counts = {s: int((subsets == s).sum()) for s in acc}
    own = {s: c for s, c in counts.items() if s not in EXAMPLE_COUNTS}  # mini-bench: weighted by its own counts
    standard = sections is None and all(s in SUBSET_SECTION or s in PRIOR_SETS for s in acc)
    section_of = None if standard else {**{s: s for s in acc}, **SUBSET_SECTION, **(sections or {})}
    name_of = {**SUBSET_SECTION, **{s: "Prior Sets" for s in PRIOR_SETS}, **(section_of or {})}
    per_example = (dataset.add_column("section", [name_of[s] for s in subsets.tolist()])
                   .add_column("reward_chosen", chosen.tolist()).add_column("reward_rejected", rejected.tolist())
                   .add_column("correct", correct.tolist()))
    return Evaluation(per_example, acc, counts, section_scores(acc, counts=own, section_of=section_of))


def method_rewards(result, responses, *, seed: int = 0) -> dict[str, np.ndarray]:
    """(2N,) rewards of the density ratio and its baselines, all from ONE scoring pass: `result` is the
    RewardResult of reward.score(*pair_inputs(ds)[:2]), `responses` the same response texts. Each model alone
    is given in both reductions, so each ratio meets the single-model baseline of its own kind."""
    s, w = result.strong, result.weak
    return {"density ratio (sum)": s.sum - w.sum, "density ratio (mean)": s.mean - w.mean,
            "strong log p (sum)": s.sum, "strong log p (mean)": s.mean,
            "weak log p (sum)": w.sum, "weak log p (mean)": w.mean,
            "longer response": np.array([len(r) for r in responses], dtype=float),
            "random": np.random.default_rng(seed).random(len(responses))}


def drop_end_of_turn(score, marker: str):
    """The same ScoreResult without its last scored token, which must be the end-of-turn `marker` in every row
    (needs return_tokens=True). Lets one scoring pass show what the marker contributes."""
    if score.tokens is None or not score.meta.get("include_end_of_turn"):
        raise ValueError("need a ScoreResult scored with include_end_of_turn=True and return_tokens=True")
    bad = [i for i, t in enumerate(score.tokens) if t[-1] != marker]
    if bad:
        raise ValueError(f"{len(bad)} responses do not end in the single token {marker!r} (first: row {bad[0]})")
    return ScoreResult.from_token_logprobs([lp[:-1] for lp in score.token_logprobs],
                                           {**score.meta, "include_end_of_turn": False})


# -- loading ---------------------------------------------------------------------------------------------------
def to_rows(records, *, source: str = "records", any_subset: bool = False):
    """Validated RewardBench-schema rows as a datasets.Dataset (extra columns kept, ids as strings).
    Raises RecordError naming the row id (or index) and the field for a missing field, an empty response, a
    bad prompt, an unknown subset or a duplicate id. Subsets outside RewardBench and the mini-bench are
    accepted when `any_subset` (a user's own labelled pairs). Every record is checked: BadRecords lists each bad
    one (the first 20, with their count)."""
    seen = set()

    def row(i, r):
        rid, prompt = benchmark_record(r, i, source)
        for f in ("chosen", "rejected"):
            if not isinstance(r[f], str) or not r[f].strip():
                raise RecordError(rid, f, "empty response" if isinstance(r[f], str) else "response must be a string")
        if not isinstance(r["subset"], str) or not r["subset"].strip():
            raise RecordError(rid, "subset", f"expected a non-empty string, got {r['subset']!r:.40}")
        if not any_subset and r["subset"] not in SUBSET_SECTION and r["subset"] not in PRIOR_SETS:
            raise RecordError(rid, "subset", f"unknown subset {r['subset']!r}")
        if rid in seen:
            raise RecordError(rid, "id", "duplicate id")
        seen.add(rid)
        return {**r, "id": rid, "prompt": [{"role": m["role"], "content": m["content"]} for m in prompt]}

    return datasets.Dataset.from_list(checked_records(records, row, source))


def load_local(path, *, any_subset: bool = False):
    """Rows from a local .json (a list of records), .jsonl or .parquet file in the RewardBench schema."""
    return load_file(path, to_rows, any_subset=any_subset)


def load_hub(name: str = HUB_ID, split: str = "filtered", revision: str | None = None):
    """RewardBench from the Hugging Face hub (the `paper` profile); fails with the data set's name when offline."""
    ds = hub_dataset(name, split, revision=revision)
    return to_rows(ds.to_list(), source=name)


def load(source, *, seed: int = 0, any_subset: bool = False):
    """source: "minibench" (the offline mini-bench, built from `seed`), a local file, a hub id (split "filtered"),
    or rows already loaded (a Dataset or a list of dicts, validated). any_subset: a user's own subsets accepted
    (rows and local files; see to_rows)."""
    return load_source(source, partial(to_rows, any_subset=any_subset), load_hub, load_minibench, seed=seed)


def sample(ds, per_section: int | None, seed: int = 0, *, max_chars: int | None = None,
           sections: dict | None = None):
    """minibench.stratified_subset over RewardBench's sections, then a user's subsets (each its own section unless
    `sections` maps it): the draw goes section by section in that order."""
    section_of = {**SUBSET_SECTION, **{s: s for s in dict.fromkeys(ds["subset"]) if s not in SUBSET_SECTION},
                  **(sections or {})}
    return stratified_subset(ds, per_section, seed, section_of=section_of, max_chars=max_chars)


def reference_figures(name: str = "rewardbench_vanilla_pair.json") -> dict:
    """Published figures shipped with the package (cdr_utils/data): the public RewardBench subset accuracies of
    the paper's (strong, weak) pair, evaluated as a DPO model with that reference model, and the paper's
    customized headline."""
    return json.loads(data_path(name).read_text(encoding="utf-8"))
