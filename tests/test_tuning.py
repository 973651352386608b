"""Preference tuning (tuning.py) on the tiny models: each trainer runs from a pairs data set saved to disk,
its first logged loss equals an independent computation, and the loss falls on a repeated batch."""
import copy
import dataclasses
import json
import math

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from cdr_utils import LogProbScorer, RecordError, load_model
from cdr_utils.studies.profiles import get_profile
from cdr_utils.tuning import PreferenceRecipe, dpo_config, simpo_config, train_dpo, train_simpo

PAIRS = [  # (question, better answer, worse answer): hand-written, conversational as pairs.py writes them
    ("What is the capital of France?", "The capital of France is Paris.", "I'm sorry, but I can't help with that."),
    ("Say hi.", "Hello! How can I help you today?", "The quick brown fox jumps over the lazy dog."),
    ("What is 12 * 7?", "12 * 7 = 84. The answer is 84.", "Waves roll in, waves roll out."),
    ("Write a function that adds two numbers.", "def add(a, b):\n    return a + b", "First, list the steps."),
]


def _row(i, q, good, bad):
    return {"prompt_id": f"p{i}", "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": good}], "rejected": [{"role": "assistant", "content": bad}],
            "score_chosen": 2.0, "score_rejected": -1.0, "margin": 3.0}


@pytest.fixture(scope="module")
def saved_pairs(tmp_path_factory):
    """The pairs written to disk (save_to_disk and JSONL) and read back, as the notebooks hand them on."""
    root = tmp_path_factory.mktemp("pairs")
    ds = datasets.Dataset.from_list([_row(i, *p) for i, p in enumerate(PAIRS)])
    ds.save_to_disk(str(root / "pairs"))
    ds.to_json(str(root / "pairs.jsonl"))
    from_jsonl = datasets.load_dataset("json", data_files=str(root / "pairs.jsonl"), split="train")
    assert from_jsonl["chosen"] == ds["chosen"]
    return datasets.load_from_disk(str(root / "pairs"))


def _losses(history):
    return [h["loss"] for h in history if "loss" in h]


def test_paper_recipes_are_the_papers():
    """SimPO (Llama-3-8B-Instruct): beta 2.5, gamma 1.375, lr 1e-6, 1 epoch, batch 128, cosine, warm-up 0.1,
    length 2048, pure SimPO; RA-DPO: beta 0.01, lr 5e-7, 1 epoch, batch 128, length 1024."""
    tuning = get_profile("paper").tuning
    simpo = simpo_config(tuning.simpo, "/tmp/unused")
    assert (simpo.loss_type, simpo.cpo_alpha, simpo.simpo_gamma, simpo.beta) == ("simpo", 0.0, 1.375, 2.5)
    assert (simpo.learning_rate, simpo.num_train_epochs, simpo.max_length) == (1e-6, 1.0, 2048)
    assert simpo.lr_scheduler_type == "cosine" and simpo.warmup_steps == 0.1
    assert simpo.per_device_train_batch_size * simpo.gradient_accumulation_steps == 128
    dpo = dpo_config(tuning.dpo, "/tmp/unused")
    assert (dpo.beta, dpo.learning_rate, dpo.num_train_epochs, dpo.max_length) == (0.01, 5e-7, 1.0, 1024)
    assert dpo.per_device_train_batch_size * dpo.gradient_accumulation_steps == 128


def test_effective_batch_holds_across_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    args = simpo_config(get_profile("paper").tuning.simpo, "/tmp/unused")
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * 8 == 128


def test_simpo_loss_is_pure_simpo_and_falls(saved_pairs, tmp_path):
    """First logged loss (weights not yet updated) == mean over pairs of
    -log sigma(beta * mean log p(y_w|x) - beta * mean log p(y_l|x) - gamma), the per-token means from the
    project's scorer (response + end-of-turn marker). An NLL term (cpo_alpha > 0) would add ~|log p| / token."""
    model, tok = load_model("tiny-random-gpt2", seed=3)  # BOS in its template, EOS = end-of-turn marker
    beta, gamma = 2.5, 1.375
    scorer = LogProbScorer(copy.deepcopy(model), tok)
    prompts = saved_pairs["prompt"]
    lp_w = scorer.score(prompts, [c[0]["content"] for c in saved_pairs["chosen"]]).mean
    lp_l = scorer.score(prompts, [r[0]["content"] for r in saved_pairs["rejected"]]).mean
    expected = F.softplus(-torch.tensor(beta * (lp_w - lp_l) - gamma)).mean().item()  # -log sigma(z) = softplus(-z)

    recipe = PreferenceRecipe(beta=beta, gamma=gamma, learning_rate=3e-3, max_steps=6, batch_size=4,
                              per_device_batch_size=4, warmup_ratio=0.0, max_length=256)
    result = train_simpo(model, tok, saved_pairs, recipe, tmp_path / "simpo")
    losses = _losses(result.log_history)
    assert losses[0] == pytest.approx(expected, rel=1e-5)
    assert all(h["nll_loss"] == 0.0 for h in result.log_history if "nll_loss" in h)
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    assert result.n_rows == len(PAIRS)
    meta = json.loads((tmp_path / "simpo" / "cdr_tuning.json").read_text())
    assert meta["recipe"]["gamma"] == gamma and meta["method"] == "simpo"


def test_a_tokenizer_without_pad_token_trains_the_same(saved_pairs, tmp_path):
    """Llama-3's tokenizer has no pad token (TRL refuses to pad without one): training pads with EOS, masked, so
    the losses equal those with a pad token; the checkpoint keeps the tokenizer as it was."""
    runs = []
    for pad in (True, False):
        model, tok = load_model("tiny-random-llama", seed=0)
        if not pad:
            tok = copy.deepcopy(tok)
            tok.pad_token = None
        recipe = PreferenceRecipe(beta=2.5, gamma=1.375, learning_rate=3e-3, max_steps=2, batch_size=4,
                                  per_device_batch_size=4, warmup_ratio=0.0, max_length=256)
        runs.append(train_simpo(model, tok, saved_pairs, recipe, tmp_path / f"pad-{pad}"))
    assert _losses(runs[1].log_history) == pytest.approx(_losses(runs[0].log_history), rel=1e-5)
    assert runs[1].tokenizer.pad_token is None
    assert AutoTokenizer.from_pretrained(tmp_path / "pad-False").pad_token is None


def test_a_bf16_policy_trains_in_fp32_and_is_saved_in_bf16(saved_pairs, tmp_path):
    """AdamW's first step moves each weight by about lr: at the paper's lr 1e-6 that is below what bf16 resolves, so
    a bf16 policy updated in place would hardly move. Training runs on fp32 master weights (every tensor
    moves), and the policy is saved in its own dtype, where the record says how much of the change survived."""
    from transformers import AutoModelForCausalLM

    model, tok = load_model("tiny-random-llama", seed=0, dtype=torch.bfloat16)
    w = next(model.parameters()).detach().clone()
    in_place = torch.nn.Parameter(w.clone())
    in_place.grad = torch.ones_like(in_place)
    torch.optim.AdamW([in_place], lr=1e-6, weight_decay=0.0).step()
    # what pure bf16 training would do: nothing, but for weights within ~1e-4 of zero (an all-zero padding row)
    assert (in_place.detach() != w).float().mean() < 0.01
    recipe = PreferenceRecipe(beta=2.5, gamma=1.375, learning_rate=1e-6, max_steps=1, batch_size=4,
                              per_device_batch_size=4, warmup_ratio=0.0, max_length=256)
    result = train_simpo(model, tok, saved_pairs, recipe, tmp_path / "bf16")
    assert result.changed["training"] == 1.0 and result.changed["saved"] < 1.0
    assert {p.dtype for p in result.model.parameters()} == {torch.bfloat16}
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "bf16").dtype == torch.bfloat16
    assert json.loads((tmp_path / "bf16" / "cdr_tuning.json").read_text())["changed"] == result.changed
    # one warm-up step (learning rate 0) changes nothing: the policy computes exactly what it did (its fp32
    # buffers, such as the rotary frequencies, were not rounded on the way back to bf16)
    for part in load_model("tiny-random-llama", seed=0):
        part.save_pretrained(tmp_path / "fp32")
    model, tok = load_model(str(tmp_path / "fp32"), dtype=torch.bfloat16)  # as from the hub: fp32 buffers
    ids = torch.tensor([tok("Hello! How can I help you today?")["input_ids"]])
    with torch.no_grad():
        before = model(ids).logits
    warm = train_simpo(model, tok, saved_pairs, dataclasses.replace(recipe, warmup_ratio=0.1), tmp_path / "warm")
    assert warm.changed == {"training": 0.0, "saved": 0.0}
    with torch.no_grad():
        assert torch.equal(warm.model(ids).logits, before)


def test_dpo_starts_at_log2_and_falls(saved_pairs, tmp_path):
    """At step 1 the policy equals its reference, so every pair's DPO loss is -log sigma(0) = log 2 exactly;
    on the same 4 rows every step, the loss falls. The saved checkpoint reloads to the same model."""
    from transformers import AutoModelForCausalLM

    model, tok = load_model("tiny-random-llama", seed=0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    recipe = PreferenceRecipe(loss="dpo", beta=0.1, learning_rate=3e-3, max_steps=5, batch_size=4,
                              per_device_batch_size=4, warmup_ratio=0.0, max_length=256)
    result = train_dpo(model, tok, saved_pairs, recipe, tmp_path / "dpo")
    losses = _losses(result.log_history)
    assert losses[0] == pytest.approx(math.log(2), abs=1e-6)
    assert losses[-1] < 0.7 * losses[0]
    assert any(not torch.equal(start[k], v) for k, v in result.model.state_dict().items())
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "dpo").eval()
    ids = torch.tensor([tok("Hello! How can I help you today?")["input_ids"]])
    with torch.no_grad():
        np.testing.assert_allclose(reloaded(ids).logits.numpy(), result.model(ids).logits.numpy(), atol=1e-5)


def test_lora_run_returns_a_merged_plain_model(saved_pairs, tmp_path):
    model, tok = load_model("tiny-random-llama", seed=0)
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    recipe = PreferenceRecipe(learning_rate=1e-2, max_steps=3, batch_size=4, per_device_batch_size=4,
                              warmup_ratio=0.0, max_length=256, lora_rank=4, lora_alpha=8)
    result = train_simpo(model, tok, saved_pairs, recipe, tmp_path / "lora")
    assert type(result.model).__name__ == "LlamaForCausalLM"  # adapters merged, no peft wrapper
    after = result.model.model.layers[0].self_attn.q_proj.weight
    assert not torch.allclose(before, after)
    assert _losses(result.log_history)[-1] < _losses(result.log_history)[0]


def test_bad_pair_names_record_and_field(tmp_path):
    model, tok = load_model("tiny-random-llama", seed=0)
    bad = datasets.Dataset.from_list([_row(0, *PAIRS[0]), {**_row(1, *PAIRS[1]), "rejected": []}])
    with pytest.raises(RecordError, match="'p1'.*rejected"):
        train_simpo(model, tok, bad, PreferenceRecipe(max_steps=1, batch_size=2), tmp_path / "x")


def test_reward_augmented_run_sees_twice_the_rows(saved_pairs, tmp_path):
    """Scores put every chosen and rejected response in different rating bins, so reward_augment emits two
    rows per pair; one epoch at batch 4 is then 2 optimizer steps where plain DPO takes 1."""
    from cdr_utils.tuning import train_reward_augmented_dpo

    scored = saved_pairs.map(lambda r, i: {"score_chosen": 2.0 + i, "score_rejected": -1.0 - i}, with_indices=True)
    model, tok = load_model("tiny-random-llama", seed=0)
    recipe = PreferenceRecipe(loss="dpo", beta=0.1, learning_rate=1e-3, epochs=1, batch_size=4,
                              per_device_batch_size=4, warmup_ratio=0.0, max_length=256)
    result = train_reward_augmented_dpo(model, tok, scored, recipe, tmp_path / "ra", levels=10)
    assert result.n_rows == 2 * len(PAIRS)
    assert [h["step"] for h in result.log_history if "loss" in h] == [1, 2]
    meta = json.loads((tmp_path / "ra" / "cdr_tuning.json").read_text())
    assert meta["method"] == "ra_dpo" and meta["augment"]["rows"] == 8 and meta["augment"]["system_role"]


def test_load_tuned_trains_once_then_loads(saved_pairs, tmp_path, monkeypatch):
    """tuned_policy's loader: trains into outputs/<profile>/checkpoints/<method> when missing, reloads the same
    weights when recipe, policy and pairs match, and retrains when the pairs change."""
    from cdr_utils.studies import artifacts, checkpoints

    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    first = checkpoints.load_tuned("smoke", "simpo", pairs=saved_pairs)
    key = artifacts.settings_key(checkpoints.checkpoint_settings(get_profile("smoke"), "simpo", saved_pairs))
    assert first.output_dir == tmp_path / "smoke" / "checkpoints" / key

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the checkpoint matches")

    monkeypatch.setattr(checkpoints, "train_simpo", no_training)
    again = checkpoints.load_tuned("smoke", "simpo", pairs=saved_pairs)
    for (k, v), w in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(v, w), k
    assert again.log_history == first.log_history
    prompts = [[{"role": "user", "content": "Say hi."}]]
    assert again.tokenizer.apply_chat_template(prompts[0], tokenize=False) == \
        first.tokenizer.apply_chat_template(prompts[0], tokenize=False)
    with pytest.raises(AssertionError, match="trained again"):
        checkpoints.load_tuned("smoke", "simpo", pairs=saved_pairs.select(range(3)))


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_a_checkpoint_reloads_in_the_recipe_dtype_on_the_gpu(saved_pairs, tmp_path, monkeypatch, dtype):
    """A checkpoint comes back in the recipe's dtype (not the device's default) and is moved to the GPU when there
    is one (here a GPU that only records the move): notebook 06 samples the 8B policy from it."""
    from cdr_utils.studies import artifacts, checkpoints

    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    P = get_profile("smoke", {"dtype": dtype})
    first = checkpoints.load_tuned(P, "simpo", pairs=saved_pairs)
    assert first.model.dtype == getattr(torch, dtype)
    moves, to = [], torch.nn.Module.to

    def record(module, *args, **kwargs):
        moves.append(str(args[0] if args else kwargs.get("device")))
        return module if moves[-1] == "cuda" else to(module, *args, **kwargs)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.nn.Module, "to", record)
    again = checkpoints.load_tuned(P, "simpo", pairs=saved_pairs)
    assert again.output_dir == first.output_dir and "cuda" in moves
    assert {p.dtype for p in again.model.parameters()} == {getattr(torch, dtype)}
    for (k, v), w in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(v, w), k
