"""Notebook 02: what a customization variant (customize.py) buys on a bench.

Each variant is the core reward under another customization (rewards.DensityRatioReward.customized: the
same two loaded scorers), customizing both models (the paper's setting) or the strong model only
(`apply_to="strong"`: the weak model keeps the plain prompt). The chosen and rejected responses of a pair share
one customized prompt and are scored in the same call, next to each other, so the scorer's prefix sharing runs
the long prompt once per pair (and the score cache keeps both in one shard).

`evaluate_variant` returns per-section accuracy (rewardbench.evaluate), the tokens the customization adds
per prompt, the tokens each model's body runs for the variant (prefix sharing counted) and the wall-clock
scoring time; `run_ablation` runs the grid of modes x routings x apply_to that notebook 02 tabulates.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..benchmarks import rewardbench as rb
from ..customize import MODES, Customization
from ..logprobs import _prefix_key
from ..benchmarks.minibench import stratified_subset
from ..progress import progress as progress_bar
from ..rewards import APPLY_TO
from .benches import load_profile_bench


def prompt_tokens(scorer, prompts) -> np.ndarray:
    """(N,) tokens of each rendered scoring prompt (template header and generation prompt included)."""
    tok = scorer.tokenizer
    return np.array([len(tok(scorer.encoder.prompt_text(p), add_special_tokens=False)["input_ids"])
                     for p in prompts])


def body_tokens(scorer, encoded) -> int:
    """Tokens the scorer's transformer body runs for `encoded` from scratch: each shared prefix once, then
    each row's own tokens, unpadded (LogProbScorer.plan; what the body computes, padding aside)."""
    seen, total = set(), 0
    for p, idx in scorer.plan(encoded):
        if p > 0:
            key = _prefix_key(encoded[idx[0]].ids, p)
            total += 0 if key in seen else p
            seen.add(key)
        total += sum(len(encoded[i].ids) - 1 - p for i in idx)
    return total


@dataclass
class VariantResult:
    """One customization variant on a bench. tokens_added: mean tokens per prompt added to each model's
    scoring prompt; body_tokens: tokens each model's body runs to score the variant from scratch (prefix
    sharing counted); seconds: wall-clock scoring time of this call (near 0 for score-cache hits: see
    `computed`, the responses each model actually scored)."""
    mode: str
    routing: str
    apply_to: str
    evaluation: object
    tokens_added: dict
    body_tokens: dict
    seconds: float
    computed: dict = field(default_factory=dict)

    @property
    def sections(self) -> dict:
        return self.evaluation.sections

    def row(self) -> dict:
        return {"mode": self.mode, "routing": self.routing, "apply_to": self.apply_to, **self.sections,
                "tokens added (strong)": self.tokens_added["strong"], "tokens added (weak)": self.tokens_added["weak"],
                "body tokens (strong)": self.body_tokens["strong"], "body tokens (weak)": self.body_tokens["weak"],
                "scoring s": self.seconds, "computed (strong)": self.computed.get("strong", 0),
                "computed (weak)": self.computed.get("weak", 0)}


def evaluate_variant(reward, bench, customization: Customization, domains, *, apply_to: str = "both",
                     routing: str = "") -> VariantResult:
    """Accuracy of the customized density ratio on RewardBench-schema rows. domains: one per row (a router's
    output). Each pair's chosen and rejected responses are scored next to each other (prefix sharing)."""
    n = len(bench)
    if len(domains) != n:
        raise ValueError(f"{len(domains)} domains for {n} rows")
    base = list(bench["prompt"])
    prompts = [p for p in base for _ in (0, 1)]
    responses = [r for pair in zip(bench["chosen"], bench["rejected"]) for r in pair]
    record_ids = [f"{i}/{side}" for i in bench["id"] for side in ("chosen", "rejected")]
    doubled = [d for d in domains for _ in (0, 1)]
    start = time.perf_counter()
    result = reward.customized(customization, apply_to=apply_to).score(prompts, responses, domains=doubled,
                                                                       record_ids=record_ids)
    seconds = time.perf_counter() - start
    pair = result.reward.reshape(n, 2)
    added, ran = {}, {}
    for who, scorer in (("strong", reward.strong), ("weak", reward.weak)):
        custom = (customization.prompts_for(scorer.encoder, base, domains)
                  if who == "strong" or apply_to == "both" else base)
        added[who] = float((prompt_tokens(scorer, custom) - prompt_tokens(scorer, base)).mean())
        ran[who] = body_tokens(scorer, scorer.encode([p for p in custom for _ in (0, 1)], responses)[0])
    computed = {"strong": reward.strong.last_stats.get("computed", n * 2),
                "weak": reward.weak.last_stats.get("computed", n * 2)}
    return VariantResult(customization.mode, routing, apply_to, rb.evaluate((pair[:, 0], pair[:, 1]), bench),
                         added, ran, seconds, computed)


def run_ablation(reward, bench, customization: Customization, routings: dict, *, modes=MODES,
                 apply_tos=APPLY_TO, progress: bool = True) -> list[VariantResult]:
    """Every mode x routing x apply_to. routings: {name: domains per row}. "vanilla" does not depend on the
    routing or on apply_to, so it runs once (routing and apply_to "-")."""
    grid = [(mode, routing, domains, apply_to) for mode in modes
            for routing, domains, apply_to in ([("-", None, "-")] if mode == "vanilla" else
                                               [(r, d, a) for r, d in routings.items() for a in apply_tos])]
    results = []
    for mode, routing, domains, apply_to in progress_bar(grid, desc="customization variants", unit="variant",
                                                         disable=not progress):
        domains = domains if domains is not None else ["CHAT"] * len(bench)
        res = evaluate_variant(reward, bench, customization.with_mode(mode), domains,
                               apply_to="both" if apply_to == "-" else apply_to, routing=routing)
        res.apply_to = apply_to
        results.append(res)
    return results


def results_frame(results: list[VariantResult]):
    """One row per variant: sections (%), tokens added, body tokens, scoring time."""
    return pd.DataFrame([r.row() for r in results]).set_index(["mode", "routing", "apply_to"])


def ablation_bench(profile, per_section=None, seed: int = 0):
    """Notebook 02's rows: a stratified subset (profile.customize.bench_per_section per section) of notebook
    03's sample (benches.load_profile_bench), so vanilla scores are score-cache hits after notebook 03."""
    bench = load_profile_bench(profile, seed=seed)
    per_section = profile.customize.bench_per_section if per_section is None else per_section
    return bench if per_section is None else stratified_subset(bench, per_section, seed,
                                                               section_of=rb.SUBSET_SECTION)
