"""The dry run's local copies of the paper recipe's hub data sets (tools/dryrun/data.py): built from a
seed, read through the project's own loaders exactly as the paper recipe reads the hub (the overrides returned
by build_datasets applied to configs/profiles/paper.yaml), in the hub's schema, and built only once."""
import hashlib
import json
import warnings
from pathlib import Path

import datasets
import huggingface_hub.constants
import numpy as np
import pytest
from datasets import Features, Sequence, Value

from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.benchmarks import rewardbench2 as rb2
from cdr_utils.benchmarks import rmbench as rmb
from cdr_utils.benchmarks.policy.answers import alpaca_eval_df_gamed, alpaca_eval_items, arena_hard_items, mt_bench_items
from cdr_utils.benchmarks.policy.winrate import gamed_difficulty, length_controlled_win_rate
from cdr_utils.records import read_jsonl
from cdr_utils.studies.annotate import load_prompts
from cdr_utils.studies.benches import load_profile_bench
from cdr_utils.studies.policy_benchmarks import _df_gamed, load_benchmarks
from tools.dryrun.data import build_datasets
from cdr_utils.studies.profiles import get_profile

# The hub's schemas, transcribed here from docs/HUB.md (section 1 and its Appendix), not from
# data.py: reward-bench and reward-bench-2 from their cards' front matter, ultrafeedback_binarized from its card,
# arena-hard-auto-v0.1 from its card, mt_bench_prompts from its card's build code (dtypes from a derived card),
# RM-Bench from its card and GitHub README (its json's dtypes are [NV] there).
S = Value("string")
MSG = [{"content": S, "role": S}]
REWARDBENCH = Features({"prompt": S, "chosen": S, "chosen_model": S, "rejected": S, "rejected_model": S, "subset": S,
                        "id": Value("int64")})
REWARDBENCH2 = Features({
    "id": S, "prompt": S, "chosen": Sequence(S), "rejected": Sequence(S), "num_correct": Value("int64"),
    "num_incorrect": Value("int64"), "total_completions": Value("int64"), "models": Sequence(S), "subset": S,
    "additional_metadata": {"category": S, "correct": S, "index": Value("float64"), "instruction_id_list": Sequence(S),
                            "label": S, "method": S, "models": Sequence(S), "prompt_norm": S, "subcategory": S,
                            "valid": Value("float64")}})
RMBENCH = Features({"id": Value("int64"), "prompt": S, "chosen": Sequence(S), "rejected": Sequence(S), "domain": S})
ULTRAFEEDBACK = Features({"prompt": S, "prompt_id": S, "chosen": MSG, "rejected": MSG, "messages": MSG,
                          "score_chosen": Value("float64"), "score_rejected": Value("float64")})
ARENA_V01_Q = Features({"question_id": S, "category": S, "cluster": S, "turns": [{"content": S}]})
MT_BENCH = Features({"prompt": Sequence(S), "prompt_id": Value("int64"), "category": S, "reference": Sequence(S)})
RB_SUBSETS = {  # docs/HUB.md 1.1's table of the 23 `filtered` subsets (rewardbench/constants.py)
    "alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med", "mt-bench-hard",
    "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual",
    "refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer",
    "math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"}
UF_SPLITS = {"train_prefs": 12, "test_prefs": 4, "train_sft": 4, "test_sft": 4, "train_gen": 4, "test_gen": 4}
KEYS = {"bench", "rewardbench2.data", "rm_bench.data", "annotation.prompts", "evals.alpaca_eval", "evals.df_gamed",
        "evals.arena_hard", "evals.arena_hard_baseline", "evals.mt_bench"}
ANSWERS = "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No hub: the environment, huggingface_hub's and datasets' copies of the flag (read once, at import); and a
    datasets cache of this test's own."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets-cache")


@pytest.fixture
def built(tmp_path, offline):
    overrides = build_datasets(tmp_path / "hub", seed=0)
    return overrides, get_profile("paper", overrides=overrides)


def _splits(folder) -> dict:
    return {s: datasets.load_dataset(folder, split=s) for s in datasets.get_dataset_split_names(folder)}


def test_overrides_point_the_paper_recipe_at_the_copies(built, tmp_path):
    overrides, P = built
    assert set(overrides) == KEYS
    hub = (tmp_path / "hub").resolve()
    assert overrides["evals.df_gamed"] == overrides["evals.alpaca_eval"]
    assert overrides["evals.arena_hard_baseline"] == [str(hub / "lmarena-ai--arena-hard-browser"), "space", ANSWERS]
    assert overrides["bench"] == str(hub / "allenai--reward-bench") == P.bench
    assert P.rewardbench2.data == overrides["rewardbench2.data"] and P.rm_bench.data == overrides["rm_bench.data"]
    assert P.annotation.prompts == overrides["annotation.prompts"] and P.evals.mt_bench == overrides["evals.mt_bench"]


def test_reward_bench(built):
    overrides, P = built
    splits = _splits(P.bench)
    assert list(splits) == ["filtered", "raw"]
    assert all(ds.features == REWARDBENCH for ds in splits.values())
    filtered, raw = splits["filtered"], splits["raw"]
    assert set(rb.EXAMPLE_COUNTS) == RB_SUBSETS  # the project's list is the report's
    assert len(filtered) == 46 and {s: filtered["subset"].count(s) for s in RB_SUBSETS} == dict.fromkeys(RB_SUBSETS, 2)
    assert len(raw) == 69 and set(raw["subset"]) == RB_SUBSETS and len(set(raw["id"])) == 69
    by_id = {r["id"]: r for r in raw}
    assert all(by_id[r["id"]] == r for r in filtered)  # raw is a superset of filtered
    bench = load_profile_bench(P, per_section="all")  # notebooks 01-03: rewardbench.load_hub(folder)
    assert len(bench) == 46 and set(bench["subset"]) == RB_SUBSETS
    assert bench[0]["prompt"][0]["role"] == "user"
    chosen = {(json.dumps(r["prompt"]), r["chosen"]) for r in bench}
    assert not chosen & {(json.dumps(r["prompt"]), r["rejected"]) for r in bench}  # an oracle can tell them apart
    def oracle(prompts, responses, flip=False):
        return np.array([float(((json.dumps(p), x) in chosen) != flip) for p, x in zip(prompts, responses)])
    contrarian = rb.evaluate(lambda p, r: oracle(p, r, flip=True), bench).sections
    oracle = rb.evaluate(oracle, bench).sections
    assert all(oracle[s] == 100.0 and contrarian[s] == 0.0 for s in ("Chat", "Chat Hard", "Safety", "Reasoning", "Score"))


def test_reward_bench_2(built):
    _, P = built
    splits = _splits(P.rewardbench2.data)
    assert list(splits) == ["test"] and splits["test"].features == REWARDBENCH2
    rows = rb2.load(P.rewardbench2.data)  # notebook 03: evaluate_benchmark -> rewardbench2.load -> load_hub
    counts = {s: rows["subset"].count(s) for s in rb2.SUBSETS}
    assert counts == {"Factuality": 2, "Precise IF": 2, "Math": 2, "Safety": 2, "Focus": 2, "Ties": 4}
    for r in rows:
        if r["subset"] == "Ties":
            assert r["id"].split(":")[0] in ("ref", "tied") and r["num_correct"] == (1 if "ref" in r["id"] else 2)
            assert r["num_incorrect"] == 3
        else:
            assert (len(r["chosen"]), len(r["rejected"]), r["total_completions"]) == (1, 3, 4)
    rewards = [np.r_[np.full(len(r["chosen"]), 1.0), np.arange(len(r["rejected"])) * -1.0] for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "subsets absent" warning: all six are there
        table, overall = rb2.score_rewardbench2(rows, rewards)
    assert list(table.index) == list(rb2.SUBSETS) and table.loc["Ties", "tied_accuracy"] == 1.0
    assert table.loc["Math", "score"] == 1.0 and np.isfinite(overall)


def test_rm_bench(built):
    _, P = built
    splits = _splits(P.rm_bench.data)  # no configs: datasets' json builder names the one split "train"
    assert list(splits) == ["train"] and splits["train"].features == RMBENCH
    rows = rmb.load(P.rm_bench.data)  # notebook 03: rmbench.load_hub -> hub_file(folder, "total_dataset.json")
    assert len(rows) == 10 and sorted(set(rows["domain"])) == ["chat", "code", "math", "safety-refuse",
                                                                 "safety-response"]
    assert all(len(r["chosen"]) == len(r["rejected"]) == 3 for r in rows)
    chosen = [[3.0, 2.0, 1.0]] * len(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every domain present
        table, overall = rmb.score_rmbench(rows, chosen, [[0.0, 0.0, 0.0]] * len(rows))
    assert list(table.index) == list(rmb.DOMAINS) and overall["total_avg"] == 1.0


def test_ultrafeedback(built):
    _, P = built
    splits = _splits(P.annotation.prompts)
    assert {s: len(ds) for s, ds in splits.items()} == UF_SPLITS
    assert all(ds.features == ULTRAFEEDBACK for ds in splits.values())
    prefs = datasets.load_dataset(P.annotation.prompts, split="train_prefs")  # as annotate.load_prompts
    for r in prefs:
        assert r["prompt_id"] == hashlib.sha256(r["prompt"].encode("utf-8")).hexdigest()
        assert [m["role"] for m in r["chosen"]] == [m["role"] for m in r["rejected"]] == ["user", "assistant"]
        assert r["chosen"][0]["content"] == r["prompt"] and 1 <= r["score_rejected"] < r["score_chosen"] <= 10
        assert len(r["prompt"]) < 200
    prompts = load_prompts(P)  # notebook 04
    assert [p[-1]["content"] for p in prompts] == prefs["prompt"]
    assert set(splits["train_sft"]["prompt"]) <= set(prefs["prompt"])
    assert set(splits["test_gen"]["prompt"]) <= set(splits["test_prefs"]["prompt"])


def test_alpaca_eval_and_df_gamed(built):
    overrides, P = built
    folder = P.evals.alpaca_eval
    records = json.loads((Path(folder) / "alpaca_eval_gpt4_baseline.json").read_text(encoding="utf-8"))
    assert [list(r) for r in records] == [["dataset", "instruction", "output", "generator"]] * 6
    assert {r["generator"] for r in records} == {"gpt4_1106_preview"}
    assert {r["dataset"] for r in records} <= {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    items = alpaca_eval_items(folder)  # notebook 06: hub_file(folder, "alpaca_eval_gpt4_baseline.json")
    assert [it["id"] for it in items] == list(range(6)) and all(it["reference"] for it in items)
    gamed = alpaca_eval_df_gamed(P.evals.df_gamed)
    assert len(gamed) == 12 and gamed["not_gamed_baseline"].dtype == bool and not gamed["not_gamed_baseline"].any()
    assert list(gamed.drop_duplicates("index")["index"]) == list(range(6))  # first row of index g is row g
    assert sorted(gamed_difficulty(gamed)) == list(range(6)) and _df_gamed(P) is not None
    judgments = [{"instruction": it["instruction"], "output_1": it["reference"], "generator_1": "gpt4_1106_preview",
                  "output_2": it["reference"][: 40 + 15 * k], "generator_2": "dry-run-policy",
                  "preference": [1.0, 2.0, 1.5, 2.0, 1.0, 1.8][k]} for k, it in enumerate(items)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # df_gamed in index order: no row-label warning
        lc = length_controlled_win_rate(judgments, df_gamed=gamed)
    assert lc["variant"] == "length_controlled_v1" and np.isfinite(lc["length_controlled_winrate"])


def test_arena_hard_questions_and_baseline_file(built):
    overrides, P = built
    splits = _splits(P.evals.arena_hard)
    assert list(splits) == ["train"] and splits["train"].features == ARENA_V01_Q
    questions = splits["train"]
    assert len(questions) == 6 and set(questions["category"]) == {"arena-hard-v0.1"}
    assert len(set(questions["cluster"])) == 3 and all(len(t) == 1 for t in questions["turns"])
    items = arena_hard_items(P.evals.arena_hard)  # without the baseline's answers
    assert [it["uid"] for it in items] == questions["question_id"]
    space, repo_type, path = P.evals.arena_hard_baseline
    answers = read_jsonl(f"{space}/{path}")  # FastChat layout of lm-sys/arena-hard-auto@efc012e (docs/HUB.md 1.6)
    assert [list(a) for a in answers] == [["question_id", "answer_id", "model_id", "choices", "tstamp"]] * 6
    assert [a["question_id"] for a in answers] == questions["question_id"]
    for a in answers:
        assert a["model_id"] == "gpt-4-0314" and isinstance(a["tstamp"], float)
        (choice,) = a["choices"]
        assert choice["index"] == 0 and [list(t) for t in choice["turns"]] == [["content", "token_len"]]


def test_arena_hard_with_the_baseline_triple(built):
    _, P = built
    items = arena_hard_items(P.evals.arena_hard, P.evals.arena_hard_baseline)  # notebook 06, as load_benchmarks
    assert all(it["reference"] for it in items)
    assert {len(v) for v in load_benchmarks(P).values()} == {6, 8}


def test_mt_bench(built):
    _, P = built
    splits = _splits(P.evals.mt_bench)
    assert list(splits) == ["train"] and splits["train"].features == MT_BENCH
    for r in splits["train"]:  # the card's build code
        assert r["prompt_id"] == int(hashlib.sha256("".join(r["prompt"]).encode()).hexdigest(), 16) % 10**8
    items = mt_bench_items(P.evals.mt_bench)
    assert [it["category"] for it in items] == ["writing", "roleplay", "reasoning", "math", "coding", "extraction",
                                                "stem", "humanities"]
    assert all(len(it["turns"]) == 2 for it in items)
    assert [it["category"] for it in items if it["reference"]] == ["reasoning", "math", "coding"]
    assert all(len(it["reference"]) == 2 for it in items if it["reference"])


def test_build_is_idempotent_deterministic_and_repairs(tmp_path, offline):
    root = tmp_path / "hub"
    first = build_datasets(root, seed=0)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert build_datasets(root, seed=0) == first  # nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in sorted(p for p in root.rglob("*") if p.is_file())} == stamps
    other = tmp_path / "again"  # same seed elsewhere: the same bytes
    build_datasets(other, seed=0)
    assert all((other / p.relative_to(root)).read_bytes() == p.read_bytes() for p in files)
    # an interrupted build (a dead process's temporary sibling) and a stale copy (other seed) are repaired
    rb_dir = root / "allenai--reward-bench"
    (root / ".allenai--reward-bench.999999999.tmp").mkdir()
    (rb_dir / ".complete").write_text(json.dumps({"seed": 5, "version": 1}))
    assert build_datasets(root, seed=0) == first
    assert not (root / ".allenai--reward-bench.999999999.tmp").exists()
    assert json.loads((rb_dir / ".complete").read_text()) == {"seed": 0, "version": 1}
    assert (root / "THU-KEG--RM-Bench" / "total_dataset.json").stat().st_mtime_ns == stamps[
        root / "THU-KEG--RM-Bench" / "total_dataset.json"]
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in other.iterdir())
