"""The scorer: exact response log-probabilities log p(y | x) under a causal LM, batched and memory-bounded.

For each (prompt x, response y) the result is the sum, over the scored tokens y_1..y_T (chat.py defines the
span: the response and, by default, the end-of-turn marker), of

    log p(y_t | x, y_<t) = log_softmax(W h_{t-1})[y_t]          (nats; fp32 log-softmax, whatever the weights)

How it stays exact and cheap:
- the transformer body runs once per padded batch; only the hidden states at scored positions go through the
  LM head, in chunks of `head_chunk` rows, so fp32 logits never exist for batch x sequence x vocabulary;
- batches are filled up to a token budget after sorting by length (little padding); padding is on the right
  and masked, so a sequence's numbers do not depend on its batch-mates, its batch size or its order; on CPU
  each sequence runs alone, unpadded (measured faster there);
- responses sharing a long scoring prompt run it once and reuse its KV cache (prefix sharing);
- results come back in input order.
"""
from __future__ import annotations

import copy
import hashlib
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from .cache import ScoreCache, score_with_cache
from .chat import ChatEncoder, Encoded, RecordError
from .models import ModelSpec, load_spec
from .progress import progress


@dataclass
class ScoreResult:
    """Per-response log-probabilities, in input order.

    sum:      (N,) float64, log p(y | x) in nats over the scored span
    n_tokens: (N,) int64, number of scored tokens
    mean:     (N,) float64, sum / n_tokens (nats per token)
    token_logprobs / tokens: optional, N arrays of shape (n_tokens[i],) float32 / lists of decoded token texts
    n_truncated: (N,) int64, prompt tokens dropped from the left (all 0 unless truncation="left")
    meta:     model name, dtype, template hash and scoring options: everything the numbers depend on
    """
    sum: np.ndarray
    n_tokens: np.ndarray
    token_logprobs: list[np.ndarray] | None = None
    tokens: list[list[str]] | None = None
    n_truncated: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_token_logprobs(cls, token_logprobs: list[np.ndarray], meta: dict, *, keep: bool = False,
                            tokens=None, n_truncated=None) -> "ScoreResult":
        """Sums (float64) and counts from N per-token arrays; keep=True also stores the arrays."""
        return cls(sum=np.array([lp.astype(np.float64).sum() for lp in token_logprobs]),
                   n_tokens=np.array([len(lp) for lp in token_logprobs], dtype=np.int64),
                   token_logprobs=token_logprobs if keep else None, tokens=tokens, n_truncated=n_truncated,
                   meta=meta)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n_tokens

    def __len__(self) -> int:
        return len(self.sum)


def _body_and_head(model):
    """The transformer body (returns hidden states) and the LM head of a *ForCausalLM model."""
    body = getattr(model, model.base_model_prefix, None)
    head = model.get_output_embeddings()
    if body is None or head is None or body is model:
        raise TypeError(f"{type(model).__name__} does not split into a body and an LM head")
    return body, head


def _prefix_key(ids: list[int], p: int) -> tuple[int, bytes]:
    """Identity of the first p token ids (a digest: keys for long prompts stay small)."""
    return p, hashlib.sha1(np.asarray(ids[:p], dtype=np.int64).tobytes()).digest()


def _auto_batch_tokens(model) -> int:
    """Token budget per forward pass. CPU: 4096 (batching buys little there). GPU: a quarter of the free
    memory over a generous per-token activation estimate (hidden x layers x 4 bytes x 8), clamped."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        return 4096
    free, _ = torch.cuda.mem_get_info(device)
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    per_token = cfg.hidden_size * cfg.num_hidden_layers * 4 * 8
    return int(min(max(free // 4 // per_token, 1024), 131072))


class LogProbScorer:
    """Scores responses under one causal LM with its own tokenizer and chat template.

    Args:
        include_end_of_turn: score the template's end-of-turn marker after the response (docs/DESIGN.md default).
        chat_template: override the tokenizer's template (required when it has none).
        max_batch_tokens: padded tokens per forward pass (rows x longest row); None sizes it from the
            device (4096 on CPU; from free memory on a GPU, halved on out-of-memory).
        max_batch_size: cap on rows per forward pass; None: 1 on CPU (measured: there an unpadded sequence with
            mask-free causal attention beats a padded batch), unlimited on a GPU. The suffixes of a shared-prefix
            group are batched together up to the token budget unless max_batch_size is given (measured on CPU:
            8 suffixes of ~100 tokens in one forward, 3.1x over independent scoring, vs 2.7x one at a time).
        share_prefix / min_shared_prefix: run a scoring prompt shared by several responses (of at least
            that many tokens) once and reuse its KV cache; the numbers equal independent scoring.
        head_chunk: scored positions projected through the LM head at once (bounds the fp32 logits to
            head_chunk x vocabulary floats).
        max_length: context limit; defaults to the model's max_position_embeddings.
        truncation: "error" (default: never truncate silently) or "left" (drop prompt tokens from the left,
            counted in ScoreResult.n_truncated; the response itself is never cut).
        progress: show a progress bar (None: only for more than 64 examples).
        cache_dir / shard_size: keep results in a content-addressed on-disk cache (cache.py), computed and
            written `shard_size` examples at a time; a re-run (or a killed run) computes only what is missing.
            `last_stats` tells how many examples the last call computed and how many it found cached.
    """

    def __init__(self, model, tokenizer, *, include_end_of_turn: bool = True, chat_template: str | None = None,
                 max_batch_tokens: int | None = None, max_batch_size: int | None = None, head_chunk: int = 256,
                 share_prefix: bool = True, min_shared_prefix: int = 32,
                 max_length: int | None = None, truncation: str = "error", progress: bool | None = None,
                 name: str | None = None, cache_dir=None, shard_size: int = 256):
        if truncation not in ("error", "left"):
            raise ValueError(f"truncation must be 'error' or 'left', got {truncation!r}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.encoder = ChatEncoder(tokenizer, chat_template=chat_template, include_end_of_turn=include_end_of_turn)
        self.body, self.head = _body_and_head(model)
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self.max_batch_tokens = max_batch_tokens or _auto_batch_tokens(model)
        self.max_batch_size = max_batch_size or (1 << 30 if self.device.type == "cuda" else 1)
        self.max_group_size = max_batch_size or 1 << 30  # rows per forward for suffixes after a shared prefix
        self.share_prefix, self.min_shared_prefix = share_prefix, min_shared_prefix
        self.head_chunk, self.truncation, self.progress = head_chunk, truncation, progress
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        self.cache_dir, self.shard_size, self._cache, self.last_stats = cache_dir, shard_size, None, {}
        self.name = name or getattr(model, "name_or_path", None) or model.config._name_or_path
        self.meta = {"model": self.name, "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
                     "template_hash": self.encoder.template_hash, "include_end_of_turn": include_end_of_turn,
                     "truncation": truncation}
        self._check_head()

    @classmethod
    def from_pretrained(cls, model: ModelSpec | str, *, dtype=None, device=None, **options) -> "LogProbScorer":
        """A scorer for a model name (models.load_model) or a ModelSpec (its weights, seed, layers and chat
        template); dtype / device as load_model; options go to the scorer (cache_dir, max_batch_tokens, ...)."""
        spec = ModelSpec(model) if isinstance(model, str) else model
        loaded, tokenizer = load_spec(spec, dtype=dtype, device=device)
        options.setdefault("chat_template", spec.chat_template)
        options.setdefault("name", str(spec))
        return cls(loaded, tokenizer, **options)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _check_head(self) -> None:
        """Our body + head path must reproduce the model's own logits; models that post-process logits in a
        way we do not replicate (beyond final soft-capping) fail here loudly instead of scoring wrongly."""
        vocab = self.head.weight.shape[0]
        ids = (torch.arange(1, 9, device=self.device) * 7919 % vocab)[None]
        with torch.inference_mode():
            ref = self.model(input_ids=ids, use_cache=False).logits[0].float()
            ours = self._logits(self.body(input_ids=ids, use_cache=False)[0][0])
        tol = 1e-3 if self.meta["dtype"] == "float32" else 0.1 * max(1.0, ref.abs().max().item() / 10)
        if not torch.allclose(ours, ref, atol=tol, rtol=0):
            raise NotImplementedError(f"{type(self.model).__name__}: LM-head logits differ from the model's own "
                                      f"(max |diff| {(ours - ref).abs().max().item():.3g}); not supported")

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    # -- encoding -------------------------------------------------------------------------------------------
    def encode(self, prompts, responses, record_ids=None) -> tuple[list[Encoded], np.ndarray]:
        """Validate and tokenize everything before any model work; returns (encoded, n_truncated)."""
        if len(prompts) != len(responses):
            raise ValueError(f"prompts and responses differ in length: {len(prompts)} != {len(responses)}")
        if record_ids is not None and len(record_ids) != len(prompts):
            raise ValueError(f"record_ids has {len(record_ids)} entries for {len(prompts)} prompts")
        encoded, cut = [], np.zeros(len(prompts), dtype=np.int64)
        for i, (p, r) in enumerate(zip(prompts, responses)):
            rec = i if record_ids is None else record_ids[i]
            e = self.encoder.encode(p, r, record=rec)
            excess = e.end - 1 - self.max_length if self.max_length else 0  # the model reads ids[:end-1]
            if excess > 0:
                if self.truncation == "error":
                    raise RecordError(rec, "response", f"prompt + response take {e.end - 1} input tokens, more "
                                      f"than the model's context of {self.max_length}; shorten it or pass "
                                      "truncation='left'")
                if e.start - excess < 1:
                    raise RecordError(rec, "response", f"the response alone ({e.end - e.start} tokens) does not "
                                      f"fit the model's context of {self.max_length}")
                e = Encoded(ids=e.ids[excess:], start=e.start - excess, end=e.end - excess, merged=e.merged)
                cut[i] = excess
            encoded.append(e)
        return encoded, cut

    # -- scoring --------------------------------------------------------------------------------------------
    def score(self, prompts, responses, *, return_tokens: bool = False, record_ids=None) -> ScoreResult:
        """log p(response | prompt) for each pair. prompts: N message lists; responses: N strings."""
        return self.score_prepared(self.encode(prompts, responses, record_ids), return_tokens=return_tokens)

    def score_prepared(self, prepared: tuple[list[Encoded], np.ndarray], *, return_tokens: bool = False) -> ScoreResult:
        """Score the output of `encode` (lets callers validate several scorers before any model work)."""
        encoded, cut = prepared
        if self.cache_dir is None:
            token_lps = self.score_encoded(encoded)
            self.last_stats = {"computed": len(encoded), "cached": 0}
        else:
            self._cache = self._cache or ScoreCache(self.cache_dir, self)
            token_lps, self.last_stats = score_with_cache(self, encoded, self._cache, self.shard_size)
        tokens = ([[self.tokenizer.decode([t]) for t in e.ids[e.start:e.end]] for e in encoded]
                  if return_tokens else None)
        return ScoreResult.from_token_logprobs(token_lps, dict(self.meta), keep=return_tokens, tokens=tokens,
                                               n_truncated=cut)

    def batches(self, widths: list[int], max_rows: int | None = None) -> list[list[int]]:
        """Indices grouped into batches of at most max_batch_tokens padded tokens (rows x widest row) and
        max_rows (default max_batch_size) rows, longest first."""
        max_rows = max_rows or self.max_batch_size
        order = sorted(range(len(widths)), key=lambda i: -widths[i])
        out, cur = [], []
        for i in order:
            if cur and ((len(cur) + 1) * widths[cur[0]] > self.max_batch_tokens or len(cur) == max_rows):
                out.append(cur)
                cur = []
            cur.append(i)
        return out + ([cur] if cur else [])

    def plan(self, encoded: list[Encoded]) -> list[tuple[int, list[int]]]:
        """Work units (shared prefix length, indices). Responses whose inputs agree on a prefix of at least
        min_shared_prefix tokens (N candidates for one prompt) form a group that runs the prefix once; the
        rest are batched by length. Prefix = all input tokens before the one that predicts the first scored
        token, so every scored position lies in the part each row runs itself."""
        groups: dict[tuple, list[int]] = {}
        if self.share_prefix:
            for i, e in enumerate(encoded):
                if e.start - 1 >= self.min_shared_prefix:
                    groups.setdefault(_prefix_key(e.ids, e.start - 1), []).append(i)
        units, alone = [], set(range(len(encoded)))
        for (p, _), idx in groups.items():
            if len(idx) > 1:
                widths = [len(encoded[i].ids) - 1 - p for i in idx]
                units += [(p, [idx[j] for j in b]) for b in self.batches(widths, self.max_group_size)]
                alone -= set(idx)
        alone = sorted(alone)
        units += [(0, [alone[j] for j in b]) for b in self.batches([len(encoded[i].ids) - 1 for i in alone])]
        return units

    def score_encoded(self, encoded: list[Encoded]) -> list[np.ndarray]:
        """Per-token log-probs (float32 arrays) of each encoded example's scored span, in input order.
        On a GPU out-of-memory error the batch is split in two and the token budget halved for the rest."""
        results: list[np.ndarray | None] = [None] * len(encoded)
        show = self.progress if self.progress is not None else len(encoded) > 64
        bar = progress(total=len(encoded), desc=f"scoring {self.name}", unit="resp", disable=not show)
        queue, prefix_cache = deque(self.plan(encoded)), {}
        while queue:
            p, batch = queue.popleft()
            try:
                lps = self._forward([encoded[i] for i in batch], p, prefix_cache)
            except torch.OutOfMemoryError:
                if len(batch) == 1:
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                self.max_batch_tokens = max(1, self.max_batch_tokens // 2)
                half = len(batch) // 2
                queue.extendleft([(p, batch[half:]), (p, batch[:half])])
                continue
            for i, lp in zip(batch, lps):
                results[i] = lp
            bar.update(len(batch))
        bar.close()
        return results

    @torch.inference_mode()
    def _forward(self, items: list[Encoded], p: int = 0, prefix_cache: dict | None = None) -> list[np.ndarray]:
        """One padded forward pass of the body over ids[p:end-1] of each item (after the shared prefix
        ids[:p], run once and kept in `prefix_cache`); the LM head only at scored positions, in chunks."""
        dev, n_rows = self.device, len(items)
        width = max(len(e.ids) for e in items) - 1 - p  # the last scored token is never an input
        ids = torch.zeros(n_rows, width, dtype=torch.long)
        mask = torch.zeros(n_rows, p + width, dtype=torch.long)
        rows, cols, targets = [], [], []
        for r, e in enumerate(items):
            n = len(e.ids) - 1 - p
            ids[r, :n] = torch.tensor(e.ids[p:-1])
            mask[r, :p + n] = 1
            rows += [r] * (e.end - e.start)
            cols += range(e.start - 1 - p, e.end - 1 - p)  # position k-1 predicts token k
            targets += e.ids[e.start:e.end]
        kwargs = {"use_cache": False}
        if p:
            key = _prefix_key(items[0].ids, p)
            if key not in prefix_cache:  # one entry: units of a group are consecutive in the plan
                prefix_cache.clear()
                prefix = torch.tensor([items[0].ids[:p]], device=dev)
                prefix_cache[key] = self.body(input_ids=prefix, use_cache=True).past_key_values
            cache = copy.deepcopy(prefix_cache[key])
            cache.batch_repeat_interleave(n_rows)
            kwargs = {"use_cache": True, "past_key_values": cache}
        if bool(mask.all()):  # no padding: let the model use its plain causal path (faster on CPU)
            mask = None
        hidden = self.body(input_ids=ids.to(dev), attention_mask=None if mask is None else mask.to(dev), **kwargs)[0]
        picked = hidden[torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)]
        targets = torch.tensor(targets, device=dev)
        out = torch.empty(len(targets), dtype=torch.float32, device=dev)
        for s in range(0, len(targets), self.head_chunk):
            logits = self._logits(picked[s:s + self.head_chunk])
            lse = torch.logsumexp(logits, dim=-1)
            out[s:s + self.head_chunk] = logits.gather(1, targets[s:s + self.head_chunk, None])[:, 0] - lse
        flat = out.cpu().numpy()
        sizes = np.cumsum([e.end - e.start for e in items])[:-1]
        return np.split(flat, sizes)


# -- optional vLLM backend ----------------------------------------------------------------------------------------
# The same scored span (chat.ChatEncoder), log-probs from vLLM's prompt log-probs: vLLM computes log p of every
# prompt token in one prefill with its own batching and prefix caching; we send the exact token ids of prompt +
# response (never text, so the boundary is ours) and take the scored span. Not installed on the machines this
# project is tested on (tests/fake_vllm stands in); the transformers scorer above is the reference.
def vllm_score(model_name: str, prompts, responses, *, include_end_of_turn: bool = True, dtype: str = "bfloat16",
               chat_template: str | None = None):
    """ScoreResult for (prompts, responses) under `model_name`, scored through vLLM."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError as err:
        raise ImportError("the vLLM backend needs the `vllm` package, which is not installed; "
                          "`pip install vllm` on a GPU machine, or use the default backend (--backend hf)") from err
    llm = LLM(model=model_name, dtype=dtype)
    encoder = ChatEncoder(llm.get_tokenizer(), chat_template=chat_template, include_end_of_turn=include_end_of_turn)
    encoded = [encoder.encode(p, r, record=i) for i, (p, r) in enumerate(zip(prompts, responses))]
    params = SamplingParams(max_tokens=1, prompt_logprobs=0)  # logprob of each actual prompt token
    outputs = llm.generate([TokensPrompt(prompt_token_ids=e.ids) for e in encoded], params)
    token_lps = [np.array([out.prompt_logprobs[k][e.ids[k]].logprob for k in range(e.start, e.end)],
                          dtype=np.float32) for e, out in zip(encoded, outputs)]
    return ScoreResult.from_token_logprobs(token_lps, {"model": model_name, "backend": "vllm", "dtype": dtype,
                                                       "template_hash": encoder.template_hash,
                                                       "include_end_of_turn": include_end_of_turn})
