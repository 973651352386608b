"""Held-out measures for a tuned policy (notebooks 05 and 07).

1. Implicit-reward pair accuracy on held-out pairs: does the policy's own reward rank chosen over rejected?
       SimPO (arXiv 2405.14734, Eq. 4):  r(x, y) = beta / |y| * log pi(y|x)             (length-normalized)
       DPO   (arXiv 2305.18290, Eq. 5):  r(x, y) = beta * [log pi(y|x) - log pi_ref(y|x)]
   log-probs over the scorer's span (response + end-of-turn marker; logprobs.LogProbScorer), nats. A tie is
   wrong (RewardBench's rule), so an untrained DPO policy (pi = pi_ref, every reward 0) scores 0 %.
2. The training reward of fresh samples on held-out prompts. A policy tuned on pairs labelled by a reward
   looks better under that reward whether or not it got better (docs/DESIGN.md, "Judging what was optimized"):
   this is a check that optimization happened, not evidence of quality.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..generate import generate_responses
from ..logprobs import LogProbScorer
from ..rewards import score_candidates
from .annotate import annotation_reward


def _texts(turns_column) -> list[str]:
    return [turns[0]["content"] for turns in turns_column]


def implicit_rewards(pairs, model, tokenizer, *, method: str, beta: float, reference=None,
                     prompt_fn=None) -> pd.DataFrame:
    """One row per pair: r_chosen, r_rejected (the method's implicit reward, see module docstring), margin,
    correct (r_chosen > r_rejected). method: "simpo" or "dpo" (dpo needs reference = (model, tokenizer)).
    prompt_fn: maps each prompt before scoring (e.g. the rating condition reward-augmented DPO was trained on)."""
    prompts = [prompt_fn(p) if prompt_fn else p for p in pairs["prompt"]]
    chosen, rejected = _texts(pairs["chosen"]), _texts(pairs["rejected"])

    def logps(m, tok):
        scorer = LogProbScorer(m, tok)
        return scorer.score(prompts, chosen), scorer.score(prompts, rejected)

    w, l = logps(model, tokenizer)
    if method == "simpo":
        r_w, r_l = beta * w.mean, beta * l.mean
    elif method == "dpo":
        if reference is None:
            raise ValueError("the DPO implicit reward needs reference=(model, tokenizer) of the starting policy")
        w_ref, l_ref = logps(*reference)
        r_w, r_l = beta * (w.sum - w_ref.sum), beta * (l.sum - l_ref.sum)
    else:
        raise ValueError(f"method must be 'simpo' or 'dpo', got {method!r}")
    ids = pairs["prompt_id"] if "prompt_id" in pairs.column_names else list(range(len(pairs)))
    return pd.DataFrame({"prompt_id": ids, "r_chosen": r_w, "r_rejected": r_l, "margin": r_w - r_l,
                         "correct": r_w > r_l})


def training_reward(profile):
    """The reward the pairs were labelled with (annotate.annotation_reward: the best pair, customization), as a
    rewards.DensityRatioReward to pass to score_samples, loaded once for all the policies compared."""
    return annotation_reward(profile, progress=False)


def fresh_samples(profile, model, tokenizer, prompts, *, seed: int = 0, prompt_fn=None,
                  label: str = "") -> pd.DataFrame:
    """profile.tuning.eval_samples fresh samples per prompt (generate.generate_responses with the profile's
    temperature / top-p, at most tuning.eval_max_new_tokens new tokens), from the prompt as steered by
    `prompt_fn` (a rating condition, or None). One row per sample: prompt_index, sample, policy, response,
    n_tokens, finished, reward (NaN until score_samples)."""
    config = dataclasses.replace(profile.generation, max_new_tokens=profile.tuning.eval_max_new_tokens)
    steered = [prompt_fn(p) if prompt_fn else p for p in prompts]
    model.eval()
    samples = generate_responses(model, tokenizer, steered, n=profile.tuning.eval_samples, config=config,
                                 seed=seed, generator_name=label, progress=False)
    return pd.DataFrame([{"prompt_index": i, "sample": j, "policy": label, "response": s["response"],
                          "n_tokens": s["n_tokens"], "finished": s["finished"], "reward": np.nan}
                         for i, per_prompt in enumerate(samples) for j, s in enumerate(per_prompt)])


def score_samples(frame: pd.DataFrame, reward, prompts) -> pd.DataFrame:
    """fresh_samples' rows with `reward` filled in: the training reward (rewards.score_candidates: same pair, same
    customization) of each sample against the *original* prompt (a rating condition steers the policy but is
    not part of the user's request); nats, NaN for an empty response."""
    per_prompt = frame.groupby("prompt_index", sort=True)["response"].apply(list)
    scored, _ = score_candidates(reward, [{"prompt": prompts[i], "responses": r} for i, r in per_prompt.items()])
    by_prompt = dict(zip(per_prompt.index, scored))
    out = frame.copy()
    out["reward"] = [by_prompt[i]["rewards"][j] for i, j in zip(frame["prompt_index"], frame["sample"])]
    return out


def reward_summary(frames) -> pd.DataFrame:
    """Per policy: mean reward of its samples with a standard error, mean length, share finished. Also the
    paired difference to the first frame (same prompts and sample seeds), whose SE removes prompt difficulty."""
    base = frames[0].set_index(["prompt_index", "sample"])["reward"]
    rows = []
    for frame in frames:
        r = frame["reward"].dropna().to_numpy()
        diff = (frame.set_index(["prompt_index", "sample"])["reward"] - base).dropna()
        rows.append({"policy": frame["policy"].iloc[0], "samples": len(r), "mean reward (nats)": r.mean(),
                     "SE": r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else np.nan,
                     "minus first (paired)": diff.mean(),
                     "paired SE": diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan,
                     "mean tokens": frame["n_tokens"].mean(), "finished": frame["finished"].mean(),
                     "empty": int(frame["reward"].isna().sum())})
    return pd.DataFrame(rows).set_index("policy")


def accuracy_table(frames: dict) -> pd.DataFrame:
    """Held-out pair accuracy (%) and mean implicit margin per policy from implicit_rewards frames."""
    return pd.DataFrame({name: {"pairs": len(f), "accuracy (%)": 100 * f["correct"].mean(),
                                "mean margin": f["margin"].mean()} for name, f in frames.items()}).T
