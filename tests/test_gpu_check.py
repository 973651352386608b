"""perf/gpu_check.py, the prepared GPU check (issue 24), in its CPU smoke form (--device cpu --quick).

What a GPU session cannot afford to find out on the card: a section missing from the JSON, a crash on a machine
without the project's optional packages, arithmetic that miscounts tokens, or a budget that does not stop it."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "perf" / "gpu_check.py"
# What a GPU machine with its own torch + transformers may lack (vllm is absent here anyway).
BARE = ["datasets", "pandas", "trl", "scipy", "papermill", "vllm"]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_arithmetic_against_a_hand_computation(gpu_check):
    g = gpu_check
    # 16 rows of 512 + 256 tokens, scored in 3 s
    assert g.row_tokens(16, 512, 256) == 16 * 768 == 12_288
    assert g.tokens_per_second(12_288, 3.0) == 4096.0
    assert g.seconds_for(12_288, 4096.0) == 3.0
    assert g.gib(3 * 2**30) == 3.0 and g.gib(None) is None
    # RewardBench: 2 models x (chosen + rejected) x 2,985 pairs x (150 + 250) tokens = 4,776,000 tokens;
    # at 4,096 tokens/s that is 4,776,000 / 4,096 = 1,166.02 s
    tokens = g.rewardbench_tokens(2985, 150, 250)
    assert tokens == 2 * 2 * 2985 * 400 == 4_776_000
    assert g.seconds_for(tokens, 4096.0) == pytest.approx(1166.015625)
    # notebook 04: 2 models x 61,135 prompts; prefix shared: (1,050 + 5 x 450) = 3,300 tokens per prompt and model;
    # without sharing 5 x (1,050 + 450) = 7,500
    assert g.annotation_tokens(61135, 5, 1050, 450) == 2 * 61135 * 3300 == 403_491_000
    assert g.annotation_tokens(61135, 5, 1050, 450, shared=False) == 2 * 61135 * 7500
    # one optimizer step of 128 pairs at 2 per device: 64 micro-steps of 0.25 s + a 0.5 s update = 16.5 s
    assert g.optimizer_step_seconds(0.25, 0.5, 128, 2) == 16.5
    cases = [{"case": c, "prompt": p, "response": r, "tokens_per_s": 1.0}
             for c, p, r in (("a", 512, 256), ("b", 1024, 512), ("c", 2048, 1024))]
    assert g.nearest_rate(cases, 400)["case"] == "a" and g.nearest_rate(cases, 1500)["case"] == "b"
    assert g.nearest_rate([], 400) is None


def _check_report(r: dict) -> None:
    for section in ("environment", "scorer", "bf16_vs_fp32", "tuning", "vllm", "extrapolation", "skipped", "notes"):
        assert section in r, section
    env = r["environment"]
    assert env["device"] == "cpu" and env["torch"] and env["transformers"] and env["dtype"]
    assert {"card", "driver", "torch_cuda"} <= set(env)
    assert r["errors"] == {} and r["skipped"] == []
    for model in ("mistral-7b", "llama3-8b"):
        cases = r["scorer"][model]["cases"]
        assert [c["kind"] for c in cases] == ["length"] * 3 + ["shared", "independent"]
        for c in cases:
            assert c["tokens_per_s"] == pytest.approx(c["tokens"] / c["seconds"])
            assert c["peak_gib"] is None and c["process_peak_rss_gib"] > 0  # CPU: labelled RSS instead
        for c, (p, resp) in zip(cases, [(32, 16), (64, 32), (128, 64)]):  # --quick: the lengths / 16
            assert (c["prompt"], c["response"], c["tokens"]) == (p, resp, 2 * (p + resp))
        assert cases[3]["prompt"] == 600 and cases[3]["rows"] == 8 and cases[3]["tokens"] == cases[4]["tokens"]
    cmp = r["bf16_vs_fp32"]
    assert 0 < cmp["max_abs_sum_diff_nats"] < 1 and -1 <= cmp["spearman_ratio"] <= 1
    for method in ("simpo", "dpo"):
        t = r["tuning"][method]
        assert t["step_s"] > 0 and t["paper_batch"] == 128 and t["pairs_per_micro_step"] == 2
        assert t["loss"] == t["loss"]  # not NaN
    assert "TRL" in r["tuning"]["how"] and "fp32 master" in r["tuning"]["how"]
    assert r["vllm"] == {"skipped": "needs a CUDA device"}
    ex = r["extrapolation"]
    assert ex["assumed_lengths"]["rewardbench_prompt"] == 150 and ex["assumed_lengths"]["annotation_prompt"] == 1050
    assert ex["rewardbench"]["tokens"] == 4_776_000
    assert ex["rewardbench"]["seconds"] == pytest.approx(4_776_000 / ex["rewardbench"]["tokens_per_s"])
    assert ex["annotation"]["tokens"] == 403_491_000


def test_quick_run_on_a_bare_machine(tmp_path):
    """The whole check as a command, with the optional packages made unimportable (None in sys.modules): it
    finishes, writes every section and says which paths it degraded."""
    out = tmp_path / "gpu_check.json"
    code = (f"import runpy, sys; sys.modules.update(dict.fromkeys({BARE!r})); "
            f"sys.argv = ['gpu_check.py', '--device', 'cpu', '--quick', '--out', {str(out)!r}]; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| scorer/mistral-7b | 2 x 32+16 |" in proc.stdout and "| vllm | skipped |" in proc.stdout
    r = json.loads(out.read_text())
    _check_report(r)
    notes = " ".join(r["notes"])
    assert "imported the scorer modules alone" in notes and "cdr_utils.tuning not importable" in notes
    assert "scipy missing" in notes
    assert r["environment"]["scipy"] is None and r["environment"]["trl"] is None


def test_quick_run_in_process_and_the_budget(gpu_check, tmp_path, capsys):
    """With the project's environment (TRL, scipy): every section; with no budget left every measurement is
    skipped with a line saying so, and the extrapolation says it has no measured rate."""
    out = tmp_path / "full.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    _check_report(r)
    assert not any("tuning not importable" in n or "scipy missing" in n for n in r["notes"])

    out = tmp_path / "none.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--budget-s", "0", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [line.split(":")[0] for line in r["skipped"]] == [
        "skipped scorer/mistral-7b", "skipped bf16_vs_fp32", "skipped tuning", "skipped scorer/llama3-8b",
        "skipped vllm"]
    assert r["scorer"] == {} and "tuning" not in r
    assert r["extrapolation"]["rewardbench"]["seconds"] is None
    assert "skipped tuning: 0 s of the 0 s budget left" in capsys.readouterr().out
