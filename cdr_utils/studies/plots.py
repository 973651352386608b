"""The figures, in one place. Each function returns a matplotlib Figure; `save_figure` writes it to
runs/<profile>/figures/ (git-ignored, beside the executed notebooks). The README shows figures/, which
`make figures` refreshes from runs/cpu/figures/ after a `make demo`."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..benchmarks.pair_selection import pair_matrix_figure  # noqa: F401 (the notebooks' one import of figures)
from ..benchmarks.policy.winrate import lc_column
from ..stats import spearman
from .paths import RUNS

STRONG, WEAK = "tab:blue", "tab:orange"


def figure_dir(profile: str) -> Path:
    path = RUNS / profile / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str, profile: str) -> None:
    """runs/<profile>/figures/<name>.png (the figure also shows in the notebook)."""
    fig.savefig(figure_dir(profile) / f"{name}.png", dpi=120, bbox_inches="tight")


def _show(token: str) -> str:
    return token.replace("\n", "\\n") or "·"


def token_logprob_figure(result, i: int, title: str = ""):
    """Per-token log-probs of response i under the strong and the weak model (each on its own tokens), and
    both models' cumulative log-prob against the response's character position: the final gap between the
    two curves is the density ratio r = log p_strong(y|x) - log p_weak(y|x)."""
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), gridspec_kw={"height_ratios": [1, 1, 1.2]})
    curves = []
    for ax, res, color, who in ((axes[0], result.strong, STRONG, "strong"), (axes[1], result.weak, WEAK, "weak")):
        toks, lps = res.tokens[i], res.token_logprobs[i]
        ax.bar(range(len(lps)), lps, color=color)
        ax.set_xticks(range(len(toks)), [_show(t) for t in toks], rotation=75, fontsize=7)
        ax.set_ylabel("log p (nats)")
        ax.set_title(f"{who}: {res.meta['model']} - {len(lps)} tokens, sum {res.sum[i]:.1f}", fontsize=9)
        widths = [len(t) for t in toks]
        if res.meta.get("include_end_of_turn"):
            widths[-1] = 1  # the marker's text length differs between templates; draw it as one step
        chars = np.cumsum(widths)
        curves.append((chars, np.cumsum(lps), color, res.meta["model"]))
    ax = axes[2]
    for chars, cum, color, label in curves:
        ax.step(np.r_[0, chars], np.r_[0, cum], where="post", color=color, label=label)
    r = result.reward[i] if result.reduction == "sum" else result.strong.sum[i] - result.weak.sum[i]
    ax.set_xlabel("characters of the response (+1 for the end-of-turn marker)")
    ax.set_ylabel("cumulative log p (nats)")
    ax.set_title(f"density ratio (sum) r = {r:+.2f} nats: the gap at the right end", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def good_bad_figure(table):
    """Grouped bars: the density ratio of the good and the bad answer per example, sum and mean."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    x = np.arange(len(table))
    for ax, col, unit in ((axes[0], "sum", "nats"), (axes[1], "mean", "nats / token")):
        ax.bar(x - 0.2, table[f"r_{col}_good"], 0.4, label="good answer", color="tab:green")
        ax.bar(x + 0.2, table[f"r_{col}_bad"], 0.4, label="bad answer", color="tab:red")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(x, table["id"])
        ax.set_title(f"density ratio, {col} ({unit})")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def length_figure(table):
    """Sum and mean density ratio of one response as on-topic sentences are appended."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    axes[0].plot(table["n_tokens_strong"], table["r_sum"], "o-")
    first, last = table["r_sum"].iloc[0], table["r_sum"].iloc[-1]
    axes[0].set_title(f"sum: {first:+.1f} to {last:+.1f} nats over {len(table) - 1} added sentences")
    axes[0].set_ylabel("r (nats)")
    axes[1].plot(table["n_tokens_strong"], table["r_mean"], "o-", color="tab:purple")
    axes[1].set_title(f"mean: {table['r_mean'].min():+.2f} to {table['r_mean'].max():+.2f} nats / token")
    axes[1].set_ylabel("r (nats / token)")
    for ax in axes:
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel("response length (strong model's tokens)")
    fig.tight_layout()
    return fig


def section_bars_figure(table, title: str = ""):
    """Grouped bars: one group per RewardBench section (and the overall Score), one bar per method.
    `table`: DataFrame indexed by method with columns Chat, Chat Hard, Safety, Reasoning, Score (percent)."""
    cols = [c for c in ("Chat", "Chat Hard", "Safety", "Reasoning", "Score") if c in table.columns]
    fig, ax = _grouped_bars(table[cols], "accuracy (%)", title or "RewardBench-style sections (dashed: chance)", ncol=3)
    ax.axhline(50, color="k", lw=0.6, ls="--")  # a coin flip; a rule that ties (ties count as wrong) can go below
    fig.tight_layout()
    return fig


def _grouped_bars(table, ylabel: str, title: str, ncol: int):
    """One group of bars per column of `table` (percent), one bar per row (method), legend below; (fig, ax)."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    x, width = np.arange(len(table.columns)), 0.8 / len(table)
    colors = plt.get_cmap("tab10").colors
    for k, (method, row) in enumerate(table.iterrows()):
        ax.bar(x - 0.4 + (k + 0.5) * width, row.values, width, label=method, color=colors[k % len(colors)])
    ax.set_xticks(x, table.columns)
    ax.set_ylim(0, 100)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=ncol, loc="upper left", bbox_to_anchor=(0, -0.1))
    return fig, ax


def training_curves_figure(histories: dict, title: str = ""):
    """Preference-tuning curves per optimizer step, one line per run: loss, reward margin (mean over the
    batch of r(y_w) - r(y_l), the method's implicit reward) and preference accuracy (share of the batch with
    r(y_w) > r(y_l)). histories: {label: trainer log_history (list of dicts with "step")}."""
    keys = (("loss", "loss"), ("rewards/margins", "reward margin"), ("rewards/accuracies", "preference accuracy"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for label, history in histories.items():
        rows = [h for h in history if "loss" in h and "step" in h]
        for ax, (key, _) in zip(axes, keys):
            ax.plot([h["step"] for h in rows], [h.get(key, np.nan) for h in rows], "o-", ms=3, label=label)
    for ax, (_, name) in zip(axes, keys):
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("optimizer step")
    axes[1].axhline(0, color="k", lw=0.6)
    axes[2].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sample_reward_figure(frames, title: str = ""):
    """The reward of fresh samples per policy: one box per policy (frames: score_samples DataFrames, each with
    a single `policy`), samples as dots; the first policy's median dashed for reference."""
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(frames), 3.6))
    data = [f["reward"].to_numpy() for f in frames]
    ax.boxplot(data, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)
    for k, r in enumerate(data, start=1):
        ax.plot(k + rng.uniform(-0.12, 0.12, len(r)), r, "o", ms=3, alpha=0.6)
    ax.axhline(np.median(data[0]), color="k", lw=0.6, ls="--")
    ax.set_xticks(range(1, len(frames) + 1), [f["policy"].iloc[0] for f in frames], fontsize=8, rotation=15)
    ax.set_ylabel("training reward of the sample (nats)")
    ax.set_title(title or "fresh samples on held-out prompts (a sanity check, not a quality judgment)", fontsize=9)
    fig.tight_layout()
    return fig


def candidate_rewards_figure(rewards, lengths, pairs_frame, title: str = ""):
    """Notebook 04. Left: every candidate's reward (nats) with the chosen and rejected ones of the pairs;
    middle: pair margins; right: candidate reward against response length (characters)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    bins = np.histogram_bin_edges(np.concatenate([rewards, pairs_frame["score_chosen"], pairs_frame["score_rejected"]]),
                                  bins=25)
    axes[0].hist(rewards, bins=bins, color="0.7", label="all candidates")
    axes[0].hist(pairs_frame["score_chosen"], bins=bins, histtype="step", lw=2, color=STRONG, label="chosen")
    axes[0].hist(pairs_frame["score_rejected"], bins=bins, histtype="step", lw=2, color=WEAK, label="rejected")
    axes[0].set_xlabel("reward r = log p_strong - log p_weak (nats)")
    axes[0].legend(fontsize=8)
    axes[1].hist(pairs_frame["margin"], bins=20, color="tab:green")
    axes[1].set_xlabel("margin: r(chosen) - r(rejected) (nats)")
    axes[2].plot(lengths, rewards, "o", ms=3, alpha=0.5)
    axes[2].set_xlabel("response length (characters)")
    axes[2].set_ylabel("reward (nats)")
    for ax in axes[:2]:
        ax.set_ylabel("count")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def length_bias_figure(frames: dict, title: str = ""):
    """Notebook 04: chosen-minus-rejected length (characters) against the margin (nats), one panel per pair
    strategy (frames: {name: pairs.pair_frame}); the Spearman correlation in each panel's title."""
    fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 3.8), sharey=True, squeeze=False)
    for ax, (name, f) in zip(axes[0], frames.items()):
        ax.plot(f["margin"], f["length_diff"], "o", ms=4, alpha=0.7)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel("margin (nats)")
        ax.set_title(f"{name}: Spearman {spearman(f['length_diff'], f['margin']):+.2f}, "
                     f"chosen longer in {100 * (f['length_diff'] > 0).mean():.0f}%", fontsize=9)
    axes[0][0].set_ylabel("len(chosen) - len(rejected) (characters)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def benchmark_scores_figure(tables: dict, models: list, judge: str, published: dict | None = None):
    """Notebook 06: one panel per benchmark, one bar per model with its interval. tables: evals.scoring
    tables ("alpaca_eval": LC win rate with LC lower / upper, raw win rate as a dot; "arena_hard": score with
    lower / upper; "mt_bench": overall with lower / upper, turns 1 and 2 as dots). published: optional
    {model label: {"alpaca_eval": LC, "arena_hard": score, "mt_bench": rating}} drawn as hatched bars."""
    lc_title = lc_column(tables["alpaca_eval"]) if "alpaca_eval" in tables else "AlpacaEval LC (%)"
    panels = (("alpaca_eval", lc_title, "LC win rate", "LC lower", "LC upper"),
              ("arena_hard", "Arena-Hard score (%)", "score", "lower", "upper"),
              ("mt_bench", "MT-Bench rating (1-10)", "overall", "lower", "upper"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colors = plt.get_cmap("tab10").colors
    published = published or {}
    for ax, (key, title, col, lo, hi) in zip(axes, panels):
        t = tables.get(key)
        labels = []
        for k, model in enumerate(models):
            if t is None or model not in t.index:
                continue
            r = t.loc[model]
            ax.bar(len(labels), r[col], 0.6, color=colors[k % 10],
                   yerr=[[r[col] - r[lo]], [r[hi] - r[col]]], capsize=4)
            if key == "alpaca_eval":
                ax.plot(len(labels), r["win rate"], "kD", ms=5, label="raw win rate" if not labels else None)
            if key == "mt_bench":
                ax.plot([len(labels) - 0.15, len(labels) + 0.15], [r["turn 1"], r["turn 2"]], "k.", ms=8,
                        label="turn 1, turn 2" if not labels else None)
            labels.append(model)
        for name, values in published.items():
            if key in values:
                ax.bar(len(labels), values[key], 0.6, color="white", edgecolor="gray", hatch="//")
                labels.append(name)
        if key != "mt_bench":
            ax.axhline(50, color="k", lw=0.6, ls="--")  # as good as the baseline
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 10 if key == "mt_bench" else 100)
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"judge: {judge}", fontsize=10)
    fig.tight_layout()
    return fig


def customization_figure(table, title: str = ""):
    """Notebook 02: section accuracy of each customization mode, one panel per (routing, apply_to).
    `table`: ablation.results_frame output (index mode, routing, apply_to; columns Chat .. Score in percent);
    the "vanilla" row (routing "-") is drawn in every panel as the reference."""
    cols = [c for c in ("Chat", "Chat Hard", "Safety", "Reasoning", "Score") if c in table.columns]
    flat = table.reset_index()
    vanilla = flat[flat["mode"] == "vanilla"]
    panels = [k for k in dict.fromkeys(zip(flat["routing"], flat["apply_to"])) if k != ("-", "-")]
    modes = list(dict.fromkeys(flat["mode"]))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.6 * max(1, len(panels)), 3.8), sharey=True,
                             squeeze=False)
    colors = plt.get_cmap("tab10").colors
    x, width = np.arange(len(cols)), 0.8 / len(modes)
    for ax, (routing, apply_to) in zip(axes[0], panels):
        rows = pd.concat([vanilla, flat[(flat["routing"] == routing) & (flat["apply_to"] == apply_to)]])
        for k, mode in enumerate(modes):
            r = rows[rows["mode"] == mode]
            if len(r):
                ax.bar(x - 0.4 + (k + 0.5) * width, r[cols].values[0], width, label=mode, color=colors[k % 10])
        ax.axhline(50, color="k", lw=0.6, ls="--")
        ax.set_xticks(x, cols, rotation=20, fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_title(f"routing: {routing}, customized: {'both models' if apply_to == 'both' else 'strong only'}",
                     fontsize=9)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title or "customized density ratio: accuracy by section (dashed: chance)", fontsize=10)
    fig.tight_layout()
    return fig


def gap_scatter_figure(points, rho: float, ci, measure: str, names: dict | None = None, title: str = ""):
    """Pair accuracy (percent) against the performance gap of its two models, one point per unordered pair
    (strong = the better performer; pair_selection.gap_analysis), labelled "strong / weak"; Spearman in the title."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.scatter(points["gap"], points["accuracy"], color="tab:purple", zorder=3)
    if len(points) <= 30:
        for _, p in points.iterrows():
            label = f"{(names or {}).get(p['strong'], p['strong'])} / {(names or {}).get(p['weak'], p['weak'])}"
            ax.annotate(label, (p["gap"], p["accuracy"]), fontsize=6.5, xytext=(4, 3), textcoords="offset points")
    ax.axhline(50, color="k", lw=0.6, ls="--")
    ax.set_xlabel(f"performance gap, strong - weak ({measure})")
    ax.set_ylabel("pair accuracy, Score (%)")
    ax.set_title(title or f"Spearman rho = {rho:+.2f} (95% bootstrap interval {ci[0]:+.2f} to {ci[1]:+.2f}), "
                 f"{len(points)} pairs", fontsize=9)
    fig.tight_layout()
    return fig


def benchmarks_overall_figure(table, title: str = ""):
    """Notebook 03: each method's overall score (percent) on each benchmark. table: rows = methods, columns =
    benchmarks; chance differs per benchmark (RewardBench and RM-Bench 50, best-of-4 25), drawn as short lines."""
    chance = {"RewardBench": 50, "RewardBench 2": 25, "RM-Bench": 50}
    fig, ax = _grouped_bars(table, "overall score (%)",
                            title or "three benchmark styles, one scoring pass each (dashed: chance)", ncol=4)
    for j, name in enumerate(table.columns):
        if name in chance:
            ax.hlines(chance[name], j - 0.45, j + 0.45, color="k", lw=0.8, ls="--")
    fig.tight_layout()
    return fig
