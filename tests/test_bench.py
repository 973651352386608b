"""Paper-architecture random models and the scoring benchmark's baselines (perf/bench_scoring.py).

The benchmark's ratios mean something only if its baselines compute the same numbers as the scorer; its GPU
column runs random weights in the paper architectures, which must be those architectures."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from cdr_utils import LogProbScorer, load_model
from cdr_utils.models import model_revision, paper_architecture_config
from cdr_utils.tiny import tiny_model
from reference import FP32_SOFTMAX_ATOL, MARKERS, naive_logprob

BENCH = Path(__file__).resolve().parents[1] / "perf" / "bench_scoring.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scoring", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,n_params", [("random-mistral-7b", 7_241_732_096),  # Mistral-7B-v0.1 model card
                                           ("random-llama3-8b", 8_030_261_248)])  # Llama-3-8B, 8.03B
def test_paper_architectures_have_the_published_parameter_counts(name, n_params):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(paper_architecture_config(name), dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_random_paper_model_scores_like_the_naive_reference():
    """One decoder layer of the Mistral-7B architecture (full-size embeddings and head) in fp32: the scorer
    equals a full forward with full-vocabulary log-softmax; the same seed gives the same weights."""
    model, tok = load_model("random-mistral-7b", layers=1, dtype="float32", device="cpu", seed=3)
    assert model.config.vocab_size == 32000 and model.config.hidden_size == 4096
    assert len(model.model.layers) == 1 and next(model.parameters()).dtype == torch.float32
    assert model_revision(model) == "random-weights:random-mistral-7b:layers=1:seed=3:cpu"
    prompt = [{"role": "user", "content": "Name a river in Europe."}]
    exact = model.double()  # in place (a copy of 0.5 B parameters costs 10 s); see reference.FP32_SOFTMAX_ATOL
    ours = LogProbScorer(exact, tok).score([prompt], ["The Danube."])
    ref_sum, ref_n, _ = naive_logprob(exact, tok, prompt, "The Danube.", MARKERS["tiny-random-llama"])
    assert ours.n_tokens[0] == ref_n
    assert ours.sum[0] == pytest.approx(ref_sum, abs=FP32_SOFTMAX_ATOL * ref_n)
    again, _ = load_model("random-mistral-7b", layers=1, dtype="float32", device="cpu", seed=3)
    assert torch.equal(again.lm_head.weight.double(), exact.lm_head.weight)  # fp32 -> fp64 is exact


@pytest.mark.parametrize("case", ["mixed", "shared"])
def test_benchmark_baselines_compute_the_scorers_numbers(case):
    """naive (a), padded (b) and ideal (d) give the scorer's (c) per-token log-probs on the benchmark's own
    workload (6 mixed sequences of 32-1024 tokens; 8 responses after a 600-token prompt)."""
    bench = _bench()
    model, tok = tiny_model("llama", seed=0, max_positions=2048)
    items = bench.workload(tok, case, sequences=6)
    scorer = LogProbScorer(model, tok, progress=False)
    ours = scorer.score_encoded(items)  # per-token log-probs, one array per item
    for method in (bench.naive(model, items), bench.padded(model, items), bench.ideal(scorer, items)):
        assert len(method) == len(items)
        for got, want, e in zip(method, ours, items):
            assert len(got) == e.end - e.start
            np.testing.assert_allclose(got, want, atol=1e-4)

