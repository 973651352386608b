"""Benchmark prompt draws, answer files in each benchmark's format, and judgment records (a rule judge)."""
import pandas as pd
import pytest

from cdr_utils.benchmarks.policy.answers import generate_answers, pick, write_answers
from cdr_utils.benchmarks.policy.judges import Judge
from cdr_utils.benchmarks.policy.scoring import judge_alpaca_eval, judge_arena_hard, judge_mt_bench, score_tables
from cdr_utils.generate import generate_responses
from cdr_utils.records import read_records
from cdr_utils.studies.policy_benchmarks import load_benchmarks
from cdr_utils.studies.profiles import get_profile


def test_pick_excludes_and_limits():
    items = [{"t": s} for s in ("aa", "b", "cccc", "d", "e")]
    assert [i["t"] for i in pick(items, lambda i: i["t"], None, 3, 0, {"b"})] == ["aa", "d", "e"]
    drawn = pick(items, lambda i: i["t"], 2, 3, 0, set())
    assert len(drawn) == 2 and drawn == pick(items, lambda i: i["t"], 2, 3, 0, set())  # seeded


def test_cpu_draws_exclude_the_training_prompts():
    from cdr_utils.studies.annotate import load_prompts

    P = get_profile("cpu")
    bench = load_benchmarks(P)
    cfg = P.evals
    assert [len(bench[b]) for b in ("alpaca_eval", "arena_hard", "mt_bench")] == [cfg.n_alpaca_eval,
                                                                                  cfg.n_arena_hard, cfg.n_mt_bench]
    training = {p[-1]["content"] for p in load_prompts(P)}
    asked = {it["instruction"] for it in bench["alpaca_eval"]} | {it["prompt"] for it in bench["arena_hard"]}
    assert not asked & training
    assert all(len(t) <= P.evals.max_prompt_chars for t in asked)
    assert all(it["reference"] for b in ("alpaca_eval", "arena_hard") for it in bench[b])
    assert all(len(it["turns"]) == 2 and len(it["reference"]) == 2 for it in bench["mt_bench"])


def test_answer_files_in_each_format(tiny_llama, tmp_path):
    model, tok = tiny_llama
    P = get_profile("smoke")
    bench = load_benchmarks(P)
    cfg = P.generation.__class__(P.generation.policy, n=1, temperature=0.7, top_p=0.95, max_new_tokens=8)
    answers = generate_answers(model, tok, bench, "tiny", cfg, seed=3, progress=False)
    paths = write_answers(tmp_path, "tiny", answers)
    ae, ah, mt = (read_records(paths[b]) for b in ("alpaca_eval", "arena_hard", "mt_bench"))
    assert paths["alpaca_eval"].suffix == ".json" and isinstance(ae, list)
    assert set(ae[0]) == {"instruction", "output", "generator", "dataset"} and ae[0]["generator"] == "tiny"
    assert {"uid", "ans_id", "model", "messages", "tstamp", "metadata"} <= set(ah[0])
    assert ah[0]["messages"][0]["content"] == bench["arena_hard"][0]["prompt"]
    assert set(ah[0]["messages"][1]["content"]) == {"answer"}
    assert mt[0]["model_id"] == "tiny" and len(mt[0]["choices"][0]["turns"]) == 2
    # turn 2 is answered with the whole conversation: the same as sampling that conversation directly
    q = bench["mt_bench"][0]
    conversation = [{"role": "user", "content": q["turns"][0]},
                    {"role": "assistant", "content": mt[0]["choices"][0]["turns"][0]},
                    {"role": "user", "content": q["turns"][1]}]
    direct = generate_responses(model, tok, [conversation], n=1, config=cfg, seed=3, progress=False)
    assert mt[0]["choices"][0]["turns"][1] == direct[0][0]["response"]


class LongerWins(Judge):
    """A rule judge: the longer answer wins; a rating is 1 + number of words (max 10)."""
    kind, name = "llm", "longer-wins"

    def pairwise(self, question, answer_a, answer_b, reference=None):
        return "[[" + ("A>B" if len(answer_a) > len(answer_b) else "A=B" if len(answer_a) == len(answer_b)
                       else "B>A") + "]]"

    def single(self, question, answer, reference=None):
        return f"Rating: [[{min(10, 1 + len(answer.split()))}]]"

    def multi_turn(self, questions, answers, reference=None):
        return self.single(questions[1], answers[1]) if answers[1] else "no rating"


def test_judgment_records_positions_and_tables(tmp_path):
    items = [{"instruction": f"q{k}", "reference": "r"} for k in range(10)]
    mine = [{"instruction": f"q{k}", "output": "long answer " * 3, "generator": "m"} for k in range(10)]
    base = [{"instruction": f"q{k}", "output": "short", "generator": "b"} for k in range(10)]
    ae = judge_alpaca_eval(mine, base, items, LongerWins(), seed=0, progress=False)
    assert {r["model_position"] for r in ae} == {"A", "B"}  # the order is randomized per instruction
    assert all(r["preference"] == 2.0 for r in ae)  # ... and the model's win is read from either position
    ah_items = [{"uid": "u1", "prompt": "p", "reference": "r"}]
    ah = judge_arena_hard([{"uid": "u1", "model": "m", "messages": [{"role": "user", "content": "p"},
                                                                    {"role": "assistant", "content": {"answer": "longer"}}]}],
                          [{"uid": "u1", "model": "b", "messages": [{"role": "user", "content": "p"},
                                                                    {"role": "assistant", "content": {"answer": "x"}}]}],
                          ah_items, LongerWins(), progress=False)
    assert [g["score"] for g in ah[0]["games"]] == ["B>A", "A>B"]  # game 1: baseline is A; game 2: model is A
    mt_items = [{"question_id": 1, "turns": ["t1", "t2"], "reference": None}]
    mt = judge_mt_bench([{"question_id": 1, "model_id": "m", "choices": [{"turns": ["one two three", ""]}]}],
                        mt_items, LongerWins(), progress=False)
    assert [(r["turn"], r["score"]) for r in mt] == [(1, 4.0), (2, -1)]  # FastChat writes -1 when unparseable
    tables = score_tables(ae, ah, mt, rounds=10, seed=0)
    assert tables["alpaca_eval"].loc["m", "win rate"] == 100
    assert tables["arena_hard"].loc["m", "score"] > 99  # every battle won (a tiny ridge keeps it finite)
    assert tables["mt_bench"].loc["m", "overall"] == 4 and tables["mt_bench"].loc["m", "excluded"] == 1
    pd.testing.assert_frame_equal(tables["mt_bench"], score_tables([], [], mt, rounds=10, seed=0)["mt_bench"])


def test_paper_sources_fail_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="profile 'paper'.*'tatsu-lab/alpaca_eval'"):
        load_benchmarks(get_profile("paper"))
