"""RewardBench 2 scoring: hand computations, and the official v2 scorer's figures on synthetic rewards.

OFFICIAL was produced by allenai/reward-bench's own functions (commit fd72033ea50678505a64998e0a381764f5c23576,
rewardbench/utils.py reroll_and_score_dataset, _compute_prompt_stats, process_single_model, taken out of the
file with ast and run unmodified; the per-subset loop copied from scripts/run_v2.py lines 343-378), in the side
virtualenv (datasets 5.2.0, numpy 2.4.6, pandas 3.1.1):

    cd tests/peers && /tmp/peer-venv/bin/python rb_reference.py > rb_reference.json

essential lines:

    unrolled = [{"id": r["id"], "subset": r["subset"], "text": t, "scores": s}
                for r, rw in zip(rows, rewards) for t, s in zip(r["chosen"] + r["rejected"], rw)]
    out = reroll_and_score_dataset(Dataset.from_pandas(pd.DataFrame(unrolled)),
                                   [r["total_completions"] for r in rows], cols_to_combine=["text", "scores"])
    out = out.add_column("num_correct", [r["num_correct"] for r in rows])
    for subset in np.unique(subsets):  # Ties -> process_single_model(...)[1], else sum(results) / len
    overall = np.mean(list(results_grouped.values()))   # the leaderboard's plain mean of the six

rows, rewards = make_rb2_inputs(seed) of tests/peers/rb_inputs.py.
"""
import hashlib
import json

import pytest

from cdr_utils.benchmarks.rewardbench2 import best_of_n_result, score_rewardbench2, ties_score
from peers.rb_inputs import make_rb2_inputs  # the inputs the peer script ran on


OFFICIAL = {  # seed: (inputs sha256, subset scores, overall = mean of the six)
    2: ("3a22ec95c776eec261513edcbc02697c913c1a9a2f7d022830d4d62d2a3c96e9",
        {"Factuality": 0.35, "Focus": 0.25833333333333336, "Math": 0.25833333333333336, "Precise IF": 0.3,
         "Safety": 0.33125, "Ties": 0.30051518515116327}, 0.29973864196963834),
    5: ("69d3bf21c453b680eedcca622b8db8db9bda1060e3baba0d90e48b65ef34a802",
        {"Factuality": 0.2833333333333333, "Focus": 0.15833333333333333, "Math": 0.3916666666666667,
         "Precise IF": 0.09583333333333334, "Safety": 0.25, "Ties": 0.23847467344426038}, 0.2362735566851545),
    11: ("7580675bd6606666185c38e8730ec864f2f4a750f66b4752f20a5084b4b91112",
         {"Factuality": 0.13333333333333333, "Focus": 0.2958333333333333, "Math": 0.2,
          "Precise IF": 0.24166666666666664, "Safety": 0.2375, "Ties": 0.32214925870600053}, 0.238413765339889),
}


@pytest.mark.parametrize("seed", sorted(OFFICIAL))
def test_matches_official_scorer(seed):
    digest, subsets, overall = OFFICIAL[seed]
    rows, rewards = make_rb2_inputs(seed)
    assert hashlib.sha256(json.dumps([rows, rewards], sort_keys=True).encode()).hexdigest() == digest
    table, ours = score_rewardbench2(rows, rewards)
    assert list(table.index) == ["Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"]
    for subset, score in subsets.items():
        assert table.loc[subset, "score"] == pytest.approx(score, abs=1e-12)
    assert ours == pytest.approx(100 * overall, abs=1e-10)  # percent


def test_best_of_n_by_hand():
    assert best_of_n_result([3, 1, 2, 0]) == 1.0
    assert best_of_n_result([3, 3, 2, 0]) == 0.5  # a two-way tie for the top
    assert best_of_n_result([2, 2, 2, 2]) == 0.25
    assert best_of_n_result([2, 3, 1, 0]) == 0.0  # beaten
    # a second chosen completion (num_correct 2) counts like any other: the official runner reads only s[0]
    rows = [{"id": "p", "chosen": ["a", "b"], "rejected": ["c", "d"], "num_correct": 2, "subset": "Focus"}]
    with pytest.warns(UserWarning, match="absent"):  # five of the six subsets missing
        assert score_rewardbench2(rows, [[1.0, 2.0, 0.0, 0.0]])[0].loc["Focus", "score"] == 0.0


def test_ties_by_hand():
    rows = [{"id": "ref:0", "num_correct": 1}, {"id": "tied:0", "num_correct": 2},
            {"id": "ref:1", "num_correct": 1}, {"id": "tied:1", "num_correct": 2}, {"id": "tied:2", "num_correct": 2}]
    rewards = [[3, 1, 2], [5, 4, 1, 2], [1, 2, 0], [3, 3, 1], [1, 0.5, 2]]
    # accurate: ref 0 yes (3 > 2), ref 1 no (1 < 2); tied 0 yes (4 > 2), tied 1 yes (3 > 1), tied 2 no (0.5 < 2)
    # k in both: 0: spread d = 5 - 4 = 1, margins m_tied = 4 - 2 = 2, m_ref = 3 - 2 = 1, min 1
    #            1: d = 0, m_tied = 3 - 1 = 2, m_ref = 1 - 2 = -1, min -1
    # preferred = mean(2 > 1, 2 > 0) = 1; hard = mean(1 > 1, -1 > 0) = 0;
    # margin = mean(tanh(1 / 1 - 1), tanh(-1 / 0 - 1)) = mean(0, -1) = -0.5
    parts = ties_score(rows, rewards)
    expected = {"tied_accuracy": 2 / 3, "ref_accuracy": 0.5, "correctness_preferred": 1.0,
                "correctness_preferred_hard": 0.0, "correctness_margin_score": -0.5}
    for name, value in expected.items():
        assert parts[name] == pytest.approx(value)
    assert parts["score"] == pytest.approx(0.3 * 2 / 3 + 0.3 * 0.5 + 0.2 * 1 + 0.2 * 0 + 0.01 * -0.5)  # 0.545


def test_bad_rows_raise_and_partial_sets_warn():
    row = {"id": "x-1", "chosen": ["a"], "rejected": ["b", "c", "d"], "num_correct": 1, "total_completions": 4,
           "subset": "Math"}
    with pytest.raises(ValueError, match="x-1.*3 rewards for 4 completions"):
        score_rewardbench2([row], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="x-1.*NaN"):
        score_rewardbench2([row], [[1.0, float("nan"), 0.0, 0.0]])
    with pytest.raises(ValueError, match="ref:<k>"):
        ties_score([{"id": "7", "num_correct": 1}], [[1.0, 0.0]])
    with pytest.warns(UserWarning, match="absent"):
        table, overall = score_rewardbench2([row], [[1.0, 0.0, 0.0, 0.0]])
    assert overall == 100.0 and "Ties" in table.attrs["missing_subsets"]
