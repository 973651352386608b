"""The notebooks as `make demo` runs them (papermill), on a user's own YAML recipe that starts from `paper`
pointed at the dry run's stand-ins (a reduced `make dryrun`: the paper recipe's code paths, its data sets'
schemas, its model families' chat templates and stop tokens, bf16 weights, an HTTP judge, end to end). Every
notebook runs and writes its results file; the executed copies hold a handful of outputs per cell, no warnings and
no paths of this checkout; a second run reuses the artifacts and says so; the git tree is left as it was."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cdr_utils.models import CACHE_DIR
from cdr_utils.studies import get_profile
from tools.dryrun.__main__ import model_overrides
from tools.dryrun.judge import JudgeServer
from cdr_utils.studies.recipes import read_recipe

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# the reduction (the dry run itself keeps the paper recipe's sizes): six pool models, one per template kind, and
# a few rows of each data set
POOL = ("princeton-nlp/Mistral-7B-Instruct-DPO", "mistralai/Mistral-7B-Instruct-v0.2",
        "alignment-handbook/zephyr-7b-sft-full", "princeton-nlp/Llama-3-Base-8B-SFT",
        "NousResearch/Nous-Hermes-2-Mistral-7B-DPO", "teknium/OpenHermes-2.5-Mistral-7B")
REDUCED = {"bench_per_section": 2, "customize.bench_per_section": 1, "rewardbench2.per_group": 1,
           "rm_bench.per_group": 1, "annotation.n_prompts": 4, "generation.n": 2, "evals.n_alpaca_eval": 2,
           "evals.n_arena_hard": 2, "evals.n_mt_bench": 2,
           # random stand-ins seldom sample their stop token, so every answer runs to its cap (2,048-4,096 tokens)
           "generation.max_new_tokens": 32, "tuning.eval_max_new_tokens": 32, "evals.max_new_tokens": 32}


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True).stdout


def _run(notebook: Path, out: Path, recipe: Path, env: dict, overrides: Path | None = None) -> dict:
    subprocess.run([str(Path(sys.executable).with_name("papermill")), "--log-level", "WARNING", "--no-progress-bar",
                    "--cwd", str(ROOT / "notebooks"), str(notebook), str(out), "-p", "profile", str(recipe),
                    *(["-p", "overrides", f"@{overrides}"] if overrides else [])],
                   env=env, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def _run_all(run: str, recipe: Path, env: dict, tmp_path: Path, overrides: Path | None = None, streams: int = 4):
    """Every notebook; asserts the executed copies' hygiene and the results files; the executed 04 is returned."""
    for nb in NOTEBOOKS:
        executed = _run(nb, tmp_path / nb.name, recipe, env, overrides)
        for k, cell in enumerate(executed["cells"]):
            n = sum(o["output_type"] == "stream" for o in cell.get("outputs", []))
            assert n <= streams, f"{nb.name} cell {k}: {n} stream outputs"
            for text in _texts(cell):
                assert str(ROOT) not in text and str(tmp_path) not in text, f"{nb.name} cell {k}: {text[:300]}"
                assert "Warning" not in text, f"{nb.name} cell {k}: {text[:300]}"
        assert (ROOT / "results" / run / f"{nb.stem}.json").exists()


def _reused(run: str, recipe: Path, env: dict, tmp_path: Path, overrides: Path | None = None) -> None:
    """Notebook 04 again with the same settings: every artifact reused, and it says so."""
    again = _run(NOTEBOOKS[4], tmp_path / "again.ipynb", recipe, env, overrides)
    said = "\n".join(t for cell in again["cells"] for t in _texts(cell))
    assert re.search(rf"\[candidates\] reused outputs/{re.escape(run)}/candidates/\w+", said)
    assert re.search(rf"\[pairs\] reused outputs/{re.escape(run)}/pairs/\w+", said)
    assert not re.search(r"\[\w+\] built", said)


def _texts(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if "text" in o:
            out.append("".join(o["text"]))
        for key in ("text/plain", "text/markdown", "text/html"):
            if key in o.get("data", {}):
                out.append("".join(o["data"][key]))
    return out


@pytest.mark.slow
def test_the_notebooks_on_a_users_recipe_from_paper_with_stand_ins(tmp_path, dryrun_stand_ins):
    data, folders = dryrun_stand_ins
    recipe = tmp_path / "my-recipe.yaml"
    recipe.write_text("base: paper\nname: pytest-paper-dryrun\n")
    paper, _ = read_recipe("paper")
    paper["pool"] = [s for s in paper["pool"] if s["name"] in POOL]
    models = model_overrides(paper, folders)
    pool = [models[f"pool.{i}"] for i in range(len(POOL))]
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({**data, **{k: v for k, v in models.items() if not k.startswith("pool.")},
                                         "pool": pool, **REDUCED}))
    run = get_profile(str(recipe), f"@{overrides}").name
    # a cache of its own (the prepared models linked in): judgments and scores cached by an earlier `make test` in
    # this checkout would leave the HTTP judge nothing to answer
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(CACHE_DIR / "models", target_is_directory=True)
    env = {**os.environ, "CDR_OUTPUTS_DIR": str(tmp_path / "outputs"), "CDR_CONSOLE_PROGRESS": "1",
           "CDR_JUDGE_API_KEY": "dry-run", "CDR_CACHE_DIR": str(cache)}
    before = _git_status()
    with JudgeServer(key="dry-run") as judge:
        env["CDR_JUDGE_BASE_URL"] = judge.url
        try:
            _run_all(run, recipe, env, tmp_path, overrides, streams=6)  # 07's training cell interleaves two runs
            results = json.loads((ROOT / "results" / run / "04_onpolicy_annotation.json").read_text())
            assert results["candidates"]["prompts_total"] == 4  # the override reached the notebook
            scoring = json.loads((ROOT / "results" / run / "06_benchmark_scoring.json").read_text())
            assert scoring["judge"].startswith("gpt-4-1106-preview") and judge.requests > 0  # the HTTP judge judged
            _reused(run, recipe, env, tmp_path, overrides)
            assert _git_status() == before
        finally:
            for folder in (ROOT / "results" / run, ROOT / "runs" / run):
                shutil.rmtree(folder, ignore_errors=True)
