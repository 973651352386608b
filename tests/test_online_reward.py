"""The density ratio as an online reward for TRL (DensityRatioReward.as_reward_function, docs/ONLINE.md): equal to
DensityRatioReward.score in both of TRL's formats, group normalization by hand, empty completions, frozen models,
and GRPOTrainer / RLOOTrainer / OnlineDPOTrainer runs on a tiny random policy whose logged reward equals score on
what it received."""
import math

import numpy as np
import pytest
import torch
from datasets import Dataset

from cdr_utils import DensityRatioReward, LogProbScorer, load_model
from cdr_utils.tiny import tiny_model

PROMPTS = ["What is the capital of France?", "Say hi.", "What is 12 * 7?"]
COMPLETIONS = ["Paris.", "It is Paris, the capital.", "Hello!", "Hi there, how can I help?", "84", "12 * 7 = 84."]
ROW_PROMPTS = [p for p in PROMPTS for _ in range(2)]  # as TRL passes them: each prompt's G=2 completions adjacent


@pytest.fixture(scope="module")
def reward():
    """A pair of this module's own tiny models (as_reward_function freezes them: not the shared session fixtures).
    min_shared_prefix=8 so that these short prompts exercise prefix sharing."""
    return DensityRatioReward(LogProbScorer(*load_model("tiny-random-llama", seed=0), min_shared_prefix=8),
                              LogProbScorer(*load_model("tiny-random-gpt2", seed=0), min_shared_prefix=8))


def _messages(prompts):
    return [[{"role": "user", "content": p}] for p in prompts]


def _direct(reward, prompts, texts, reduction):
    """Reference: DensityRatioReward.score called directly, a fresh reward object for the other reduction."""
    r = reward if reduction == "sum" else DensityRatioReward(reward.strong, reward.weak, reduction)
    return r.score(_messages(prompts), texts).reward


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_both_formats_equal_score(reward, reduction):
    fn = reward.as_reward_function(reduction=reduction)
    expected = _direct(reward, ROW_PROMPTS, COMPLETIONS, reduction)
    standard = fn(prompts=ROW_PROMPTS, completions=COMPLETIONS, completion_ids=[[1]] * 6, trainer_state=None)
    conversational = fn(prompts=_messages(ROW_PROMPTS),
                        completions=[[{"role": "assistant", "content": c}] for c in COMPLETIONS])
    assert all(type(v) is float for v in standard)
    np.testing.assert_allclose(standard, expected, rtol=1e-6)
    np.testing.assert_allclose(conversational, expected, rtol=1e-6)
    order = [5, 2, 0, 4, 1, 3]  # input order kept whatever the order
    np.testing.assert_allclose(fn([ROW_PROMPTS[i] for i in order], [COMPLETIONS[i] for i in order]),
                               expected[order], rtol=1e-6)
    assert fn.__name__ == "density_ratio" and reward.as_reward_function(name="cdr").__name__ == "cdr"


def test_one_score_call_and_one_prefix_per_prompt(reward, monkeypatch):
    calls, units = [], []
    score, plan = reward.score, reward.strong.plan

    def planned(encoded):  # the strong scorer's work units: (shared prefix length, indices)
        units.extend(plan(encoded))
        return units

    monkeypatch.setattr(reward, "score", lambda *a, **k: calls.append(a) or score(*a, **k))
    monkeypatch.setattr(reward.strong, "plan", planned)
    reward.as_reward_function()(ROW_PROMPTS, COMPLETIONS)
    assert len(calls) == 1
    assert sorted((p > 0, sorted(idx)) for p, idx in units) == [(True, [0, 1]), (True, [2, 3]), (True, [4, 5])]


@pytest.mark.parametrize("normalize", ["group", "group_std"])
def test_group_normalization_by_hand(reward, normalize):
    # "Say hi." gets a third completion away from the other two; "Tell me a joke." has a single one
    prompts, texts = ROW_PROMPTS + ["Say hi.", "Tell me a joke."], COMPLETIONS + ["Hello there!", "No."]
    raw = _direct(reward, prompts, texts, "sum")
    expected = np.empty_like(raw)
    for p in set(prompts):
        idx = [i for i, q in enumerate(prompts) if q == p]
        v = raw[idx]
        centred = v - v.mean()
        std = np.std(v, ddof=1) if len(v) > 1 else 0.0
        expected[idx] = centred / (std + 1e-4) if normalize == "group_std" else centred
    got = reward.as_reward_function(normalize=normalize)(prompts, texts)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert got[-1] == 0.0  # a prompt with one completion: nothing to compare it with
    with pytest.raises(ValueError, match="normalize"):
        reward.as_reward_function(normalize="batch")


def test_empty_completions_get_the_batch_minimum(reward):
    texts = ["Paris.", "", "Hello!", "  \n", "84", "12 * 7 = 84."]
    scored = [0, 2, 4, 5]
    raw = _direct(reward, [ROW_PROMPTS[i] for i in scored], [texts[i] for i in scored], "sum")
    got = reward.as_reward_function()(ROW_PROMPTS, texts)
    np.testing.assert_allclose([got[i] for i in scored], raw, rtol=1e-6)
    assert got[1] == got[3] == pytest.approx(raw.min(), rel=1e-12)
    assert reward.as_reward_function(empty=-5.0)(ROW_PROMPTS, texts)[1] == -5.0
    assert reward.as_reward_function()(PROMPTS, ["", " ", ""]) == [0.0, 0.0, 0.0]  # nothing scored: a constant
    with pytest.raises(ValueError, match="tool calls"):
        reward.as_reward_function()(PROMPTS[:1], [[{"role": "assistant", "content": "a"},
                                                   {"role": "tool", "content": "b"}]])


def _snapshot(reward):
    return [{k: v.clone() for k, v in s.model.state_dict().items()} for s in (reward.strong, reward.weak)]


def _assert_frozen(reward, before, device):
    for scorer, state in zip((reward.strong, reward.weak), before):
        assert not scorer.model.training
        assert all(not p.requires_grad for p in scorer.model.parameters())
        assert all(p.device == device for p in scorer.model.parameters())
        assert all(torch.equal(v, state[k]) for k, v in scorer.model.state_dict().items())


def test_models_stay_frozen_on_their_device(reward):
    before = _snapshot(reward)
    reward.strong.model.train()  # a stray .train() is undone by the call
    reward.as_reward_function()(ROW_PROMPTS, COMPLETIONS)
    _assert_frozen(reward, before, torch.device("cpu"))


def _recording(fn, calls):
    """fn, recording what TRL passes it, under fn's name (TRL logs rewards/<__name__>/mean)."""
    def record(prompts, completions, **kwargs):
        calls.append((prompts, completions, sorted(kwargs)))
        return fn(prompts, completions, **kwargs)
    record.__name__ = fn.__name__
    return record


def _expected_mean(reward, prompts, completions):
    """Mean of DensityRatioReward.score on what the reward function received (empty ones at the batch minimum)."""
    messages = [p if isinstance(p, list) else [{"role": "user", "content": p}] for p in prompts]
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    scored = [i for i, t in enumerate(texts) if t.strip()]
    r = reward.score([messages[i] for i in scored], [texts[i] for i in scored]).reward
    return np.concatenate([r, np.full(len(texts) - len(scored), r.min())]).mean(), np.abs(r).max()


def _trainer_args(config_cls, tmp_path, **kw):
    return config_cls(output_dir=str(tmp_path), use_cpu=True, bf16=False, max_completion_length=8, num_generations=2,
                      per_device_train_batch_size=4, logging_steps=1, report_to=[], save_strategy="no",
                      learning_rate=1e-3, seed=0, disable_tqdm=True, **kw)


def test_grpo_trains_two_steps_and_logs_the_density_ratio(reward, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    policy, tok = tiny_model("llama", seed=1)  # its own object: the trainer trains it, the reward's models stay put
    policy_before = {k: v.clone() for k, v in policy.state_dict().items()}
    before = _snapshot(reward)
    fn, calls = reward.as_reward_function(), []
    data = Dataset.from_list([{"prompt": m} for m in _messages(PROMPTS + ["Write a short poem about the sea."])])
    trainer = GRPOTrainer(model=policy, reward_funcs=_recording(fn, calls), processing_class=tok, train_dataset=data,
                          args=_trainer_args(GRPOConfig, tmp_path, max_steps=2))
    trainer.train()

    assert len(calls) == 2  # one generation batch per step (steps_per_generation = gradient accumulation = 1)
    prompts, completions, kwargs = calls[0]
    assert {"completion_ids", "trainer_state"} <= set(kwargs)
    assert completions[0][0]["role"] == "assistant" and prompts[0] == prompts[1]  # conversational, G adjacent
    first = next(h for h in trainer.state.log_history if h.get("step") == 1)
    expected, scale = _expected_mean(reward, prompts, completions)
    # TRL casts the rewards to float32 and averages in float32: ~6e-8 relative round-off per value, up to 4 values
    assert first[f"rewards/{fn.__name__}/mean"] == pytest.approx(expected, abs=1e-6 * max(scale, 1.0))
    assert math.isfinite(first[f"{fn.__name__}/logp_strong"]) and first[f"{fn.__name__}/empty"] >= 0
    _assert_frozen(reward, before, torch.device("cpu"))
    assert any(not torch.equal(v, policy_before[k]) for k, v in policy.state_dict().items())  # the policy did train


def test_rloo_runs_a_step_on_string_prompts(reward, tmp_path):
    from trl import RLOOConfig, RLOOTrainer

    # RLOO's default KL term (beta 0.05) reloads a reference policy by the policy's name or path, which an in-memory
    # model lacks (config name ""): give the trainer a saved copy, as a user's policy would be
    policy, tok = tiny_model("llama", seed=2)
    policy.save_pretrained(tmp_path / "policy")
    fn, calls = reward.as_reward_function(reduction="mean", name="density_ratio_mean"), []
    data = Dataset.from_list([{"prompt": p} for p in PROMPTS + ["Hello!"]])
    trainer = RLOOTrainer(model=str(tmp_path / "policy"), reward_funcs=_recording(fn, calls), processing_class=tok,
                          train_dataset=data, args=_trainer_args(RLOOConfig, tmp_path / "out", max_steps=1))
    trainer.train()
    prompts, completions, _ = calls[0]
    assert isinstance(prompts[0], str) and isinstance(completions[0], str)
    messages = [[{"role": "user", "content": p}] for p in prompts]
    mean_reward = DensityRatioReward(reward.strong, reward.weak, "mean")
    expected, scale = _expected_mean(mean_reward, messages, completions)
    logged = trainer.state.log_history[0]["rewards/density_ratio_mean/mean"]
    assert logged == pytest.approx(expected, abs=1e-6 * max(scale, 1.0))


def test_online_dpo_runs_a_step_and_logs_the_density_ratio(reward, tmp_path):
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    policy, tok = tiny_model("llama", seed=3)
    policy.save_pretrained(tmp_path / "policy")  # its reference model is loaded from the policy's path
    fn, calls = reward.as_reward_function(), []
    data = Dataset.from_list([{"prompt": m} for m in _messages(PROMPTS + ["Hello!"])])
    args = OnlineDPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, max_new_tokens=8,
                           per_device_train_batch_size=2, max_steps=1, logging_steps=1, report_to=[],
                           save_strategy="no", learning_rate=1e-3, seed=0, disable_tqdm=True)
    trainer = OnlineDPOTrainer(model=str(tmp_path / "policy"), reward_funcs=_recording(fn, calls), args=args,
                               processing_class=tok, train_dataset=data)
    trainer.train()
    prompts, completions, _ = calls[0]
    expected, scale = _expected_mean(reward, prompts, completions)  # 2 completions per prompt, both scored
    logged = trainer.state.log_history[0]["objective/scores"]
    assert len(completions) == 2 * args.per_device_train_batch_size
    assert logged == pytest.approx(expected, abs=1e-6 * max(scale, 1.0))
