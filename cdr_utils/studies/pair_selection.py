"""Which (strong, weak) pair makes the best density-ratio reward? (CDR, arXiv 2411.02481: 221 pairs; reward
quality rises with the pair's performance gap; best pair = a DPO model over its own SFT parent.)

Each of the profile's M pool models scores the bench's 2N responses ONCE (`score_pool`, through the score cache
`.cache/scores`: a model notebook 03 already scored with the same options is a cache hit). Every ordered pair
(i, j) is then formed from those numbers, never by re-running a model: r_ij(x, y) = log p_i(y|x) - log p_j(y|x)
(Eq. 1; "sum", or per-token means for "mean"), so M scoring passes serve all M (M - 1) pairs. A pair is right
on a row when r(chosen) > r(rejected) (a tie is wrong); sections are weighted as in RewardBench
(rewardbench.section_scores). Since r_ji = -r_ij, accuracy(j over i) = 100 - accuracy(i over j) - ties: the
gap analysis therefore takes each unordered pair once, the better-performing model as the strong one.

A model's *performance* must not use the pair's reward: here it is the model's own likelihood used as a reward
on the bench ("log p (mean)" / "log p (sum)", from the same cached numbers), or published benchmark scores
(`paper`: AlpacaEval 2 LC, Arena-Hard). The best pair goes to outputs/<profile>/best_pair.json; `best_pair`
reads it for later notebooks.
"""
from __future__ import annotations

import gc
import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..benchmarks import rewardbench as rb
from ..benchmarks.minibench import stratified_subset
from ..models import CACHE_DIR, ModelSpec
from ..records import write_text
from ..stats import bootstrap, percentile_interval, spearman
from .artifacts import artifact, artifact_path, manifest
from .benches import load_profile_bench
from .profiles import get_profile, load_scorer

COLUMNS = ("Chat", "Chat Hard", "Safety", "Reasoning", "Score")
PUBLISHED = {"AlpacaEval 2 LC": 1, "Arena-Hard": 2}  # column of PairStudyConfig.published
LIKELIHOOD = {"log p (sum)": "sum", "log p (mean)": "mean"}


@dataclass
class PoolScores:
    """Each pool model's log p of the bench's 2N responses in rb.pair_inputs order (N chosen, N rejected):
    sums (M, 2N) nats, n_tokens (M, 2N); stats: per model the score cache's {"computed", "cached"}."""
    specs: tuple
    bench: object
    sums: np.ndarray
    n_tokens: np.ndarray
    stats: list
    seconds: list

    @property
    def labels(self) -> list[str]:
        return [str(s) for s in self.specs]

    def logp(self, reduction: str) -> np.ndarray:
        """(M, 2N): sums (nats) or per-token means (nats / token)."""
        return self.sums if reduction == "sum" else self.sums / self.n_tokens


def pool_of(profile) -> tuple:
    return tuple(profile.pool) or (profile.strong, profile.weak)


def study_bench(profile, seed: int = 0):
    """The rows the pool scores: pair_study.per_section rows per section drawn from notebook 03's sample
    (benches.load_profile_bench), so every response scored here is a cache hit there."""
    bench = load_profile_bench(profile, seed=seed)
    k = profile.pair_study.per_section
    return bench if k is None else stratified_subset(bench, k, seed, section_of=rb.SUBSET_SECTION)


def score_pool(profile, bench=None, *, cache_dir="default", seed: int = 0, **options) -> PoolScores:
    """Load each pool model once, score all 2N responses once, free it. cache_dir: "default" = the shared
    `.cache/scores` (CACHE_DIR), None = no cache; options go to profiles.load_scorer (as in
    profiles.load_reward, so the cache keys agree with notebook 03's)."""
    bench = study_bench(profile, seed) if bench is None else bench
    prompts, responses, ids = rb.pair_inputs(bench)
    cache_dir = CACHE_DIR / "scores" if cache_dir == "default" else cache_dir
    kw = {**({"cache_dir": cache_dir} if cache_dir is not None else {}), **options}
    specs, sums, counts, stats, seconds = pool_of(profile), [], [], [], []
    for i, spec in enumerate(specs):
        start = time.time()
        scorer = load_scorer(profile, spec, key=f"pool.{i}" if profile.pool else ("strong", "weak")[i], **kw)
        out = scorer.score(prompts, responses, record_ids=ids)
        sums.append(out.sum)
        counts.append(out.n_tokens)
        stats.append(dict(scorer.last_stats))
        seconds.append(time.time() - start)
        del scorer, out
        gc.collect()  # one model in memory at a time
    return PoolScores(specs, bench, np.stack(sums), np.stack(counts).astype(float), stats, seconds)


# -- accuracies from cached numbers ----------------------------------------------------------------------------
class _Sections:
    """Section scores of many reward rules at once on fixed rows: correct (R, N) bool -> (R, 5) percent."""

    def __init__(self, bench):
        self.subsets = np.array(bench["subset"])
        self.names = list(dict.fromkeys(self.subsets.tolist()))
        self.onehot = (self.subsets[:, None] == np.array(self.names)[None]).astype(float)  # (N, K)
        counts = self.onehot.sum(0)
        self.own = {s: int(c) for s, c in zip(self.names, counts) if s not in rb.EXAMPLE_COUNTS}
        self.strata = [np.flatnonzero(self.subsets == s) for s in self.names]  # bootstrap within subsets

    def __call__(self, correct: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        onehot = self.onehot if rows is None else self.onehot[rows]
        acc = correct.astype(float) @ onehot / onehot.sum(0)  # (R, K) subset accuracies in [0, 1]
        out = [rb.section_scores(dict(zip(self.names, a)), counts=self.own) for a in acc]
        return np.array([[o[c] for c in COLUMNS] for o in out])


def _pair_correct(lp: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(P, N) bool: r_ij(chosen) > r_ij(rejected) for each ordered pair (i, j); lp (M, 2N)."""
    n = lp.shape[1] // 2
    margin = lp[:, :n] - lp[:, n:]  # (M, N): each model's own log p(chosen) - log p(rejected)
    return np.array([margin[i] - margin[j] > 0 for i, j in pairs])


def ordered_pairs(m: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(m) for j in range(m) if i != j]


def pair_table(pool: PoolScores, reduction: str = "sum") -> pd.DataFrame:
    """One row per ordered pair (strong, weak): section accuracies and Score (percent) of the density ratio."""
    pairs = ordered_pairs(len(pool.specs))
    scores = _Sections(pool.bench)(_pair_correct(pool.logp(reduction), pairs))
    return pd.DataFrame({"strong": [pool.labels[i] for i, _ in pairs], "weak": [pool.labels[j] for _, j in pairs],
                         **{c: scores[:, k] for k, c in enumerate(COLUMNS)}})


def pair_matrix(table: pd.DataFrame, column: str = "Score", order=None) -> pd.DataFrame:
    """M x M accuracy (rows: strong, columns: weak; NaN diagonal) from pair_table."""
    order = order or list(dict.fromkeys(table["strong"]))
    return table.pivot(index="strong", columns="weak", values=column).reindex(index=order, columns=order)


def single_model_table(pool: PoolScores) -> pd.DataFrame:
    """Each model's own log p as a reward (implicit-reward accuracy), both reductions: rows (model, reduction)."""
    sections, n = _Sections(pool.bench), len(pool.bench)
    scores = {name: sections(pool.logp(red)[:, :n] > pool.logp(red)[:, n:]) for name, red in LIKELIHOOD.items()}
    index = pd.MultiIndex.from_tuples([(m, name) for m in pool.labels for name in LIKELIHOOD], names=["model", "measure"])
    return pd.DataFrame([scores[name][i] for i in range(len(pool.labels)) for name in LIKELIHOOD], index=index,
                        columns=COLUMNS)


def published_scores(profile, specs) -> np.ndarray:
    """(M,) the pair study's published score of each model (NaN where none is configured or filled in), found by
    the model's name, or by its label for a local copy labelled with the hub id."""
    column = PUBLISHED[profile.pair_study.performance]
    table = {row[0]: row[column] for row in profile.pair_study.published}
    scores = [table.get(s.name, table.get(s.label)) for s in specs]
    return np.array([np.nan if v is None else float(v) for v in scores])


# -- gap versus accuracy -----------------------------------------------------------------------------------------
def _oriented(perf: np.ndarray, score: dict) -> tuple[list, np.ndarray, np.ndarray]:
    """Each unordered pair once, the better-performing model as strong: (pairs, gaps, accuracies)."""
    pairs = [(i, j) if perf[i] > perf[j] else (j, i) for i in range(len(perf)) for j in range(i + 1, len(perf))
             if np.isfinite(perf[i]) and np.isfinite(perf[j]) and perf[i] != perf[j]]
    return pairs, np.array([perf[i] - perf[j] for i, j in pairs]), np.array([score[p] for p in pairs])


@dataclass
class GapResult:
    """points: one row per unordered pair (strong = better performer): gap (performance points) and pair
    accuracy (Score, percent); rho: Spearman; ci: bootstrap percentile interval; boot: the resampled rhos."""
    points: pd.DataFrame
    performance: pd.Series
    measure: str
    rho: float
    ci: tuple
    boot: np.ndarray


def gap_analysis(pool: PoolScores, profile, *, reduction=None, measure=None, n_bootstrap=None, seed=None,
                 level: float = 0.95) -> GapResult:
    """Spearman correlation of the performance gap with the pair's accuracy, and a seeded bootstrap interval:
    bench rows are resampled within each subset (subset sizes and weights kept), and every accuracy and
    likelihood-based performance is recomputed on the resample (published scores stay fixed). The interval
    covers the bench's sampling noise, not the choice of models."""
    cfg = profile.pair_study
    reduction, measure = reduction or cfg.reduction, measure or cfg.performance
    n_bootstrap, seed = cfg.n_bootstrap if n_bootstrap is None else n_bootstrap, cfg.seed if seed is None else seed
    sections, m, n = _Sections(pool.bench), len(pool.specs), len(pool.bench)
    pairs, lp_pair = ordered_pairs(m), pool.logp(reduction)
    own = pool.logp(LIKELIHOOD[measure]) if measure in LIKELIHOOD else None
    fixed = None if own is not None else published_scores(profile, pool.specs)

    def statistic(rows):
        """(performance (M,), oriented pairs, gaps, accuracies) on bench rows `rows` (repeats allowed)."""
        cols = np.r_[rows, rows + n]  # the chosen and the rejected response of each drawn row
        score = dict(zip(pairs, sections(_pair_correct(lp_pair[:, cols], pairs), rows)[:, -1]))
        perf = fixed if own is None else sections(own[:, rows] > own[:, rows + n], rows)[:, -1]
        return (perf, *_oriented(perf, score))

    perf, orient, gaps, accs = statistic(np.arange(n))
    boot = bootstrap(lambda rows: spearman(*statistic(rows)[2:]), sections.strata, rounds=n_bootstrap, seed=seed)
    ci = percentile_interval(boot, level)
    points = pd.DataFrame({"strong": [pool.labels[i] for i, _ in orient], "weak": [pool.labels[j] for _, j in orient],
                           "gap": gaps, "accuracy": accs})
    return GapResult(points, pd.Series(perf, index=pool.labels, name=measure), measure, spearman(gaps, accs), ci, boot)


# -- the best pair, handed to later notebooks ---------------------------------------------------------------------
def study_settings(profile, seed: int = 0) -> dict:
    """What the chosen pair depends on: the pool, the profile's own pair (the rule compares with it), the bench
    rows (source, sample sizes, seed), the study's settings and the weights' dtype."""
    return {"pool": [asdict(s) for s in pool_of(profile)], "strong": asdict(profile.strong),
            "weak": asdict(profile.weak), "bench": [profile.bench, profile.bench_per_section, profile.bench_max_chars,
                                                    profile.seed, seed],
            "pair_study": asdict(profile.pair_study), "dtype": profile.dtype}


def score_difference(pool: PoolScores, a: tuple[int, int], b: tuple[int, int], reduction: str = "sum", *,
                     n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, tuple]:
    """Score(pair a) - Score(pair b) in points, with a paired, subset-stratified bootstrap interval (both pairs
    judged on the same resampled rows). a, b: ordered (strong, weak) indices into the pool."""
    sections, n = _Sections(pool.bench), len(pool.bench)
    lp = pool.logp(reduction)

    def diff(rows):
        score = sections(_pair_correct(lp[:, np.r_[rows, rows + n]], [a, b]), rows)[:, -1]
        return float(score[0] - score[1])

    return diff(np.arange(n)), percentile_interval(bootstrap(diff, sections.strata, rounds=n_bootstrap, seed=seed),
                                                   level)


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
