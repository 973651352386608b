"""Sampling N responses per prompt from a causal LM (on-policy candidates; SimPO's pipeline, arXiv 2405.14734).

SimPO samples each prompt several times, one run per seed (13, 21, 42, 79, 100) at temperature 0.8, top-p 0.95,
and drops prompts whose samples are all identical. Here sample j of every prompt is drawn under seed `seeds[j]`.

Reproducibility that does not depend on batching: HF's sampler draws one multinomial over the whole batch
from the global RNG, so a row's sample changes with its batch-mates. We sample with the Gumbel-max trick
instead: after temperature and top-p, each row adds Gumbel noise drawn from *its own* torch.Generator, seeded
from (sample seed, rendered prompt), and decoding takes the argmax. argmax(log p + Gumbel) is an exact sample
from p, and a row's noise never depends on which other rows share its batch. (A padded batch changes the
logits by fp32 round-off only, which flips an argmax with negligible probability.)

Backends: transformers (the reference, tested); vLLM when `model` is a name/path and `vllm` is importable
(per-request seeds, so also batch-invariant; not installed on the machines this project is tested on).
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass

import torch
from transformers import GenerationConfig as HFGenerationConfig
from transformers import LogitsProcessorList

from .chat import end_of_turn_tail, render, validate_prompt
from .models import ModelSpec, load_model
from .progress import progress as progress_bar

BACKENDS = ("hf", "vllm", "auto")


@dataclass(frozen=True)
class GenerationConfig:
    """On-policy sampling (SimPO's pipeline): the policy, N samples per prompt, one seed per sample (`seeds`,
    or seed, seed+1, ... when empty), temperature / top-p / new-token cap, rows per batch (the samples do not
    depend on it; on CPU a decoding step is bound by reading the weights, so 32 rows cost little more than 8:
    perf/bench_generation.py, 32 SmolLM2-135M samples, 36 s at 32 rows vs 63 s at 8), and the backend:
    "hf" (transformers: the reference, batch-invariant seeded samples), "vllm" (same prompts, seeds and stop
    tokens, vLLM's own sampler, so other texts) or "auto" (vLLM where it is installed, else transformers)."""
    policy: ModelSpec = ModelSpec("tiny-random-llama")
    n: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 128
    batch_size: int = 32
    seeds: tuple = ()
    backend: str = "hf"


def sample_seeds(config, n: int, seed: int = 0) -> list[int]:
    """The n per-sample seeds: the profile's fixed list (SimPO's 13, 21, 42, 79, 100) or seed, seed+1, ..."""
    fixed = getattr(config, "seeds", None)
    if fixed:
        if len(fixed) < n:
            raise ValueError(f"the generation config lists {len(fixed)} seeds, but n = {n} samples were asked for")
        return list(fixed[:n])
    return [seed + j for j in range(n)]


def row_seed(sample_seed: int, prompt_text: str) -> int:
    """Seed of one (prompt, sample) noise stream: a hash of both, so prompts under one seed differ."""
    digest = hashlib.sha256(f"{sample_seed}\x00{prompt_text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class GumbelSampler:
    """A logits processor that turns greedy decoding into seeded per-row sampling: scores / temperature,
    top-p (nucleus) filtering, then + Gumbel(0, 1) noise from row i's own generator. scores: (B, V) fp32."""

    def __init__(self, row_seeds: list[int], temperature: float, top_p: float, device):
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in row_seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids, scores):
        scores = scores.float() / self.temperature
        if self.top_p < 1.0:  # keep the smallest set of top tokens whose probability reaches top_p
            sorted_scores, order = scores.sort(dim=-1, descending=True)
            probs = sorted_scores.softmax(-1)
            sorted_drop = probs.cumsum(-1) - probs >= self.top_p  # mass of the better tokens already enough
            drop = torch.zeros_like(sorted_drop).scatter(-1, order, sorted_drop)
            scores = scores.masked_fill(drop, float("-inf"))
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g, device=scores.device)
                               for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
        return scores + gumbel


def stop_token_ids(model, tokenizer, chat_template: str | None = None) -> list[int]:
    """Token ids that end a turn: the model's and tokenizer's EOS plus the template's end-of-turn marker when it
    is a single token (e.g. <|im_end|>, <|eot_id|>, <end_of_turn>)."""
    ids = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    ids.add(tokenizer.eos_token_id)
    marker, _ = end_of_turn_tail(tokenizer, chat_template)
    marker_ids = tokenizer(marker, add_special_tokens=False)["input_ids"] if marker else []
    if len(marker_ids) == 1:
        ids.add(marker_ids[0])
    return sorted(i for i in ids if i is not None)


def generate_responses(model, tokenizer, prompts, *, n: int | None = None, config=None, seed: int = 0,
                       batch_size: int | None = None, chat_template: str | None = None, progress: bool = True,
                       generator_name: str | None = None) -> list[list[dict]]:
    """n sampled responses for each prompt (a list of {role, content} messages, no assistant turn).

    config: a GenerationConfig (temperature, top_p, max_new_tokens, n, batch_size, seeds); n and
    batch_size override it. temperature 0 means greedy. Returns, per prompt, n dicts
    {"response", "seed", "generator", "temperature", "top_p", "max_new_tokens", "n_tokens", "finished"}:
    n_tokens = generated tokens (stop token included), finished = a stop token ended it (else truncated).
    The output depends only on (model, prompt, seed, settings), not on batch size or order.
    model: a loaded *ForCausalLM, or a name/path (sampled through vLLM when config.backend resolves to "vllm",
    else loaded with models.load_model).
    """
    n = n or config.n
    batch_size = batch_size or getattr(config, "batch_size", 8)
    temperature, top_p = float(config.temperature), float(config.top_p)
    for i, p in enumerate(prompts):
        validate_prompt(p, i)
    seeds = sample_seeds(config, n, seed)
    if isinstance(model, str):
        if generation_backend(getattr(config, "backend", "hf")) == "vllm":
            return _generate_vllm(model, prompts, seeds, config, chat_template)
        generator_name = generator_name or model
        model, tokenizer = load_model(model)
    name = generator_name or str(getattr(model, "name_or_path", "") or type(model).__name__)
    texts = [render(tokenizer, p, add_generation_prompt=True, chat_template=chat_template) for p in prompts]
    rows = [(i, j) for i in range(len(prompts)) for j in range(n)]
    rows.sort(key=lambda r: len(texts[r[0]]))  # similar lengths share a batch: less padding
    out: list[list[dict | None]] = [[None] * n for _ in prompts]
    stops = stop_token_ids(model, tokenizer, chat_template)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    for start in progress_bar(range(0, len(rows), batch_size), desc=f"sampling {name}", unit="batch",
                              disable=not progress):
        batch = rows[start:start + batch_size]
        new = _generate_batch(model, tokenizer, [texts[i] for i, _ in batch],
                              [row_seed(seeds[j], texts[i]) for i, j in batch], config, stops, pad)
        for (i, j), ids in zip(batch, new):
            finished = bool(ids) and ids[-1] in stops
            out[i][j] = {"response": tokenizer.decode(ids, skip_special_tokens=True).strip(), "seed": seeds[j],
                         "generator": name, "temperature": temperature, "top_p": top_p,
                         "max_new_tokens": int(config.max_new_tokens), "n_tokens": len(ids), "finished": finished}
    return out


@torch.inference_mode()
def _generate_batch(model, tokenizer, texts, row_seeds, config, stops, pad) -> list[list[int]]:
    """Left-padded batch generation; returns each row's new token ids, cut after its first stop token."""
    device = next(model.parameters()).device
    # left padding by hand (decoder-only: new tokens follow the prompt), with `pad`: Llama-3's tokenizer has no
    # pad token, so tokenizer(..., padding=True) refuses it; the template has BOS, so no special tokens are added
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    width = max(map(len, ids))
    enc = {"input_ids": torch.tensor([[pad] * (width - len(r)) + r for r in ids]),
           "attention_mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids])}
    gen_config = HFGenerationConfig(do_sample=False, num_beams=1, max_new_tokens=int(config.max_new_tokens),
                                  eos_token_id=stops, pad_token_id=pad)
    processors = LogitsProcessorList()
    if config.temperature > 0:
        processors.append(GumbelSampler(row_seeds, float(config.temperature), float(config.top_p), device))
    seqs = model.generate(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                          generation_config=gen_config, logits_processor=processors)
    out = []
    for row in seqs[:, enc["input_ids"].shape[1]:].tolist():
        cut = next((k + 1 for k, t in enumerate(row) if t in stops), len(row))
        out.append(row[:cut])
    return out


def generation_backend(backend: str) -> str:
    """"hf" or "vllm" for a GenerationConfig.backend ("hf" | "vllm" | "auto": vLLM where it is installed)."""
    if backend not in BACKENDS:
        raise ValueError(f"generation backend must be 'hf', 'vllm' or 'auto', got {backend!r}")
    installed = importlib.util.find_spec("vllm") is not None
    if backend == "vllm" and not installed:
        raise ImportError("generation backend 'vllm' needs the `vllm` package, which is not installed; "
                          "`pip install vllm` on a GPU machine, or use backend='hf'")
    return "vllm" if backend == "vllm" or (backend == "auto" and installed) else "hf"


def _generate_vllm(model_name: str, prompts, seeds, config, chat_template) -> list[list[dict]]:
    """The same requests through vLLM: one per (prompt, seed), each with its own seed. vLLM's sampler differs
    from ours, so the texts differ from the transformers path's; the prompts and stop tokens are the same.
    Tested against a stand-in with vLLM's interface (tests/fake_vllm), not against vLLM itself."""
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    llm = LLM(model=model_name)
    tok = llm.get_tokenizer()
    texts = [render(tok, p, add_generation_prompt=True, chat_template=chat_template) for p in prompts]
    # Token ids, not text: vLLM would add a BOS of its own to a text prompt whose template already wrote one.
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    stops = stop_token_ids(None, tok, chat_template)  # the template's end-of-turn marker may not be the EOS
    reqs = [(i, j) for i in range(len(prompts)) for j in range(len(seeds))]
    params = [SamplingParams(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens,
                             stop_token_ids=stops, seed=row_seed(seeds[j], texts[i]) % (1 << 31)) for i, j in reqs]
    results = llm.generate([TokensPrompt(prompt_token_ids=ids[i]) for i, _ in reqs], params)
    out = [[None] * len(seeds) for _ in prompts]
    for (i, j), res in zip(reqs, results):
        c = res.outputs[0]
        out[i][j] = {"response": c.text.strip(), "seed": seeds[j], "generator": f"{model_name} (vllm)",
                     "temperature": float(config.temperature), "top_p": float(config.top_p),
                     "max_new_tokens": int(config.max_new_tokens), "n_tokens": len(c.token_ids),
                     "finished": c.finish_reason == "stop"}
    return out


def drop_identical(prompts, candidates) -> tuple[list, list, int]:
    """Drop prompts whose samples are all the same text (SimPO's filter; nothing to prefer among them).
    Returns (kept prompts, kept candidate lists, number dropped)."""
    keep = [k for k, cands in enumerate(candidates) if len({c["response"] for c in cands}) > 1]
    return [prompts[k] for k in keep], [candidates[k] for k in keep], len(prompts) - len(keep)
