"""load_model: tiny models are deterministic, offline caches are faithful, hub failures are explained."""
import json

import pytest
import torch

from cdr_utils import ModelNotAvailable, load_model
from cdr_utils.models import CACHE_DIR, model_revision
from cdr_utils.studies.profiles import get_profile, load_scorer


@pytest.mark.parametrize("name", ["tiny-random-llama", "tiny-random-gpt2"])
def test_tiny_models_are_deterministic_for_a_seed(name):
    (a, tok_a), (b, tok_b), (c, _) = (load_model(name, seed=0), load_model(name, seed=0), load_model(name, seed=1))
    assert tok_a.get_vocab() == tok_b.get_vocab() and tok_a.chat_template == tok_b.chat_template
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert model_revision(a) == model_revision(b) != model_revision(c)


def test_hub_id_without_hub_names_model_and_profile():
    with pytest.raises(ModelNotAvailable) as err:
        load_model("teknium/OpenHermes-2.5-Mistral-7B")
    assert "'teknium/OpenHermes-2.5-Mistral-7B'" in str(err.value) and "--local-dir" in str(err.value)
    paper = get_profile("paper")
    with pytest.raises(ModelNotAvailable) as err:  # the studies layer adds the profile and the model's role
        load_scorer(paper, paper.weak, key="weak")
    msg = str(err.value)
    assert "'teknium/OpenHermes-2.5-Mistral-7B'" in msg and "profile 'paper', recipe key 'weak.name'" in msg
    assert "SET='weak.name=DIR'" in msg  # and how to point the key at a local copy


def test_unknown_name():
    with pytest.raises(ModelNotAvailable, match="neither a known name"):
        load_model("no-such-model")


def test_profiles_name_loadable_models():
    for name in ("smoke", "cpu", "paper"):
        p = get_profile(name)
        assert p.strong != p.weak
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("laptop")


def test_cpu_profile_without_gemma(monkeypatch):
    monkeypatch.setenv("CDR_GEMMA", "0")
    p = get_profile("cpu")
    assert "gemma" not in p.weak.name and p.weak.template == "plain"


@pytest.mark.slow
def test_smollm2_cache_matches_the_gguf_it_came_from(smollm2):
    """The safetensors cache must give the same logits as transformers' own GGUF dequantization."""
    from transformers import AutoModelForCausalLM

    from cdr_utils.models import _gguf_source

    cached, tok = smollm2
    gguf = _gguf_source("smollm2-135m-instruct")
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tok("The density ratio of two models.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(cached(ids).logits, direct(ids).logits, atol=1e-5, rtol=0)
    meta = json.loads((CACHE_DIR / "models" / "smollm2-135m-instruct" / "cdr_meta.json").read_text())
    assert meta["revision"].startswith("gguf-sha256:") and model_revision(cached) == meta["revision"]
    assert "<|im_start|>assistant" in tok.apply_chat_template([{"role": "user", "content": "x"}],
                                                              add_generation_prompt=True, tokenize=False)
