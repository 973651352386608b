"""Benchmark metrics against hand computations and planted truths (no judge, no model)."""
import math

import numpy as np
import pandas as pd
import pytest

from cdr_utils.benchmarks.policy import (arena_hard_scores, battles_from_games, bradley_terry, length_controlled_win_rate,
                             mt_bench_scores, parse_rating, win_rate)
from cdr_utils.benchmarks.policy.glm import fit_logistic
from cdr_utils.benchmarks.policy.winrate import alpaca_eval_table, instruction_difficulty


def _record(i, pref, len_baseline=100, len_model=100, gen="m"):
    return {"instruction": f"q{i}", "output_1": "b" * len_baseline, "output_2": "m" * len_model,
            "generator_1": "base", "generator_2": gen, "preference": pref}


# -- logistic fit --------------------------------------------------------------------------------------------
def test_logistic_intercept_only_is_the_logit_of_the_mean():
    y = np.array([1, 1, 1, 0, 0.5, 0.25])
    (w,) = fit_logistic(np.ones((6, 1)), y, ridge=0.0)
    assert w == pytest.approx(math.log(y.mean() / (1 - y.mean())), abs=1e-8)


# -- AlpacaEval ----------------------------------------------------------------------------------------------
def test_win_rate_by_hand():
    prefs = [2, 2, 1, 0, 1.5, None]  # 2 wins, 2 ties (0 is alpaca_eval's tie), 1 loss, 1 unparsed
    m = win_rate([_record(i, p) for i, p in enumerate(prefs)])
    assert m["win_rate"] == pytest.approx(100 * (2 + 0.5 * 2) / 5)
    assert (m["n_wins"], m["n_draws"], m["n_losses"], m["n_total"], m["n_unparsed"]) == (2, 2, 1, 5, 1)


def test_lc_with_equal_lengths_is_the_l1_shrunk_mean():
    """Equal lengths: the length feature is 0, and the L1 fit's optimality condition for the model term w
    (duplicated rows, weights p and 1 - p; liblinear minimizes |w|_1 + C sum loss) reads
    C n (mean_i s_i - mean_i p_i) = -sign(w), so LC = 100 (mean p - sign(w) / (C n)), with or without a
    difficulty feature (its own condition does not involve the mean). The old unpenalized fit gave LC = the
    raw win rate exactly; alpaca_eval's L1 penalty on the model term shrinks it by 100 / (C n) points."""
    rng = np.random.default_rng(0)
    prefs = rng.choice([1.0, 2.0, 1.5, 1.3], size=60)
    records = [_record(i, p, 80, 80) for i, p in enumerate(prefs)]
    raw = 100 * np.mean(prefs - 1)
    difficulty = {f"q{i}": float(d) for i, d in enumerate(rng.normal(size=60))}
    for diff in (None, difficulty):
        m = length_controlled_win_rate(records, diff)
        assert m["win_rate"] == pytest.approx(raw)
        w = m["weights"]["not_gamed_baseline.astype(float)"]
        assert w != 0 and m["weights"]["np.tanh(std_delta_len)"] == 0
        expected = raw - 100 * np.sign(w) / (m["C"] * 60)
        assert m["length_controlled_winrate"] == pytest.approx(expected, abs=1e-3)
        assert abs(m["length_controlled_winrate"] - raw) < 1.0


def _planted(n, quality, length_gain, seed, gen="m", difficulty=None):
    """Judgments whose preference is s(quality - difficulty_i + length_gain * tanh(std length advantage)):
    the model's answers are longer on average, which a length-biased judge rewards."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n) if difficulty is None else difficulty
    len_b = rng.integers(300, 900, n)
    len_m = len_b + rng.normal(250, 300, n).round().astype(int).clip(-250, None)
    delta = (len_b - len_m).astype(float)
    std_delta = delta / pd.Series(delta).std()
    p = 1 / (1 + np.exp(-(quality - difficulty - length_gain * np.tanh(std_delta))))
    prefs = 1 + rng.binomial(1, p)  # hard verdicts: 1 = baseline, 2 = model
    truth = 100 * np.mean(1 / (1 + np.exp(-(quality - difficulty))))  # the same judge, no length difference
    records = [_record(i, int(pref), int(lb), int(lm), gen) for i, (pref, lb, lm) in
               enumerate(zip(prefs, len_b, len_m))]
    return records, truth, {f"q{i}": float(d) for i, d in enumerate(difficulty)}


def test_lc_removes_a_planted_length_bias():
    records, truth, difficulty = _planted(4000, quality=-0.5, length_gain=1.5, seed=1)
    m = length_controlled_win_rate(records, difficulty)
    assert m["win_rate"] - truth > 10  # the bias is real: longer answers inflate the raw win rate
    assert m["length_controlled_winrate"] == pytest.approx(truth, abs=2.5)
    assert m["weights"]["np.tanh(std_delta_len)"] == pytest.approx(-1.5, abs=0.25)


def test_leave_one_model_out_difficulty_and_table():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1.5, 3000)
    a, truth_a, _ = _planted(3000, 0.0, 1.5, seed=4, gen="a", difficulty=difficulty)
    b, truth_b, _ = _planted(3000, 1.0, 0.0, seed=5, gen="b", difficulty=difficulty)
    est = instruction_difficulty(a + b, exclude_generator="a")  # only b's records: -logit((p + 0.5) / 2)
    p_b = b[7]["preference"] - 1
    assert est["q7"] == pytest.approx(-math.log((p_b + 0.5) / (1 - p_b + 0.5)))
    table = alpaca_eval_table(a + b)
    assert table.attrs["lc_variant"] == "length_controlled_noreg_lomo"
    assert table.loc["a", "win rate"] - truth_a > 10
    assert table.loc["a", "LC win rate"] == pytest.approx(truth_a, abs=4)
    assert table.loc["b", "LC win rate"] == pytest.approx(table.loc["b", "win rate"], abs=4)  # unbiased judge


# -- Arena-Hard ----------------------------------------------------------------------------------------------
def test_battles_from_games_by_hand():
    records = [{"uid": "1", "model": "m", "baseline": "g", "games": [{"score": "A>>B"}, {"score": "A>B"}]},
               {"uid": "2", "model": "m", "baseline": "g", "games": [{"score": "B>A"}, {"score": "B>>A"}]},
               {"uid": "3", "model": "m", "baseline": "g", "games": [{"score": "A=B"}, None]},
               {"uid": "4", "model": "m", "baseline": "g", "games": [{"score": "garbage"}, {"score": None}]}]
    battles = battles_from_games(records)
    # q1: baseline (A in game 1) wins x3, then the model (A in game 2) wins x1; q2: model x1, baseline x3
    expected = ["model_a"] * 3 + ["model_b"] + ["model_b"] + ["model_a"] * 3 + ["tie"]
    assert battles["winner"].tolist() == expected
    assert set(battles["model_a"]) == {"g"} and set(battles["model_b"]) == {"m"}


def test_bradley_terry_two_models_by_hand():
    battles = pd.DataFrame({"model_a": "g", "model_b": "m", "winner": ["model_b"] * 30 + ["model_a"] * 10 +
                            ["tie"] * 8})
    ratings = bradley_terry(battles, "g")
    # MLE: P(m beats g) = (wins + ties / 2) / n = 34 / 48
    assert ratings["g"] == 1000
    assert ratings["m"] == pytest.approx(1000 + 400 * math.log10(34 / 14), abs=1e-4)
    scores = arena_hard_scores(battles, "g", rounds=20, seed=0)
    assert scores.loc["m", "score"] == pytest.approx(100 * 34 / 48, abs=1e-4)
    assert scores.loc["g", "score"] == pytest.approx(50)


def _simulated_battles(ratings, n_per_pair, seed):
    rng = np.random.default_rng(seed)
    rows = []
    models = list(ratings)
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            p = 1 / (1 + 10 ** ((ratings[b] - ratings[a]) / 400))
            wins = rng.random(n_per_pair) < p
            rows += [{"model_a": a, "model_b": b, "winner": "model_a" if w else "model_b"} for w in wins]
    return pd.DataFrame(rows)


def test_bradley_terry_recovers_planted_strengths():
    truth = {"base": 1000.0, "good": 1150.0, "bad": 880.0, "mid": 1040.0}
    ratings = bradley_terry(_simulated_battles(truth, 1500, seed=0), "base")
    for model, rating in truth.items():
        assert ratings[model] == pytest.approx(rating, abs=25)


def test_bootstrap_interval_is_seeded_and_covers_the_truth():
    truth = {"base": 1000.0, "tuned": 1100.0}
    true_score = 100 / (1 + 10 ** (-100 / 400))
    battles = _simulated_battles(truth, 400, seed=1)
    a = arena_hard_scores(battles, "base", rounds=100, seed=7)
    b = arena_hard_scores(battles, "base", rounds=100, seed=7)
    c = arena_hard_scores(battles, "base", rounds=100, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert a.loc["tuned", "lower"] != c.loc["tuned", "lower"]
    assert a.loc["tuned", "lower"] < a.loc["tuned", "score"] < a.loc["tuned", "upper"]
    # coverage over independent data sets: a 95 % interval should miss rarely (expected ~1 of 20)
    covered = 0
    for s in range(20):
        t = arena_hard_scores(_simulated_battles(truth, 200, seed=100 + s), "base", rounds=100, seed=s)
        covered += t.loc["tuned", "lower"] <= true_score <= t.loc["tuned", "upper"]
    assert covered >= 16


# -- MT-Bench ------------------------------------------------------------------------------------------------
# FastChat's own parse, recorded: fastchat/llm_judge/common.py at 81785d7ed1d6afb966b464a8ee4689b7413e6313
# (one_score_pattern / one_score_pattern_backup exec'd from the file, the rating block of run_judge_single
# verbatim) run on this battery by tests/peers/fastchat_ratings.py (output: tests/peers/fastchat_ratings.out):
#     git -C <FastChat clone> show 81785d7:fastchat/llm_judge/common.py > /tmp/peer-src/fastchat_common.py
#     cd tests/peers && python3 fastchat_ratings.py
FASTCHAT = [  # (judge text, FastChat's rating; "raises" = FastChat's literal_eval raises SyntaxError)
    ("The answer is accurate and helpful. Rating: [[8]]", 8), ("First answer [[3]], on reflection [[9]]", 3),
    ("Rating: [[8.]]", 8.0), ("Rating: [[8.5]]", 8.5), ("Rating: [8]", 8), ("Rating: 7/10", -1),
    ("Rating: [[42]]", 42), ("Rating: [[0]]", 0), ("on a scale of 1 to 10 ... [[ 3 ]]", -1),
    ("scale [1] to [10]; final verdict [[6]]", 6), ("Rating: [[10]]", 10), ("Rating: [[08]]", "raises"),
    ("no rating here", -1), ("", -1)]


@pytest.mark.parametrize("text, fastchat", FASTCHAT)
def test_parse_rating_is_fastchat(text, fastchat):
    got = parse_rating(text)
    if fastchat == "raises":  # FastChat crashes; we call it unparseable
        assert got == -1
    else:
        assert (got, type(got)) == (fastchat, type(fastchat))


@pytest.mark.parametrize("text, rating", [
    ("The answer... Rating: 7", 7.0), ("Rating: 6/10", 6.0), ("on a scale of 1 to 10 ... [[ 3 ]]", 3.0),
    ("Score: 9", 9.0), ("Rating: [[08]]", 8.0), ("Rating: [[8.5]]", 8.5), ("no rating here", -1), (None, -1)])
def test_parse_rating_lenient(text, rating):
    assert parse_rating(text, lenient=True) == rating
    if text and "[[8.5]]" not in text:
        assert parse_rating(text) == -1  # not without the option


def test_mt_bench_averages_and_garbage():
    judgments = [{"question_id": 1, "model": "m", "turn": 1, "judgment": "[[8]]"},
                 {"question_id": 1, "model": "m", "turn": 2, "judgment": "Rating: 5"},
                 {"question_id": 2, "model": "m", "turn": 1, "judgment": "[[9.5]]"},
                 {"question_id": 2, "model": "m", "turn": 2, "judgment": "I cannot rate this."},
                 {"question_id": 3, "model": "m", "turn": 2, "score": 4},
                 {"question_id": 1, "model": "n", "turn": 1, "judgment": "[[2]]"}]
    # FastChat's parse: "Rating: 5" is unparseable (this test read it as 5 before the parse followed FastChat)
    table = mt_bench_scores(judgments)
    assert table.loc["m", "turn 1"] == pytest.approx((8 + 9.5) / 2)
    assert table.loc["m", "turn 2"] == pytest.approx(4)
    assert table.loc["m", "overall"] == pytest.approx((8 + 9.5 + 4) / 3)
    assert (table.loc["m", "rated"], table.loc["m", "unparsed"], table.loc["m", "excluded"]) == (3, 2, 2)
    assert table.loc["n", "overall"] == 2 and math.isnan(table.loc["n", "turn 2"])
    lenient = mt_bench_scores(judgments, lenient=True)  # the old reading
    assert lenient.loc["m", "turn 2"] == pytest.approx((5 + 4) / 2)
    assert lenient.loc["m", "overall"] == pytest.approx((8 + 5 + 9.5 + 4) / 4)
    assert (lenient.loc["m", "rated"], lenient.loc["m", "excluded"]) == (4, 1)


def test_mt_bench_out_of_range_and_missing_answers():
    judgments = [{"question_id": q, "model": "m", "turn": t, "judgment": f"[[{r}]]"}
                 for q, t, r in [(81, 1, 7), (81, 2, 42), (82, 1, 0), (82, 2, 9), (83, 1, 10)]]
    judgments.append({"question_id": 83, "model": "m", "turn": 2, "score": -1, "judgment": "no verdict"})
    judgments.append({"question_id": 81, "model": "n", "turn": 1, "score": 6})
    table = mt_bench_scores(judgments, questions=[81, 82, 83, 84])
    # FastChat would average 7, 42, 0, 9, 10 (all != -1); the project leaves 42 and 0 out and counts them
    assert table.loc["m", "overall"] == pytest.approx((7 + 9 + 10) / 3)
    assert table.loc["m", "turn 1"] == pytest.approx((7 + 10) / 2)
    assert (table.loc["m", "out_of_range"], table.loc["m", "unparsed"], table.loc["m", "excluded"]) == (2, 1, 3)
    assert table.loc["m", "missing"] == 1 and table.loc["m", "missing_ids"] == [84]  # 83 has both turns
    assert table.loc["n", "missing"] == 4 and table.loc["n", "missing_ids"] == [81, 82, 83, 84]
    with pytest.raises(ValueError, match=r"model 'm' lacks 1 question\(s\) \[84\].*model 'n' lacks 4"):
        mt_bench_scores(judgments, questions=[81, 82, 83, 84], require_complete=True)
    complete = [j for j in judgments if j["model"] == "m"]
    assert mt_bench_scores(complete, questions=[81, 82, 83], require_complete=True).loc["m", "missing"] == 0
