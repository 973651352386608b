"""The first hour on a GPU: one prepared check of the paper-scale paths, in under 8 minutes on one card (issue 24).

    python perf/gpu_check.py --out /tmp/gpu_check.json       # a CUDA machine; random weights, paper architectures
    .venv/bin/python perf/gpu_check.py --device cpu --quick   # tiny configs, seconds (tests/test_gpu_check.py)

Steps, in this order (what matters most first); a step that the time left (--budget-s, default 480) cannot hold
is skipped with a line saying so, and an alarm at the budget stops a step that overruns:
  scorer/mistral-7b  cdr_utils.logprobs.LogProbScorer on random weights in the Mistral-7B architecture, bf16
                     weights, fp32 log-softmax: tokens/s and peak memory at prompt+response 512+256, 1024+512,
                     2048+1024, and best-of-8 after a 600-token prompt (bench_scoring's "shared" workload) with
                     and without prefix sharing
  bf16_vs_fp32       the same random weights (strong = seed 0, weak = seed 1) and rows scored with fp32 weights,
                     then with those weights rounded to bf16: max |difference| of summed log-probs, Spearman of
                     the density ratios strong - weak
  tuning             one SimPO and one DPO optimizer step of a ~1B Llama (Llama-3.2-1B's config): bf16 policy
                     trained on fp32 master weights (cdr_utils.tuning's cast) under bf16 autocast, activation
                     checkpointing, fused AdamW; the losses are tuning.py's formulas computed here, not through
                     TRL's trainers (a trainer's setup, data collation and checkpoint saving would swamp one step)
  scorer/llama3-8b   as scorer/mistral-7b in the Llama-3-8B architecture
  vllm               prompt log-probs through vLLM with dummy weights (load_format="dummy") when vllm imports
  extrapolation      RewardBench (2 models x 2 responses x 2,985 pairs) and notebook 04's annotation scoring at
                     the measured Mistral-7B rates; assumed lengths in the JSON
Every row counts tokens as rows x (prompt + response): a shared prompt counts once per row, so prefix sharing
shows as more tokens/s. The JSON (--out) is rewritten after every step, so a killed run keeps what it measured.

Needs torch, transformers, numpy; scipy, TRL, vllm and the package's data layer (datasets, pandas) are optional.
"""
from __future__ import annotations

import argparse
import copy
import gc
import importlib.metadata
import importlib.util
import json
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path

PROCESS_START = time.perf_counter()  # the budget counts the imports below too (torch, transformers: seconds)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import yaml  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "perf")]
NOTES: list[str] = []  # degraded paths, one line each; printed and kept in the JSON


def _note(line: str) -> None:
    if line not in NOTES:
        NOTES.append(line)


def _import_core() -> None:
    """Import the scorer's modules. The package's __init__ also pulls in its data layer (datasets, pandas), which
    a bare GPU machine may lack; the scorer needs only torch, transformers, tokenizers and tqdm. Then register the
    package without running its __init__ and import the modules alone."""
    try:
        import cdr_utils  # noqa: F401
    except Exception as err:  # ImportError, or a pandas / pyarrow built against another numpy (ValueError)
        for name in [m for m in sys.modules if m == "cdr_utils" or m.startswith("cdr_utils.")]:
            del sys.modules[name]
        pkg = types.ModuleType("cdr_utils")
        pkg.__path__ = [str(ROOT / "cdr_utils")]
        sys.modules["cdr_utils"] = pkg
        from cdr_utils import logprobs, models
        pkg.LogProbScorer, pkg.load_model = logprobs.LogProbScorer, models.load_model  # what bench_scoring imports
        _note(f"cdr_utils' __init__ failed ({err}); imported the scorer modules alone")


_import_core()
import bench_scoring as bench  # noqa: E402  (perf/bench_scoring.py: workloads and Encoded rows)
from cdr_utils.logprobs import LogProbScorer, _body_and_head  # noqa: E402
from cdr_utils.models import PAPER_ARCHITECTURES, paper_architecture_config  # noqa: E402
from cdr_utils.records import write_text  # noqa: E402
from cdr_utils.tiny import tiny_tokenizer  # noqa: E402

# Llama-3.2-1B's public config.json (1.24 B parameters, tied embeddings); its rope scaling is left out: speed does
# not depend on it.
LLAMA_1B = ("llama", dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                          num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                          rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True))
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=1024)  # --quick: every architecture shrunk to this, its other settings kept
LENGTHS = ((512, 256), (1024, 512), (2048, 1024))  # prompt + response tokens per row
UF_PROMPTS = 61135  # UltraFeedback train_prefs (annotation.n_prompts null = all; docs/PAPER.md)
REWARDBENCH_PAIRS = 2985  # allenai/reward-bench, split filtered
# Assumed mean lengths in tokens (docs/PAPER.md, "Other assumptions"): not measured.
ASSUMED = {"rewardbench_prompt": 150, "rewardbench_response": 250, "uf_prompt": 200, "sampled_answer": 450,
           "criteria": 150, "exemplar": 350}
# Rough seconds each step takes on one H100 / H200 (builds included; guesses until a run's step_seconds replace
# them): a step starts only when this much of the budget is left. RESERVE_S: the wrap-up (extrapolation, JSON).
NEED_S = {"scorer/mistral-7b": 60, "bf16_vs_fp32": 90, "tuning": 90, "scorer/llama3-8b": 60, "vllm": 150}
RESERVE_S = 5


# -- arithmetic (pure) ----------------------------------------------------------------------------------------------
def row_tokens(rows: int, prompt: int, response: int) -> int:
    """Tokens of `rows` rows of prompt + response tokens each (a shared prompt counted once per row)."""
    return rows * (prompt + response)


def tokens_per_second(tokens: int, seconds: float) -> float:
    return tokens / seconds


def seconds_for(tokens: int, rate: float) -> float:
    """Seconds to process `tokens` at `rate` tokens/s."""
    return tokens / rate


def gib(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else n_bytes / 2**30


def rewardbench_tokens(pairs: int, prompt: int, response: int, models: int = 2) -> int:
    """Tokens the RewardBench run scores: each of `models` models scores chosen and rejected of every pair."""
    return models * 2 * row_tokens(pairs, prompt, response)


def annotation_tokens(prompts: int, samples: int, prompt: int, response: int, models: int = 2,
                      shared: bool = True) -> int:
    """Tokens notebook 04 scores: `samples` answers per prompt under each of `models` models; with prefix sharing
    the scoring prompt runs once per prompt and model, else once per answer."""
    per_prompt = prompt + samples * response if shared else samples * (prompt + response)
    return models * prompts * per_prompt


def nearest_rate(cases: list[dict], length: int) -> dict | None:
    """The measured case (keys prompt, response, tokens_per_s) whose row length is nearest to `length`."""
    cases = [c for c in cases if c.get("tokens_per_s")]
    return min(cases, key=lambda c: abs(c["prompt"] + c["response"] - length)) if cases else None


def optimizer_step_seconds(micro_s: float, update_s: float, batch: int, per_device: int) -> float:
    """One optimizer step of `batch` pairs on one device: batch / per_device micro-steps, then the update."""
    return batch // per_device * micro_s + update_s


# -- device helpers -------------------------------------------------------------------------------------------------
def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(dev) -> int | None:
    """Start a peak-memory window; returns the bytes allocated now (the weights), None on CPU."""
    if dev.type != "cuda":
        return None
    _sync(dev)
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def _memory(dev, base: int | None) -> dict:
    """peak_gib: torch.cuda.max_memory_allocated since _reset_peak (weights included); on CPU None, and
    process_peak_rss_gib (the whole process's maximum so far, not this measurement's) stands in."""
    rss = gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    if dev.type != "cuda":
        return {"peak_gib": None, "process_peak_rss_gib": rss}
    peak = torch.cuda.max_memory_allocated()
    return {"peak_gib": gib(peak), "peak_above_start_gib": gib(peak - base), "process_peak_rss_gib": rss}


def _free(dev) -> None:
    """Give a dropped model's GPU memory back before the next one loads (gc: modules hold reference cycles;
    skipped on CPU, where it costs ~0.3 s a call and memory is not what is measured)."""
    if dev.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def timed(fn, dev, repeats: int) -> tuple[float, object]:
    """(median seconds of `repeats` calls after one untimed warm-up call, last result). The warm-up takes the CUDA
    context, kernel selection and the allocator's first growth out of the timing."""
    result = fn()
    times = []
    for _ in range(repeats):
        _sync(dev)
        t = time.perf_counter()
        result = fn()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def architecture(name: str, quick: bool):
    """The transformers config: "mistral-7b" / "llama3-8b" (cdr_utils.models.PAPER_ARCHITECTURES) or "llama-1b";
    --quick: the same settings at TINY's sizes."""
    if name != "llama-1b" and not quick:
        return paper_architecture_config("random-" + name)
    kind, kw = LLAMA_1B if name == "llama-1b" else PAPER_ARCHITECTURES["random-" + name]
    return {"mistral": MistralConfig, "llama": LlamaConfig}[kind](**{**kw, **TINY})


def random_model(cfg, tok, dtype, dev, seed: int = 0):
    """Random weights (transformers' init, from `seed`) in `cfg`, created on `dev` in `dtype`, as
    cdr_utils.models.random_paper_model builds them (that one takes only the paper names)."""
    torch.manual_seed(seed)
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(_with_special_tokens(cfg, tok), dtype=dtype)
    return model.eval()


def _with_special_tokens(cfg, tok):
    cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    return cfg


def rows(tok, n: int, prompt: int, response: int, seed: int = 0):
    """n bench_scoring Encoded rows of random token ids, `prompt` + `response` long (the last one EOS). Ids stay
    in the tokenizer's range (vLLM checks them against it); speed does not depend on them."""
    rng = np.random.default_rng(seed)
    ids = lambda k: rng.integers(4, len(tok), k).tolist()  # noqa: E731  (0-3: special tokens)
    return [bench._enc(ids(prompt), ids(response), tok) for _ in range(n)]


def summed(token_lps) -> np.ndarray:
    return np.array([float(np.sum(x, dtype=np.float64)) for x in token_lps])


def rank_agreement(x, y) -> float:
    """Spearman's rho (scipy; without scipy the Pearson correlation of numpy ranks, ties not averaged)."""
    try:
        from scipy.stats import spearmanr
    except ImportError:
        _note("scipy missing: Spearman from numpy ranks (ties not averaged)")
        rx, ry = (np.argsort(np.argsort(v)) for v in (x, y))
        return float(np.corrcoef(rx, ry)[0, 1])
    return float(spearmanr(x, y)[0])


# -- the steps ------------------------------------------------------------------------------------------------------
def step_scorer(ctx, name: str) -> dict:
    """Tokens/s and peak memory of the scorer, bf16 weights, fp32 log-softmax."""
    dev, tok, div = ctx["dev"], ctx["tok"], ctx["div"]
    model = random_model(architecture(name, ctx["quick"]), tok, torch.bfloat16, dev)
    out = {"parameters": sum(p.numel() for p in model.parameters()), "max_batch_tokens": ctx["max_batch_tokens"],
           "cases": []}
    scorers = {share: LogProbScorer(model, tok, share_prefix=share, progress=False, name=name,
                                    max_batch_tokens=ctx["max_batch_tokens"]) for share in (True, False)}
    cases = [(f"{ctx['rows']} x {p // div}+{r // div}", "length", rows(tok, ctx["rows"], p // div, r // div), True)
             for p, r in LENGTHS]
    shared = bench.workload(tok, "shared")  # 8 answers of 90-110 tokens after one 600-token prompt
    cases += [("best-of-8 after 600, prefix sharing", "shared", shared, True),
              ("best-of-8 after 600, no sharing", "independent", shared, False)]
    for label, kind, items, share in cases:
        base = _reset_peak(dev)
        seconds, _ = timed(lambda: scorers[share].score_encoded(items), dev, ctx["repeats"])
        prompt = items[0].start  # equal for every row of a case
        response = int(np.mean([len(e.ids) - e.start for e in items]))
        tokens = sum(len(e.ids) for e in items)
        out["cases"].append({"case": label, "kind": kind, "rows": len(items), "prompt": prompt, "response": response,
                             "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens_per_second(tokens, seconds),
                             **_memory(dev, base)})
        _say(ctx, f"scorer/{name}", label, out["cases"][-1])
    return out


def cast_parameters(model, dtype):
    """cdr_utils.tuning._cast_parameters (parameters to dtype, buffers kept); a copy when tuning.py, which imports
    TRL, cannot be imported."""
    try:
        from cdr_utils.tuning import _cast_parameters
    except Exception as err:  # TRL missing, or one that does not match this transformers
        _note(f"cdr_utils.tuning not importable ({err}): its parameter cast copied here")

        def _cast_parameters(model, dtype):
            for p in model.parameters():
                p.data = p.data.to(dtype)
            return model
    return _cast_parameters(model, dtype)


def step_bf16_vs_fp32(ctx) -> dict:
    """The pair strong (seed 0) and weak (seed 1) in the Mistral-7B architecture scores the same rows with fp32
    weights, then with those weights rounded to bf16; the log-softmax is fp32 in both."""
    dev, tok, div = ctx["dev"], ctx["tok"], ctx["div"]
    n, (p, r) = ctx["compare_rows"], LENGTHS[0]
    items = rows(tok, n, p // div, r // div, seed=1)
    sums, seconds = {}, {}
    for role, seed in (("strong", 0), ("weak", 1)):
        model = random_model(architecture("mistral-7b", ctx["quick"]), tok, torch.float32, dev, seed)
        for dtype in ("float32", "bfloat16"):
            if dtype == "bfloat16":
                cast_parameters(model, torch.bfloat16)
            scorer = LogProbScorer(model, tok, progress=False, name=f"{role}-{dtype}",
                                   max_batch_tokens=ctx["max_batch_tokens"])
            t = time.perf_counter()
            sums[role, dtype] = summed(scorer.score_encoded(items))
            _sync(dev)
            seconds[f"{role}_{dtype}"] = time.perf_counter() - t
        del model, scorer
        _free(dev)
    ratio = {d: sums["strong", d] - sums["weak", d] for d in ("float32", "bfloat16")}
    out = {"model": "mistral-7b", "rows": n, "prompt": p // div, "response": r // div,
           "max_abs_sum_diff_nats": float(max(np.abs(sums[m, "bfloat16"] - sums[m, "float32"]).max()
                                              for m in ("strong", "weak"))),
           "max_abs_ratio_diff_nats": float(np.abs(ratio["bfloat16"] - ratio["float32"]).max()),
           "spearman_ratio": rank_agreement(ratio["float32"], ratio["bfloat16"]),
           "ratio_std_fp32_nats": float(np.std(ratio["float32"])), "seconds": seconds,
           "float32_matmul_precision": torch.get_float32_matmul_precision()}
    _say(ctx, "bf16_vs_fp32", f"{n} x {p // div}+{r // div}", {
        "note": f"max |d sum| {out['max_abs_sum_diff_nats']:.3g} nats, Spearman {out['spearman_ratio']:.4f}"})
    return out


def response_logps(model, ids, start: int):
    """(rows,) log p(ids[:, start:] | ids[:, :start]) with gradients; the LM head and the fp32 log-softmax only over
    the response positions (the scorer's memory rule), over the whole vocabulary."""
    body, head = _body_and_head(model)
    hidden = body(input_ids=ids[:, :-1], use_cache=False)[0][:, start - 1:]
    logp = torch.log_softmax(head(hidden).float(), dim=-1)
    return logp.gather(2, ids[:, start:, None])[..., 0].sum(-1)


def _pref_loss(method, policy, ref, ids, start, recipe):
    """tuning.py's losses on a batch whose first half is chosen and second half rejected (equal lengths)."""
    lp_w, lp_l = response_logps(policy, ids, start).chunk(2)
    if method == "simpo":  # -log sigma(beta/|y_w| log pi(y_w) - beta/|y_l| log pi(y_l) - gamma)
        n = ids.shape[1] - start
        margin = recipe["beta"] * (lp_w - lp_l) / n - recipe["gamma"]
    else:  # -log sigma(beta [log pi/pi_ref (y_w) - log pi/pi_ref (y_l)])
        with torch.no_grad():
            ref_w, ref_l = response_logps(ref, ids, start).chunk(2)
        margin = recipe["beta"] * ((lp_w - ref_w) - (lp_l - ref_l))
    return -torch.nn.functional.logsigmoid(margin).mean()


def step_tuning(ctx) -> dict:
    """One SimPO and one DPO optimizer step of the ~1B model; hyperparameters from configs/profiles/paper.yaml."""
    dev, tok, div = ctx["dev"], ctx["tok"], ctx["div"]
    cfg = architecture("llama-1b", ctx["quick"])
    prompt, response, accum = 512 // div, 512 // div, 2
    out = {"how": "SimPO / DPO losses of cdr_utils.tuning's docstring computed here (not TRL's trainers); bf16 "
                  "policy on fp32 master weights (cdr_utils.tuning's cast), bf16 autocast, activation "
                  "checkpointing, AdamW" + (" (fused)" if dev.type == "cuda" else ""),
           "sequence": f"{prompt}+{response}", "accumulation": accum}
    for method in ("simpo", "dpo"):
        recipe = ctx["paper"]["tuning"][method]
        per_device = recipe["per_device_batch_size"]
        policy = random_model(cfg, tok, torch.bfloat16, dev)
        ref = copy.deepcopy(policy).requires_grad_(False) if method == "dpo" else None  # frozen bf16 reference
        policy = cast_parameters(policy, torch.float32).train()
        (getattr(policy, "activation_checkpointing_enable", None) or policy.gradient_checkpointing_enable)()
        opt = torch.optim.AdamW(policy.parameters(), lr=recipe["learning_rate"], fused=dev.type == "cuda")
        ids = torch.randint(4, len(tok), (2 * per_device, prompt + response), device=dev)

        def micro():
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                loss = _pref_loss(method, policy, ref, ids, prompt, recipe)
            (loss / accum).backward()
            return loss

        def update():
            opt.step()
            opt.zero_grad(set_to_none=True)

        micro(), update()  # warm-up; also allocates AdamW's states, so the peak below holds them
        base = _reset_peak(dev)
        micro_s = []
        for _ in range(accum):
            t = time.perf_counter()
            loss = micro()
            _sync(dev)
            micro_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        update()
        _sync(dev)
        update_s = time.perf_counter() - t
        tokens = accum * row_tokens(2 * per_device, prompt, response)
        step_s = sum(micro_s) + update_s
        out[method] = {"parameters": sum(p.numel() for p in policy.parameters()), "pairs_per_micro_step": per_device,
                       "micro_step_s": statistics.median(micro_s), "update_s": update_s, "step_s": step_s,
                       "tokens": tokens, "tokens_per_s": tokens_per_second(tokens, step_s), "loss": loss.item(),
                       "paper_batch": recipe["batch_size"],
                       "paper_step_s": optimizer_step_seconds(statistics.median(micro_s), update_s,
                                                              recipe["batch_size"], per_device),
                       **_memory(dev, base)}
        _say(ctx, method, f"{accum} x {per_device} pairs x {prompt}+{response}",
             {**out[method], "seconds": step_s,
              "note": f"paper step ({recipe['batch_size']} pairs) ~ {out[method]['paper_step_s']:.1f} s"})
        del policy, ref, opt
        _free(dev)
    return out


def step_vllm(ctx) -> dict:
    """Prompt log-probs of the 512+256 rows through vLLM (as cdr_utils.logprobs.vllm_score asks for them), dummy
    weights in the Mistral-7B architecture (random weights need no files)."""
    if ctx["dev"].type != "cuda":
        return _skip_vllm(ctx, "needs a CUDA device")
    try:
        import vllm
        from vllm.inputs import TokensPrompt
    except Exception as err:  # ImportError, or a vllm built for another torch / CUDA
        return _skip_vllm(ctx, f"import vllm failed: {type(err).__name__}: {err}")
    tok, (p, r) = ctx["tok"], LENGTHS[0]
    items = rows(tok, ctx["rows"], p, r)
    with tempfile.TemporaryDirectory() as folder:
        _with_special_tokens(architecture("mistral-7b", False), tok).save_pretrained(folder)
        tok.save_pretrained(folder)
        llm = vllm.LLM(model=folder, load_format="dummy", dtype="bfloat16", enforce_eager=True, seed=0,
                       max_model_len=4096, gpu_memory_utilization=0.85)
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0)
        prompts = [TokensPrompt(prompt_token_ids=e.ids) for e in items]
        seconds, _ = timed(lambda: llm.generate(prompts, params, use_tqdm=False), ctx["dev"], ctx["repeats"])
    tokens = sum(len(e.ids) for e in items)
    out = {"version": vllm.__version__, "case": f"{len(items)} x {p}+{r}", "prompt": p, "response": r,
           "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens_per_second(tokens, seconds),
           "memory": "vLLM preallocates gpu_memory_utilization=0.85 of the card; no peak measured"}
    _say(ctx, "vllm", out["case"], out)
    return out


def _skip_vllm(ctx, why: str) -> dict:
    _say(ctx, "vllm", "skipped", {"note": why})
    return {"skipped": why}


def step_extrapolation(ctx, results: dict) -> dict:
    """RewardBench and notebook 04's annotation scoring at the measured Mistral-7B (the reward pair's) rates."""
    gen, custom = ctx["paper"]["generation"], ctx["paper"].get("customize", {})
    annotation_prompt = (ASSUMED["uf_prompt"] + ASSUMED["criteria"]
                         + custom.get("exemplars_per_prompt", 2) * ASSUMED["exemplar"])
    answer = min(ASSUMED["sampled_answer"], gen["max_new_tokens"])
    cases = [c for c in results.get("scorer", {}).get("mistral-7b", {}).get("cases", []) if c["kind"] == "length"]
    plans = {
        "rewardbench": dict(tokens=rewardbench_tokens(REWARDBENCH_PAIRS, ASSUMED["rewardbench_prompt"],
                                                      ASSUMED["rewardbench_response"]),
                            row=ASSUMED["rewardbench_prompt"] + ASSUMED["rewardbench_response"],
                            what=f"2 models x 2 responses x {REWARDBENCH_PAIRS} pairs x "
                                 f"({ASSUMED['rewardbench_prompt']}+{ASSUMED['rewardbench_response']})"),
        "annotation": dict(tokens=annotation_tokens(UF_PROMPTS, gen["n"], annotation_prompt, answer),
                           row=annotation_prompt + answer,
                           what=f"2 models x {UF_PROMPTS} prompts x ({annotation_prompt} + {gen['n']} x {answer}), "
                                "prefix shared"),
    }
    out = {"assumed_lengths": {**ASSUMED, "annotation_prompt": annotation_prompt, "annotation_answer": answer,
                               "source": "docs/PAPER.md's assumed means; counts from configs/profiles/paper.yaml"},
           "scope": "scoring only, one GPU; notebook 04's sampling and LLM routing are not measured here"}
    for key, plan in plans.items():
        rate = nearest_rate(cases, plan["row"])
        seconds = seconds_for(plan["tokens"], rate["tokens_per_s"]) if rate else None
        out[key] = {"tokens": plan["tokens"], "workload": plan["what"], "seconds": seconds,
                    "hours": None if seconds is None else seconds / 3600,
                    "rate_case": rate and rate["case"], "tokens_per_s": rate and rate["tokens_per_s"]}
        _say(ctx, f"extrapolated {key}", plan["what"],
             {**out[key], "note": "no measured rate" if rate is None else
              f"{seconds / 3600:.3g} h at the {rate['case']} rate"})
    return out


# -- the run --------------------------------------------------------------------------------------------------------
class BudgetExceeded(Exception):
    pass


def _say(ctx, step: str, case: str, r: dict) -> None:
    """One row of the final table, also printed now on stderr (progress)."""
    fmt = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    peak = fmt(r.get("peak_gib"), ".2f") or fmt(r.get("process_peak_rss_gib"), ".2f") + " RSS" * (
        r.get("process_peak_rss_gib") is not None)
    row = (f"| {step} | {case} | {fmt(r.get('tokens'), ',')} | {fmt(r.get('seconds'), '.3f')} | "
           f"{fmt(r.get('tokens_per_s'), ',.0f')} | {peak} | {r.get('note', '')} |")
    ctx["table"].append(row)
    print("[gpu-check]", row, file=sys.stderr, flush=True)


def environment(dev, quick: bool) -> dict:
    def version(name):  # None where it cannot be imported (find_spec: without importing it)
        try:
            return importlib.util.find_spec(name) and importlib.metadata.version(name)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            return None

    env = {"device": dev.type, "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
           "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
           "dtype": "bf16 weights, fp32 log-softmax (scorer); fp32 master weights + bf16 autocast (tuning)",
           "torch": torch.__version__, "transformers": transformers.__version__,
           **{name: version(name) for name in ("numpy", "scipy", "trl", "datasets", "vllm")},
           "torch_cuda": torch.version.cuda, "card": None, "driver": None}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        env.update(card=props.name, memory_gib=gib(props.total_memory), capability=f"{props.major}.{props.minor}")
        driver_api = getattr(torch._C, "_cuda_getDriverVersion", None)  # private; e.g. 12040 = CUDA 12.4 driver API
        env["cuda_driver_api"] = driver_api() if driver_api else None
        if shutil.which("nvidia-smi"):
            q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True)
            env["driver"] = q.stdout.strip().splitlines()[0] if q.returncode == 0 and q.stdout.strip() else None
        else:
            env["driver"] = "nvidia-smi not found"
    return env


def _on_alarm(signum, frame):
    raise BudgetExceeded


def run_steps(steps, results: dict, budget_s: float, start: float, quick: bool, dev, out: str) -> None:
    """Each step unless the budget left (after RESERVE_S for the wrap-up) is under its NEED_S; a SIGALRM at that
    point stops one that overruns. The JSON is rewritten after every step."""
    def line(text):
        print("[gpu-check]", text, file=sys.stderr, flush=True)
        results["skipped"].append(text)

    left = lambda: budget_s - RESERVE_S - (time.perf_counter() - start)  # noqa: E731
    old = signal.signal(signal.SIGALRM, _on_alarm)
    if left() > 0:
        signal.setitimer(signal.ITIMER_REAL, left())
    try:
        for name, fn in steps:
            need = 0 if quick else NEED_S[name]
            if left() <= 0 or left() < need:
                line(f"skipped {name}: {max(left(), 0):.0f} s of the {budget_s:.0f} s budget left, needs ~{need} s")
                continue
            t = time.perf_counter()
            try:
                r = fn()
                if name.startswith("scorer/"):
                    results["scorer"][name.split("/")[1]] = r
                else:
                    results[name] = r
            except BudgetExceeded:
                line(f"stopped {name}: the {budget_s:.0f} s budget ran out during it")
            except Exception as err:  # one failed measurement must not cost the others their scarce GPU time
                results["errors"][name] = f"{type(err).__name__}: {err}"
                print(f"[gpu-check] {name} failed:", file=sys.stderr)
                traceback.print_exc()
            finally:
                results["step_seconds"][name] = time.perf_counter() - t
                _free(dev)
                write_text(out, json.dumps(results, indent=1, default=str))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def print_report(results: dict, table: list[str], out: str) -> None:
    """The one table, then the skipped / failed steps and the degraded paths, one line each."""
    env = results["environment"]
    print(f"{env['card'] or env['cpu']} (driver {env['driver']}), torch {env['torch']}, transformers "
          f"{env['transformers']}; {results['label']}; {env['dtype']}")
    print("peak GiB: torch.cuda.max_memory_allocated during the measurement, weights included; on CPU 'RSS': the "
          "process's peak resident memory so far (not per measurement)")
    print("\n".join(["| step | case | tokens | seconds | tokens/s | peak GiB | note |", "|---|---|---|---|---|---|---|"]
                    + table))
    for line in results["skipped"] + [f"failed {k}: {v}" for k, v in results["errors"].items()]:
        print(line)
    for line in NOTES:
        print("note:", line)
    print(f"{results['seconds']:.1f} s in all (budget {results['budget_s']:.0f} s); JSON: {out}")


def main(argv=None, start: float | None = None) -> int:
    """The check; `start`: the perf_counter() the budget counts from (default now)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (with --quick: the smoke run)")
    ap.add_argument("--quick", action="store_true", help="tiny configs, short lengths: seconds on CPU")
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop before this many seconds (default 8 min)")
    ap.add_argument("--out", default=str(ROOT / "results" / "gpu_check.json"), help="JSON (results/ is git-ignored)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per case after a warm-up (3; quick 1)")
    args = ap.parse_args(argv)
    start, dev, quick = start or time.perf_counter(), torch.device(args.device), args.quick
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch; `--device cpu --quick` runs the smoke version")
    paper = yaml.safe_load((ROOT / "configs" / "profiles" / "paper.yaml").read_text(encoding="utf-8"))
    ctx = {"dev": dev, "quick": quick, "tok": tiny_tokenizer("llama"), "paper": paper, "table": [],
           "div": 16 if quick else 1, "rows": 2 if quick else 16, "compare_rows": 8 if quick else 32,
           "repeats": args.repeats or (1 if quick else 3),
           "max_batch_tokens": None if quick else paper["max_batch_tokens"]}
    results = {"label": "random weights, paper architecture" + (" (--quick: tiny configs)" if quick else ""),
               "environment": environment(dev, quick), "budget_s": args.budget_s,
               "tokens_counted": "rows x (prompt + response): a shared prompt once per row",
               "memory": "peak_gib = torch.cuda.max_memory_allocated in the measurement, weights included (GPU); "
                         "None on CPU, where process_peak_rss_gib (the process's maximum so far) stands in",
               "scorer": {}, "step_seconds": {}, "skipped": [], "errors": {}, "notes": NOTES}
    steps = [("scorer/mistral-7b", lambda: step_scorer(ctx, "mistral-7b")),
             ("bf16_vs_fp32", lambda: step_bf16_vs_fp32(ctx)), ("tuning", lambda: step_tuning(ctx)),
             ("scorer/llama3-8b", lambda: step_scorer(ctx, "llama3-8b")), ("vllm", lambda: step_vllm(ctx))]
    threads = torch.get_num_threads()
    if quick and dev.type == "cpu":  # a 64-wide model gains nothing from threads, and on a busy CPU loses 10x
        torch.set_num_threads(1)
    try:
        run_steps(steps, results, args.budget_s, start, quick, dev, args.out)
    finally:
        torch.set_num_threads(threads)  # main() may run inside another process (the tests)
    results["extrapolation"] = step_extrapolation(ctx, results)  # arithmetic only: always
    results["seconds"] = time.perf_counter() - start
    write_text(args.out, json.dumps(results, indent=1, default=str))
    print_report(results, ctx["table"], args.out)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(start=PROCESS_START))
