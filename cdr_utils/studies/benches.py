"""The profile's evaluation rows (notebooks 01-03): the offline mini-bench, a local file or a hub data set in
the RewardBench schema, then a stratified sample of rows per section."""
from __future__ import annotations

from ..benchmarks import rewardbench as rb
from ..benchmarks.minibench import stratified_subset
from ..benchmarks.reward_eval import evaluate_benchmark
from .profiles import recipe_key


def load_profile_bench(profile, *, per_section=None, seed: int = 0):
    """The profile's evaluation rows: the mini-bench (built with profile.seed), a local file or the hub data set,
    then a stratified subset of `per_section` rows per section (None: profile.bench_per_section; "all": all)."""
    per_section = profile.bench_per_section if per_section is None else per_section
    with recipe_key(profile, "bench"):
        ds = rb.load(profile.bench, seed=profile.seed)
    return stratified_subset(ds, None if per_section == "all" else per_section, seed, section_of=rb.SUBSET_SECTION,
                             max_chars=profile.bench_max_chars)


def profile_benchmark(profile, reward, name: str, *, seed: int = 0) -> dict:
    """reward_benchmarks.evaluate_benchmark on the recipe's RewardBench 2 ("rewardbench2") or RM-Bench ("rm-bench")
    data (its `data` and `per_group` keys, the bench's max_chars); a data set that cannot be reached fails naming
    the recipe key."""
    key = {"rewardbench2": "rewardbench2", "rm-bench": "rm_bench"}[name]
    cfg = getattr(profile, key)
    with recipe_key(profile, f"{key}.data"):
        return evaluate_benchmark(reward, name, cfg.data, per_section=cfg.per_group, seed=seed,
                                  max_chars=profile.bench_max_chars)
