"""Scorer at scale: prefix sharing, token-budget batches, out-of-memory halving; all against the naive reference."""
import numpy as np
import pytest
import torch

from cdr_utils import LogProbScorer
from reference import FP32_SOFTMAX_ATOL, MARKERS, float64_copy, naive_logprob

LONG_SYSTEM = {"role": "system", "content": ("You are a careful assistant. Judge answers by correctness first, "
                                             "then clarity, then brevity. ") * 3}
SHARED = [LONG_SYSTEM, {"role": "user", "content": "What is the capital of France?"}]
CANDIDATES = ["The capital of France is Paris.", "Paris.", "I think it is Lyon, but I am not sure.",
              "\nParis, on the Seine.", "Hello! Sure, hello there.", "東京 🙂", "A", "The capital is Marseille."]
OTHER = [[{"role": "user", "content": "Say hi."}], [{"role": "user", "content": "Add 2 and 3."}]]


def _workload():
    prompts = [SHARED] * len(CANDIDATES) + OTHER
    responses = CANDIDATES + ["Hello there", "5"]
    return prompts, responses


def _tiny_gemma3(tok):
    """Gemma-3 architecture with a sliding window of 8 tokens, so the shared prefix crosses the window."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
                           layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                           initializer_range=0.5, max_position_embeddings=512)
    torch.manual_seed(0)
    return Gemma3ForCausalLM(cfg).eval()


@pytest.mark.parametrize("kind", ["llama", "gpt2", "gemma3-sliding"])
def test_prefix_sharing_equals_naive_reference(kind, tiny_llama, tiny_gpt2):
    model, tok = {"llama": tiny_llama, "gpt2": tiny_gpt2}.get(kind, (None, tiny_llama[1]))
    model = float64_copy(model if model is not None else _tiny_gemma3(tok))  # see reference.FP32_SOFTMAX_ATOL
    marker = MARKERS["tiny-random-gpt2" if kind == "gpt2" else "tiny-random-llama"]
    prompts, responses = _workload()
    scorer = LogProbScorer(model, tok, max_batch_size=3)
    enc, _ = scorer.encode(prompts, responses)
    shared = [p for p, batch in scorer.plan(enc) if p > 0]
    assert shared and min(shared) >= 32, "the candidates for the long prompt must share its prefix"
    res = scorer.score(prompts, responses, return_tokens=True)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ref_sum, ref_n, ref_tok = naive_logprob(model, tok, p, r, marker)
        assert res.n_tokens[i] == ref_n
        np.testing.assert_allclose(res.token_logprobs[i], ref_tok, atol=FP32_SOFTMAX_ATOL, err_msg=f"{kind} case {i}")
    independent = LogProbScorer(model, tok, share_prefix=False).score(prompts, responses)
    assert np.all(np.abs(res.sum - independent.sum) <= 2 * FP32_SOFTMAX_ATOL * res.n_tokens)


def test_shared_prefix_runs_once(tiny_llama):
    """Count the tokens the body runs: the shared prompt once, then only each candidate's own tokens."""
    model, tok = tiny_llama
    seen = []
    hook = model.model.embed_tokens.register_forward_hook(lambda m, inp, out: seen.append(inp[0].numel()))
    try:
        prompts, responses = [SHARED] * len(CANDIDATES), CANDIDATES
        scorer = LogProbScorer(model, tok, max_batch_size=len(CANDIDATES))
        enc, _ = scorer.encode(prompts, responses)
        seen.clear()
        scorer.score_encoded(enc)
        p = enc[0].start - 1
        suffix = max(len(e.ids) - 1 - p for e in enc)
        assert seen == [p, len(enc) * suffix]
    finally:
        hook.remove()


def test_batches_respect_token_budget_and_return_input_order(tiny_gpt2):
    model, tok = tiny_gpt2
    prompts, responses = _workload()
    scorer = LogProbScorer(model, tok, max_batch_tokens=120, share_prefix=False)
    enc, _ = scorer.encode(prompts, responses)
    plan = scorer.plan(enc)
    assert sorted(i for _, b in plan for i in b) == list(range(len(enc)))
    for _, batch in plan:
        width = max(len(enc[i].ids) - 1 for i in batch)
        assert len(batch) == 1 or len(batch) * width <= 120
    one_by_one = LogProbScorer(model, tok, max_batch_size=1, share_prefix=False).score(prompts, responses)
    np.testing.assert_allclose(scorer.score(prompts, responses).sum, one_by_one.sum, atol=1e-4)


def test_out_of_memory_splits_the_batch_and_halves_the_budget(tiny_llama, monkeypatch):
    model, tok = tiny_llama
    prompts, responses = _workload()
    expected = LogProbScorer(model, tok, share_prefix=False).score(prompts, responses).sum
    scorer = LogProbScorer(model, tok, share_prefix=False, max_batch_tokens=10**6, max_batch_size=64)
    forward, sizes = scorer._forward, []

    def flaky(items, *args):
        sizes.append(len(items))
        if len(items) > 2:
            raise torch.OutOfMemoryError("simulated")
        return forward(items, *args)

    monkeypatch.setattr(scorer, "_forward", flaky)
    got = scorer.score(prompts, responses).sum
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert sizes[0] == len(prompts) and max(sizes[1:]) <= len(prompts) // 2 + 1
    assert scorer.max_batch_tokens < 10**6


def test_lm_head_only_sees_scored_positions_in_chunks(tiny_gpt2):
    """Memory bound: the LM head is applied to at most head_chunk hidden states at a time, only at scored
    positions; the model's own forward (full batch x sequence x vocabulary logits) is never called."""
    model, tok = tiny_gpt2
    prompts, responses = _workload()
    scorer = LogProbScorer(model, tok, head_chunk=4)
    rows, full = [], []
    h1 = scorer.head.register_forward_hook(lambda m, inp, out: rows.append(tuple(inp[0].shape)))
    h2 = model.register_forward_hook(lambda m, inp, out: full.append(1))
    try:
        res = scorer.score(prompts, responses)
    finally:
        h1.remove()
        h2.remove()
    assert full == [] and all(len(s) == 2 and s[0] <= 4 for s in rows)
    assert sum(s[0] for s in rows) == res.n_tokens.sum()
