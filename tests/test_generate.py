"""generate.py: seeded, batch-invariant sampling of N responses per prompt."""
import numpy as np
import pytest
import torch

from cdr_utils.chat import RecordError
from cdr_utils.generate import (GenerationConfig, GumbelSampler, drop_identical, generate_responses,
                                generation_backend, row_seed, sample_seeds, stop_token_ids)

PROMPTS = [[{"role": "user", "content": "Hello, how are you?"}],
           [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 12 * 7? Explain it step by step, please."}],
           [{"role": "user", "content": "Say hi."}]]
CFG = GenerationConfig(n=3, temperature=0.8, top_p=0.9, max_new_tokens=10)


def test_same_seed_same_samples_any_batching(tiny_llama):
    model, tok = tiny_llama
    a = generate_responses(model, tok, PROMPTS, n=3, config=CFG, seed=5, batch_size=4, progress=False)
    b = generate_responses(model, tok, PROMPTS, n=3, config=CFG, seed=5, batch_size=1, progress=False)
    c = generate_responses(model, tok, PROMPTS[::-1], n=3, config=CFG, seed=5, batch_size=9, progress=False)[::-1]
    assert a == b == c  # left-padded batches of 4 and 9 (other prompts as batch-mates) = one row at a time
    assert [[d["seed"] for d in cands] for cands in a] == [[5, 6, 7]] * 3
    texts = [d["response"] for cands in a for d in cands]
    assert len(set(texts)) == len(texts)  # different seeds (and prompts) sample differently
    other = generate_responses(model, tok, PROMPTS, n=3, config=CFG, seed=50, batch_size=4, progress=False)
    assert other != a


def test_a_tokenizer_without_pad_token_batches_the_same(tiny_llama):
    """Llama-3's tokenizer has no pad token: batches are padded with a stop token, masked, same samples."""
    import copy

    model, tok = tiny_llama
    no_pad = copy.deepcopy(tok)
    no_pad.pad_token = None
    assert no_pad.pad_token_id is None
    a = generate_responses(model, tok, PROMPTS, n=2, config=CFG, seed=5, batch_size=6, progress=False)
    b = generate_responses(model, no_pad, PROMPTS, n=2, config=CFG, seed=5, batch_size=6, progress=False)
    assert a == b


def test_records_settings_and_fixed_seed_list(tiny_llama):
    model, tok = tiny_llama
    cfg = GenerationConfig(n=2, temperature=0.7, top_p=0.95, max_new_tokens=6, seeds=(13, 21, 42))
    out = generate_responses(model, tok, PROMPTS[:2], n=2, config=cfg, progress=False, generator_name="tiny")
    assert len(out) == 2 and all(len(c) == 2 for c in out)
    for cands in out:
        assert [d["seed"] for d in cands] == [13, 21]
        for d in cands:
            assert (d["generator"], d["temperature"], d["top_p"], d["max_new_tokens"]) == ("tiny", 0.7, 0.95, 6)
            assert 1 <= d["n_tokens"] <= 6 and isinstance(d["response"], str)
    with pytest.raises(ValueError, match="3 seeds"):
        sample_seeds(cfg, 4)
    with pytest.raises(RecordError, match="record 1"):
        generate_responses(model, tok, [PROMPTS[0], []], n=1, config=cfg, progress=False)


def _naive_sample(model, tok, prompt, seed, cfg):
    """Reference: full forward pass per step (no cache, no padding), softmax(logits / T), nucleus by sorting,
    Gumbel-max with the row's generator. Returns the new token ids."""
    text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    gen = torch.Generator().manual_seed(row_seed(seed, text))
    stops = stop_token_ids(model, tok)
    new = []
    for _ in range(cfg.max_new_tokens):
        with torch.no_grad():
            logits = model(torch.tensor([ids + new])).logits[0, -1].double() / cfg.temperature
        p = torch.softmax(logits, -1).numpy()
        order = np.argsort(-p, kind="stable")
        keep = np.zeros_like(p, dtype=bool)
        total = 0.0
        for k in order:  # smallest top set whose probability reaches top_p
            keep[k] = True
            total += p[k]
            if total >= cfg.top_p:
                break
        u = torch.rand(len(p), generator=gen).double().clamp(1e-20, 1 - 1e-7)
        g = -torch.log(-torch.log(u)).numpy()
        nxt = int(np.argmax(np.where(keep, np.log(p) + g, -np.inf)))
        new.append(nxt)
        if nxt in stops:
            break
    return new


def test_matches_naive_sampling_loop(tiny_llama):
    model, tok = tiny_llama
    out = generate_responses(model, tok, PROMPTS, n=2, config=CFG, seed=3, batch_size=6, progress=False)
    for prompt, cands in zip(PROMPTS, out):
        for d in cands:
            ref = _naive_sample(model, tok, prompt, d["seed"], CFG)
            assert d["response"] == tok.decode(ref, skip_special_tokens=True).strip()
            assert d["n_tokens"] == len(ref)


def test_gumbel_sampler_draws_from_the_nucleus_distribution():
    # logits -> softmax (T = 1): [0.6439, 0.2369, 0.0871, 0.0321]; top_p = 0.85: keep the first two
    # (0.6439 < 0.85 <= 0.8808), renormalized: [0.7311, 0.2689, 0, 0].
    rows = 20000
    sampler = GumbelSampler(list(range(rows)), temperature=1.0, top_p=0.85, device="cpu")
    scores = sampler(None, torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(rows, 1))
    freq = np.bincount(scores.argmax(-1).numpy(), minlength=4) / rows
    expected = np.array([np.e / (np.e + 1), 1 / (np.e + 1), 0, 0])
    assert np.all(np.abs(freq - expected) < 4 * np.sqrt(0.25 / rows))
    assert freq[2] == freq[3] == 0
    # temperature 2 flattens: softmax([1, .5, 0, -.5]) with top_p = 1
    sampler = GumbelSampler(list(range(rows)), temperature=2.0, top_p=1.0, device="cpu")
    freq = np.bincount(sampler(None, torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(rows, 1)).argmax(-1).numpy(),
                       minlength=4) / rows
    expected = np.exp([1, .5, 0, -.5]) / np.exp([1, .5, 0, -.5]).sum()
    assert np.all(np.abs(freq - expected) < 4 * np.sqrt(0.25 / rows))


def test_temperature_zero_is_greedy(tiny_gpt2):
    model, tok = tiny_gpt2
    cfg = GenerationConfig(n=2, temperature=0.0, top_p=1.0, max_new_tokens=8)
    out = generate_responses(model, tok, PROMPTS[:1], n=2, config=cfg, progress=False)
    text = tok.apply_chat_template(PROMPTS[0], tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    for _ in range(8):  # naive greedy decoding
        with torch.no_grad():
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    expected = tok.decode(ids[len(tok(text, add_special_tokens=False)["input_ids"]):], skip_special_tokens=True)
    assert out[0][0]["response"] == out[0][1]["response"] == expected.strip()


def test_stop_tokens_include_end_of_turn(tiny_llama, tiny_gpt2):
    model, tok = tiny_llama
    assert tok.convert_tokens_to_ids("<|im_end|>") in stop_token_ids(model, tok)
    model, tok = tiny_gpt2  # plain template: the marker is eos_token
    assert stop_token_ids(model, tok) == [tok.convert_tokens_to_ids("<|endoftext|>")]


def test_drop_identical():
    same = [{"response": "a"}, {"response": "a"}]
    mixed = [{"response": "a"}, {"response": "b"}]
    prompts, cands, dropped = drop_identical(["p0", "p1", "p2"], [same, mixed, same])
    assert (prompts, cands, dropped) == (["p1"], [mixed], 2)


def test_vllm_path_sends_template_ids_stop_tokens_and_row_seeds(fake_vllm, tiny_llama):
    """The vLLM path against the stand-in (tests/fake_vllm): the prompt goes as the template's token ids (no
    second BOS), the end-of-turn marker is a stop token, each (prompt, sample) has its own row seed; greedy
    decoding gives the transformers path's texts."""
    model, tok = tiny_llama
    cfg = GenerationConfig(n=2, temperature=0.0, top_p=1.0, max_new_tokens=8, backend="vllm")
    via_vllm = generate_responses("tiny-random-llama", None, PROMPTS, config=cfg, seed=5, progress=False)
    requests = fake_vllm.REQUESTS
    assert len(requests) == len(PROMPTS) * 2
    for k, r in enumerate(requests):
        i, j = divmod(k, 2)
        text = tok.apply_chat_template(PROMPTS[i], tokenize=False, add_generation_prompt=True)
        assert r["ids"] == tok(text, add_special_tokens=False)["input_ids"]
        assert r["ids"].count(tok.bos_token_id) == text.count(tok.bos_token)
        assert tok.convert_tokens_to_ids("<|im_end|>") in r["params"].stop_token_ids
        assert r["params"].seed == row_seed(5 + j, text) % (1 << 31)
    via_hf = generate_responses(model, tok, PROMPTS, config=cfg, seed=5, progress=False)
    fields = ("response", "seed", "n_tokens", "finished", "temperature", "top_p", "max_new_tokens")
    assert [[tuple(d[f] for f in fields) for d in c] for c in via_vllm] == \
        [[tuple(d[f] for f in fields) for d in c] for c in via_hf]
    assert via_vllm[0][0]["generator"] == "tiny-random-llama (vllm)"


def test_generation_backend_rules(request):
    """Both cases on any machine: vLLM absent (no_vllm), then present (the stand-in)."""
    request.getfixturevalue("no_vllm")
    assert generation_backend("hf") == "hf" and generation_backend("auto") == "hf"
    with pytest.raises(ImportError, match="needs the `vllm` package"):
        generation_backend("vllm")
    with pytest.raises(ValueError, match="'hf', 'vllm' or 'auto'"):
        generation_backend("fast")
    request.getfixturevalue("fake_vllm")  # now importable
    assert generation_backend("auto") == "vllm" and generation_backend("vllm") == "vllm"
    assert generation_backend("hf") == "hf"  # asked for transformers: stays there
