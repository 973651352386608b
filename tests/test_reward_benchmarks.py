"""RewardBench 2 and RM-Bench loaders (hub schema on local fixtures, offline failure), sampling, and the
evaluation of a density-ratio reward: one scoring pass whose tables equal the pure scoring functions applied to
rewards computed independently (each completion scored again on its own, through the scorers directly).

Fixture schemas are the hub's as docs/HUB.md (sections 1.2, 1.3 and its appendix) records
them: allenai/reward-bench-2 split test (id string, prompt string, chosen / rejected lists, num_correct,
num_incorrect, total_completions, models, subset, additional_metadata struct; ids repeat across subsets);
THU-KEG/RM-Bench's total_dataset.json (a JSON list of {id int, prompt, chosen x3, rejected x3, domain}).
"""
import json
import warnings

import datasets
import numpy as np
import pandas as pd
import pytest
from datasets import Features, Sequence, Value

from cdr_utils import DensityRatioReward, LogProbScorer, hub, load_model
from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.benchmarks import rewardbench2 as rb2
from cdr_utils.benchmarks import rmbench as rmb
from cdr_utils.benchmarks.minibench import load_minibench
from cdr_utils.benchmarks.minibench_bo4 import BO4_SUBSETS
from cdr_utils.benchmarks.reward_eval import METHODS, evaluate_benchmark, sample_rows

RB2_FEATURES = Features({
    "id": Value("string"), "prompt": Value("string"), "chosen": Sequence(Value("string")),
    "rejected": Sequence(Value("string")), "num_correct": Value("int64"), "num_incorrect": Value("int64"),
    "total_completions": Value("int64"), "models": Sequence(Value("string")), "subset": Value("string"),
    "additional_metadata": {"category": Value("string"), "correct": Value("string"), "index": Value("float64"),
                            "instruction_id_list": Sequence(Value("string")), "label": Value("string"),
                            "method": Value("string"), "models": Sequence(Value("string")),
                            "prompt_norm": Value("string"), "subcategory": Value("string"),
                            "valid": Value("float64")}})
META = {"category": None, "correct": None, "index": None, "instruction_id_list": [], "label": None, "method": None,
        "models": [], "prompt_norm": None, "subcategory": None, "valid": None}


def rb2_fixture() -> datasets.Dataset:
    rows = []
    for s, subset in enumerate(("Factuality", "Precise IF", "Math", "Safety", "Focus")):
        for i in range(2):  # ids "0", "1" in every subset, as the hub's repeat across subsets
            rows.append({"id": str(i), "prompt": f"Q{s}{i}: name a colour.", "chosen": [f"Blue {s}{i}."],
                         "rejected": [f"No {s}{i}.", f"Maybe {s}{i}?", "I refuse."], "num_correct": 1,
                         "num_incorrect": 3, "total_completions": 4, "models": ["m1", "m2", "m3", "m4"],
                         "subset": subset, "additional_metadata": {**META, "category": subset.lower()}})
    for k in range(2):
        rows.append({"id": f"ref:{k}", "prompt": f"Smallest prime above {10 * k}?", "chosen": [f"{[11, 23][k]}."],
                     "rejected": ["12.", "15."], "num_correct": 1, "num_incorrect": 2, "total_completions": 3,
                     "models": [], "subset": "Ties", "additional_metadata": META})
        rows.append({"id": f"tied:{k}", "prompt": f"Name any prime number above {10 * k}, please.",
                     "chosen": ["13.", "17.", "19."],
                     "rejected": ["14.", "21."], "num_correct": 3, "num_incorrect": 2, "total_completions": 5,
                     "models": [], "subset": "Ties", "additional_metadata": META})
    return datasets.Dataset.from_list(rows, features=RB2_FEATURES)


def rmbench_fixture() -> list[dict]:
    rows = []
    for i, domain in enumerate(("chat", "code", "math", "safety-refuse", "safety-response", "chat", "math")):
        right, wrong = f"yes {i}", f"no {i}"
        rows.append({"id": i, "prompt": f"Question {i} ({domain})?", "domain": domain,
                     "chosen": [f"{right}.", f"Answer: {right}, because.", f"**Answer:** {right}, because."],
                     "rejected": [f"{wrong}.", f"Answer: {wrong}, because.", f"**Answer:** {wrong}, because."]})
    return rows


# -- loaders -----------------------------------------------------------------------------------------------------
def test_rewardbench2_hub_schema_local_files_and_hub_path(tmp_path, monkeypatch):
    fixture = rb2_fixture()
    path = tmp_path / "test-00000-of-00001.parquet"
    fixture.to_parquet(path)
    rows = rb2.load_local(path)
    assert len(rows) == 14 and rows[0]["prompt"] == [{"role": "user", "content": "Q00: name a colour."}]
    assert rows[2]["id"] == "0" and rows[2]["subset"] == "Precise IF"  # ids repeat across subsets: accepted
    assert rows[0]["additional_metadata"]["category"] == "factuality"  # extra columns kept
    calls = []

    def hub(name, split=None, revision=None):
        calls.append((name, split))
        return fixture

    monkeypatch.setattr(rb2.datasets, "load_dataset", hub)
    assert rb2.load("allenai/reward-bench-2").to_list() == rows.to_list()
    assert calls == [("allenai/reward-bench-2", "test")]


def test_rewardbench2_offline_and_bad_rows(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(rb.DatasetNotAvailable, match=r"'allenai/reward-bench-2' \(split 'test'\).*hf download"):
        rb2.load_hub()
    good = rb2_fixture().to_list()[0]
    for change, match in (({"total_completions": 5}, "total_completions.*5 but the lists hold 4"),
                          ({"rejected": []}, "rejected.*non-empty list"), ({"chosen": ["ok", " "]}, "chosen")):
        with pytest.raises(ValueError, match=match):
            rb2.to_rows([{**good, **change}])
    with pytest.raises(ValueError, match="duplicate id in subset 'Factuality'"):
        rb2.to_rows([good, good])


def test_rmbench_total_dataset_json_local_and_hub_path(tmp_path, monkeypatch):
    path = tmp_path / "total_dataset.json"
    path.write_text(json.dumps(rmbench_fixture()))
    rows = rmb.load_local(path)
    assert len(rows) == 7 and rows[0]["id"] == 0 and rows[3]["domain"] == "safety-refuse"
    calls = []

    def download(repo, filename, repo_type=None, revision=None):
        calls.append((repo, filename, repo_type))
        return str(path)

    monkeypatch.setattr(hub, "hf_hub_download", download)  # the hub's file, as cdr_utils.hub fetches it
    assert rmb.load("THU-KEG/RM-Bench").to_list() == rows.to_list()
    assert calls == [("THU-KEG/RM-Bench", "total_dataset.json", "dataset")]
    with pytest.raises(ValueError, match="'x'.*3 non-empty strings"):
        rmb.to_rows([{**rmbench_fixture()[0], "id": "x", "chosen": ["a", "b"]}])
    with pytest.raises(ValueError, match="poetry"):
        rmb.to_rows([{**rmbench_fixture()[0], "domain": "poetry"}])


def test_rmbench_offline_fails_naming_the_data_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(rb.DatasetNotAvailable, match=r"'total_dataset.json' of the data set 'THU-KEG/RM-Bench'"):
        rmb.load_hub()


def test_sample_rows_keeps_ties_pairs_and_is_seeded():
    rows = rb2.to_rows(rb2_fixture().to_list())
    one = sample_rows(rows, 1, seed=0)
    counts = pd.Series(one["subset"]).value_counts()
    assert (counts.drop("Ties") == 1).all() and counts["Ties"] == 2  # one Ties prompt = its ref and tied rows
    assert {i.partition(":")[2] for i in one.filter(lambda r: r["subset"] == "Ties")["id"]} in ({"0"}, {"1"})
    assert one.to_list() == sample_rows(rows, 1, seed=0).to_list()
    assert len({tuple(sample_rows(rows, 1, seed=s)["prompt"][0][0]["content"]) for s in range(6)}) > 1
    short = sample_rows(rows, None, max_chars=len("Q00: name a colour.") + len("Maybe 00?"))
    # each ref row fits, each tied row is too long: the pair goes as one
    assert "Ties" not in short["subset"] and len(short) == 10
    assert sample_rows(rows, None) is rows


# -- evaluation with tiny random models ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scorers():
    return (LogProbScorer(*load_model("tiny-random-llama", seed=0)),
            LogProbScorer(*load_model("tiny-random-llama", seed=1)))


class Spy:
    """A DensityRatioReward that records each score call's prompts and record ids."""

    def __init__(self, reward):
        self.reward, self.calls = reward, []

    def score(self, prompts, responses, *, record_ids=None):
        self.calls.append((prompts, responses, record_ids))
        return self.reward.score(prompts, responses, record_ids=record_ids)


def independent(scorers, rows, fields):
    """Per row, the methods' rewards of its completions (fields in order), from a separate scoring: new scorers
    over the same weights without prefix sharing, all completions in one call in REVERSED order, and the
    methods computed here from the sums and token counts."""
    prompts, texts, sizes = [], [], []
    for row in rows:
        mine = [t for f in fields for t in ([row[f]] if isinstance(row[f], str) else row[f])]
        prompts += [row["prompt"]] * len(mine)
        texts += mine
        sizes.append(len(mine))
    results = [LogProbScorer(sc.model, sc.tokenizer, share_prefix=False).score(prompts[::-1], texts[::-1])
               for sc in scorers]
    (ss, sn), (ws, wn) = ((r.sum[::-1], r.n_tokens[::-1]) for r in results)
    flat = {"density ratio (sum)": ss - ws, "density ratio (mean)": ss / sn - ws / wn, "strong log p (sum)": ss,
            "strong log p (mean)": ss / sn, "weak log p (sum)": ws, "weak log p (mean)": ws / wn,
            "longer response": np.array([len(t) for t in texts], float)}
    cuts = np.cumsum(sizes)[:-1]
    return [dict(zip(flat, parts)) for parts in zip(*(np.split(v, cuts) for v in flat.values()))]


def test_rewardbench2_tables_equal_the_pure_scorer_on_independent_rewards(scorers):
    rows = rb2.to_rows(rb2_fixture().to_list())
    spy = Spy(DensityRatioReward(*scorers))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = evaluate_benchmark(spy, "rewardbench2", rows, seed=0)
    (prompts, _, ids), = spy.calls  # ONE scoring call ...
    assert ids[:4] == ["0/chosen[0]", "0/rejected[0]", "0/rejected[1]", "0/rejected[2]"]  # ... a row's completions
    assert [p[0]["content"] for p in prompts[:5]] == ["Q00: name a colour."] * 4 + ["Q01: name a colour."]  # adjacent
    scores = out["scores"]
    assert list(scores.columns) == ["prompts", *METHODS] and scores.index[-1] == "overall"
    per_row = independent(scorers, rows, ("chosen", "rejected"))
    for method in METHODS[:-1]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table, overall = rb2.score_rewardbench2(rows, [r[method] for r in per_row])
        assert scores[method].drop("overall").to_numpy() == pytest.approx(100 * table["score"].to_numpy(), abs=1e-6)
        assert scores.loc["overall", method] == pytest.approx(overall, abs=1e-6)
        assert out["ties"].loc[method, "score"] == pytest.approx(table.loc["Ties", "score"], abs=1e-6)
    flat = out["per_completion"]
    assert flat["r_sum"].to_numpy() == pytest.approx(np.concatenate([r["density ratio (sum)"] for r in per_row]),
                                                     abs=1e-4)
    # random: numpy default_rng(seed) over the completions in scoring order
    sizes = [len(r["chosen"]) + len(r["rejected"]) for r in rows]
    table, _ = rb2.score_rewardbench2(rows, np.split(np.random.default_rng(0).random(len(flat)), np.cumsum(sizes)[:-1]))
    assert scores["random"].drop("overall").to_numpy() == pytest.approx(100 * table["score"].to_numpy())


def test_rmbench_tables_equal_the_pure_scorer_on_independent_rewards(scorers):
    rows = rmb.to_rows(rmbench_fixture())
    spy = Spy(DensityRatioReward(*scorers))
    out = evaluate_benchmark(spy, "rm-bench", rows, seed=0)
    (_, _, ids), = spy.calls
    assert ids[:7] == [f"0/chosen[{k}]" for k in range(3)] + [f"0/rejected[{k}]" for k in range(3)] + ["1/chosen[0]"]
    per_row = independent(scorers, rows, ("chosen", "rejected"))
    for method in METHODS[:-1]:
        r = np.array([x[method] for x in per_row])
        table, overall = rmb.score_rmbench(rows, r[:, :3], r[:, 3:])
        assert out["scores"][method].drop("overall").to_numpy() == pytest.approx(100 * table["average"].to_numpy())
        assert out["scores"].loc["overall", method] == pytest.approx(100 * overall["total_avg"])
        for part in ("hard", "normal", "easy"):
            assert out["hard_normal_easy"].loc["overall", (method, part)] == pytest.approx(100 * overall[part])
        triples = np.concatenate([r[:, :3], r[:, 3:]])  # by hand: over the 7 chosen and 7 rejected triples
        assert out["style_preference"].loc[method, "markdown > detailed (%)"] == pytest.approx(
            100 * np.mean(triples[:, 2] > triples[:, 1]))
    # the length baseline on this fixture: every richer style is longer, so 100 % style preference
    assert (out["style_preference"].loc["longer response"] == 100).all()
    assert "length" in out["scores"].attrs["notes"][0]


def test_rewardbench_pairs_match_rewardbench_evaluate(scorers):
    reward = DensityRatioReward(*scorers)
    out = evaluate_benchmark(reward, "rewardbench", "minibench", per_section=2, seed=0, max_chars=400)
    full = rb.to_rows(load_minibench(0), source="minibench")
    drawn = set(out["per_completion"]["id"])
    rows = full.select([i for i, x in enumerate(full["id"]) if x in drawn])
    assert len(rows) == 8 and out["scores"].attrs["rows"] == 8  # 2 per section
    reference = rb.evaluate(reward, rows)  # its own call: N chosen, then N rejected
    assert out["scores"]["density ratio (sum)"].to_dict() == pytest.approx(
        {("overall" if k == "Score" else k): v for k, v in reference.sections.items()})


def test_evaluate_benchmark_offline_parts_and_errors(scorers):
    reward = DensityRatioReward(*scorers)
    two = evaluate_benchmark(reward, "rewardbench2", "minibench", per_section=1, seed=0, max_chars=300)
    assert two["scores"].index[-1] == "overall" and set(two["scores"].index[:-1]) <= set(BO4_SUBSETS)
    assert two["scores"].attrs["data"] == "minibench" and list(two["scores"].columns) == ["prompts", *METHODS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no chat row is that short: "domains without examples"
        style = evaluate_benchmark(reward, "rm-bench", "minibench", per_section=1, seed=0, max_chars=300)
    assert style["scores"].index[-1] == "overall" and set(style["scores"].index[:-1]) <= set(rmb.DOMAINS)
    with pytest.raises(ValueError, match="unknown benchmark 'rewardbench3'"):
        evaluate_benchmark(reward, "rewardbench3")
    with pytest.raises(ValueError, match="max_chars=20 leaves none of the 14 rows of rewardbench2"):
        evaluate_benchmark(reward, "rewardbench2", rb2_fixture().to_list(), max_chars=20)
