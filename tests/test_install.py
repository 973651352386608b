"""A user's install: `pip install .` (not editable) into a new virtual environment, then the `cdr` command in
another folder, from candidates to rewards to pairs to one DPO step. Slow (about 80 s: pip reinstalls the
pinned stack from its cache)."""
import json
import subprocess
import sys
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
assert "site-packages" in cdr_utils.__file__, cdr_utils.__file__  # the installed copy, not the checkout
model, tok = load_model("tiny-random-llama")
recipe = PreferenceRecipe(loss="dpo", beta=0.1, learning_rate=1e-3, max_steps=1, batch_size=2,
                          per_device_batch_size=2, warmup_ratio=0.0, max_length=256)
result = train_dpo(model, tok, load_from_disk("pairs")["train"], recipe, "dpo-run")
print("steps", sum("loss" in h for h in result.log_history))
"""


def run(*cmd, cwd):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_pip_install_then_cdr_reward_pairs_and_one_dpo_step(tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "torch==2.13.0", cwd=tmp_path)  # pinned as in the Makefile: an unpinned torch is the CUDA build
    run(*pip, ROOT, cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "cands.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cdr = venv / "bin" / "cdr"
    run(cdr, "reward", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", "cands.jsonl",
        "--out", "r.jsonl", cwd=work)
    run(cdr, "pairs", "--data", "r.jsonl", "--out", "pairs", "--augment", cwd=work)
    assert "steps 1" in run(venv / "bin" / "python", "-c", DPO_STEP, cwd=work)

    rewarded = read_records(work / "r.jsonl")
    expected, _ = score_candidates(DensityRatioReward.from_pretrained("tiny-random-llama", "tiny-random-gpt2"), ROWS)
    np.testing.assert_allclose([r["rewards"] for r in rewarded], expected["rewards"], atol=1e-4)
    from datasets import load_from_disk

    augmented, _ = reward_augment(build_pairs(rewarded)[0])
    assert load_from_disk(str(work / "pairs"))["train"].to_list() == augmented.to_list()
