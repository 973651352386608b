"""The figures, in one place. Each function returns a matplotlib Figure; `save_figure` writes it where the
profile's figures live (figures/ for the cpu run that the README shows, figures/<profile>/ otherwise)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

FIGURES = Path(__file__).resolve().parents[1] / "figures"
STRONG, WEAK = "tab:blue", "tab:orange"


def figure_dir(profile: str) -> Path:
    path = FIGURES if profile == "cpu" else FIGURES / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str, profile: str) -> Path:
    path = figure_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


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
    axes[0].set_title("sum: grows with length (sign of the per-token ratio)")
    axes[0].set_ylabel("r (nats)")
    axes[1].plot(table["n_tokens_strong"], table["r_mean"], "o-", color="tab:purple")
    axes[1].set_title("mean: length-normalized")
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
    fig, ax = plt.subplots(figsize=(11, 3.8))
    x, width = np.arange(len(cols)), 0.8 / len(table)
    colors = plt.get_cmap("tab10").colors
    for k, (method, row) in enumerate(table[cols].iterrows()):
        ax.bar(x - 0.4 + (k + 0.5) * width, row.values, width, label=method, color=colors[k % len(colors)])
    ax.axhline(50, color="k", lw=0.6, ls="--")  # a coin flip; a rule that ties (ties count as wrong) can go below
    ax.set_xticks(x, cols)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "RewardBench-style sections (dashed: chance)", fontsize=10)
    ax.legend(fontsize=8, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.1))
    fig.tight_layout()
    return fig
