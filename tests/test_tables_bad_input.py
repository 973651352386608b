"""The judging functions and metric tables are as careful as the `cdr` commands (issue 22, part B).

Bad input: each case gives one kind of bad record to score_tables (and what it calls), mt_bench_scores,
arena_hard_table, alpaca_eval_table or judge_alpaca_eval / judge_arena_hard / judge_mt_bench and asserts the
exception type (chat.BadRecords, or its base RecordError for the whole-input errors), that the message names the
record (its position, or the model and items) and the field, and that no judge was called first.
Duplicates (one model judged twice on an item or turn) are refused, in all three benchmarks.

Counted exclusions: missing answers (against the benchmark's items), unparseable verdicts and ratings, out-of-range
ratings are left out and counted per model; every expected table below is computed by hand in the test.
Plus the judge cache: a corrupt or half-written cached judgment is named in a warning and asked again, and a
killed judging run resumes asking only the missing judgments.
"""
import json
import math
import warnings

import pandas as pd
import pytest

from cdr_utils.benchmarks.policy.arena import arena_hard_table
from cdr_utils.benchmarks.policy.judges import HttpJudge, Judge, JudgeCacheWarning
from cdr_utils.benchmarks.policy.mtbench import mt_bench_scores
from cdr_utils.benchmarks.policy.scoring import (judge_alpaca_eval, judge_arena_hard, judge_mt_bench, score_tables,
                                                 summary_table)
from cdr_utils.benchmarks.policy.winrate import alpaca_eval_table
from cdr_utils.chat import BadRecords, RecordError


class ForbiddenJudge(Judge):
    """Fails the test when asked anything: bad input must be refused before any judge call."""
    kind, name = "llm", "forbidden"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def complete(self, messages):
        self.calls += 1
        pytest.fail("a judge was called before the bad input was refused")


class ScriptedJudge(Judge):
    """Returns the given texts in order (pairwise / single / multi_turn alike)."""
    kind, name = "llm", "scripted"

    def __init__(self, texts):
        super().__init__()
        self.texts = list(texts)

    def complete(self, messages):
        return self.texts.pop(0)


def topic(k):
    return f"Tell me about topic {k}."


# -- inputs -----------------------------------------------------------------------------------------------------
def ae(k, pref, gen="m", **kw):
    """An AlpacaEval judgment record of instruction k."""
    return {"instruction": topic(k), "output_1": "b" * (10 + k), "output_2": "m" * (12 + 2 * k),
            "generator_1": "base", "generator_2": gen, "preference": pref, "index": k, **kw}


def ae_good(n=6):
    return [ae(k, (2.0, 1.0, 1.5)[k % 3]) for k in range(n)]


def ah(uid, s1, s2, model="m", baseline="base"):
    return {"uid": uid, "model": model, "baseline": baseline,
            "games": [{"score": s1, "judgment": f"[[{s1}]]"}, {"score": s2, "judgment": f"[[{s2}]]"}]}


def ah_good():
    return [ah("u0", "B>A", "A>B"), ah("u1", "A>B", "B>A"), ah("u2", "A=B", "A=B")]


def mt(q, turn, score, model="m", **kw):
    return {"question_id": q, "model": model, "turn": turn, "score": score, **kw}


def mt_good():
    return [mt(q, t, 5 + q + t) for q in (1, 2) for t in (1, 2)]


def without(rec, field):
    return {k: v for k, v in rec.items() if k != field}


def ae_inputs(n=3):
    items = [{"id": k, "instruction": topic(k), "reference": "ref"} for k in range(n)]
    answers = [{"instruction": topic(k), "output": f"mine {k}", "generator": "m"} for k in range(n)]
    baseline = [{"instruction": topic(k), "output": f"theirs {k}", "generator": "base"} for k in range(n)]
    return answers, baseline, items


def ah_answer(uid, text, model="m"):
    return {"uid": uid, "model": model, "messages": [{"role": "user", "content": f"question {uid}"},
                                                     {"role": "assistant", "content": {"answer": text}}]}


def ah_inputs(n=3):
    items = [{"uid": f"u{k}", "prompt": f"question u{k}", "reference": "ref"} for k in range(n)]
    return ([ah_answer(f"u{k}", f"mine {k}") for k in range(n)],
            [ah_answer(f"u{k}", f"theirs {k}", "base") for k in range(n)], items)


def mt_inputs(n=2):
    items = [{"question_id": q, "turns": [f"q{q} turn 1", f"q{q} turn 2"], "reference": None} for q in range(n)]
    answers = [{"question_id": q, "model_id": "m", "choices": [{"index": 0, "turns": ["a1", "a2"]}]}
               for q in range(n)]
    return answers, items


def _ae_judge(judge, answers=None, baseline=None, items=None):
    a, b, i = ae_inputs()
    return judge_alpaca_eval(a if answers is None else answers, b if baseline is None else baseline,
                             i if items is None else items, judge, progress=False)


def _ah_judge(judge, answers=None, baseline=None, items=None):
    a, b, i = ah_inputs()
    return judge_arena_hard(a if answers is None else answers, b if baseline is None else baseline,
                            i if items is None else items, judge, progress=False)


def _mt_judge(judge, answers=None, items=None):
    a, i = mt_inputs()
    return judge_mt_bench(a if answers is None else answers, i if items is None else items, judge, progress=False)


GAMED = pd.DataFrame([{"model": "g", "index": k, "preference": 0.5, "std_delta_len": 0.1 * k,
                       "instruction_difficulty": 0.2 * k, "not_gamed_baseline": False} for k in range(6)])

# name: (call(judge), exception type, fragments the message must hold: the record and the field, the problem)
CASES = {
    # AlpacaEval tables
    "ae-no-generator_2": (lambda j: score_tables([*ae_good(3), without(ae(3, 2.0), "generator_2")], [], [], rounds=1),
                          BadRecords, ["AlpacaEval judgments", "record 3", "field 'generator_2'", "missing field"]),
    "ae-duplicate": (lambda j: score_tables([*ae_good(5), ae(2, 2.0)], [], [], rounds=1), BadRecords,
                     ["record 5", "field 'instruction'", "duplicate", topic(2), "as in record 2"]),
    "ae-duplicate-table": (lambda j: alpaca_eval_table([*ae_good(5), ae(2, 2.0)]), BadRecords,
                           ["record 5", "field 'instruction'", "duplicate", topic(2), "as in record 2"]),
    "ae-preference-text": (lambda j: alpaca_eval_table([*ae_good(5), ae(5, "2")]), BadRecords,
                           ["record 5", "field 'preference'", "'2' is not a preference"]),
    "ae-preference-off-scale": (lambda j: alpaca_eval_table([ae(0, 3), *ae_good(5)]), BadRecords,
                                ["record 0", "field 'preference'", "3 is not a preference"]),
    "ae-no-preference-field": (lambda j: alpaca_eval_table([without(ae(0, 2.0), "preference"), *ae_good(5)[1:]]),
                               BadRecords, ["record 0", "field 'preference'", "missing field"]),
    "ae-answer-not-text": (lambda j: alpaca_eval_table([*ae_good(5), ae(5, 2.0, output_2=None)]), BadRecords,
                           ["record 5", "field 'output_2'", "missing field"]),
    "ae-not-a-record": (lambda j: alpaca_eval_table([*ae_good(5), "oops"]), BadRecords,
                        ["record 5", "field '(row)'", "expected a record"]),
    "ae-index-lacking-with-df_gamed": (
        lambda j: score_tables([*ae_good(5), without(ae(5, 2.0), "index")], [], [], rounds=1, df_gamed=GAMED),
        BadRecords, ["record 5", "field 'index'", "lack 'index'"]),
    "ae-index-not-integer": (lambda j: alpaca_eval_table([*ae_good(5), ae(5, 2.0, index="five")]), BadRecords,
                             ["record 5", "field 'index'", "an integer"]),
    "ae-incomplete-required": (
        lambda j: alpaca_eval_table(ae_good(7), items=[{"instruction": topic(k)} for k in range(10)],
                                    require_complete=True),
        RecordError, ["AlpacaEval judgments incomplete", "field 'instruction'",
                      f"model 'm' lacks 3 instruction(s) [{topic(7)!r}, {topic(8)!r}, {topic(9)!r}]"]),
    # Arena-Hard tables
    "ah-no-games": (lambda j: score_tables([], [ah_good()[0], without(ah("u1", "A>B", "A>B"), "games")], [], rounds=1),
                    BadRecords, ["Arena-Hard judgments", "record 1", "field 'games'", "missing field"]),
    "ah-one-game": (lambda j: arena_hard_table([*ah_good(), {**ah("u3", "A>B", "A>B"), "games": [{"score": "A>B"}]}]),
                    BadRecords, ["record 3", "field 'games'", "expected two games"]),
    "ah-verdict-not-text": (lambda j: arena_hard_table([*ah_good(), ah("u3", 7, "A>B")]), BadRecords,
                            ["record 3", "field 'games[0].score'", "got int"]),
    "ah-duplicate": (lambda j: arena_hard_table([*ah_good(), ah("u1", "B>A", "B>A")]), BadRecords,
                     ["record 3", "field 'uid'", "duplicate", "as in record 1"]),
    "ah-two-baselines": (lambda j: arena_hard_table([*ah_good(), ah("u3", "A>B", "B>A", baseline="other")]),
                         BadRecords, ["record 3", "field 'baseline'", "'other', but record 0's baseline is 'base'"]),
    "ah-all-unparseable": (lambda j: score_tables([], [ah("u0", None, "??"), ah("u1", "[[A>B]]", None)], [], rounds=1),
                           RecordError, ["Arena-Hard judgments", "field 'games[].score'",
                                         "all 4 verdicts of the 2 records are unparseable"]),
    "ah-incomplete-required": (
        lambda j: score_tables([], ah_good(), [], rounds=1, items={"arena_hard": [f"u{k}" for k in range(5)]},
                               require_complete=True),
        RecordError, ["Arena-Hard judgments incomplete", "field 'uid'", "model 'm' lacks 2 question(s) ['u3', 'u4']"]),
    # MT-Bench tables
    "mt-turn-3": (lambda j: score_tables([], [], [*mt_good(), mt(2, 3, 9)], rounds=1), BadRecords,
                  ["MT-Bench judgments", "record 4", "field 'turn'", "3 is not a turn of this benchmark (turns 1, 2)"]),
    "mt-no-turn": (lambda j: mt_bench_scores([without(mt(1, 1, 8), "turn"), *mt_good()[1:]]), BadRecords,
                   ["record 0", "field 'turn'", "missing field"]),
    "mt-duplicate-turn": (lambda j: mt_bench_scores([*mt_good(), mt(1, 2, 3)]), BadRecords,
                          ["record 4", "field 'turn'", "duplicate", "as in record 1"]),
    "mt-no-model": (lambda j: mt_bench_scores([*mt_good(), without(mt(3, 1, 8), "model")]), BadRecords,
                    ["record 4", "field 'model'", "missing field"]),
    "mt-score-text": (lambda j: mt_bench_scores([mt(1, 1, "eight"), *mt_good()[1:]]), BadRecords,
                      ["record 0", "field 'score'", "'eight'"]),
    "mt-no-score-or-judgment": (lambda j: mt_bench_scores([*mt_good(), without(mt(3, 1, 8), "score")]), BadRecords,
                                ["record 4", "field 'score'", "no 'judgment'"]),
    "mt-no-question-id": (lambda j: mt_bench_scores([*mt_good(), without(mt(3, 1, 8), "question_id")]), BadRecords,
                          ["record 4", "field 'question_id'", "missing field"]),
    # judging: refused before any judge call
    "judge-ae-baseline-lacks-instruction": (
        lambda j: _ae_judge(j, baseline=ae_inputs()[1][1:]), BadRecords,
        ["AlpacaEval answers", "record 0", "field 'instruction'", f"{topic(0)!r} has no baseline answer"]),
    "judge-ae-instruction-not-in-items": (
        lambda j: _ae_judge(j, answers=[*ae_inputs()[0], {"instruction": "Elsewhere?", "output": "x",
                                                          "generator": "m"}]),
        BadRecords, ["AlpacaEval answers", "record 3", "field 'instruction'", "none of the benchmark's items"]),
    "judge-ae-output-missing": (
        lambda j: _ae_judge(j, answers=[*ae_inputs()[0][:2], {"instruction": topic(2), "generator": "m"}]), BadRecords,
        ["AlpacaEval answers", "record 2", "field 'output'", "missing field"]),
    "judge-ae-answered-twice": (lambda j: _ae_judge(j, answers=[*ae_inputs()[0], ae_inputs()[0][1]]), BadRecords,
                                ["AlpacaEval answers", "record 3", "field 'instruction'", "duplicate"]),
    "judge-ah-baseline-lacks-question": (
        lambda j: _ah_judge(j, baseline=ah_inputs()[1][:2]), BadRecords,
        ["Arena-Hard answers", "record 2", "field 'uid'", "'u2' has no baseline answer"]),
    "judge-ah-answer-not-text": (
        lambda j: _ah_judge(j, answers=[*ah_inputs()[0][:2], {**ah_answer("u2", "x"), "messages": [
            {"role": "user", "content": "q"}, {"role": "assistant", "content": "plain text"}]}]), BadRecords,
        ["Arena-Hard answers", "record 2", "field 'messages[1].content.answer'"]),
    "judge-mt-one-turn-answer": (
        lambda j: _mt_judge(j, answers=[mt_inputs()[0][0], {**mt_inputs()[0][1], "choices": [{"turns": ["a1"]}]}]),
        BadRecords, ["MT-Bench answers", "record 1", "field 'choices[0].turns'", "1 turn(s); a two-turn question"]),
    "judge-mt-unknown-question": (
        lambda j: _mt_judge(j, answers=[*mt_inputs()[0], {**mt_inputs()[0][0], "question_id": 99}]), BadRecords,
        ["MT-Bench answers", "record 2", "field 'question_id'", "99 is none of the benchmark's questions"]),
    "judge-mt-item-one-turn": (
        lambda j: _mt_judge(j, items=[mt_inputs()[1][0], {"question_id": 1, "turns": ["only one"]}]), BadRecords,
        ["MT-Bench items", "record 1", "field 'turns'", "expected the two questions' texts"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_naming_the_record_and_field(name):
    call, error, fragments = CASES[name]
    judge = ForbiddenJudge()
    with pytest.raises(error) as info:
        call(judge)
    assert isinstance(info.value, RecordError)  # one exception type (BadRecords is a RecordError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert judge.calls == 0


def test_every_bad_record_at_once_the_first_20_listed():
    bad = [without(mt(q, 1, 8), "turn") for q in range(25)]
    with pytest.raises(BadRecords) as info:
        mt_bench_scores(bad)
    message = str(info.value)
    assert message.startswith("25 problems in 25 records (the first 20 below):")
    assert "record 19, field 'turn'" in message and "record 20," not in message
    assert len(info.value.errors) == 25 and {e.field for e in info.value.errors} == {"turn"}


# -- counted, reported exclusions (expected tables by hand) ---------------------------------------------------------
def test_alpaca_missing_answers_counted():
    # 7 of 10 instructions answered: wins 2, 2, 2, 2 (four), one tie, two losses -> (4 + 0.5) / 7
    prefs = [2.0, 2.0, 1.0, 1.5, 2.0, 1.0, 2.0]
    items = [{"id": k, "instruction": topic(k)} for k in range(10)]
    table = alpaca_eval_table([ae(k, p) for k, p in enumerate(prefs)], items=items)
    assert table.loc["m", "win rate"] == pytest.approx(100 * 4.5 / 7)
    assert (table.loc["m", "wins"], table.loc["m", "draws"], table.loc["m", "losses"]) == (4, 1, 2)
    assert table.loc["m", "missing"] == 3 and table.loc["m", "missing_ids"] == [topic(7), topic(8), topic(9)]


def test_alpaca_unparseable_verdicts_counted():
    # 2 of 7 verdicts unparseable: the other five 1, 1, 1, 0, 0.5 -> 3.5 / 5
    prefs = [2.0, None, 2.0, 1.0, None, 2.0, 1.5]
    table = alpaca_eval_table([ae(k, p) for k, p in enumerate(prefs)])
    assert table.loc["m", "win rate"] == pytest.approx(100 * 3.5 / 5)
    assert table.loc["m", "unparsed"] == 2 and "missing" not in table.columns


@pytest.mark.filterwarnings("ignore:.*LC needs at least 5")  # a bootstrap resample of a few instructions
def test_alpaca_missing_per_model_in_score_tables_and_the_summary():
    # a: instructions 0-5, one unparseable (k = 5): 1, 0, 1, 0, 1 -> 3 / 5; b: instructions 0-4 of 8
    a = [ae(k, [2.0, 1.0, 2.0, 1.0, 2.0, None][k], gen="a") for k in range(6)]
    b = [ae(k, [1.0, 1.0, 1.5, 2.0, 1.0][k], gen="b") for k in range(5)]
    tables = score_tables(a + b, [], [], rounds=2, items={"alpaca_eval": [topic(k) for k in range(8)]})
    t = tables["alpaca_eval"]
    assert t.loc["a", "win rate"] == pytest.approx(60.0) and t.loc["b", "win rate"] == pytest.approx(100 * 1.5 / 5)
    assert (t.loc["a", "unparsed"], t.loc["a", "missing"]) == (1, 2)
    assert (t.loc["b", "unparsed"], t.loc["b", "missing"]) == (0, 3)
    assert t.loc["b", "missing_ids"] == [topic(5), topic(6), topic(7)]
    summary = summary_table(tables, "j")
    assert summary.loc["a", "AlpacaEval left out"] == "1 unparsed, 2 missing"
    assert summary.loc["b", "AlpacaEval left out"] == "0 unparsed, 3 missing"


def test_alpaca_judge_unparseable_verdicts_flow_into_the_table():
    # the judge's texts in order; the model is A or B per instruction (records' model_position)
    answers, baseline, items = ae_inputs(7)
    texts = ["[[A>B]]", "no verdict", "[[A=B]]", "[[A>B]] and [[B>A]]", "[[B>A]]", "[[B>>A]]", "[[A>B]]"]
    records = judge_alpaca_eval(answers, baseline, items, ScriptedJudge(texts), seed=0, progress=False)
    won = {"A>B": "A", "B>A": "B", "B>>A": "B"}
    expected = []
    for rec, text in zip(records, texts):
        verdict = text[2:-2] if text.count("[[") == 1 else None
        if verdict is None:
            expected.append(None)
        elif verdict == "A=B":
            expected.append(0.5)
        else:
            expected.append(1.0 if won[verdict] == rec["model_position"] else 0.0)
    assert [r["preference"] for r in records] == [None if e is None else 1 + e for e in expected]
    table = alpaca_eval_table(records, items=items)
    parsed = [e for e in expected if e is not None]
    assert table.loc["m", "unparsed"] == 2 and table.loc["m", "missing"] == 0 and len(parsed) == 5
    assert table.loc["m", "win rate"] == pytest.approx(100 * sum(parsed) / len(parsed))


ARENA = [ah("u0", "B>A", "A>B"),  # game 1 (baseline = A): the model wins; game 2 (model = A): the model wins
         ah("u1", "B>>A", "A>B"),  # the model wins 3 + 1
         ah("u2", "A>B", "B>A"),  # the baseline wins 1 + 1
         ah("u3", "A=B", "A=B"),  # 2 ties
         ah("u4", "B>A", "A=B"),  # the model 1, a tie
         ah("u5", "A>B", "A>B")]  # the baseline 1, the model 1
# the model wins 2 + 4 + 1 + 1 = 8, the baseline 2 + 1 = 3, ties 3: 14 battles; two models: BT's MLE =
# P(model beats baseline) = (8 + 3 / 2) / 14


def test_arena_missing_questions_counted():
    table = arena_hard_table(ARENA, items=[{"uid": f"u{k}"} for k in range(10)], rounds=5)
    assert table.loc["m", "score"] == pytest.approx(100 * 9.5 / 14, abs=1e-3)
    assert table.loc["base", "score"] == pytest.approx(50)
    assert (table.loc["m", "battles"], table.loc["m", "unparsed"], table.loc["m", "missing"]) == (14, 0, 4)
    assert table.loc["m", "missing_ids"] == ["u6", "u7", "u8", "u9"]


def test_arena_unparseable_verdicts_counted():
    records = [ah("u0", None, "A>B"),  # game 2: the model (A) wins 1
               ah("u1", "nonsense", "B>>A"),  # game 2: the baseline (B) wins 3
               ah("u2", "B>A", "A=B"),  # the model 1, a tie
               ah("u3", "B>>A", None)]  # the model 3
    tables = score_tables([], records, [], rounds=5, items={"arena_hard": ["u0", "u1", "u2", "u3"]})
    t = tables["arena_hard"]
    # the model 5, the baseline 3, one tie: (5 + 0.5) / 9
    assert t.loc["m", "score"] == pytest.approx(100 * 5.5 / 9, abs=1e-3)
    assert (t.loc["m", "battles"], t.loc["m", "unparsed"], t.loc["m", "missing"]) == (9, 3, 0)
    assert summary_table(tables, "j").loc["m", "Arena-Hard left out"] == "3 unparsed, 0 missing"


def test_arena_a_model_with_only_unparseable_verdicts_keeps_its_row():
    records = ARENA + [ah(f"u{k}", None, "no verdict", model="z") for k in range(3)]
    table = arena_hard_table(records, items=[f"u{k}" for k in range(6)], rounds=5)
    assert table.loc["m", "score"] == pytest.approx(100 * 9.5 / 14, abs=1e-3)
    assert math.isnan(table.loc["z", "score"]) and table.loc["z", "battles"] == 0
    assert (table.loc["z", "unparsed"], table.loc["z", "missing"], table.loc["z", "missing_ids"]) == (
        6, 3, ["u3", "u4", "u5"])


def test_arena_judge_unparseable_verdicts_flow_into_the_table():
    answers, baseline, items = ah_inputs(3)
    # u0: game 1 unparseable, game 2 A>B (the model is A: wins); u1: conflicting, B>A (the baseline wins);
    # u2: B>>A in game 1 (the model is B: wins 3), A=B
    texts = ["nothing", "[[A>B]]", "[[A>B]] [[B>A]]", "[[B>A]]", "[[B>>A]]", "[[A=B]]"]
    records = judge_arena_hard(answers, baseline, items, ScriptedJudge(texts), progress=False)
    table = arena_hard_table(records, items=items, rounds=5)
    # the model 1 + 3 = 4, the baseline 1, a tie: (4 + 0.5) / 6
    assert table.loc["m", "score"] == pytest.approx(100 * 4.5 / 6, abs=1e-3)
    assert (table.loc["m", "unparsed"], table.loc["m", "missing"]) == (2, 0)


def test_mt_missing_turns_and_questions_counted():
    records = [mt(1, 1, 8), mt(1, 2, 6), mt(2, 1, 7), mt(3, 1, 9), mt(3, 2, 5)]
    items = [{"question_id": q, "turns": ["a", "b"]} for q in range(1, 6)]
    table = score_tables([], [], records, rounds=3, items={"mt_bench": items})["mt_bench"]
    assert table.loc["m", "overall"] == pytest.approx((8 + 6 + 7 + 9 + 5) / 5)
    assert table.loc["m", "turn 1"] == pytest.approx((8 + 7 + 9) / 3)
    assert table.loc["m", "turn 2"] == pytest.approx((6 + 5) / 2)
    assert table.loc["m", "missing"] == 3 and table.loc["m", "missing_ids"] == [2, 4, 5]  # 2 lacks turn 2


def test_mt_unparsed_and_out_of_range_counted_per_model():
    records = [mt(1, 1, None, judgment="[[8]]"), mt(1, 2, None, judgment="no rating"), mt(2, 1, 0), mt(2, 2, 4),
               mt(1, 1, 3, model="n"), mt(1, 2, 10, model="n")]
    table = mt_bench_scores(records, questions=[1, 2])
    assert table.loc["m", "overall"] == pytest.approx((8 + 4) / 2)
    assert (table.loc["m", "unparsed"], table.loc["m", "out_of_range"], table.loc["m", "missing"]) == (1, 1, 0)
    assert table.loc["n", "overall"] == pytest.approx((3 + 10) / 2)
    assert (table.loc["n", "excluded"], table.loc["n", "missing"], table.loc["n", "missing_ids"]) == (0, 1, [2])


@pytest.mark.filterwarnings("ignore:.*LC needs at least 5")
def test_complete_inputs_pass_require_complete():
    items = {"alpaca_eval": [topic(k) for k in range(6)], "arena_hard": [f"u{k}" for k in range(6)],
             "mt_bench": [1, 2]}
    tables = score_tables(ae_good(6), ARENA, mt_good(), rounds=2, items=items, require_complete=True)
    assert [tables[b].loc["m", "missing"] for b in ("alpaca_eval", "arena_hard", "mt_bench")] == [0, 0, 0]
    # win rate: instructions 0-5 with preferences 2, 1, 1.5, 2, 1, 1.5 -> (1 + 0 + 0.5) * 2 / 6
    assert tables["alpaca_eval"].loc["m", "win rate"] == pytest.approx(50.0)
    # MT-Bench: (q, t) -> 5 + q + t: 7, 8, 8, 9
    assert tables["mt_bench"].loc["m", "overall"] == pytest.approx(8.0)


# -- the judge cache ------------------------------------------------------------------------------------------------
def _http_judge(tmp_path, asked):
    judge = HttpJudge("http://127.0.0.1:9/v1", "cache-judge", cache_dir=tmp_path)

    def request(messages):  # no network: a rule reply, every request recorded
        asked.append(messages[-1]["content"])
        return f"reply {len(asked)} [[A>B]]"

    judge._request = request
    return judge


def test_corrupt_cached_judgments_are_named_and_asked_again(tmp_path):
    asked = []
    judge = _http_judge(tmp_path, asked)
    questions = [f"question {k}" for k in range(5)]
    first = [judge.pairwise(q, "a", "b") for q in questions]
    files = {q: judge._cache_path(judge.cache_key(judge.prompts.pairwise_messages(q, "a", "b", None)))
             for q in questions}
    assert len(asked) == 5 and all(f.exists() for f in files.values())
    whole = files[questions[0]].read_text(encoding="utf-8")
    files[questions[0]].write_text(whole[: len(whole) // 2], encoding="utf-8")  # half-written
    files[questions[1]].write_text('{"model": "cache-judge"}', encoding="utf-8")  # no text
    files[questions[2]].write_bytes(b"\xff\xfe\x00 not utf-8")
    files[questions[3]].write_text('{"text": 3}', encoding="utf-8")  # text not a string
    again = _http_judge(tmp_path, asked)
    with pytest.warns(JudgeCacheWarning) as caught:
        second = [again.pairwise(q, "a", "b") for q in questions]
    named = " ".join(str(w.message) for w in caught)
    assert len(caught) == 4 and all(str(files[q]) in named for q in questions[:4])
    assert str(files[questions[4]]) not in named and "asking the judge again" in named
    assert len(asked) == 9  # the four corrupt judgments asked again, the good one read from the cache
    assert second[4] == first[4] and second[:4] == [f"reply {k}" + " [[A>B]]" for k in range(6, 10)]
    for q in questions:  # rewritten whole
        assert json.loads(files[q].read_text(encoding="utf-8"))["text"] in second
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the next run finds nothing wrong and asks nothing
        assert [_http_judge(tmp_path, asked).pairwise(q, "a", "b") for q in questions] == second
    assert len(asked) == 9


def test_a_killed_judging_run_resumes_asking_only_the_missing(tmp_path):
    answers, baseline, items = ae_inputs(6)
    asked = []
    judge = _http_judge(tmp_path, asked)
    real = judge._request

    def dies_on_the_fourth(messages):
        if len(asked) == 3:
            raise KeyboardInterrupt  # the run is killed while the fourth judgment is asked
        return real(messages)

    judge._request = dies_on_the_fourth
    with pytest.raises(KeyboardInterrupt):
        judge_alpaca_eval(answers, baseline, items, judge, progress=False)
    assert len(asked) == 3 and len(list(tmp_path.rglob("*.json"))) == 3
    records = judge_alpaca_eval(answers, baseline, items, _http_judge(tmp_path, asked), progress=False)
    assert len(asked) == 6 and len(records) == 6  # only the three missing judgments were asked
    assert len(list(tmp_path.rglob("*.json"))) == 6 and not list(tmp_path.rglob("*.tmp"))  # whole files only
