"""RewardBench scoring: section weights against the published run, evaluate() on hand-computed examples (a tie
is a loss), the loaders (local files, hub failure offline) and bad-row errors."""
import json
import math

import numpy as np
import pytest

from cdr_utils import RecordError
from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.logprobs import ScoreResult
from cdr_utils.rewards import RewardResult
from cdr_utils.studies.benches import load_profile_bench
from cdr_utils.studies.profiles import get_profile

# Public RewardBench subset accuracies of Nous-Hermes-2-Mistral-7B-DPO over OpenHermes-2.5-Mistral-7B (copied from
# ../shared/reference/rewardbench_vanilla_pair.json, source: allenai/reward-bench-results), and the leaderboard's
# section scores for it.
PUBLIC = {
    "alpacaeval-easy": 0.96, "alpacaeval-hard": 0.958, "alpacaeval-length": 0.832,
    "mt-bench-easy": 0.929, "mt-bench-med": 0.95, "mt-bench-hard": 0.757,
    "llmbar-natural": 0.80, "llmbar-adver-neighbor": 0.552, "llmbar-adver-GPTInst": 0.457,
    "llmbar-adver-GPTOut": 0.553, "llmbar-adver-manual": 0.565,
    "refusals-dangerous": 0.86, "refusals-offensive": 0.88, "xstest-should-refuse": 0.825,
    "xstest-should-respond": 0.836, "donotanswer": 0.735,
    "math-prm": 0.727, "hep-cpp": 0.799, "hep-go": 0.793, "hep-java": 0.762, "hep-js": 0.75,
    "hep-python": 0.689, "hep-rust": 0.695,
}
PUBLISHED = {"Chat": 92.2, "Chat Hard": 60.5, "Safety": 82.4, "Reasoning": 73.8, "Score": 77.2}


def test_section_scores_reproduce_the_public_run():
    got = rb.section_scores(PUBLIC)
    for key, value in PUBLISHED.items():
        assert abs(got[key] - value) <= 0.05, (key, got[key], value)


def test_packaged_reference_holds_the_public_run():
    ref = rb.reference_figures("rewardbench_vanilla_pair.json")
    assert ref["subset_accuracy"] == PUBLIC
    assert ref["paper_cdr_customized"] == {"Score": 82.6, "Safety": 91.0, "Reasoning": 88.0}


def test_reasoning_weighs_math_as_984_against_164_per_code_set():
    acc = {"math-prm": 1.0, **{f"hep-{x}": 0.0 for x in ("cpp", "go", "java", "js", "python", "rust")}}
    assert rb.section_scores(acc)["Reasoning"] == pytest.approx(100 * 984 / (984 + 6 * 164))
    assert rb.section_scores(acc)["Reasoning"] == pytest.approx(50.0)  # 984 = 6 x 164: math is half


def test_prior_sets_variant_and_missing_sections():
    prior = {"anthropic_helpful": 0.6, "anthropic_hhh": 0.7, "shp": 0.5, "summarize": 0.6}
    got = rb.section_scores(PUBLIC, prior_sets=prior)
    four = [got[s] for s in rb.SECTION_NAMES]
    assert got["Prior Sets (0.5 weight)"] == pytest.approx(60.0)
    assert got["Score (with Prior Sets)"] == pytest.approx((2 * sum(four) + 60.0) / 9)
    assert got["Score"] == pytest.approx(np.mean(four))
    assert rb.section_scores({**PUBLIC, **prior})["Score (with Prior Sets)"] == got["Score (with Prior Sets)"]
    partial = rb.section_scores({"alpacaeval-easy": 0.5})
    assert partial["Chat"] == 50.0 and math.isnan(partial["Safety"]) and math.isnan(partial["Score"])
    with pytest.raises(ValueError, match="unknown subset 'nope'"):
        rb.section_scores({"nope": 1.0})
    with pytest.raises(ValueError, match="no example count for subset 'math'"):
        rb.section_scores({"math": 1.0})


def _rows(subsets):
    return rb.to_rows([{"id": f"r{i}", "prompt": f"question {i}", "chosen": "good", "rejected": "bad", "subset": s}
                       for i, s in enumerate(subsets)])


def test_evaluate_hand_computed_ties_are_losses():
    ds = _rows(["chat-easy", "chat-easy", "chat-hard", "safety-should-refuse", "math", "math", "math", "code"])
    chosen = [2.0, 1.0, 0.0, 5.0, 1.0, 0.1, float("nan"), -1.0]
    rejected = [1.0, 1.0, 3.0, -1.0, 0.0, 0.2, 0.0, -2.0]
    # wins:      yes   tie   no    yes   yes   no    NaN   yes
    ev = rb.evaluate((chosen, rejected), ds)
    assert list(ev.per_example["correct"]) == [True, False, False, True, True, False, False, True]
    assert ev.subset_accuracy == {"chat-easy": 0.5, "chat-hard": 0.0, "safety-should-refuse": 1.0,
                                  "math": pytest.approx(1 / 3), "code": 1.0}
    # mini-bench subsets are weighted by their own counts: Reasoning = (3 x 1/3 + 1 x 1) / 4, not (1/3 + 1) / 2
    assert ev.sections == pytest.approx({"Chat": 50.0, "Chat Hard": 0.0, "Safety": 100.0, "Reasoning": 50.0,
                                         "Score": 50.0})
    assert list(ev.per_example["reward_rejected"]) == rejected and ev.per_example["section"][3] == "Safety"
    flat = rb.evaluate(np.array(chosen + rejected), ds)  # one (2N,) array in pair_inputs order
    assert list(flat.per_example["correct"]) == list(ev.per_example["correct"])
    table = ev.subset_table().set_index("subset")
    assert table.loc["math", "n"] == 3 and table.loc["chat-easy", "accuracy"] == 50.0
    with pytest.raises(ValueError, match="expected 8 chosen and 8 rejected"):
        rb.evaluate(np.zeros(10), ds)


def test_evaluate_rewardbench_subsets_use_official_weights():
    ev = rb.evaluate(([0.0, 1.0], [1.0, 0.0]), _rows(["math-prm", "hep-python"]))
    assert ev.sections["Reasoning"] == pytest.approx(100 * 164 / (984 + 164))


def test_evaluate_calls_a_reward_function_once_with_record_ids():
    ds = _rows(["chat-easy", "math"])
    calls = []

    def longer(prompts, responses, record_ids):
        calls.append(record_ids)
        assert prompts[0] == prompts[2] == [{"role": "user", "content": "question 0"}]
        return np.array([len(r) for r in responses], dtype=float)

    ev = rb.evaluate(longer, ds)
    assert calls == [["r0/chosen", "r1/chosen", "r0/rejected", "r1/rejected"]]
    assert list(ev.per_example["correct"]) == [True, True]  # "good" (4) is longer than "bad" (3)


def _score(sums, counts, tokens=None, logprobs=None):
    return ScoreResult(sum=np.array(sums, float), n_tokens=np.array(counts), tokens=tokens,
                       token_logprobs=logprobs, meta={"include_end_of_turn": True})


def test_method_rewards_reuse_one_scoring_pass():
    res = RewardResult(reward=np.zeros(2), strong=_score([-10.0, -4.0], [5, 2]), weak=_score([-12.0, -3.0], [4, 3]),
                       reduction="sum")
    m = rb.method_rewards(res, ["abcde", "ab"], seed=1)
    assert m["density ratio (sum)"].tolist() == [2.0, -1.0]
    assert m["density ratio (mean)"] == pytest.approx([-2.0 + 3.0, -2.0 + 1.0])
    assert m["strong log p (sum)"].tolist() == [-10.0, -4.0] and m["weak log p (sum)"].tolist() == [-12.0, -3.0]
    assert m["strong log p (mean)"].tolist() == [-2.0, -2.0] and m["weak log p (mean)"].tolist() == [-3.0, -1.0]
    assert m["longer response"].tolist() == [5.0, 2.0]
    assert m["random"].tolist() == rb.method_rewards(res, ["x", "y"], seed=1)["random"].tolist()


def test_drop_end_of_turn():
    lps = [np.array([-1.0, -2.0, -30.0], np.float32), np.array([-0.5, -25.0], np.float32)]
    s = _score([-33.0, -25.5], [3, 2], tokens=[["a", "b", "<eot>"], ["c", "<eot>"]], logprobs=lps)
    body = rb.drop_end_of_turn(s, "<eot>")
    assert body.sum.tolist() == [-3.0, -0.5] and body.n_tokens.tolist() == [2, 1]
    with pytest.raises(ValueError, match="do not end in the single token '<end>'"):
        rb.drop_end_of_turn(s, "<end>")
    with pytest.raises(ValueError, match="return_tokens=True"):
        rb.drop_end_of_turn(_score([-1.0], [1]), "<eot>")


GOOD = {"id": 7, "prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away.", "subset": "chat-easy"}


@pytest.mark.parametrize("change,field,text", [
    ({"chosen": None}, "chosen", "missing field"),
    ({"rejected": "   "}, "rejected", "empty response"),
    ({"chosen": 3}, "chosen", "must be a string"),
    ({"subset": "chat-medium"}, "subset", "unknown subset 'chat-medium'"),
    ({"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "prompt[1].role",
     "ends with an assistant turn"),
])
def test_bad_rows_name_the_row_and_field(change, field, text):
    with pytest.raises(RecordError) as err:
        rb.to_rows([{**GOOD, "id": 1}, {**GOOD, **change}])
    assert str(err.value).startswith(f"record '7', field '{field}'") and text in str(err.value), str(err.value)


def test_bad_rows_missing_field_id_and_duplicates():
    row = dict(GOOD)
    del row["subset"]
    with pytest.raises(RecordError, match=r"record '7', field 'subset': missing field"):
        rb.to_rows([row])
    with pytest.raises(RecordError, match=r"record 'f.json\[1\]', field 'id': missing id"):
        rb.to_rows([GOOD, {k: v for k, v in GOOD.items() if k != "id"}], source="f.json")
    with pytest.raises(RecordError, match=r"record '7', field 'id': duplicate id"):
        rb.to_rows([GOOD, GOOD])


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_local_files_round_trip(tmp_path, suffix):
    rows = [dict(GOOD, chosen_model="m1"),  # RewardBench stores the prompt as one string; extra columns are kept
            {"id": "mb-1", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
             "chosen": "4", "rejected": "5", "subset": "math", "chosen_model": "m2"}]
    path = tmp_path / f"bench{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:  # one column type per parquet file: messages here, strings in the RewardBench-style file below
        import datasets

        rows[0] = {**rows[0], "id": "7", "prompt": [{"role": "user", "content": "Hi?"}]}
        datasets.Dataset.from_list(rows).to_parquet(path)
        rb_style = tmp_path / "rb.parquet"
        datasets.Dataset.from_list([{"id": 1, "prompt": "Hi?", "chosen": "a", "rejected": "b",
                                     "subset": "hep-go"}]).to_parquet(rb_style)
        assert rb.load_local(rb_style).to_list() == [{"id": "1", "prompt": [{"role": "user", "content": "Hi?"}],
                                                      "chosen": "a", "rejected": "b", "subset": "hep-go"}]
    ds = rb.load_local(path)
    assert list(ds["id"]) == ["7", "mb-1"] and list(ds["chosen_model"]) == ["m1", "m2"]
    assert ds[0]["prompt"] == [{"role": "user", "content": "Hi?"}] and ds[1]["prompt"] == rows[1]["prompt"]
    again = tmp_path / "again.jsonl"
    again.write_text("".join(json.dumps(r) + "\n" for r in ds.to_list()))
    assert rb.load_local(again).to_list() == ds.to_list()
    with pytest.raises(ValueError, match="expected a .json, .jsonl or .parquet"):
        rb.load_local(tmp_path / "bench.csv")


def test_hub_loader_fails_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(rb.DatasetNotAvailable,
                       match=r"'allenai/reward-bench' \(split 'filtered'\).*hf download allenai/reward-bench .*pass DIR"):
        rb.load_hub()


def test_profile_bench_smoke_is_small_and_covers_every_section():
    P = get_profile("smoke")
    ds = load_profile_bench(P, seed=0)
    assert {rb.SUBSET_SECTION[s] for s in ds["subset"]} == set(rb.SECTION_NAMES)
    assert len(ds) == 2 * len(rb.SECTION_NAMES)
    prompts, responses, ids = rb.pair_inputs(ds)
    assert responses == list(ds["chosen"]) + list(ds["rejected"]) and ids[0] == f"{ds['id'][0]}/chosen"
    assert all(len(p[0]["content"]) + len(r) <= P.bench_max_chars for p, r in zip(prompts, responses))


def test_reference_figures_fail_clearly_for_a_missing_file():
    with pytest.raises(FileNotFoundError, match="no packaged data file 'missing.json'"):
        rb.reference_figures("missing.json")
