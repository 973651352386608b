"""Which of your models to pair? (CDR, arXiv 2411.02481: over 221 pairs, the reward's quality rises with the pair's
performance gap, and the choice of pair decides it.)

`select_pairs(models, data)`: each of M models scores the labelled pairs' 2N responses ONCE (through the score
cache when `cache_dir` is given, so a killed run rescored only the models not yet cached). Every ordered pair
(i, j) follows from those sums without another forward pass (Eq. 1):

    r_ij(x, y) = log p_i(y | x) - log p_j(y | x)            "sum" (nats), or per-token means for "mean"

A rule is right on a row when r(chosen) > r(rejected) (a tie is wrong); sections are weighted as RewardBench's
(rewardbench.section_scores), a user's own subsets are each a section and Score is their mean. Beside the M (M - 1)
pairs: the single-model baselines (each model's own log p as a reward, summed and per token) and the length
baseline; a paired, subset-stratified bootstrap interval of each pair's Score minus the best pair's; optionally the
models' own performance figures (published AlpacaEval 2 LC, say), giving the gap-vs-accuracy Spearman and its
interval. Since r_ji = -r_ij, accuracy(j over i) = 100 - accuracy(i over j) - ties.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..logprobs import LogProbScorer
from ..models import ModelSpec
from ..stats import bootstrap, percentile_interval, spearman
from . import rewardbench as rb

LIKELIHOOD = {"log p (sum)": "sum", "log p (mean)": "mean"}
REDUCTIONS = ("sum", "mean")


@dataclass
class PoolScores:
    """Each model's log p of the 2N responses in rb.pair_inputs order (N chosen, N rejected): sums (M, 2N) nats,
    n_tokens (M, 2N); stats: per model the score cache's {"computed", "cached"}; seconds: per model."""
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


def score_models(models, bench, *, load=None, log=print, **scorer_options) -> PoolScores:
    """Load each model once, score the bench's 2N responses once, free it. models: names, local folders, hub ids
    or ModelSpecs; load(index, model) -> LogProbScorer (default LogProbScorer.from_pretrained(model,
    **scorer_options), e.g. cache_dir=..., dtype=..., progress=...); log: a print-like callable for one line
    per model (None: quiet)."""
    load = load or (lambda i, spec: LogProbScorer.from_pretrained(spec, **scorer_options))
    prompts, responses, ids = rb.pair_inputs(bench)
    specs = tuple(m if isinstance(m, ModelSpec) else ModelSpec(str(m)) for m in models)
    sums, counts, stats, seconds = [], [], [], []
    for i, spec in enumerate(specs):
        start = time.time()
        scorer = load(i, spec)
        out = scorer.score(prompts, responses, record_ids=ids)
        sums.append(out.sum)
        counts.append(out.n_tokens)
        stats.append(dict(scorer.last_stats))
        seconds.append(time.time() - start)
        if log is not None:
            s = stats[-1]
            log(f"[select] model {i + 1}/{len(specs)} {spec}: {s.get('computed', len(responses))} responses "
                     f"scored, {s.get('cached', 0)} from the cache ({seconds[-1]:.0f} s)")
        del scorer, out
        gc.collect()  # one model in memory at a time
    return PoolScores(specs, bench, np.stack(sums), np.stack(counts).astype(float), stats, seconds)


# -- accuracies of many rules at once ----------------------------------------------------------------------------
class Sections:
    """Section scores of R reward rules on fixed rows: correct (R, N) bool -> (R, len(columns)) percent.
    Rows covering RewardBench's four sections (RewardBench or the mini-bench) score as RewardBench does; otherwise
    the sections present (a RewardBench subset in its section, a user's own subset as its own) and their mean."""

    def __init__(self, bench):
        self.subsets = np.array(bench["subset"])
        self.names = list(dict.fromkeys(self.subsets.tolist()))
        present = [rb.SUBSET_SECTION.get(s, s) for s in self.names]
        standard = set(present) == set(rb.SECTION_NAMES)
        self.section_of = None if standard else dict(zip(self.names, present))
        self.columns = (*(rb.SECTION_NAMES if standard else dict.fromkeys(present)), "Score")
        self.onehot = (self.subsets[:, None] == np.array(self.names)[None]).astype(float)  # (N, K)
        self.own = {s: int(c) for s, c in zip(self.names, self.onehot.sum(0)) if s not in rb.EXAMPLE_COUNTS}
        self.strata = [np.flatnonzero(self.subsets == s) for s in self.names]  # bootstrap within subsets

    def __call__(self, correct: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        onehot = self.onehot if rows is None else self.onehot[rows]
        acc = np.atleast_2d(correct).astype(float) @ onehot / onehot.sum(0)  # (R, K) subset accuracies in [0, 1]
        out = [rb.section_scores(dict(zip(self.names, a)), counts=self.own, section_of=self.section_of) for a in acc]
        return np.array([[o[c] for c in self.columns] for o in out])


def ordered_pairs(m: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(m) for j in range(m) if i != j]


def pair_correct(lp: np.ndarray, pairs) -> np.ndarray:
    """(P, N) bool: r_ij(chosen) > r_ij(rejected) for each ordered pair (i, j); lp (M, 2N)."""
    n = lp.shape[1] // 2
    margin = lp[:, :n] - lp[:, n:]  # (M, N): each model's own log p(chosen) - log p(rejected)
    return np.array([margin[i] - margin[j] > 0 for i, j in pairs]).reshape(len(pairs), n)


def pair_table(pool: PoolScores, reduction: str = "sum") -> pd.DataFrame:
    """One row per ordered pair (strong, weak): section accuracies and Score (percent) of the density ratio."""
    pairs, sections = ordered_pairs(len(pool.specs)), Sections(pool.bench)
    scores = sections(pair_correct(pool.logp(reduction), pairs))
    return pd.DataFrame({"strong": [pool.labels[i] for i, _ in pairs], "weak": [pool.labels[j] for _, j in pairs],
                         **{c: scores[:, k] for k, c in enumerate(sections.columns)}})


def pair_matrix(table: pd.DataFrame, column: str = "Score", order=None) -> pd.DataFrame:
    """M x M accuracy (rows: strong, columns: weak; NaN diagonal) from pair_table."""
    order = order or list(dict.fromkeys(table["strong"]))
    return table.pivot(index="strong", columns="weak", values=column).reindex(index=order, columns=order)


def single_correct(pool: PoolScores, reduction: str) -> np.ndarray:
    """(M, N) bool: each model's own log p as a reward, log p(chosen) > log p(rejected)."""
    lp, n = pool.logp(reduction), len(pool.bench)
    return lp[:, :n] > lp[:, n:]


def length_correct(bench) -> np.ndarray:
    """(N,) bool: the longer response (in characters) as the reward, chosen strictly longer than rejected."""
    return np.array([len(c) > len(r) for c, r in zip(bench["chosen"], bench["rejected"])])


def baseline_table(pool: PoolScores) -> pd.DataFrame:
    """The baselines a pair must beat: each model's own log p as a reward (summed and per token), rows
    (model, measure), and the longer response, row ("length", "longer response")."""
    sections = Sections(pool.bench)
    rows, index = [], []
    for i, label in enumerate(pool.labels):
        for name, red in LIKELIHOOD.items():
            rows.append(sections(single_correct(pool, red)[i])[0])
            index.append((label, name))
    rows.append(sections(length_correct(pool.bench))[0])
    index.append(("length", "longer response"))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["model", "measure"]),
                        columns=sections.columns)


def paired_difference(pool: PoolScores, a: np.ndarray, b: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Score(rules a) - Score(rule b) in points, with paired, subset-stratified bootstrap intervals (every rule
    judged on the same resampled rows). a: (R, N) bool, b: (N,) bool. Returns ((R,) differences, (R, 2) intervals)."""
    sections = Sections(pool.bench)
    a, b = np.atleast_2d(a), np.asarray(b)[None]

    def diff(rows):
        scores = sections(np.concatenate([a[:, rows], b[:, rows]]), rows)[:, -1]
        return scores[:-1] - scores[-1]

    boot = bootstrap(diff, sections.strata, rounds=n_bootstrap, seed=seed).reshape(n_bootstrap, len(a))
    return diff(np.arange(len(pool.bench))), np.array([percentile_interval(boot[:, r], level) for r in range(len(a))])


def score_difference(pool: PoolScores, a: tuple[int, int], b: tuple[int, int], reduction: str = "sum", *,
                     n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, tuple]:
    """Score(pair a) - Score(pair b) in points and its paired bootstrap interval; a, b: ordered (strong, weak)
    indices into the pool."""
    correct = pair_correct(pool.logp(reduction), [a, b])
    d, ci = paired_difference(pool, correct[:1], correct[1], n_bootstrap=n_bootstrap, seed=seed, level=level)
    return float(d[0]), (float(ci[0, 0]), float(ci[0, 1]))


def pair_matrix_figure(matrices: dict, names: dict | None = None, title: str = ""):
    """Heatmaps of pair accuracy (percent), one panel per entry of `matrices` ({title: M x M DataFrame, rows =
    strong, columns = weak}, pair_selection.pair_matrix), colours centred on chance (50); names: short labels."""
    k = len(matrices)
    first = next(iter(matrices.values()))
    size = 0.55 * len(first) + 1.5
    fig, axes = plt.subplots(1, k, figsize=(size * k + 1, size), squeeze=False)
    short = [(names or {}).get(m, m) for m in first.index]
    spread = max(5.0, max(float(np.nanmax(np.abs(m.to_numpy(dtype=float) - 50))) for m in matrices.values()))
    for ax, (panel, matrix) in zip(axes[0], matrices.items()):
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="RdBu", vmin=50 - spread, vmax=50 + spread)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(short)), short, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(short)), short if ax is axes[0][0] else [], fontsize=7)
        ax.set_xlabel("weak model", fontsize=8)
        ax.set_title(panel, fontsize=9)
    axes[0][0].set_ylabel("strong model", fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="accuracy (%)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# -- gap versus accuracy -----------------------------------------------------------------------------------------
@dataclass
class GapResult:
    """points: one row per unordered pair (strong = better performer): gap (performance points) and pair accuracy
    (Score, percent); rho: Spearman; ci: bootstrap percentile interval; boot: the resampled rhos."""
    points: pd.DataFrame
    performance: pd.Series
    measure: str
    rho: float
    ci: tuple
    boot: np.ndarray


def _oriented(perf: np.ndarray, score: dict) -> tuple[list, np.ndarray, np.ndarray]:
    """Each unordered pair once, the better-performing model as strong: (pairs, gaps, accuracies)."""
    pairs = [(i, j) if perf[i] > perf[j] else (j, i) for i in range(len(perf)) for j in range(i + 1, len(perf))
             if np.isfinite(perf[i]) and np.isfinite(perf[j]) and perf[i] != perf[j]]
    return pairs, np.array([perf[i] - perf[j] for i, j in pairs]), np.array([score[p] for p in pairs])


def gap_analysis(pool: PoolScores, performance="log p (mean)", *, reduction: str = "sum", measure: str | None = None,
                 n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> GapResult:
    """Spearman correlation of the performance gap with the pair's Score, and a seeded bootstrap interval: rows are
    resampled within each subset, and every accuracy and likelihood-based performance is recomputed on the resample.
    performance: "log p (mean)" / "log p (sum)" (each model's own likelihood as a reward on these rows), or (M,)
    published scores (fixed; NaN: left out), named by `measure`. The interval covers the rows' sampling noise, not
    the choice of models."""
    sections, m, n = Sections(pool.bench), len(pool.specs), len(pool.bench)
    pairs, lp_pair = ordered_pairs(m), pool.logp(reduction)
    own = single_correct(pool, LIKELIHOOD[performance]) if isinstance(performance, str) else None
    fixed = None if own is not None else np.asarray(performance, dtype=float)

    def statistic(rows):
        """(performance (M,), oriented pairs, gaps, accuracies) on bench rows `rows` (repeats allowed)."""
        cols = np.r_[rows, rows + n]  # the chosen and the rejected response of each drawn row
        score = dict(zip(pairs, sections(pair_correct(lp_pair[:, cols], pairs), rows)[:, -1]))
        perf = fixed if own is None else sections(own[:, rows], rows)[:, -1]
        return (perf, *_oriented(perf, score))

    perf, orient, gaps, accs = statistic(np.arange(n))
    boot = bootstrap(lambda rows: spearman(*statistic(rows)[2:]), sections.strata, rounds=n_bootstrap, seed=seed)
    points = pd.DataFrame({"strong": [pool.labels[i] for i, _ in orient], "weak": [pool.labels[j] for _, j in orient],
                           "gap": gaps, "accuracy": accs})
    name = measure or (performance if isinstance(performance, str) else "performance")
    return GapResult(points, pd.Series(perf, index=pool.labels, name=name), name, spearman(gaps, accs),
                     percentile_interval(boot, level), boot)


# -- the whole selection -----------------------------------------------------------------------------------------
@dataclass
class Selection:
    """scores: PoolScores; table: every ordered pair under each reduction (columns strong, weak, reduction, the
    sections, Score, minus_best: Score - the best pair's of that reduction, ci_low / ci_high: its paired bootstrap
    interval); baselines: baseline_table; gap: GapResult or None; recommended: the best pair of `reduction` and
    whether its lead over the runner-up pair and over the best baseline is resolved (interval above 0)."""
    scores: PoolScores
    table: pd.DataFrame
    baselines: pd.DataFrame
    gap: GapResult | None
    recommended: dict


def select_pairs(models, data="minibench", *, reduction: str = "sum", performance=None, per_section: int | None = None,
                 seed: int = 0, n_bootstrap: int = 1000, level: float = 0.95, load=None, log=print,
                 **scorer_options) -> Selection:
    """Rank every ordered pair of `models` as a density-ratio reward on labelled pairs.

    models: M >= 2 names, local folders, hub ids or ModelSpecs; data: "minibench", a RewardBench-schema file, a hub
    id or rows (rewardbench.load; a user's own subsets accepted), `per_section` rows per section drawn with `seed`;
    reduction: the one the recommendation uses (the table holds both); performance: None, "log p (mean)" /
    "log p (sum)", or {model: published score} for the gap analysis; load / scorer_options: score_models.
    Each model is scored once; the pairs and baselines come from those sums."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(models) < 2:
        raise ValueError(f"select_pairs needs at least 2 models, got {len(models)}")
    bench = rb.load(data, seed=seed, any_subset=True)
    bench = bench if per_section is None else rb.sample(bench, per_section, seed)
    pool = score_models(models, bench, load=load, log=log, **scorer_options)
    boot = {"n_bootstrap": n_bootstrap, "seed": seed, "level": level}
    pairs, frames, best = ordered_pairs(len(pool.specs)), [], {}
    for red in REDUCTIONS:
        table = pair_table(pool, red)
        top = int(table["Score"].to_numpy().argmax())  # ties: first in model order
        correct = pair_correct(pool.logp(red), pairs)
        diff, ci = paired_difference(pool, correct, correct[top], **boot)
        frames.append(table.assign(reduction=red, minus_best=diff, ci_low=ci[:, 0], ci_high=ci[:, 1]))
        best[red] = (top, correct)
    table = pd.concat(frames, ignore_index=True)
    table = table[["strong", "weak", "reduction", *[c for c in table.columns if c not in ("strong", "weak", "reduction")]]]
    baselines = baseline_table(pool)
    gap = None
    if performance is not None:
        perf = performance if isinstance(performance, str) else \
            [float(performance.get(s.name, performance.get(str(s), np.nan))) for s in pool.specs]
        gap = gap_analysis(pool, perf, reduction=reduction, measure=None if isinstance(performance, str)
                           else "published", **boot)
    return Selection(pool, table, baselines, gap, recommend(pool, table, baselines, best[reduction], reduction, **boot))


def recommend(pool, table, baselines, best, reduction, **boot) -> dict:
    """The best pair of `reduction`, its lead over the runner-up pair and over the best baseline (a single model's
    log p or the length rule), each with its paired interval and whether it is resolved (interval above 0)."""
    top, correct = best
    rows = table[table["reduction"] == reduction].reset_index(drop=True)
    order = np.argsort(-rows["Score"].to_numpy(), kind="stable")
    out = {"strong": rows.loc[top, "strong"], "weak": rows.loc[top, "weak"], "reduction": reduction,
           "Score": float(rows.loc[top, "Score"])}
    if len(order) > 1:
        second = int(order[1] if order[0] == top else order[0])
        d, ci = paired_difference(pool, correct[top], correct[second], **boot)
        out["runner_up"] = {"strong": rows.loc[second, "strong"], "weak": rows.loc[second, "weak"],
                            "lead": float(d[0]), "ci": [float(x) for x in ci[0]], "resolved": bool(ci[0, 0] > 0)}
    k = int(baselines["Score"].to_numpy().argmax())
    model, measure = baselines.index[k]
    rule = (length_correct(pool.bench) if model == "length"
            else single_correct(pool, LIKELIHOOD[measure])[pool.labels.index(model)])
    d, ci = paired_difference(pool, correct[top], rule, **boot)
    out["best_baseline"] = {"model": model, "measure": measure, "Score": float(baselines["Score"].iloc[k]),
                            "lead": float(d[0]),
                            "ci": [float(x) for x in ci[0]], "resolved": bool(ci[0, 0] > 0)}
    return out
