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
