"""Density-ratio rewards from a (strong, weak) pair of scorers (CDR, arXiv 2411.02481, Eq. 1):

    r(x, y) = log p_strong(y | c(x)) - log p_weak(y | c(x))                       reduction="sum"  (the paper's)
    r(x, y) = mean_t log p_strong(y_t | .) - mean_t log p_weak(y_t | .)            reduction="mean"

c(x) is the conversation as each model reads it: x itself, or x customized for its domain (criteria and / or
in-context exemplars, customize.py; the domain from a router or a given column). Each model scores with its
own tokenizer and template, so the two token counts may differ; "mean" divides each model's sum by its own
count. Units: nats (sum) or nats per token (mean).

`score_candidates(reward, rows)` scores one or N candidate responses per prompt of a user's data (a file, a
list of dicts or a datasets.Dataset) and adds each candidate's reward and both models' sums and token counts.

`DensityRatioReward.as_reward_function()` is the same reward as an online reward for TRL's GRPOTrainer /
RLOOTrainer / OnlineDPOTrainer (`f(prompts, completions, **kwargs) -> list[float]`; docs/ONLINE.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from datasets import Dataset

from .chat import (BadRecords, RecordError, as_messages, check_records, prompt_id, prompt_problems, text_problems,
                   texts_problems, validate_prompt)
from .customize import DOMAINS, Customization
from .logprobs import LogProbScorer, ScoreResult
from .models import ModelSpec
from .records import read_records, with_all_columns
from .router import make_router, route_all

REDUCTIONS = ("sum", "mean")
APPLY_TO = ("both", "strong")
NORMALIZE = (None, "group", "group_std")


def density_ratio(strong: ScoreResult, weak: ScoreResult, reduction: str = "sum") -> np.ndarray:
    """(N,) float64 rewards from two ScoreResults over the same N (prompt, response) pairs."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(strong) != len(weak):
        raise ValueError(f"strong and weak results differ in length: {len(strong)} != {len(weak)}")
    if reduction == "sum":
        return strong.sum - weak.sum
    return strong.mean - weak.mean


@dataclass
class RewardResult:
    """reward: (N,) float64; strong / weak: the two models' ScoreResults behind it; domains: the N domains the
    prompts were customized for (None when uncustomized)."""
    reward: np.ndarray
    strong: ScoreResult
    weak: ScoreResult
    reduction: str
    domains: list | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per response: each model's sum (nats) and token count, and both reductions of the ratio."""
        return pd.DataFrame({"logp_strong": self.strong.sum, "logp_weak": self.weak.sum,
                             "n_tokens_strong": self.strong.n_tokens, "n_tokens_weak": self.weak.n_tokens,
                             "r_sum": density_ratio(self.strong, self.weak, "sum"),
                             "r_mean": density_ratio(self.strong, self.weak, "mean")})


class DensityRatioReward:
    """Scores (prompt, response) pairs under both models and returns the density ratio.

    customization: None (plain prompts) or a customize.Customization (criteria, exemplars, mode);
    apply_to: "both" models read the customized prompt (the paper's setting) or only the "strong" one;
    router: what assigns each prompt its domain when `score` is not given `domains`: a router object with
    `route(messages)`, or "keyword" / "llm" (router.make_router; "llm" asks the strong model).
    """

    def __init__(self, strong: LogProbScorer, weak: LogProbScorer, reduction: str = "sum", *,
                 customization: Customization | None = None, apply_to: str = "both", router=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if apply_to not in APPLY_TO:
            raise ValueError(f"apply_to must be one of {APPLY_TO}, got {apply_to!r}")
        self.strong, self.weak, self.reduction = strong, weak, reduction
        self.customization, self.apply_to = customization, apply_to
        if router == "llm":  # the strong model, already loaded, answers the routing prompt
            router = make_router("llm", model=strong.model, tokenizer=strong.tokenizer,
                                 chat_template=strong.encoder.chat_template)
        self.router = make_router(router) if isinstance(router, str) else router

    @classmethod
    def from_pretrained(cls, strong: ModelSpec | str, weak: ModelSpec | str, *, reduction: str = "sum",
                        customization: Customization | None = None, apply_to: str = "both", router=None,
                        dtype=None, device=None, **scorer_options) -> "DensityRatioReward":
        """Load both models (names, local dirs, hub ids or ModelSpecs; models.load_model) as LogProbScorers
        with `scorer_options` (cache_dir, max_batch_tokens, include_end_of_turn, ...)."""
        kw = {"dtype": dtype, "device": device, **scorer_options}
        return cls(LogProbScorer.from_pretrained(strong, **kw), LogProbScorer.from_pretrained(weak, **kw),
                   reduction, customization=customization, apply_to=apply_to, router=router)

    def customized(self, customization: Customization | None, *, apply_to: str = "both", router=None):
        """The same two scorers (nothing reloaded) under another customization / apply_to / router."""
        return DensityRatioReward(self.strong, self.weak, self.reduction, customization=customization,
                                  apply_to=apply_to, router=router if router is not None else self.router)

    def describe(self) -> dict:
        """{"pair": "strong over weak", "customization": mode, exemplars, router, apply_to or "none"}."""
        c = self.customization
        custom = "none" if c is None or c.mode == "vanilla" else (
            f"{c.mode}, {c.exemplars_per_prompt} exemplars, {_router_name(self.router)} router"
            + ("" if self.apply_to == "both" else ", strong model only"))
        return {"pair": f"{self.strong.name} over {self.weak.name}", "customization": custom}

    def route(self, prompts) -> list[str]:
        """The router's domain of each prompt (each distinct prompt asked once)."""
        if self.router is None:
            raise ValueError("this customized reward has no router: pass domains=... (one of "
                             f"{DOMAINS} per prompt) or build the reward with router='keyword' / 'llm' / a router")
        distinct = {prompt_id(p): p for p in prompts}
        routed = dict(zip(distinct, route_all(self.router, list(distinct.values()))))
        return [routed[prompt_id(p)] for p in prompts]

    def score(self, prompts, responses, *, domains=None, return_tokens: bool = False,
              record_ids=None) -> RewardResult:
        """Rewards of N (prompt, response) pairs. prompts: N message lists; responses: N strings; domains: N
        domains for a customized reward (default: the router's). Both models' inputs are encoded, and so
        validated, before any model runs."""
        if self.customization is None:
            inputs, domains = [prompts, prompts], None
        else:
            for i, p in enumerate(prompts):  # a router reads the prompts: check them first
                validate_prompt(p, i if record_ids is None else record_ids[i])
            domains = list(domains) if domains is not None else self.route(prompts)
            if len(domains) != len(prompts):
                raise ValueError(f"{len(domains)} domains for {len(prompts)} prompts")
            inputs = [self.customization.prompts_for(self.strong.encoder, prompts, domains),
                      self.customization.prompts_for(self.weak.encoder, prompts, domains)
                      if self.apply_to == "both" else prompts]
        prepared = [m.encode(p, responses, record_ids) for m, p in zip((self.strong, self.weak), inputs)]
        s = self.strong.score_prepared(prepared[0], return_tokens=return_tokens)
        w = self.weak.score_prepared(prepared[1], return_tokens=return_tokens)
        return RewardResult(density_ratio(s, w, self.reduction), s, w, self.reduction, domains)

    __call__ = score

    def as_reward_function(self, *, reduction: str | None = None, normalize: str | None = None,
                           empty="min", name: str | None = None) -> "OnlineReward":
        """This reward as a TRL reward function `f(prompts, completions, **kwargs) -> list[float]` (OnlineReward);
        freezes both models (eval mode, requires_grad False). reduction: None = this reward's own."""
        return OnlineReward(self, reduction=reduction, normalize=normalize, empty=empty, name=name)


class OnlineReward:
    """A DensityRatioReward as an online reward for TRL (GRPOTrainer, RLOOTrainer, OnlineDPOTrainer):
    `reward_fn(prompts, completions, **kwargs)` returns N Python floats, in nats ("sum") or nats per token
    ("mean"), for N (prompt, completion) pairs.

    Formats: a prompt is a string (one user turn, as chat.as_messages) or a list of {role, content} messages;
    a completion is a string or TRL's conversational [{"role": "assistant", "content": text}]. The policy's
    `completion_ids` are not used: each model re-tokenizes the text with its own tokenizer and template.
    Other kwargs (trainer_state, dataset columns) are ignored, except `log_metric`, which receives the mean
    log p of the scored completions under each model (`<name>/logp_strong`, `<name>/logp_weak`, nats) and the
    fraction of empty completions (`<name>/empty`), so a rising ratio can be told apart from a falling weak model.

    All non-empty completions of a call go to ONE `DensityRatioReward.score` call in their input order; the
    scorer groups equal scoring prompts wherever they sit (prefix sharing), so the G completions of a prompt
    run that prompt once per model when it has at least `min_shared_prefix` tokens.

    empty: value for a completion that is empty or whitespace (the policy stopped at once, or only emitted
        special tokens, which TRL strips). Such a response has no text to score (the scorer refuses it), and
        NaN / None would make TRL drop it from the baseline and give it zero advantage, so the policy would
        never learn to avoid it. "min" (default): the lowest reward among the call's scored completions (an
        empty answer never beats a real one; 0.0 when every completion is empty); or a number.
    normalize: None (default; GRPO and RLOO already centre rewards per group), "group": r - mean of the rewards
        of the completions of the same prompt in this call, or "group_std": that divided by (std + 1e-4), std with
        Bessel's correction and 0 for a group of one, as GRPO's scale_rewards="group" does. A group is every
        completion of one distinct prompt (equal messages) in the call, wherever it sits; the empty value is
        filled in before normalizing. Under multi-process training a group may be split across processes.

    The two models stay frozen where they are: eval mode, requires_grad False, scoring under inference mode
    on their own devices (never moved to the policy's). Do not pass the policy itself as strong or weak.
    """

    def __init__(self, reward: DensityRatioReward, *, reduction: str | None = None, normalize: str | None = None,
                 empty="min", name: str | None = None):
        reduction = reduction or reward.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
        if empty != "min" and not isinstance(empty, (int, float)):
            raise ValueError(f"empty must be 'min' or a number, got {empty!r}")
        self.reward, self.reduction, self.normalize, self.empty = reward, reduction, normalize, empty
        self.__name__ = name or "density_ratio"  # TRL logs rewards/<__name__>/mean
        self._freeze()

    def _freeze(self) -> None:
        for scorer in (self.reward.strong, self.reward.weak):
            scorer.model.eval().requires_grad_(False)

    @torch.inference_mode()
    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        self._freeze()  # cheap; undoes a stray .train() on the models
        messages = [as_messages(p) for p in prompts]
        texts = [_completion_text(c, i) for i, c in enumerate(completions)]
        scored = [i for i, t in enumerate(texts) if t.strip()]
        out = np.zeros(len(texts))
        if scored:
            result = self.reward.score([messages[i] for i in scored], [texts[i] for i in scored])
            out[scored] = density_ratio(result.strong, result.weak, self.reduction)
            if "log_metric" in kwargs:
                kwargs["log_metric"](f"{self.__name__}/logp_strong", float(result.strong.sum.mean()))
                kwargs["log_metric"](f"{self.__name__}/logp_weak", float(result.weak.sum.mean()))
        if "log_metric" in kwargs:
            kwargs["log_metric"](f"{self.__name__}/empty", 1 - len(scored) / max(len(texts), 1))
        empties = np.setdiff1d(np.arange(len(texts)), scored)
        out[empties] = (out[scored].min() if scored else 0.0) if self.empty == "min" else float(self.empty)
        if self.normalize is not None:
            out = _normalize_groups(out, [prompt_id(m) for m in messages], scale=self.normalize == "group_std")
        return [float(v) for v in out]


def _completion_text(completion, i: int) -> str:
    """The response text of a completion: a string, or TRL's conversational [{"role": "assistant", ...}]."""
    if isinstance(completion, str):
        return completion
    if (isinstance(completion, (list, tuple)) and len(completion) == 1 and isinstance(completion[0], dict)
            and completion[0].get("role") == "assistant" and isinstance(completion[0].get("content"), str)):
        return completion[0]["content"]
    raise ValueError(f"completion {i}: expected a string or [{{'role': 'assistant', 'content': str}}], got "
                     f"{completion!r:.200} (multi-message completions, e.g. tool calls, are not supported)")


def _normalize_groups(values: np.ndarray, groups: list[str], *, scale: bool) -> np.ndarray:
    """(N,) values minus the mean of their group; scale: also divided by (group std, ddof=1, + 1e-4)."""
    out = np.empty_like(values)
    keys = np.array(groups)
    for g in dict.fromkeys(groups):
        idx = np.flatnonzero(keys == g)
        v = values[idx]
        out[idx] = v - v.mean()
        if scale:
            out[idx] /= (v.std(ddof=1) if len(v) > 1 else 0.0) + 1e-4
    return out


def _router_name(router) -> str:
    return {"KeywordRouter": "keyword", "LLMRouter": "llm", "OracleRouter": "oracle"}.get(
        type(router).__name__, type(router).__name__) if router is not None else "given-domain"


def _rows(rows) -> list[dict]:
    """The rows as dicts that all carry every column of any row (None where a row lacks one)."""
    if isinstance(rows, Dataset):
        return rows.to_list()
    if isinstance(rows, (list, tuple)):
        bad = [RecordError(i, "(row)", f"expected a record (a dict), got {type(r).__name__}")
               for i, r in enumerate(rows) if not isinstance(r, dict)]
        if bad:
            raise BadRecords(bad)
        return with_all_columns([dict(r) for r in rows])
    if isinstance(rows, pd.DataFrame):
        return with_all_columns(rows.to_dict("records"))
    if not isinstance(rows, (str, os.PathLike)):
        raise ValueError(f"rows: expected a datasets.Dataset, a list of dicts or a .json / .jsonl / .parquet path, "
                         f"got {type(rows).__name__}" + (" (one row? pass [row])" if isinstance(rows, dict) else ""))
    return with_all_columns(read_records(rows))


def score_candidates(reward: DensityRatioReward, rows, *, domain_column: str | None = None):
    """Score each row's candidate response(s) with `reward`. Returns (Dataset, stats).

    rows: an HF Dataset, a list of dicts or a .json / .jsonl / .parquet path; each row has `prompt` (a list of
    {role, content} messages or a string, taken as one user turn) and either `responses` (a list of strings)
    or `response` (one string), optionally `id` (strings or integers, unique, as `cdr reward` requires). Every row
    is checked before any model work: BadRecords (a ValueError) names each bad row (id or position) and field,
    the first 20 with their count. Every input column is kept, rows keep their order and none is dropped. Added
    columns, aligned with `responses` (lists) or scalars for `response` rows: `rewards` / `reward` (nats; NaN
    for an empty response, which is not scored and is counted in stats["empty"]), `logp_strong`,
    `n_tokens_strong`, `logp_weak`, `n_tokens_weak`; plus `pair` and `customization` (what scored them) and,
    for a customized reward, `domain`. `prompt` comes back as messages. domain_column: take each row's domain
    from this column instead of the reward's router. Candidates of one prompt are scored next to each other
    under one scoring prompt, so the scorer's prefix sharing runs that prompt once per model."""
    data = _rows(rows)
    many = next((k for k, r in enumerate(data) if r.get("responses") is not None), None)
    single, field = many is None, "response" if many is None else "responses"

    def answers(row):
        if not single and row.get("responses") is None and row.get("response") is not None:
            return [("responses", f"missing field: rows carry `responses` lists (first: row {many}), this one a "
                                  "single `response`; use one form throughout")]
        return text_problems(row, field, empty_ok=True) if single else texts_problems(row)

    checks = [prompt_problems, answers]
    if domain_column is not None:
        checks.append(lambda r: [] if r.get(domain_column) in DOMAINS else
                      [(domain_column, f"expected one of {DOMAINS}, got {r.get(domain_column)!r}")])
    check_records(data, checks, source="rows")  # every row, all problems at once (ids unique, as `cdr reward`)
    flat, prompts = [], []
    for i, row in enumerate(data):
        prompts.append(as_messages(row["prompt"]))
        texts = [row[field]] if single else row[field]
        flat += [(i, j, t) for j, t in enumerate(texts) if t.strip()]
    if domain_column is not None:
        domains = [r[domain_column] for r in data]
    elif reward.customization is not None:
        domains = reward.route(prompts)
    else:
        domains = None
    result = reward.score([prompts[i] for i, _, _ in flat], [t for _, _, t in flat],
                          domains=None if domains is None else [domains[i] for i, _, _ in flat],
                          record_ids=[f"{i if data[i].get('id') is None else data[i]['id']}/response {j}"
                                      for i, j, _ in flat])
    sizes = [1 if single else len(r["responses"]) for r in data]
    columns = {name: [[np.nan] * n for n in sizes] for name in ("rewards", "logp_strong", "logp_weak")}
    columns.update({name: [[0] * n for n in sizes] for name in ("n_tokens_strong", "n_tokens_weak")})
    values = {"rewards": result.reward, "logp_strong": result.strong.sum, "logp_weak": result.weak.sum,
              "n_tokens_strong": result.strong.n_tokens, "n_tokens_weak": result.weak.n_tokens}
    for k, (i, j, _) in enumerate(flat):
        for name, v in values.items():
            columns[name][i][j] = v[k].item()
    described = reward.describe()
    out = []
    for i, row in enumerate(data):
        added = {("reward" if name == "rewards" else name) if single else name: (col[i][0] if single else col[i])
                 for name, col in columns.items()}
        out.append({**row, "prompt": prompts[i], **added, **described, **({} if domains is None or domain_column else
                                                     {"domain": domains[i]})})
    stats = {"rows": len(data), "responses": sum(sizes), "scored": len(flat), "empty": sum(sizes) - len(flat),
             **described}
    return Dataset.from_list(out), stats

