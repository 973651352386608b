"""The profile's evaluation rows (notebooks 01-03): the offline mini-bench, a local file or a hub data set in
the RewardBench schema, then a stratified sample of rows per section."""
from __future__ import annotations

from pathlib import Path

from .. import rewardbench as rb
from ..minibench import load_minibench, stratified_subset


def load_profile_bench(profile, *, per_section=None, seed: int = 0):
    """The profile's evaluation rows: the mini-bench (built with profile.seed), a local file or the hub data set,
    then a stratified subset of `per_section` rows per section (None: profile.bench_per_section; "all": all)."""
    per_section = profile.bench_per_section if per_section is None else per_section
    if profile.bench == "minibench":
        ds = rb.to_rows(load_minibench(profile.seed), source="minibench")
    elif Path(profile.bench).suffix in (".json", ".jsonl", ".parquet"):
        ds = rb.load_local(profile.bench)
    else:
        ds = rb.load_hub(profile.bench)
    return stratified_subset(ds, None if per_section == "all" else per_section, seed, section_of=rb.SUBSET_SECTION,
                             max_chars=profile.bench_max_chars)
