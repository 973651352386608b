"""The scorer against the naive reference (conftest.naive_logprob), and its invariances."""
import numpy as np
import pytest
import torch

from cdr_utils import DensityRatioReward, LogProbScorer
from reference import FP32_SOFTMAX_ATOL, MARKERS, float64_copy, naive_logprob

SYSTEM = {"role": "system", "content": "You are a careful assistant."}
PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [SYSTEM, {"role": "user", "content": "Say hi."}],
    [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"},
     {"role": "user", "content": "Now multiply that by 12 * 7, please."}],
]
RESPONSES = [
    "The capital of France is Paris.",       # " The" merges with the plain template's trailing space
    "Hello! Sure, hello there.",
    " leading space",
    "\nstarts with a newline\n\nand has two paragraphs",
    ", punctuation first.",
    "Ünïcödé — naïve café 東京 🙂",
    "A",
    "def add(a, b):\n    return a + b\n",
]
CASES = [(p, r) for p in PROMPTS for r in RESPONSES]


def _check_parity(model, tok, name, end_of_turn=(True,), atol=FP32_SOFTMAX_ATOL, **scorer_kw):
    """Scorer and naive reference on the same float64 weights (reference.FP32_SOFTMAX_ATOL says why), for each
    include_end_of_turn setting in `end_of_turn` (one float64 copy and one reference forward per example serve
    them all)."""
    model, forwards = float64_copy(model), {}
    prompts, responses = [c[0] for c in CASES], [c[1] for c in CASES]
    for eot in end_of_turn:
        res = LogProbScorer(model, tok, include_end_of_turn=eot, **scorer_kw).score(prompts, responses,
                                                                                    return_tokens=True)
        for i, (p, r) in enumerate(CASES):
            ref_sum, ref_n, ref_tok = naive_logprob(model, tok, p, r, MARKERS[name], eot, forwards=forwards)
            assert res.n_tokens[i] == ref_n, (eot, i, r, res.tokens[i])
            np.testing.assert_allclose(res.token_logprobs[i], ref_tok, atol=atol, err_msg=f"{eot} case {i}: {r!r}")
            assert abs(res.sum[i] - ref_sum) < atol * max(1, ref_n), (eot, i, r, res.sum[i], ref_sum)
    return res


@pytest.mark.parametrize("fixture,name", [("tiny_llama", "tiny-random-llama"), ("tiny_gpt2", "tiny-random-gpt2")])
def test_parity_tiny(request, fixture, name):
    model, tok = request.getfixturevalue(fixture)
    # small budget and head chunks: many batches, chunk boundaries inside sequences
    _check_parity(model, tok, name, (True, False), max_batch_tokens=300, head_chunk=7)


def test_gpt2_template_exercises_merged_boundary(tiny_gpt2):
    """The plain template's trailing space fuses with the response's first word: the scorer must take the
    merged token as the first response token (the naive reference agrees in test_parity_tiny)."""
    model, tok = tiny_gpt2
    scorer = LogProbScorer(model, tok)
    enc, _ = scorer.encode([PROMPTS[0]], ["The capital of France is Paris."])
    assert enc[0].merged
    assert tok.convert_ids_to_tokens(enc[0].ids[enc[0].start]) == "ĠThe"


def test_end_of_turn_marker_is_the_last_scored_token(tiny_llama):
    model, tok = tiny_llama
    with_eot = LogProbScorer(model, tok).score(PROMPTS[:1], ["Hello there"], return_tokens=True)
    without = LogProbScorer(model, tok, include_end_of_turn=False).score(PROMPTS[:1], ["Hello there"],
                                                                          return_tokens=True)
    assert with_eot.tokens[0][-1] == "<|im_end|>" and "<|im_end|>" not in without.tokens[0]
    assert with_eot.tokens[0][:-1] == without.tokens[0]
    assert with_eot.n_tokens[0] == without.n_tokens[0] + 1


@pytest.mark.slow
def test_parity_smollm2(smollm2):
    res = _check_parity(*smollm2, "smollm2-135m-instruct", max_batch_tokens=2048)
    assert np.all(res.sum < 0)


@pytest.mark.slow
def test_parity_gemma_trimming_template_without_system_role(gemma):
    """Gemma 3's template trims the content and folds the system message into the first user turn."""
    model, tok = gemma
    _check_parity(model, tok, "gemma3-270m", (True, False), max_batch_tokens=2048)


def test_parity_softcapped_logits():
    """A Gemma-2-style model soft-caps its final logits; the chunked head must do the same."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from cdr_utils.tiny import tiny_tokenizer

    tok = tiny_tokenizer("llama")
    cfg = Gemma2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, final_logit_softcapping=5.0,
                       initializer_range=0.5, max_position_embeddings=256)
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(cfg).eval()
    _check_parity(model, tok, "tiny-random-llama", head_chunk=5)


def test_invariant_to_batch_size_and_order(tiny_llama):
    """The scorer pads on its own (right, with an attention mask) and never reads tokenizer.padding_side."""
    model, tok = float64_copy(tiny_llama[0]), tiny_llama[1]  # see reference.FP32_SOFTMAX_ATOL
    prompts, responses = [c[0] for c in CASES], [c[1] for c in CASES]
    base = LogProbScorer(model, tok, max_batch_size=1).score(prompts, responses)
    for bs in (3, 16):
        other = LogProbScorer(model, tok, max_batch_size=bs, max_batch_tokens=10**6).score(prompts, responses)
        np.testing.assert_allclose(other.sum, base.sum, atol=FP32_SOFTMAX_ATOL * base.n_tokens.max())
        np.testing.assert_array_equal(other.n_tokens, base.n_tokens)
    perm = np.random.default_rng(0).permutation(len(prompts))
    shuffled = LogProbScorer(model, tok, max_batch_size=16).score([prompts[i] for i in perm],
                                                                  [responses[i] for i in perm])
    np.testing.assert_allclose(shuffled.sum, base.sum[perm], atol=FP32_SOFTMAX_ATOL * base.n_tokens.max())


def test_sum_equals_mean_times_tokens(tiny_gpt2):
    res = LogProbScorer(*tiny_gpt2).score([c[0] for c in CASES], [c[1] for c in CASES])
    np.testing.assert_allclose(res.mean * res.n_tokens, res.sum, rtol=1e-12)
    assert res.sum.dtype == np.float64 and res.n_tokens.dtype == np.int64


def test_model_against_itself_is_exactly_zero(tiny_llama):
    scorer = LogProbScorer(*tiny_llama)
    for reduction in ("sum", "mean"):
        out = DensityRatioReward(scorer, scorer, reduction).score([c[0] for c in CASES], [c[1] for c in CASES])
        assert np.all(out.reward == 0.0)


def test_density_ratio_is_difference_of_independent_references(tiny_llama, tiny_gpt2):
    """Different tokenizers and templates in one pair; the reward is the naive per-model difference."""
    strong, weak = LogProbScorer(*tiny_llama), LogProbScorer(*tiny_gpt2)
    p, r = PROMPTS[1], RESPONSES[1]
    s_sum, s_n, _ = naive_logprob(*tiny_llama, p, r, MARKERS["tiny-random-llama"])
    w_sum, w_n, _ = naive_logprob(*tiny_gpt2, p, r, MARKERS["tiny-random-gpt2"])
    out_sum = DensityRatioReward(strong, weak, "sum").score([p], [r])
    out_mean = DensityRatioReward(strong, weak, "mean").score([p], [r])
    assert abs(out_sum.reward[0] - (s_sum - w_sum)) < 1e-3
    assert abs(out_mean.reward[0] - (s_sum / s_n - w_sum / w_n)) < 1e-4


def test_head_that_disagrees_with_the_model_is_refused(tiny_llama):
    """A model that post-processes its logits in a way the chunked head does not replicate must not be
    scored silently wrong."""
    from cdr_utils import load_model

    model, tok = load_model("tiny-random-llama", seed=0)
    forward = model.forward

    def scaled(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits = out.logits * 2
        return out

    model.forward = scaled
    with pytest.raises(NotImplementedError, match="LM-head logits differ"):
        LogProbScorer(model, tok)
