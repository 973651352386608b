"""The profile's tuned policies (notebooks 05-07): trained once through the core's tuning.py and kept in
outputs/<profile>/checkpoints/<method>; reused only when the recipe, policy, seed and training pairs match.

    python -m cdr_utils.studies.checkpoints --profile paper --method simpo     (or under accelerate launch)
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
from pathlib import Path

from ..models import load_model, load_spec
from ..tuning import METHODS, TuningResult, train_dpo, train_reward_augmented_dpo, train_simpo
from .annotate import onpolicy_pairs
from .artifacts import artifacts_dir
from .profiles import get_profile


def recipe_for(profile, method: str):
    """The profile's recipe for a method: "simpo" -> tuning.simpo; "dpo" and "ra_dpo" -> tuning.dpo."""
    if method not in METHODS:
        raise ValueError(f"unknown tuning method {method!r}; expected one of {METHODS}")
    return profile.tuning.simpo if method == "simpo" else profile.tuning.dpo


def checkpoint_dir(profile, method: str) -> Path:
    return artifacts_dir(profile.name) / "checkpoints" / method


def pairs_hash(pairs) -> str:
    """sha256 (16 hex) of the prompt / chosen / rejected columns: a checkpoint is valid for these pairs only."""
    text = json.dumps([list(pairs[c]) for c in ("prompt", "chosen", "rejected")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _expected_meta(profile, method, pairs) -> dict:
    return {"recipe": dataclasses.asdict(recipe_for(profile, method)), "method": method,
            "policy": dataclasses.asdict(profile.generation.policy), "pairs_hash": pairs_hash(pairs),
            "seed": profile.seed}


def load_tuned(profile, method: str, *, retrain: bool = False, pairs=None) -> TuningResult:
    """The profile's tuned policy for a method (simpo | dpo | ra_dpo): loaded from
    outputs/<profile>/checkpoints/<method> (in the profile's dtype, on the default device) when it was trained
    from the same recipe, policy, seed and pairs, else trained now from `pairs` (default: the on-policy
    pairs' train split, annotate.onpolicy_pairs) and saved there."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if pairs is None:
        pairs = onpolicy_pairs(profile)["train"]
    path, expected = checkpoint_dir(profile, method), _expected_meta(profile, method, pairs)
    meta_file = path / "cdr_tuning.json"
    if not retrain and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if all(meta.get(k) == v for k, v in expected.items()):
            model, tok = load_model(str(path), dtype=profile.dtype)
            history = json.loads((path / "log_history.json").read_text())
            return TuningResult(model, tok, history, path, meta["n_rows"])
    model, tok = load_spec(profile.generation.policy, dtype=profile.dtype)
    train = {"simpo": train_simpo, "dpo": train_dpo, "ra_dpo": train_reward_augmented_dpo}[method]
    kwargs = {"levels": profile.annotation.rating_levels} if method == "ra_dpo" else {}
    return train(model, tok, pairs, recipe_for(profile, method), path, seed=profile.seed, extra=expected, **kwargs)


def tuned_policy(profile, method: str, *, retrain: bool = False):
    """(model, tokenizer) of load_tuned(profile, method): what notebook 06 evaluates."""
    result = load_tuned(profile, method, retrain=retrain)
    return result.model, result.tokenizer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train a profile's tuned policy into outputs/<profile>/checkpoints")
    parser.add_argument("--profile", default=os.environ.get("CDR_PROFILE", "cpu"))
    parser.add_argument("--method", choices=METHODS, default="simpo")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    result = load_tuned(args.profile, args.method, retrain=args.retrain)
    print(f"{args.method}: {result.n_rows} rows -> {result.output_dir}")


if __name__ == "__main__":
    main()
