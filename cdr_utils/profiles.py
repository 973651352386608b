"""The three profiles: which models, data sizes and settings a run uses. The only place that names them.

- smoke: tiny random models built in code; seconds per notebook (tests, nbval, CI).
- cpu:   real small models from PyPI packages, offline (`make demo`). Set CDR_GEMMA=0 to decline the Gemma
         Terms of Use: the pool then holds SmolLM2 variants only.
- paper: the papers' models from the hub, on a GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROFILES = ("smoke", "cpu", "paper")
# Artifacts one notebook hands to a later one (best pair, pairs datasets, checkpoints): git-ignored.
OUTPUTS = Path(os.environ.get("CDR_OUTPUTS_DIR", Path(__file__).resolve().parents[1] / "outputs"))


def artifacts_dir(profile: str) -> Path:
    """outputs/<profile>/ (created): where notebooks leave artifacts for later notebooks."""
    path = OUTPUTS / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ModelSpec:
    """A model as scored: weights (`name`, see models.load_model), seed (tiny models only) and the chat
    template to score with ("own": the tokenizer's; "plain": chat.PLAIN_CHAT_TEMPLATE)."""
    name: str
    seed: int = 0
    template: str = "own"
    label: str = ""

    def __str__(self) -> str:
        return self.label or (self.name if self.template == "own" else f"{self.name} ({self.template} template)")


@dataclass(frozen=True)
class Profile:
    name: str
    strong: ModelSpec
    weak: ModelSpec
    dtype: str | None = None        # None: float32 on CPU, bfloat16 on GPU
    max_batch_tokens: int = 4096    # padded tokens per forward pass
    seed: int = 0
    primer_examples: int = 4        # notebook 00: how many (prompt, good, bad) examples to draw
    licences: dict = field(default_factory=dict)
    # notebook 03 (rewardbench.load_profile_bench): "minibench", a hub data set id or a local .json/.jsonl/.parquet
    bench: str = "minibench"
    bench_per_section: int | None = None  # stratified rows per section; None: all
    bench_max_chars: int | None = None    # skip rows longer than this (prompt + longer response, characters)


def _gemma_accepted() -> bool:
    return os.environ.get("CDR_GEMMA", "1") not in ("0", "no", "false")


def get_profile(name: str | None = None) -> Profile:
    """The named profile (default: $CDR_PROFILE, else "cpu")."""
    name = name or os.environ.get("CDR_PROFILE", "cpu")
    if name == "smoke":
        return Profile("smoke", strong=ModelSpec("tiny-random-llama", seed=0, label="tiny-llama (seed 0)"),
                       weak=ModelSpec("tiny-random-llama", seed=1, label="tiny-llama (seed 1)"),
                       max_batch_tokens=1024, primer_examples=2,
                       bench_per_section=2, bench_max_chars=500)  # tiny models: 512 positions
    if name == "cpu":
        smollm2 = ModelSpec("smollm2-135m-instruct", label="SmolLM2-135M-Instruct")
        weak = (ModelSpec("gemma3-270m", label="Gemma-3-270M (base)") if _gemma_accepted() else
                ModelSpec("smollm2-135m-instruct", template="plain", label="SmolLM2-135M-Instruct, plain template"))
        return Profile("cpu", strong=smollm2, weak=weak, max_batch_tokens=4096, primer_examples=4,
                       bench_per_section=40,  # 160 of the mini-bench's 470 pairs: ~8 min on 2 cores
                       licences={"SmolLM2-135M-Instruct": "Apache-2.0", "Gemma-3-270M": "Gemma Terms of Use"})
    if name == "paper":
        return Profile("paper", strong=ModelSpec("NousResearch/Nous-Hermes-2-Mistral-7B-DPO"),
                       weak=ModelSpec("teknium/OpenHermes-2.5-Mistral-7B"), dtype="bfloat16",
                       max_batch_tokens=16384, primer_examples=4, bench="allenai/reward-bench")
    raise ValueError(f"unknown profile {name!r}; expected one of {PROFILES}")
