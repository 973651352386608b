"""Held-out measures for tuned policies (tuning_eval.py), against the naive reference forward and planted numbers."""
import numpy as np
import pandas as pd
import pytest

from cdr_utils import load_model
from cdr_utils.studies.tuning_eval import accuracy_table, implicit_rewards, reward_summary

from reference import MARKERS, naive_logprob
from test_tuning import PAIRS, _row


def _naive_logp(model, tok, prompt, response):
    total, n, _ = naive_logprob(model, tok, prompt, response, MARKERS["tiny-random-llama"])
    return total, n


@pytest.fixture(scope="module")
def pairs():
    import datasets

    return datasets.Dataset.from_list([_row(i, *p) for i, p in enumerate(PAIRS)])


def test_simpo_and_dpo_implicit_rewards_match_a_naive_forward(pairs):
    policy, tok = load_model("tiny-random-llama", seed=0)
    ref, _ = load_model("tiny-random-llama", seed=1)
    beta = 2.0
    simpo = implicit_rewards(pairs, policy, tok, method="simpo", beta=beta)
    dpo = implicit_rewards(pairs, policy, tok, method="dpo", beta=beta, reference=(ref, tok))
    for i, row in enumerate(pairs):
        for col, turns in (("r_chosen", row["chosen"]), ("r_rejected", row["rejected"])):
            s_pol, n = _naive_logp(policy, tok, row["prompt"], turns[0]["content"])
            s_ref, _ = _naive_logp(ref, tok, row["prompt"], turns[0]["content"])
            assert simpo[col][i] == pytest.approx(beta * s_pol / n, rel=1e-4)
            assert dpo[col][i] == pytest.approx(beta * (s_pol - s_ref), rel=1e-4, abs=1e-4)
    assert list(simpo["correct"]) == list(simpo["r_chosen"] > simpo["r_rejected"])


def test_untrained_dpo_policy_ties_everywhere_and_ties_are_wrong(pairs):
    policy, tok = load_model("tiny-random-llama", seed=0)
    frame = implicit_rewards(pairs, policy, tok, method="dpo", beta=0.1, reference=(policy, tok))
    assert (frame[["r_chosen", "r_rejected"]].to_numpy() == 0).all()
    assert accuracy_table({"untrained": frame}).loc["untrained", "accuracy (%)"] == 0


def test_reward_summary_pairs_by_prompt_and_seed():
    keys = {"prompt_index": [0, 0, 1, 1], "sample": [0, 1, 0, 1], "n_tokens": 5, "finished": True}
    base = pd.DataFrame({**keys, "policy": "base", "reward": [1.0, 2.0, 30.0, 40.0]})
    tuned = pd.DataFrame({**keys, "policy": "tuned", "reward": [2.0, 3.0, 31.0, np.nan]})
    table = reward_summary([base, tuned])
    assert table.loc["tuned", "minus first (paired)"] == 1.0 and table.loc["tuned", "paired SE"] == 0.0
    assert table.loc["tuned", "mean reward (nats)"] == pytest.approx(12.0) and table.loc["tuned", "empty"] == 1
    assert table.loc["base", "mean reward (nats)"] == pytest.approx(18.25)


def test_fresh_samples_scored_against_the_original_prompt_match_a_naive_forward():
    """A steered policy's samples get the training reward of (original prompt, sample), from naive forwards of
    the strong and weak models; an empty sample gets NaN."""
    from cdr_utils.studies import get_profile, load_reward
    from cdr_utils.studies.tuning_eval import fresh_samples, score_samples

    P = get_profile("smoke", {"tuning.eval_samples": 2, "tuning.eval_max_new_tokens": 8})
    policy, tok = load_model("tiny-random-llama", seed=7)
    prompts = [[{"role": "user", "content": q}] for q, _, _ in PAIRS[:3]]
    steer = lambda p: [{"role": "system", "content": "Answer well."}, *p]  # noqa: E731
    frame = fresh_samples(P, policy, tok, prompts, seed=1, prompt_fn=steer, label="steered")
    assert list(zip(frame["prompt_index"], frame["sample"])) == [(i, j) for i in range(3) for j in range(2)]
    frame.loc[1, "response"] = ""  # as an empty sample would come back
    reward = load_reward(P)
    scored = score_samples(frame, reward, prompts)
    strong, weak = reward.strong.model, reward.weak.model
    for row in scored.itertuples():
        if row.response == "":
            assert np.isnan(row.reward)
            continue
        s, _ = _naive_logp(strong, reward.strong.tokenizer, prompts[row.prompt_index], row.response)
        w, _ = _naive_logp(weak, reward.weak.tokenizer, prompts[row.prompt_index], row.response)
        assert row.reward == pytest.approx(s - w, abs=1e-4)
