"""Notebook 01's pair study on a profile: its pool, its bench rows, its models loaded as the recipe says, and the
pair it hands to later notebooks. The arithmetic (M scoring passes for all M (M - 1) ordered pairs, the baselines,
the paired bootstrap, the gap-vs-accuracy Spearman) is the core's: benchmarks/pair_selection.py, also `cdr select`.

A model's *performance* must not use the pair's reward: here it is the model's own likelihood used as a reward
on the bench ("log p (mean)" / "log p (sum)", from the same cached numbers), or published benchmark scores
(`paper`: AlpacaEval 2 LC, Arena-Hard). The best pair goes to outputs/<profile>/best_pair.json; `best_pair`
reads it for later notebooks.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..benchmarks import rewardbench as rb
from ..benchmarks.minibench import stratified_subset
from ..benchmarks.pair_selection import (LIKELIHOOD, GapResult, PoolScores, baseline_table, pair_matrix,  # noqa: F401
                                         pair_table, score_difference, score_models)
from ..benchmarks.pair_selection import gap_analysis as _gap_analysis
from ..models import CACHE_DIR, ModelSpec
from ..records import write_text
from .artifacts import artifact, artifact_path, manifest
from .benches import load_profile_bench
from .profiles import get_profile, load_scorer

COLUMNS = ("Chat", "Chat Hard", "Safety", "Reasoning", "Score")
PUBLISHED = {"AlpacaEval 2 LC": 1, "Arena-Hard": 2}  # column of PairStudyConfig.published


def pool_of(profile) -> tuple:
    return tuple(profile.pool) or (profile.strong, profile.weak)


def study_bench(profile, seed: int = 0):
    """The rows the pool scores: pair_study.per_section rows per section drawn from notebook 03's sample
    (benches.load_profile_bench), so every response scored here is a cache hit there."""
    bench = load_profile_bench(profile, seed=seed)
    k = profile.pair_study.per_section
    return bench if k is None else stratified_subset(bench, k, seed, section_of=rb.SUBSET_SECTION)


def loader(profile, *, cache_dir="default", **options):
    """load(index, spec) for benchmarks.pair_selection: the pool model as the profile loads it (profiles.load_scorer,
    its recipe key, dtype and template), through the shared score cache (cache_dir "default": `.cache/scores`;
    None: no cache), so the cache keys agree with notebook 03's."""
    cache_dir = CACHE_DIR / "scores" if cache_dir == "default" else cache_dir
    kw = {**({"cache_dir": cache_dir} if cache_dir is not None else {}), **options}
    return lambda i, spec: load_scorer(profile, spec, key=f"pool.{i}" if profile.pool else ("strong", "weak")[i], **kw)


def score_pool(profile, bench=None, *, cache_dir="default", seed: int = 0, **options) -> PoolScores:
    """Each pool model loaded once (loader), the bench's 2N responses scored once (score_models)."""
    bench = study_bench(profile, seed) if bench is None else bench
    return score_models(pool_of(profile), bench, load=loader(profile, cache_dir=cache_dir, **options), log=None)


def published_scores(profile, specs, measure: str | None = None) -> np.ndarray:
    """(M,) each model's published score in the pair study's column `measure` (default pair_study.performance, one
    of PUBLISHED; NaN where none is configured or filled in), found by the model's name, or by its label for a
    local copy labelled with the hub id."""
    column = PUBLISHED[measure or profile.pair_study.performance]
    table = {row[0]: row[column] for row in profile.pair_study.published}
    scores = [table.get(s.name, table.get(s.label)) for s in specs]
    return np.array([np.nan if v is None else float(v) for v in scores])


def gap_analysis(pool: PoolScores, profile, *, reduction=None, measure=None, n_bootstrap=None, seed=None,
                 level: float = 0.95) -> GapResult:
    """benchmarks.pair_selection.gap_analysis with the profile's study settings; measure (default
    pair_study.performance): "log p (mean)" / "log p (sum)" or a published column (published_scores)."""
    cfg = profile.pair_study
    measure = measure or cfg.performance
    performance = measure if measure in LIKELIHOOD else published_scores(profile, pool.specs, measure)
    return _gap_analysis(pool, performance, reduction=reduction or cfg.reduction, measure=measure,
                         n_bootstrap=cfg.n_bootstrap if n_bootstrap is None else n_bootstrap,
                         seed=cfg.seed if seed is None else seed, level=level)


# -- the best pair, handed to later notebooks ---------------------------------------------------------------------
def study_settings(profile, seed: int = 0) -> dict:
    """What the chosen pair depends on: the pool, the profile's own pair (the rule compares with it), the bench
    rows (source, sample sizes, seed), the study's settings and the weights' dtype."""
    return {"pool": [asdict(s) for s in pool_of(profile)], "strong": asdict(profile.strong),
            "weak": asdict(profile.weak), "bench": [profile.bench, profile.bench_per_section, profile.bench_max_chars,
                                                    profile.seed, seed],
            "pair_study": asdict(profile.pair_study), "dtype": profile.dtype}


def save_best_pair(profile, pool: PoolScores, table: pd.DataFrame, gap: GapResult | None = None, *,
                   level: float = 0.95, seed: int = 0) -> dict:
    """Choose the pair later notebooks use and keep it as the artifact "best_pair" (best_pair.json), keyed by
    study_settings(profile, seed).

    The rule: the highest-Score ordered pair (ties: first in pool order) replaces the profile's own (strong, weak)
    only when it beats it beyond the bench's noise, i.e. the paired bootstrap interval of the Score difference
    lies above 0. A top pair picked on the rows it is scored on is optimistic, and on a small bench a
    lead of a few points is noise, so switching on it would hand later notebooks a pair for no measured reason.
    "chosen" says which rule applied."""
    index = {label: k for k, label in enumerate(pool.labels)}
    row = table.loc[table["Score"].idxmax()]
    top = (index[row["strong"]], index[row["weak"]])
    default = (pool.specs.index(profile.strong), pool.specs.index(profile.weak)) if (
        profile.strong in pool.specs and profile.weak in pool.specs) else None
    record = {"profile": profile.name, "pool": [asdict(s) for s in pool.specs], "reduction": profile.pair_study.reduction,
              "bench": profile.bench, "rows": len(pool.bench),
              "top": {"strong": pool.labels[top[0]], "weak": pool.labels[top[1]], "Score": float(row["Score"])}}
    pick, record["chosen"] = top, "top pair (the profile's own pair is not in the pool)"
    if default is not None and default != top:
        diff, ci = score_difference(pool, top, default, profile.pair_study.reduction,
                                    n_bootstrap=profile.pair_study.n_bootstrap, seed=profile.pair_study.seed, level=level)
        record["top_minus_profile_pair"] = {"points": diff, "ci": list(ci), "level": level}
        if ci[0] > 0:
            record["chosen"] = "top pair (beats the profile's pair beyond the bootstrap interval)"
        else:
            pick, record["chosen"] = default, "profile's pair (the top pair's lead is within the bootstrap interval)"
    elif default == top:
        record["chosen"] = "top pair (it is the profile's own pair)"
    chosen = table[(table["strong"] == pool.labels[pick[0]]) & (table["weak"] == pool.labels[pick[1]])].iloc[0]
    record.update(strong=asdict(pool.specs[pick[0]]), weak=asdict(pool.specs[pick[1]]),
                  sections={c: float(chosen[c]) for c in COLUMNS})
    if gap is not None:
        record.update(measure=gap.measure, spearman=gap.rho, spearman_ci=list(gap.ci))
    artifact(profile, "best_pair", study_settings(profile, seed),
             lambda folder: write_text(folder / "best_pair.json", json.dumps(record, indent=1)), rebuild=True)
    return record


_SEEN: set = set()


def best_pair_record(profile, *, build: bool = True, seed: int = 0) -> dict:
    """Notebook 01's choice for this profile's study settings (the "best_pair" artifact); when it is missing and
    build=True the study runs now (pool scores from the score cache where present) and is kept."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    path = artifact_path(profile, "best_pair", study_settings(profile, seed))
    if path in _SEEN and manifest(path) is not None:
        return json.loads((path / "best_pair.json").read_text(encoding="utf-8"))
    _SEEN.add(path)  # later lookups of the same artifact in this process stay quiet
    if manifest(path) is None:
        if not build:
            raise FileNotFoundError(f"no pair study for profile {profile.name!r} with these settings: run notebook 01 "
                                    "or call best_pair(profile, build=True)")
        pool = score_pool(profile, study_bench(profile, seed), seed=seed)
        save_best_pair(profile, pool, pair_table(pool, profile.pair_study.reduction), seed=seed)
    else:
        print(f"[best_pair] reused outputs/{profile.name}/best_pair/{path.name} (notebook 01's choice)")
    return json.loads((path / "best_pair.json").read_text(encoding="utf-8"))


def best_pair(profile, *, build: bool = True, seed: int = 0) -> tuple[ModelSpec, ModelSpec]:
    """(strong, weak) of best_pair_record."""
    record = best_pair_record(profile, build=build, seed=seed)
    return ModelSpec(**record["strong"]), ModelSpec(**record["weak"])
