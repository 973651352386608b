"""Benchmarks: rewards scored against labelled preferences, and policies scored by a judge.

Rewards (labels true by construction or from the benchmark):
    rewardbench.py      RewardBench 1: loading (hub, local file, rows), accuracy, section weighting
    rewardbench2.py     RewardBench 2: best-of-4 and Ties scoring
    rmbench.py          RM-Bench: the 3x3 style matrix (hard / normal / easy)
    minibench*.py       the offline mini-bench in the schemas of the three (RewardBench, best-of-4, styles)
    reward_eval.py      one reward on any of them: every completion scored once, tables with baselines
    pair_selection.py   which of K models to pair: every ordered pair from K scoring passes, baselines, bootstrap
Policies (answers judged against a baseline):
    policy/             AlpacaEval 2 LC, Arena-Hard, MT-Bench; judges and answer files
Shared by the three reward schemas' `load` / `load_local`: load_source (rows | "minibench" | local file | hub id)
and load_file (a local .json / .jsonl / .parquet copy).
"""
from __future__ import annotations

from pathlib import Path

import datasets

from ..records import FORMATS, read_records


def load_file(path, to_rows, **options) -> datasets.Dataset:
    """to_rows(records of a local .json (a list of records), .jsonl or .parquet file, source=its name, **options):
    a benchmark schema's rows from a local copy."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"{path}: expected a .json, .jsonl or .parquet file")
    return to_rows(read_records(path), source=path.name, **options)


def load_source(source, to_rows, load_hub, minibench, *, seed: int = 0) -> datasets.Dataset:
    """A benchmark schema's validated rows (to_rows) from `source`: rows already loaded (a Dataset or a list of
    dicts), "minibench" (the offline part in that schema, minibench(seed)), a local .json / .jsonl / .parquet
    file (load_file), or a hub id (load_hub)."""
    if isinstance(source, (datasets.Dataset, list, tuple)):
        return to_rows(source.to_list() if isinstance(source, datasets.Dataset) else source)
    if source == "minibench":
        return to_rows(minibench(seed).to_list(), source="minibench")
    if Path(source).suffix in FORMATS:
        return load_file(source, to_rows)
    return load_hub(source)
