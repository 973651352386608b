"""The `cdr reward`, `cdr pairs` and `cdr evaluate` commands against the Python API on the same rows, and the
reward command sharded over two processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk

from cdr_utils import DensityRatioReward, build_pairs, evaluate, reward_augment
from cdr_utils.models import ModelSpec
from cdr_utils.pairs import split_by_prompt
from cdr_utils.records import read_records
from cdr_utils.rewards import score_candidates
from cdr_utils.studies.benches import load_profile_bench
from cdr_utils.studies.profiles import get_profile, load_reward

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["What is the capital of France?", "Say hi.", "What is 12 * 7?", "Name a colour.",
             "Write a haiku about the sea.", "Give one tip for learning to code."]
ANSWERS = [["Paris.", "The capital of France is Paris.", "I don't know.", "London"],
           ["Hello!", "Go away.", "Hi there, how can I help?"], ["84", "12 * 7 = 84.", "74", ""],
           ["Blue.", "Seven.", "Red is a colour."], ["Waves roll in and out.", "No.", "The sea is blue and wide."],
           ["Practice every day.", "Give up.", "Read code written by others."]]
ROWS = [{"id": f"q{i}", "prompt": q, "responses": a, "source": "mine"}
        for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS))]


def cdr(*args, launcher=(sys.executable, "-m")):
    proc = subprocess.run([*launcher, "cdr_utils", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def rewarded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reward")
    data = tmp / "cands.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cdr("reward", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", data,
        "--out", tmp / "r.jsonl")
    return tmp, read_records(tmp / "r.jsonl")


def test_reward_command_equals_the_python_api(rewarded):
    _, rows = rewarded
    reward = DensityRatioReward.from_pretrained("tiny-random-llama", "tiny-random-gpt2")
    expected, _ = score_candidates(reward, ROWS)
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS] and all(r["source"] == "mine" for r in rows)
    for got, want in zip(rows, expected):
        # equal to fp32 round-off (the command runs on one thread); NaN where the response is empty
        np.testing.assert_allclose(got["rewards"], want["rewards"], atol=1e-4)
        assert got["n_tokens_weak"] == want["n_tokens_weak"]
    assert np.isnan(rows[2]["rewards"][3])


def test_reward_command_on_two_processes_merges_to_one_process_output(rewarded):
    tmp, rows = rewarded
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    cdr("reward", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", tmp / "cands.jsonl",
        "--out", tmp / "r2.jsonl", launcher=(torchrun, "--nproc_per_node", "2", "-m"))
    two = read_records(tmp / "r2.jsonl")
    stats = json.loads((tmp / "r2.jsonl.stats.json").read_text())
    assert stats["processes"] == 2 and [p["rows"] for p in stats["parts"]] == [3, 3]
    assert [r["id"] for r in two] == [r["id"] for r in rows]
    np.testing.assert_allclose([x for r in two for x in r["rewards"]], [x for r in rows for x in r["rewards"]],
                               atol=1e-4)


def test_pairs_command_equals_build_pairs_split_and_augment(rewarded):
    tmp, rows = rewarded
    cdr("pairs", "--data", tmp / "r.jsonl", "--out", tmp / "pairs", "--test-fraction", "0.34", "--augment",
        "--seed", "3")
    got = load_from_disk(str(tmp / "pairs"))
    pairs, stats = build_pairs(rows, seed=3)
    assert stats["empty_responses"] == 1
    splits = split_by_prompt(pairs, 0.34, 3)
    train, info = reward_augment(splits["train"])
    test, _ = reward_augment(splits["test"], edges=info["edges"])  # the test split rated on the train bins
    assert got["train"].to_list() == train.to_list() and got["test"].to_list() == test.to_list()
    cdr("pairs", "--data", tmp / "r.jsonl", "--out", tmp / "plain.parquet")
    assert read_records(tmp / "plain.parquet") == pairs.to_list()


def test_evaluate_command_reproduces_notebook_03s_density_ratio_row(tmp_path):
    """Notebook 03's row on the smoke profile: its bench sample, its pair, rewardbench.evaluate."""
    P = get_profile("smoke")
    expected = evaluate(load_reward(P), load_profile_bench(P, seed=0)).sections
    assert (P.strong, P.weak) == (ModelSpec("tiny-random-llama", 0, label=P.strong.label),
                                  ModelSpec("tiny-random-llama", 1, label=P.weak.label))
    cdr("evaluate", "--strong", "tiny-random-llama", "--weak", "tiny-random-llama", "--weak-seed", "1",
        "--data", "minibench", "--per-section", P.bench_per_section, "--max-chars", P.bench_max_chars,
        "--out-csv", tmp_path / "subsets.csv", "--out-json", tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text())["sections"] == expected
    assert (tmp_path / "subsets.csv").read_text().splitlines()[0] == "section,subset,n,accuracy"


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": "z", "prompt": "Hi", "responses": ["a"]}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "cdr_utils", "pairs", "--data", str(tmp_path / "bad.jsonl"),
                           "--out", str(tmp_path / "p.jsonl")], cwd=ROOT, capture_output=True, text=True)
    # the one line names the file and its line, then (as before) the record and the field
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"cdr pairs: error: {tmp_path / 'bad.jsonl'} line 1: "
        "record 'z', field 'rewards': missing field; pairs need rows with several `responses` and "
        "their `rewards` (the output of `cdr reward`)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]
