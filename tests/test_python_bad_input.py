"""The Python functions are as careful as the `cdr` commands (issue 22, part A): bad input to score_candidates,
build_pairs, reward_augment, split_by_prompt, rewardbench.evaluate, the three benchmark loaders and
evaluate_benchmark stops before any model work with one exception type, chat.BadRecords (a RecordError, a
ValueError) whose message names the record (its id, else its position) and the field, listing up to 20 bad
records with their count; a bad argument (not a record) is a plain ValueError naming the argument.

Every case runs with LogProbScorer.score_encoded / score_prepared replaced by functions that fail the test, so
"before any model work" is checked, not assumed. The README's own-data lines get their own test at the end.
"""
import json
import math

import numpy as np
import pytest
from datasets import Dataset

from cdr_utils import DensityRatioReward, LogProbScorer
from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.benchmarks import rewardbench2 as rb2
from cdr_utils.benchmarks import rmbench as rmb
from cdr_utils.benchmarks.reward_eval import evaluate_benchmark
from cdr_utils.chat import BadRecords, RecordError, prompt_id
from cdr_utils.pairs import build_pairs, reward_augment, split_by_prompt
from cdr_utils.rewards import score_candidates

USER = [{"role": "user", "content": "Say hi."}]
A, B = [{"role": "assistant", "content": "Hello!"}], [{"role": "assistant", "content": "Go away."}]


def cand(i, **kw):
    return {"id": f"c{i}", "prompt": f"Question {i}?", "responses": [f"Yes {i}.", f"No {i}."], **kw}


def scored(i, **kw):
    return {**cand(i), "rewards": [1.0 + i, -1.0], **kw}


def pair(i, **kw):
    return {"prompt_id": f"p{i}", "prompt": USER, "chosen": A, "rejected": B, "score_chosen": 2.0 + i,
            "score_rejected": -1.0 - i, "margin": 3.0 + 2 * i, **kw}


def bench(i, **kw):
    return {"id": f"b{i}", "prompt": f"Question {i}?", "chosen": "Good.", "rejected": "Bad.", "subset": "mine", **kw}


def bo4(i, **kw):
    return {"id": str(i), "prompt": f"Question {i}?", "chosen": ["Blue."], "rejected": ["No.", "Maybe?", "Red."],
            "subset": "Focus", **kw}


def style(i, **kw):
    return {"id": i, "prompt": f"Question {i}?", "chosen": ["Blue.", "Blue, the sky.", "**Blue**, the sky."],
            "rejected": ["Red.", "Red, the sky.", "**Red**, the sky."], "domain": "chat", **kw}


@pytest.fixture(scope="module")
def reward(tiny_llama, tiny_gpt2):
    return DensityRatioReward(LogProbScorer(*tiny_llama), LogProbScorer(*tiny_gpt2))


@pytest.fixture
def no_scoring(monkeypatch):
    def scored_first(*args, **kwargs):
        pytest.fail("a model scored before the bad input was refused")

    monkeypatch.setattr(LogProbScorer, "score_encoded", scored_first)
    monkeypatch.setattr(LogProbScorer, "score_prepared", scored_first)


# name: (call(reward), exception type, what the message must contain: the record and the field, or the argument)
CASES = {
    # score_candidates
    "score-responses-one-string": (lambda rw: score_candidates(rw, [cand(0, responses="Yes.")]), BadRecords,
                                   ["record 'c0', field 'responses': expected a list of strings, got one string"]),
    "score-candidate-null": (lambda rw: score_candidates(rw, [cand(0), cand(1, responses=["Yes.", None])]),
                             BadRecords, ["record 'c1', field 'responses[1]': expected a string, got null"]),
    "score-candidate-a-number": (lambda rw: score_candidates(rw, [cand(0, responses=[3, "No."])]), BadRecords,
                                 ["record 'c0', field 'responses[0]': expected a string, got int 3"]),
    "score-prompt-missing": (lambda rw: score_candidates(rw, [cand(0), cand(1, prompt=None)]), BadRecords,
                             ["record 'c1', field 'prompt': missing field"]),
    "score-prompt-ends-with-assistant": (
        lambda rw: score_candidates(rw, [cand(0, prompt=USER + A)]), BadRecords,
        ["record 'c0', field 'prompt[1].role': the prompt ends with an assistant turn"]),
    "score-prompt-unknown-role": (
        lambda rw: score_candidates(rw, [cand(0, prompt=[{"role": "bot", "content": "Hi"}])]), BadRecords,
        ["record 'c0', field 'prompt[0].role': unknown role 'bot'"]),
    "score-duplicate-ids": (lambda rw: score_candidates(rw, [cand(0), cand(1, id="c0")]), BadRecords,
                            ["record 'c0', field 'id': duplicate id (first at record 0)"]),
    "score-row-not-a-dict": (lambda rw: score_candidates(rw, [cand(0), "Question 1?"]), BadRecords,
                             ["record 1, field '(row)': expected a record (a dict), got str"]),
    "score-one-response-among-lists": (
        lambda rw: score_candidates(rw, [cand(0), {"id": "c1", "prompt": "Q?", "response": "A."}]), BadRecords,
        ["record 'c1', field 'responses': missing field: rows carry `responses` lists (first: row 0)"]),
    "score-domain-column-bad": (
        lambda rw: score_candidates(rw, [cand(0, domain="CHAT"), cand(1, domain="ART")], domain_column="domain"),
        BadRecords, ["record 'c1', field 'domain': expected one of"]),
    "score-rows-one-dict": (lambda rw: score_candidates(rw, cand(0)), ValueError,
                            ["rows: expected a datasets.Dataset, a list of dicts", "(one row? pass [row])"]),
    # build_pairs
    "pairs-reward-null": (lambda rw: build_pairs([scored(0, rewards=[None, 1.0])]), BadRecords,
                          ["record 'c0', field 'rewards[0]': expected a number, got null"]),
    "pairs-reward-a-word": (lambda rw: build_pairs([scored(0), scored(1, rewards=["high", 1.0])]), BadRecords,
                            ["record 'c1', field 'rewards[0]': expected a number, got str 'high'"]),
    "pairs-candidate-null": (lambda rw: build_pairs([scored(0, responses=["Yes.", None])]), BadRecords,
                             ["record 'c0', field 'responses[1]': expected a string (or {'response': string}), "
                              "got null"]),
    "pairs-candidate-a-number": (lambda rw: build_pairs([scored(0, responses=[7, "No."])]), BadRecords,
                                 ["record 'c0', field 'responses[0]': expected a string", "got int"]),
    "pairs-rewards-length": (lambda rw: build_pairs([scored(0, rewards=[1.0])]), BadRecords,
                             ["record 'c0', field 'rewards': 1 rewards for 2 responses"]),
    "pairs-rewards-missing": (lambda rw: build_pairs([scored(0), cand(1)]), BadRecords,
                              ["record 'c1', field 'rewards': missing field", "the output of score_candidates"]),
    "pairs-rewards-an-object": (lambda rw: build_pairs([scored(0, rewards={"a": 1.0})]), BadRecords,
                                ["record 'c0', field 'rewards': expected a list of numbers"]),
    "pairs-responses-missing": (lambda rw: build_pairs([scored(0, responses=None)]), BadRecords,
                                ["record 'c0', field 'responses': missing field"]),
    "pairs-row-not-a-dict": (lambda rw: build_pairs([scored(0), None]), BadRecords,
                             ["record 1, field '(row)': expected a record (a dict), got null"]),
    "pairs-prompt-blank": (lambda rw: build_pairs([scored(0, prompt="  ")]), BadRecords,
                           ["record 'c0', field 'prompt': empty prompt"]),
    "pairs-prompt-content-not-text": (
        lambda rw: build_pairs([scored(0, prompt=[{"role": "user", "content": 5}])]), BadRecords,
        ["record 'c0', field 'prompt[0].content': content must be a string"]),
    "pairs-reward-nan": (lambda rw: build_pairs([scored(0), scored(1, rewards=[1.0, math.nan])]), BadRecords,
                         ["record 'c1', field 'rewards[1]': non-finite reward nan; pass drop_nonfinite=True"]),
    "pairs-same-prompt-twice": (  # a string and its one-user-turn message list are the same prompt
        lambda rw: build_pairs([scored(0), scored(1, prompt=[{"role": "user", "content": "Question 0?"}])]),
        BadRecords, ["record 'c1', field 'prompt': the same prompt as record 'c0'"]),
    "pairs-duplicate-ids": (lambda rw: build_pairs([scored(0), scored(1, id="c0")]), BadRecords,
                            ["record 'c0', field 'id': duplicate id"]),
    "pairs-ids-of-two-types": (lambda rw: build_pairs([scored(0), scored(1, id=1)]), BadRecords,
                               ["record 1, field 'id': an integer id, but the first id"]),
    "pairs-given-a-path": (lambda rw: build_pairs("scored.jsonl"), ValueError,
                           ["scored: expected a datasets.Dataset, a list of dicts or a DataFrame, got str"]),
    "pairs-min-margin-nan": (lambda rw: build_pairs([scored(0)], min_margin=math.nan), ValueError,
                             ["min_margin must be a finite number"]),
    "pairs-best-random-negative-seed": (lambda rw: build_pairs([scored(0)], strategy="best_random", seed=-1),
                                        ValueError, ["seed must be an integer >= 0, got -1"]),
    # reward_augment
    "augment-chosen-missing": (lambda rw: reward_augment([pair(0), pair(1, chosen=None)]), BadRecords,
                               ["record 1, field 'chosen': missing field"]),
    "augment-chosen-a-string": (lambda rw: reward_augment([pair(0, chosen="Hello!")]), BadRecords,
                                ["record 0, field 'chosen': expected [{'role': 'assistant', 'content': text}]"]),
    "augment-rejected-two-messages": (lambda rw: reward_augment([pair(0, rejected=B + B)]), BadRecords,
                                      ["record 0, field 'rejected': expected [{'role': 'assistant'"]),
    "augment-rejected-empty-text": (
        lambda rw: reward_augment([pair(0, rejected=[{"role": "assistant", "content": " "}])]), BadRecords,
        ["record 0, field 'rejected[0].content': response is empty"]),
    "augment-prompt-missing": (lambda rw: reward_augment([pair(0, prompt=None)]), BadRecords,
                               ["record 0, field 'prompt': missing field"]),
    "augment-score-a-string": (lambda rw: reward_augment([pair(0, score_chosen="2.0")]), BadRecords,
                               ["record 0, field 'score_chosen': expected a number, got str '2.0'"]),
    "augment-no-user-turn": (
        lambda rw: reward_augment([pair(0, prompt=[{"role": "system", "content": "Be brief."}])], system_role=False),
        BadRecords, ["record 0, field 'prompt': no user turn to carry the rating condition (system_role=False)"]),
    "augment-pair-not-a-dict": (lambda rw: reward_augment([pair(0), ["chosen", "rejected"]]), BadRecords,
                                ["record 1, field '(row)': expected a record (a dict), got list"]),
    # split_by_prompt
    "split-fraction-one": (lambda rw: split_by_prompt(Dataset.from_list([pair(0), pair(1)]), 1.0), ValueError,
                           ["test_fraction must be a number in [0, 1), got 1.0"]),
    "split-fraction-nan": (lambda rw: split_by_prompt([pair(0)], math.nan), ValueError, ["test_fraction", "nan"]),
    "split-fraction-a-string": (lambda rw: split_by_prompt([pair(0)], "0.1"), ValueError,
                                ["test_fraction must be a number in [0, 1), got '0.1'"]),
    "split-prompt-id-missing": (lambda rw: split_by_prompt([pair(0), pair(1, prompt_id=None)], 0.5), BadRecords,
                                ["record 1, field 'prompt_id': missing field"]),
    # rewardbench.evaluate
    "evaluate-rewards-too-few": (lambda rw: rb.evaluate(np.zeros(3), [bench(0), bench(1)]), ValueError,
                                 ["rewards: expected 2 chosen and 2 rejected rewards", "got shape (3,)"]),
    "evaluate-rewards-2d": (lambda rw: rb.evaluate(np.zeros((2, 2)), [bench(0), bench(1)]), ValueError,
                            ["rewards: expected 2 chosen and 2 rejected", "got shape (2, 2)"]),
    "evaluate-rewards-pair-of-wrong-lengths": (
        lambda rw: rb.evaluate(([1.0, 2.0], [0.0]), [bench(0), bench(1)]), ValueError,
        ["rewards: expected 2 chosen and 2 rejected", "got shapes (2,) and (1,)"]),
    "evaluate-rewards-not-numbers": (lambda rw: rb.evaluate((["a", "b"], [0.0, 1.0]), [bench(0), bench(1)]),
                                     ValueError, ["rewards: expected 2 chosen", "not numbers"]),
    "evaluate-row-subset-missing": (lambda rw: rb.evaluate(([1.0, 1.0], [0.0, 0.0]), [bench(0), bench(1, subset=None)]),
                                    BadRecords, ["record 'b1', field 'subset': missing field"]),
    "evaluate-row-id-missing": (lambda rw: rb.evaluate(rw, [bench(0), bench(1, id=None)]), BadRecords,
                                ["record 1, field 'id': missing id"]),
    "evaluate-reward-on-an-empty-answer": (lambda rw: rb.evaluate(rw, Dataset.from_list([bench(0, chosen=" ")])),
                                           BadRecords, ["record 'b0', field 'chosen': response is empty"]),
    # the loaders (every record checked, BadRecords)
    "rewardbench-rejected-a-list": (lambda rw: rb.load([bench(0), bench(1, rejected=["Bad."])], any_subset=True),
                                    BadRecords, ["record 'b1', field 'rejected': response must be a string"]),
    "rewardbench2-chosen-a-number": (lambda rw: rb2.load([bo4(0, chosen=5)]), BadRecords,
                                     ["record '0', field 'chosen': expected a non-empty list of non-empty strings"]),
    "rewardbench2-count-a-word": (lambda rw: rb2.load([bo4(0, num_correct="one")]), BadRecords,
                                  ["record '0', field 'num_correct': expected a whole number, got 'one'"]),
    "rmbench-chosen-a-number": (lambda rw: rmb.load([style(0, chosen=5)]), BadRecords,
                                ["record 0, field 'chosen': expected 3 non-empty strings"]),
    "rmbench-row-not-a-dict": (lambda rw: rmb.load([style(0), "row"]), BadRecords,
                               ["record 'records[1]', field '(row)': expected a record (a dict), got str"]),
    # evaluate_benchmark: the rows it is given, and its arguments
    "benchmark-rewardbench-bad-prompt": (lambda rw: evaluate_benchmark(rw, "rewardbench", [bench(0, prompt=[])]),
                                         BadRecords, ["record 'b0', field 'prompt': expected a non-empty list"]),
    "benchmark-rewardbench2-empty-rejected": (
        lambda rw: evaluate_benchmark(rw, "rewardbench2", [bo4(0), bo4(1, rejected=[])]), BadRecords,
        ["record '1', field 'rejected': expected a non-empty list"]),
    "benchmark-rm-bench-unknown-domain": (lambda rw: evaluate_benchmark(rw, "rm-bench", [style(0, domain="poetry")]),
                                          BadRecords, ["record 0, field 'domain': 'poetry' is none of"]),
    "benchmark-per-section-zero": (lambda rw: evaluate_benchmark(rw, "rewardbench", [bench(0)], per_section=0),
                                   ValueError, ["per_section must be a positive integer or None, got 0"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_named_before_any_model_work(name, reward, no_scoring):
    call, error, needles = CASES[name]
    with pytest.raises(error) as caught:
        call(reward)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert "Traceback" not in message and len(message.splitlines()) == 1


def test_many_bad_records_are_listed_twenty_with_their_count(reward, no_scoring):
    with pytest.raises(BadRecords) as caught:
        score_candidates(reward, [cand(i, prompt=None) for i in range(25)])
    lines = str(caught.value).splitlines()
    assert lines[0] == "rows: 25 problems in 25 records (the first 20 below):" and len(lines) == 21
    assert lines[1] == "  record 'c0', field 'prompt': missing field" and len(caught.value.errors) == 25
    with pytest.raises(BadRecords) as caught:  # the loaders too: every record checked, not the first only
        rb.load([bench(i, chosen=None) for i in range(22)], any_subset=True)
    lines = str(caught.value).splitlines()
    assert lines[0] == "records: 22 problems in 22 records (the first 20 below):" and len(lines) == 21
    assert lines[-1] == "  record 'b19', field 'chosen': missing field"
    with pytest.raises(BadRecords) as caught:  # two bad rows of build_pairs, both named
        build_pairs([scored(0, rewards=[None, 1.0]), scored(1), scored(2, responses=[None, "x"])])
    assert str(caught.value).splitlines() == [
        "scored: 2 problems in 2 records:", "  record 'c0', field 'rewards[0]': expected a number, got null",
        "  record 'c2', field 'responses[0]': expected a string (or {'response': string}), got null"]


def test_a_dataset_and_a_list_are_read_the_same(no_scoring):
    rows = [scored(0), scored(1, responses=["Same.", "Same."], rewards=[1.0, 1.0]), scored(2)]
    from_list, stats = build_pairs(rows)
    from_dataset, same = build_pairs(Dataset.from_list(rows))
    assert from_list.to_list() == from_dataset.to_list() and stats == same and len(from_list) == 2
    bad = [scored(0), scored(1, rewards=[None, 2.0])]
    with pytest.raises(BadRecords) as as_list:
        build_pairs(bad)
    with pytest.raises(BadRecords) as as_dataset:
        build_pairs(Dataset.from_list(bad))
    assert str(as_list.value) == str(as_dataset.value) == "record 'c1', field 'rewards[0]': expected a number, got null"


def test_build_pairs_reads_a_prompt_as_score_candidates_does(no_scoring):
    """A string prompt is one user turn (chat.as_messages): the pair's prompt is that message list."""
    as_text, _ = build_pairs([scored(0)])
    as_messages, _ = build_pairs([scored(0, prompt=[{"role": "user", "content": "Question 0?"}])])
    assert as_text.to_list() == as_messages.to_list()
    assert as_text[0]["prompt"] == [{"role": "user", "content": "Question 0?"}]
    assert as_text[0]["prompt_id"] == prompt_id([{"role": "user", "content": "Question 0?"}])


def test_nothing_dropped_silently_every_skip_is_counted(no_scoring):
    """An empty `responses` list is a row without candidates (counted in "single", as `cdr pairs`), an empty
    candidate may have no reward (None or NaN: counted in "empty_responses"), and drop_nonfinite counts what
    it drops: every row is a pair or a count."""
    rows = [scored(0), {"id": "c1", "prompt": "Question 1?", "responses": [], "rewards": []},
            scored(2, responses=["Yes.", "", "No."], rewards=[1.0, None, 0.0]),
            scored(3, rewards=[math.inf, 0.0])]
    pairs, stats = build_pairs(rows, drop_nonfinite=True)
    assert len(pairs) == 2 and stats["prompts"] == 4
    assert (stats["single"], stats["empty_responses"], stats["nonfinite"]) == (1, 1, 1)
    assert stats["prompts"] == stats["pairs"] + sum(stats[k] for k in ("single", "all_tied", "identical_text",
                                                                        "below_margin", "nonfinite"))


def test_non_finite_rewards_count_as_wrong_and_are_named(no_scoring):
    with pytest.warns(RuntimeWarning, match=r"record 'b1', field 'reward_chosen': non-finite reward nan"):
        ev = rb.evaluate(([1.0, math.nan], [0.0, 0.0]), [bench(0), bench(1)])
    assert list(ev.per_example["correct"]) == [True, False]


def test_the_readme_own_data_lines_stop_at_a_bad_row(reward, tmp_path, monkeypatch):
    """README "Your own data and model pair": score_candidates(reward, "cands.jsonl"), build_pairs(scored,
    strategy="best_worst"), reward_augment(pairs), each given rows with one bad row, stops naming the row and
    field, and nothing is scored for a file with a bad row."""
    calls = []
    real = LogProbScorer.score_prepared
    monkeypatch.setattr(LogProbScorer, "score_prepared", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    monkeypatch.chdir(tmp_path)
    rows = [cand(0), cand(1, responses=["Fine.", None]), cand(2)]
    (tmp_path / "cands.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BadRecords, match=r"^record 'c1', field 'responses\[1\]': expected a string, got null$"):
        scored_rows, stats = score_candidates(reward, "cands.jsonl")
    assert calls == []

    rows[1]["responses"] = ["Fine.", "Not fine."]
    (tmp_path / "cands.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scored_rows, stats = score_candidates(reward, "cands.jsonl")
    assert stats["scored"] == 6 and calls
    calls.clear()
    broken = scored_rows.to_list()
    broken[1]["rewards"] = [None, broken[1]["rewards"][1]]
    with pytest.raises(BadRecords, match=r"^record 'c1', field 'rewards\[0\]': expected a number, got null$"):
        pairs, pair_stats = build_pairs(Dataset.from_list(broken), strategy="best_worst")

    pairs, pair_stats = build_pairs(scored_rows, strategy="best_worst")
    assert len(pairs) + pair_stats["all_tied"] + pair_stats["identical_text"] == 3
    broken = pairs.to_list()
    broken[-1]["score_chosen"] = None
    with pytest.raises(BadRecords, match=rf"^record {len(broken) - 1}, field 'score_chosen': missing field$"):
        augmented, info = reward_augment(Dataset.from_list(broken))
    augmented, info = reward_augment(pairs)
    assert info["pairs"] == len(pairs) and calls == []
