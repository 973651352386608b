"""annotate.py: prompts, scoring candidates with the profile's reward, and the saved on-policy pairs."""
import dataclasses
import json

import numpy as np
import pytest

from cdr_utils.studies import annotate, artifacts, profiles
from cdr_utils.benchmarks.minibench import alpaca_eval_path
from cdr_utils.pairs import split_by_prompt, strategy_summary
from cdr_utils.stats import spearman


@pytest.fixture()
def outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    return tmp_path


def test_onpolicy_pairs_smoke_build_save_reload(outputs, monkeypatch):
    P = profiles.get_profile("smoke", "annotation.pair=profile")  # the recipe's own pair, not notebook 01's
    data = annotate.onpolicy_pairs(P, progress=False)
    scored = annotate.scored_candidates(P)  # reloaded, not rebuilt
    assert list(data["train"].column_names) == ["prompt_id", "prompt", "chosen", "rejected", "score_chosen",
                                               "score_rejected", "margin", "customization", "pair"]
    train_ids, test_ids = set(data["train"]["prompt_id"]), set(data["test"]["prompt_id"])
    assert train_ids and test_ids and not train_ids & test_ids
    by_id = {r["prompt_id"]: r for r in scored}
    for row in list(data["train"]) + list(data["test"]):
        cand = by_id[row["prompt_id"]]
        assert row["prompt"] == cand["prompt"] and row["prompt"][-1]["role"] == "user"
        assert row["score_chosen"] == max(cand["rewards"]) and row["score_rejected"] == min(cand["rewards"])
        assert row["chosen"] == [{"role": "assistant", "content": cand["responses"][int(np.argmax(cand["rewards"]))]}]
        assert row["pair"] == "tiny-llama (seed 0) over tiny-llama (seed 1)" and row["customization"] == "none"
    seeds = [[s["seed"] for s in json.loads(r["samples"])] for r in scored]
    assert all(s == list(range(P.generation.n)) for s in seeds)
    # JSONL copies hold the same rows
    for split in ("train", "test"):
        lines = (annotate.pairs_path(P) / f"{split}.jsonl").read_text().splitlines()
        assert [json.loads(x)["prompt_id"] for x in lines] == data[split]["prompt_id"]

    # Rewards are the density ratio of the profile's pair, recomputed independently
    reward = profiles.load_reward(P)
    prompts = [r["prompt"] for r in scored for _ in r["responses"]]
    responses = [t for r in scored for t in r["responses"]]
    expected = reward.score(prompts, responses).reward
    assert np.allclose(np.concatenate([r["rewards"] for r in scored]), expected, atol=1e-4)

    # a second call loads: generation must not run again
    monkeypatch.setattr("cdr_utils.generate.generate_responses", lambda *a, **k: pytest.fail("rebuilt"))
    again = annotate.onpolicy_pairs(P)
    assert again["train"].to_list() == data["train"].to_list()
    # another reward: rescored from the saved samples (no sampling), different rewards, under another key
    assert len(list((outputs / P.name / "candidates").iterdir())) == 1
    other = dataclasses.replace(P, weak=dataclasses.replace(P.weak, seed=2, label="tiny-llama (seed 2)"))
    rescored = annotate.scored_candidates(other)
    assert list(rescored["responses"]) == list(scored["responses"])
    assert rescored[0]["pair"] == "tiny-llama (seed 0) over tiny-llama (seed 2)"
    assert not np.allclose(rescored[0]["rewards"], scored[0]["rewards"])
    assert len(list((outputs / P.name / "candidates").iterdir())) == 2  # both builds kept, neither overwritten


def test_the_annotation_uses_notebook_01s_pair_when_asked(outputs):
    """annotation.pair = "study": the pair study's artifact (built now, since none exists) decides the reward."""
    from cdr_utils.studies import pair_selection

    P = profiles.get_profile("smoke")
    strong, weak, _, _ = annotate.reward_setup(P)
    record = pair_selection.best_pair_record(P, build=False)  # the artifact now exists
    assert (strong, weak) == (profiles.ModelSpec(**record["strong"]), profiles.ModelSpec(**record["weak"]))
    assert len(list((outputs / "smoke" / "best_pair").iterdir())) == 1


def test_customized_scoring_matches_customize(outputs):
    """With customization on, each candidate's reward is the density ratio under customize()'s messages."""
    from cdr_utils.customize import Customization, customize
    from cdr_utils.rewards import score_candidates
    from cdr_utils.router import KeywordRouter

    P = profiles.get_profile("smoke")
    P = dataclasses.replace(P, annotation=dataclasses.replace(P.annotation, customize=True, pair="profile"),
                            customize=dataclasses.replace(P.customize, mode="criteria", router="keyword"))
    prompts = [[{"role": "user", "content": "What is 12 * 7?"}], [{"role": "user", "content": "Say hello."}]]
    cands = [["84", "It is 84."], ["Hello!", ""]]
    reward = annotate.annotation_reward(P, progress=False)
    scored, stats = score_candidates(reward, [{"prompt": p, "responses": c} for p, c in zip(prompts, cands)])
    rewards = scored["rewards"]
    assert stats["customization"].startswith("criteria") and "keyword" in stats["customization"]
    assert np.isnan(rewards[1][1]) and stats["empty"] == 1  # empty response: not scored, counted
    assert scored["domain"] == ["REASONING", "CHAT"]
    custom = Customization(mode="criteria")
    flat = [(0, 0), (0, 1), (1, 0)]
    msgs = [customize(prompts[i], KeywordRouter().route(prompts[i]), custom) for i, _ in flat]
    plain = profiles.load_reward(P)  # the same pair without customization, fed the customized messages
    expected = plain.score(msgs, [cands[i][j] for i, j in flat]).reward
    assert np.allclose([rewards[i][j] for i, j in flat], expected, atol=1e-4)
    assert "12 * 7" in msgs[0][-1]["content"] and msgs[0][0]["role"] == "system"  # criteria as a system message


def test_offline_prompts_from_alpaca_and_arena():
    prompts = annotate.offline_prompts(6, seed=3, max_chars=300)
    assert prompts == annotate.offline_prompts(6, seed=3, max_chars=300) != annotate.offline_prompts(6, seed=4)
    texts = [p[0]["content"] for p in prompts]
    alpaca = {r["instruction"] for r in json.loads(alpaca_eval_path().read_text())}
    assert sum(t in alpaca for t in texts) == 3 and all(len(t) <= 300 for t in texts)
    assert len(set(texts)) == 6


def test_split_by_prompt_and_summary():
    from datasets import Dataset

    pairs = Dataset.from_dict({"prompt_id": [f"p{i}" for i in range(20)], "margin": list(range(20))})
    parts = split_by_prompt(pairs, 0.25, seed=1)
    assert len(parts["test"]) == 5 and len(parts["train"]) == 15
    assert not set(parts["test"]["prompt_id"]) & set(parts["train"]["prompt_id"])
    assert split_by_prompt(pairs, 0.25, seed=1)["test"]["prompt_id"] == parts["test"]["prompt_id"]
    # Spearman by hand: ranks d = [0, 1, 1, 0], rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    import pandas as pd

    frame = pd.DataFrame({"margin": [1.0, 2.0, 3.0, 4.0], "length_diff": [-5, 10, 20, 30]})
    row = strategy_summary({"s": frame}).loc["s"]
    assert row["pairs"] == 4 and row["chosen longer (%)"] == 75 and row["mean length diff"] == 13.75
    assert row["spearman(length diff, margin)"] == pytest.approx(1.0)


def test_policy_samples_through_vllm_when_the_profile_asks(outputs, fake_vllm):
    """backend "vllm" (the paper profile's "auto" where vLLM is installed): the policy is sampled through vLLM by
    name (tests/fake_vllm records the requests) and the samples' settings record the backend used."""
    P = profiles.get_profile("smoke")
    P = dataclasses.replace(P, generation=dataclasses.replace(P.generation, backend="auto"))
    samples = annotate.policy_samples(P, progress=False)
    assert len(fake_vllm.REQUESTS) == len(samples) * P.generation.n
    [folder] = (outputs / "smoke" / "samples").iterdir()
    assert json.loads((folder / "manifest.json").read_text())["settings"]["generation"]["backend"] == "vllm"
    assert all(s["generator"].endswith("(vllm)") for row in samples["samples"] for s in json.loads(row))


def test_the_llm_router_is_loaded_once(outputs, monkeypatch):
    """The LLM router is the strong model already in memory (the paper's 7B loaded once, not once per call); a
    separate router_model is loaded once per reward, in the recipe's dtype, however many prompts it routes."""
    from cdr_utils import logprobs, router

    loads = []
    for module in (logprobs, router):
        real = module.load_spec
        monkeypatch.setattr(module, "load_spec", lambda spec, real=real, **kw: loads.append((str(spec), kw))
                            or real(spec, **kw))
    P = profiles.get_profile("smoke", {"annotation.pair": "profile", "annotation.customize": True,
                                       "customize.router": "llm", "customize.mode": "criteria", "dtype": "float32"})
    prompts = [[{"role": "user", "content": f"Question {i}: what is {i} + {i}?"}] for i in range(5)]
    rows = [{"prompt": p, "responses": ["It is.", "No idea."]} for p in prompts]
    reward = annotate.annotation_reward(P, progress=False)
    assert reward.router.model is reward.strong.model
    from cdr_utils.rewards import score_candidates
    score_candidates(reward, rows)
    score_candidates(reward, rows)
    assert [name for name, _ in loads] == [str(P.strong), str(P.weak)]

    loads.clear()
    separate = profiles.ModelSpec("tiny-random-gpt2", seed=3)
    P2 = dataclasses.replace(P, customize=dataclasses.replace(P.customize, router_model=separate))
    reward = annotate.annotation_reward(P2, progress=False)
    score_candidates(reward, rows)
    assert reward.router.model is not reward.strong.model and len(reward.router.answers) == 5
    assert sorted(name for name, _ in loads) == sorted([str(P.strong), str(P.weak), str(separate)])
    assert all(kw.get("dtype") == "float32" for _, kw in loads)
