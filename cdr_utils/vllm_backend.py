"""Optional vLLM backend: the same scored span (chat.ChatEncoder), log-probs from vLLM's prompt log-probs.

vLLM computes log p of every prompt token in one prefill with its own batching and prefix caching; we send
the exact token ids of prompt + response (never text, so the boundary is ours) and sum the scored span. Not
installed on the machines this project is tested on; the transformers scorer is the reference.
"""
from __future__ import annotations

import numpy as np

from .chat import ChatEncoder
from .logprobs import ScoreResult


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
