"""The independent naive reference that every scorer path is checked against."""
import copy
from pathlib import Path

import torch

# Parity is checked in float64: the scorer and the reference run the same float64 weights, so what differs
# is only the scorer's own fp32 log-softmax of (exact) logits. fp32 carries 2^-24 = 6e-8 relative error per
# rounding; log-softmax = logit - logsumexp over logits of magnitude <= ~40 here takes a few roundings, so
# each token's log-prob is within ~4 * 40 * 6e-8 = 1e-5 nats of the float64 value, on any CPU and kernel set.
# (Comparing fp32 against fp32 instead tests the machine: a batched and a one-example fp32 forward of
# Gemma-3-270M differ by 1.4e-4 nats on one AMD EPYC and by less elsewhere.)
FP32_SOFTMAX_ATOL = 1e-5


def float64_copy(model):
    """A float64 copy of `model` for parity tests (the fixture's fp32 model is left as it is)."""
    return copy.deepcopy(model).double().eval()

# The end-of-turn marker each test template writes after an assistant turn (known by hand, not computed
# by the library): ChatML, the plain template (tiny GPT-2: "<|endoftext|>"), Gemma 3.
MARKERS = {"tiny-random-llama": "<|im_end|>", "tiny-random-gpt2": "<|endoftext|>",
           "smollm2-135m-instruct": "<|im_end|>", "gemma3-270m": "<end_of_turn>"}


def naive_logprob(model, tok, prompt, response, marker, include_end_of_turn=True, chat_template=None, forwards=None):
    """One example, one full forward, full-vocabulary log-softmax; the span found by re-tokenizing:
    start = length of the common token prefix of tok(prompt rendering) and tok(whole rendering),
    end   = number of tokens of the whole rendering cut right after (or before) the final marker.
    The log-softmax runs in float64 (exact for a float64 model; an fp32 model's logits are upcast).
    forwards: a dict that keeps each rendering's forward for later calls with the same model (the two
    include_end_of_turn spans of one example share the rendering). Returns (sum in nats, n_tokens, per-token
    log-probs)."""
    kw = dict(tokenize=False, chat_template=chat_template)
    p_text = tok.apply_chat_template(prompt, add_generation_prompt=True, **kw)
    f_text = tok.apply_chat_template(prompt + [{"role": "assistant", "content": response}], **kw)
    p_ids = tok(p_text, add_special_tokens=False)["input_ids"]
    f_ids = tok(f_text, add_special_tokens=False)["input_ids"]
    start = 0
    while start < len(p_ids) and p_ids[start] == f_ids[start]:
        start += 1
    cut = f_text.rindex(marker) + (len(marker) if include_end_of_turn else 0)
    u_ids = tok(f_text[:cut], add_special_tokens=False)["input_ids"]
    assert f_ids[:len(u_ids)] == u_ids, "reference: the cut text is not a token prefix"
    end = len(u_ids)
    forwards = {} if forwards is None else forwards
    if tuple(f_ids) not in forwards:
        with torch.no_grad():
            logits = model(torch.tensor([f_ids])).logits[0].double()
        lp = torch.log_softmax(logits, dim=-1)
        forwards[tuple(f_ids)] = [lp[k - 1, f_ids[k]].item() for k in range(1, len(f_ids))]  # log p(token k | <k)
    per_token = forwards[tuple(f_ids)][start - 1:end - 1]
    return sum(per_token), end - start, per_token


# A stand-in importable as `vllm` (tests/fake_vllm): vLLM's documented output formats, for our adapters.
FAKE_VLLM_DIR = Path(__file__).resolve().parent / "fake_vllm"
