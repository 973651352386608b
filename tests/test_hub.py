"""Hub files from a local copy of the repository, and the error when neither the hub nor a copy is there."""
import json

import huggingface_hub.constants
import pytest

from cdr_utils.benchmarks import rmbench
from cdr_utils.benchmarks.policy.answers import alpaca_eval_items
from cdr_utils.hub import hub_file
from cdr_utils.benchmarks.rewardbench import DatasetNotAvailable


@pytest.fixture
def offline(monkeypatch):
    """The hub as this machine sees it: unreachable (huggingface_hub reads HF_HUB_OFFLINE once, at import)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_local_copy_is_read_like_the_repository(tmp_path):
    (tmp_path / "total_dataset.json").write_text("[]", encoding="utf-8")
    assert hub_file(str(tmp_path), "total_dataset.json") == tmp_path / "total_dataset.json"
    with pytest.raises(FileNotFoundError, match="has no 'df_gamed.csv'"):
        hub_file(str(tmp_path), "df_gamed.csv")


def test_unreachable_hub_names_file_repository_and_the_way_out(offline):
    with pytest.raises(FileNotFoundError) as err:
        hub_file("no-such-org/no-such-data", "data.json")
    text = str(err.value)
    assert "'data.json'" in text and "'no-such-org/no-such-data'" in text and "hf download" in text


def test_rmbench_and_alpaca_eval_read_local_copies(tmp_path, offline):
    # RM-Bench's total_dataset.json schema: id, prompt, chosen/rejected as 3 styles, domain
    rows = [{"id": i, "prompt": f"question {i}", "domain": d,
             "chosen": [f"right {i} {s}" for s in range(3)], "rejected": [f"wrong {i} {s}" for s in range(3)]}
            for i, d in enumerate(["chat", "math", "code", "safety-refuse"])]
    rm = tmp_path / "RM-Bench"
    rm.mkdir()
    (rm / "total_dataset.json").write_text(json.dumps(rows), encoding="utf-8")
    data = rmbench.load(str(rm))
    assert len(data) == 4 and data[3]["prompt"] == [{"role": "user", "content": "question 3"}]
    with pytest.raises(DatasetNotAvailable, match="THU-KEG/RM-Bench"):
        rmbench.load("THU-KEG/RM-Bench")

    ae = tmp_path / "alpaca_eval"
    ae.mkdir()
    (ae / "alpaca_eval_gpt4_baseline.json").write_text(json.dumps(
        [{"instruction": "Say hi.", "output": "Hi!", "dataset": "helpful_base", "generator": "gpt4_1106_preview"}]),
        encoding="utf-8")
    assert alpaca_eval_items(str(ae)) == [{"id": 0, "instruction": "Say hi.", "reference": "Hi!",
                                           "dataset": "helpful_base"}]


@pytest.fixture
def all_offline(offline, monkeypatch, tmp_path):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))


def test_each_paper_source_fails_naming_itself_its_recipe_key_and_the_copy_command(all_offline, tmp_path):
    """Every hub source of the paper recipe, the others pointed at local copies: the error names the model or data
    set, the recipe key that points it at a local copy, and the `hf download` command that makes one."""
    from cdr_utils.studies import annotate, get_profile, load_policy, load_scorer
    from cdr_utils.studies import policy_benchmarks as benchmarks
    from cdr_utils.studies.benches import load_profile_bench, profile_benchmark
    from tools.dryrun.data import build_datasets

    local = build_datasets(tmp_path / "copies")
    paper = get_profile("paper")
    hub = {"bench": paper.bench, "rewardbench2.data": paper.rewardbench2.data, "rm_bench.data": paper.rm_bench.data,
           "annotation.prompts": paper.annotation.prompts, "evals.alpaca_eval": paper.evals.alpaca_eval,
           "evals.arena_hard": paper.evals.arena_hard, "evals.arena_hard_baseline": paper.evals.arena_hard_baseline[0],
           "evals.mt_bench": paper.evals.mt_bench, "evals.df_gamed": paper.evals.df_gamed}
    calls = {"bench": load_profile_bench, "rewardbench2.data": lambda P: profile_benchmark(P, None, "rewardbench2"),
             "rm_bench.data": lambda P: profile_benchmark(P, None, "rm-bench"),
             "annotation.prompts": annotate.load_prompts, "evals.df_gamed": benchmarks._df_gamed,
             **dict.fromkeys(("evals.alpaca_eval", "evals.arena_hard", "evals.arena_hard_baseline",
                              "evals.mt_bench"), benchmarks.load_benchmarks)}
    for key, call in calls.items():
        P = get_profile("paper", {k: v for k, v in local.items() if k != key})
        with pytest.raises(OSError) as err:
            call(P)
        text = str(err.value)
        assert hub[key] in text and f"recipe key {key!r}" in text and "hf download" in text, (key, text)
    for key, call in (("strong.name", lambda P: load_scorer(P, P.strong, key="strong")),
                      ("pool.9.name", lambda P: load_scorer(P, P.pool[9], key="pool.9")),
                      ("generation.policy.name", load_policy)):
        with pytest.raises(OSError) as err:
            call(paper)
        text = str(err.value)
        name = {"strong.name": paper.strong.name, "pool.9.name": paper.pool[9].name,
                "generation.policy.name": paper.generation.policy.name}[key]
        assert name in text and f"recipe key {key!r}" in text and "hf download" in text, (key, text)
