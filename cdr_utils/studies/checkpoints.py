"""The profile's tuned policies (notebooks 05-07): trained through the core's tuning.py into the artifact
"checkpoints" (outputs/<profile>/checkpoints/<key>), keyed by the method, its recipe, the policy, the seed and
the training pairs; a matching checkpoint is reused (and the notebook says so), training happens only when none
matches or when asked (retrain=True).

    python -m cdr_utils.studies.checkpoints --profile paper --method simpo [--set key=value ...]
    accelerate launch --config_file configs/accelerate_zero3.yaml -m cdr_utils.studies.checkpoints ...
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os

from ..models import load_model
from ..tuning import METHODS, TRAINING_VERSION, TuningResult, train_dpo, train_reward_augmented_dpo, train_simpo
from .annotate import onpolicy_pairs
from .artifacts import artifact
from .profiles import get_profile, load_policy


def recipe_for(profile, method: str):
    """The profile's recipe for a method: "simpo" -> tuning.simpo; "dpo" and "ra_dpo" -> tuning.dpo."""
    if method not in METHODS:
        raise ValueError(f"unknown tuning method {method!r}; expected one of {METHODS}")
    return profile.tuning.simpo if method == "simpo" else profile.tuning.dpo


def pairs_hash(pairs) -> str:
    """sha256 (16 hex) of the prompt / chosen / rejected columns: a checkpoint is valid for these pairs only."""
    text = json.dumps([list(pairs[c]) for c in ("prompt", "chosen", "rejected")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_settings(profile, method: str, pairs) -> dict:
    """What a checkpoint depends on: the method and its recipe, the starting policy, the seed, the pairs, and the
    training procedure's version (tuning.TRAINING_VERSION)."""
    return {"method": method, "recipe": dataclasses.asdict(recipe_for(profile, method)),
            "policy": dataclasses.asdict(profile.generation.policy), "pairs_hash": pairs_hash(pairs),
            "seed": profile.seed, "dtype": profile.dtype, "training": TRAINING_VERSION}


def load_tuned(profile, method: str, *, retrain: bool = False, pairs=None) -> TuningResult:
    """The profile's tuned policy for a method (simpo | dpo | ra_dpo): a matching checkpoint loaded in the
    profile's dtype on the default device (a GPU when there is one), else trained now from `pairs` (default:
    the on-policy pairs' train split, annotate.onpolicy_pairs) and kept."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if pairs is None:
        pairs = onpolicy_pairs(profile)["train"]
    settings, trained = checkpoint_settings(profile, method, pairs), []

    def build(folder):
        model, tok = load_policy(profile)
        train = {"simpo": train_simpo, "dpo": train_dpo, "ra_dpo": train_reward_augmented_dpo}[method]
        kwargs = {"levels": profile.annotation.rating_levels} if method == "ra_dpo" else {}
        trained.append(train(model, tok, pairs, recipe_for(profile, method), folder, seed=profile.seed,
                             extra=settings, **kwargs))

    path = artifact(profile, "checkpoints", settings, build, rebuild=retrain)
    if trained:
        return dataclasses.replace(trained[0], output_dir=path)
    model, tok = load_model(str(path), dtype=profile.dtype)
    meta = json.loads((path / "cdr_tuning.json").read_text(encoding="utf-8"))
    history = json.loads((path / "log_history.json").read_text(encoding="utf-8"))
    return TuningResult(model, tok, history, path, meta["n_rows"], meta.get("changed"))


def tuned_policy(profile, method: str, *, retrain: bool = False):
    """(model, tokenizer) of load_tuned(profile, method): what notebook 06 evaluates."""
    result = load_tuned(profile, method, retrain=retrain)
    return result.model, result.tokenizer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train a profile's tuned policy into outputs/<profile>/checkpoints")
    parser.add_argument("--profile", default=os.environ.get("CDR_PROFILE", "cpu"),
                        help="a recipe name (configs/profiles) or a .yaml path")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], help="dotted-key overrides: key=value")
    parser.add_argument("--method", choices=METHODS, default="simpo")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    result = load_tuned(get_profile(args.profile, args.overrides), args.method, retrain=args.retrain)
    print(f"{args.method}: {result.n_rows} rows -> {result.output_dir}")


if __name__ == "__main__":
    main()
