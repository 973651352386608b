"""A user's install: the wheel `pip install .` builds (not editable), checked for what it ships, installed into a
folder of its own (`pip install --no-deps --target`: the pinned stack is this environment's, which `make setup`
installed from the same pyproject.toml), then the `cdr` command in another folder, from candidates to rewards to
pairs to one DPO step."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cdr_utils import DensityRatioReward, build_pairs, reward_augment
from cdr_utils.records import read_records
from cdr_utils.rewards import score_candidates

ROOT = Path(__file__).resolve().parents[1]
ROWS = [{"id": "a", "prompt": "What is the capital of France?", "responses": ["Paris.", "It is Paris.", "London"]},
        {"id": "b", "prompt": "Say hi.", "responses": ["Hello!", "Go away.", "Hi there, how can I help?"]},
        {"id": "c", "prompt": "What is 12 * 7?", "responses": ["84", "12 * 7 = 84.", "74"]},
        {"id": "d", "prompt": "Name a colour.", "responses": ["Blue.", "Seven.", "Red is a colour."]}]
DPO_STEP = """
import sys
from datasets import load_from_disk
from cdr_utils import load_model
from cdr_utils.tuning import PreferenceRecipe, train_dpo
import cdr_utils
assert cdr_utils.__file__.startswith(sys.argv[1]), cdr_utils.__file__  # the installed copy, not the checkout
model, tok = load_model("tiny-random-llama")
recipe = PreferenceRecipe(loss="dpo", beta=0.1, learning_rate=1e-3, max_steps=1, batch_size=2,
                          per_device_batch_size=2, warmup_ratio=0.0, max_length=256)
result = train_dpo(model, tok, load_from_disk("pairs")["train"], recipe, "dpo-run")
print("steps", sum("loss" in h for h in result.log_history))
"""


def run(*cmd, cwd, env=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_pip_install_then_cdr_reward_pairs_and_one_dpo_step(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT, cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("cdr_utils-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cdr_utils" / "data").rglob("*.*")
               if p.suffix in (".json", ".yaml")}
    assert shipped and shipped <= set(names)  # the package data ships
    # checkout tooling stays out: the dry run's stand-ins, the docs writer, the speed scripts
    assert not [n for n in names if n.startswith(("tools/", "perf/", "tests/")) or "dryrun" in n or "report" in n]
    site = tmp_path / "site"
    run(*pip, "install", "--quiet", "--no-deps", "--target", site, wheel, cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "cands.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    env = {**os.environ, "PYTHONPATH": str(site)}  # ahead of this environment's editable checkout
    cdr = site / "bin" / "cdr"
    run(cdr, "reward", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", "cands.jsonl",
        "--out", "r.jsonl", cwd=work, env=env)
    run(cdr, "pairs", "--data", "r.jsonl", "--out", "pairs", "--augment", cwd=work, env=env)
    assert "steps 1" in run(sys.executable, "-c", DPO_STEP, site, cwd=work, env=env)

    rewarded = read_records(work / "r.jsonl")
    expected, _ = score_candidates(DensityRatioReward.from_pretrained("tiny-random-llama", "tiny-random-gpt2"), ROWS)
    np.testing.assert_allclose([r["rewards"] for r in rewarded], expected["rewards"], atol=1e-4)
    from datasets import load_from_disk

    augmented, _ = reward_augment(build_pairs(rewarded)[0])
    assert load_from_disk(str(work / "pairs"))["train"].to_list() == augmented.to_list()
