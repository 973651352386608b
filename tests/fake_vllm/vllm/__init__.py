"""A stand-in for vLLM's offline API (`LLM`, `SamplingParams`, `vllm.inputs.TokensPrompt`) with vLLM's documented
output formats, for testing our adapters (cdr_utils.logprobs, generate._generate_vllm) on machines where vLLM
cannot be installed. It tests our side of the interface only, never vLLM itself.

- prompt log-probs (vllm.logprobs.PromptLogprobs): `prompt_logprobs` = [None, {id_1: Logprob}, ...], entry k
  holding log p(token k | tokens < k) of the actual token k; computed here by a full forward with
  full-vocabulary fp32 log-softmax.
- generation: `outputs[0]` with `text`, `token_ids`, `finish_reason` ("stop" | "length"); greedy here, stopping
  at `stop_token_ids`, the stop token kept in `token_ids` and left out of `text` (skip_special_tokens).
Every request is recorded in REQUESTS so tests can check what our code sent.
"""
from dataclasses import dataclass, field

import torch

from cdr_utils import load_model

REQUESTS: list = []


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    stop_token_ids: list = field(default_factory=list)
    prompt_logprobs: int | None = None


@dataclass
class CompletionOutput:
    text: str
    token_ids: list
    finish_reason: str


@dataclass
class RequestOutput:
    prompt_token_ids: list
    prompt_logprobs: list | None
    outputs: list


class LLM:
    def __init__(self, model, dtype="auto", **kw):
        self.model, self.tok = load_model(model)
        self.name, self.dtype = model, dtype

    def get_tokenizer(self):
        return self.tok

    @torch.no_grad()
    def generate(self, prompts, params):
        params = params if isinstance(params, list) else [params] * len(prompts)
        out = []
        for prompt, p in zip(prompts, params):
            assert "prompt_token_ids" in prompt, "send token ids: vLLM would add its own BOS to a text prompt"
            ids = list(prompt["prompt_token_ids"])
            REQUESTS.append({"ids": ids, "params": p})
            prompt_lps = None
            if p.prompt_logprobs is not None:
                lp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), -1)
                prompt_lps = [None] + [{ids[k]: Logprob(lp[k - 1, ids[k]].item(), 1)} for k in range(1, len(ids))]
            new, reason = [], "length"
            while len(new) < (p.max_tokens or 16):
                new.append(int(self.model(torch.tensor([ids + new])).logits[0, -1].argmax()))
                if new[-1] in p.stop_token_ids:
                    reason = "stop"
                    break
            text = self.tok.decode(new, skip_special_tokens=True)
            out.append(RequestOutput(ids, prompt_lps, [CompletionOutput(text, new, reason)]))
        return out
