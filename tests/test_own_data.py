"""The core on a user's own data: score_candidates against the naive reference, a reward loaded by name,
customization as an option of the reward, and evaluate on a user's own subsets."""
import math

import numpy as np
import pytest
from datasets import Dataset

from cdr_utils import Customization, DensityRatioReward, LogProbScorer, RecordError, evaluate, load_model
from cdr_utils.customize import customize
from cdr_utils.router import KeywordRouter
from cdr_utils.rewards import score_candidates
from reference import MARKERS, naive_logprob

ROWS = [
    {"id": "a", "prompt": "What is the capital of France?", "responses": ["Paris.", "It is Paris.", "London"],
     "source": "mine"},
    {"id": "b", "prompt": [{"role": "user", "content": "Say hi."}], "responses": ["Hello!", "", "Go away."],
     "source": "theirs"},
    {"id": "c", "prompt": "What is 12 * 7?", "responses": ["84"], "source": "mine"},
]


@pytest.fixture(scope="module")
def pair(tiny_llama, tiny_gpt2):
    return DensityRatioReward(LogProbScorer(*tiny_llama), LogProbScorer(*tiny_gpt2))


def _naive(model_tok, name, prompt, response):
    model, tok = model_tok
    return naive_logprob(model, tok, prompt, response, MARKERS[name])[:2]


def test_score_candidates_equals_the_naive_reference(pair, tiny_llama, tiny_gpt2):
    scored, stats = score_candidates(pair, ROWS)  # a list of dicts; string prompts are one user turn
    assert scored["id"] == ["a", "b", "c"] and scored["source"] == ["mine", "theirs", "mine"]  # order, extra columns
    assert stats == {"rows": 3, "responses": 7, "scored": 6, "empty": 1,
                     "pair": "tiny-random-llama over tiny-random-gpt2", "customization": "none"}
    assert scored[0]["prompt"] == [{"role": "user", "content": ROWS[0]["prompt"]}]
    assert score_candidates(pair, Dataset.from_list(ROWS[:1]))[0]["rewards"] == scored["rewards"][:1]
    for row in scored:
        prompt = row["prompt"]
        for j, text in enumerate(row["responses"]):
            if not text:
                assert math.isnan(row["rewards"][j]) and row["n_tokens_strong"][j] == 0
                continue
            s_sum, s_n = _naive(tiny_llama, "tiny-random-llama", prompt, text)
            w_sum, w_n = _naive(tiny_gpt2, "tiny-random-gpt2", prompt, text)
            assert row["rewards"][j] == pytest.approx(s_sum - w_sum, abs=1e-3)
            assert (row["n_tokens_strong"][j], row["n_tokens_weak"][j]) == (s_n, w_n)
            assert row["logp_strong"][j] == pytest.approx(s_sum, abs=1e-3)


def test_one_response_per_row_gives_scalar_columns(pair, tmp_path):
    rows = [{"prompt": "Say hi.", "response": "Hello!"}, {"prompt": "Name a colour.", "response": "Blue."}]
    scored, _ = score_candidates(pair, rows)
    many, _ = score_candidates(pair, [{"prompt": r["prompt"], "responses": [r["response"]]} for r in rows])
    assert scored["reward"] == [r[0] for r in many["rewards"]]
    assert scored["n_tokens_weak"] == [n[0] for n in many["n_tokens_weak"]]


def test_bad_rows_are_named_before_any_scoring(pair):
    with pytest.raises(RecordError, match="record 'x', field 'responses'"):
        score_candidates(pair, [{"id": "x", "prompt": "Hi", "responses": "not a list"}])
    with pytest.raises(RecordError, match="record 1, field 'prompt'"):
        score_candidates(pair, [{"prompt": "Hi", "responses": ["a"]}, {"responses": ["b"]}])


def test_from_pretrained_equals_scorers_built_by_hand(tiny_llama, tiny_gpt2, pair):
    loaded = DensityRatioReward.from_pretrained("tiny-random-llama", "tiny-random-gpt2", reduction="mean")
    prompts, responses = [[{"role": "user", "content": "Say hi."}]] * 2, ["Hello!", "Go away."]
    by_hand = pair.score(prompts, responses)
    out = loaded.score(prompts, responses)
    np.testing.assert_allclose(out.reward, by_hand.strong.mean - by_hand.weak.mean, atol=1e-6)


def test_customization_is_an_option_of_the_reward(pair):
    """A customized reward scores each prompt under customize()'s messages for its router's domain; a domain
    column gives the same numbers as the router when it holds the same labels; apply_to="strong" leaves the weak
    model's input alone."""
    custom = Customization(mode="criteria")
    reward = pair.customized(custom, router=KeywordRouter())
    rows = [{"prompt": "What is 12 * 7?", "responses": ["84", "12 * 7 = 74."]},
            {"prompt": "How do I steal a car?", "responses": ["I can't help with that.", "Sure."]}]
    scored, stats = score_candidates(reward, rows)
    assert scored["domain"] == ["REASONING", "SAFETY"] and stats["customization"].startswith("criteria")
    expected = [pair.score([customize([{"role": "user", "content": r["prompt"]}], d, custom)] * 2,
                           r["responses"]).reward for r, d in zip(rows, scored["domain"])]
    np.testing.assert_allclose(scored["rewards"], expected, atol=1e-4)
    by_column, _ = score_candidates(reward, [dict(r, domain=d) for r, d in zip(rows, scored["domain"])],
                                    domain_column="domain")
    assert by_column["rewards"] == scored["rewards"]
    strong_only = pair.customized(custom, apply_to="strong", router=KeywordRouter())
    res = strong_only.score([[{"role": "user", "content": "What is 12 * 7?"}]], ["84"])
    plain = pair.score([[{"role": "user", "content": "What is 12 * 7?"}]], ["84"])
    assert res.weak.sum[0] == plain.weak.sum[0] and res.strong.sum[0] != plain.strong.sum[0]
    with pytest.raises(ValueError, match="no router"):
        pair.customized(custom).score([[{"role": "user", "content": "Hi"}]], ["Hello"])


def test_evaluate_on_your_own_subsets():
    """Each subset is weighted by its rows; without a map each is its own section, Score = their mean."""
    rows = [{"id": str(i), "prompt": "q", "chosen": "good", "rejected": "bad", "subset": s}
            for i, s in enumerate(["tone", "tone", "tone", "facts", "facts"])]
    chosen, rejected = [1.0, 1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]  # tone 2/3, facts 1/2 (a tie is wrong)
    ev = evaluate((chosen, rejected), Dataset.from_list(rows))
    assert ev.sections == pytest.approx({"tone": 200 / 3, "facts": 50.0, "Score": (200 / 3 + 50) / 2})
    ev = evaluate((chosen, rejected), Dataset.from_list(rows), sections={"tone": "mine", "facts": "mine"})
    assert ev.sections == pytest.approx({"mine": 60.0, "Score": 60.0})  # (3 * 2/3 + 2 * 1/2) / 5
    assert ev.subset_table()["section"].tolist() == ["mine", "mine"]


def test_load_model_names_the_model(tmp_path):
    from cdr_utils import ModelNotAvailable

    with pytest.raises(ModelNotAvailable, match="'no/such-model'"):
        load_model("no/such-model")
