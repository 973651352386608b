"""The resumable cache and the scoring CLI: cache hits, a SIGKILLed run resumed, two processes merged."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cdr_utils import LogProbScorer, load_model
from reference import FAKE_VLLM_DIR, MARKERS, naive_logprob

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the a density ratio model answer question capital france paris code python sum token reward".split()


def _rows(n, seed=0):
    rng = random.Random(seed)
    return [{"id": f"r{i}", "prompt": [{"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(3, 20)))}],
             "response": " ".join(rng.choices(WORDS, k=rng.randint(5, 60)))} for i in range(n)]


def _write(rows, path):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _cli(*args, launcher=(sys.executable, "-m")):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return [*launcher, "cdr_utils", "score", "--model", "tiny-random-llama", *args], env


def _read(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def test_cache_hit_equals_computed_and_reference(tiny_llama, tmp_path):
    model, tok = tiny_llama
    rows = _rows(12)
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    first = LogProbScorer(model, tok, cache_dir=tmp_path, shard_size=5)
    a = first.score(prompts, responses)
    assert first.last_stats == {"computed": 12, "cached": 0}
    again = LogProbScorer(model, tok, cache_dir=tmp_path, shard_size=5)
    b = again.score(prompts[::-1], responses[::-1], return_tokens=True)
    assert again.last_stats == {"computed": 0, "cached": 12}
    np.testing.assert_array_equal(b.sum[::-1], a.sum)
    for i in (0, 5, 11):
        ref_sum, ref_n, _ = naive_logprob(model, tok, prompts[i], responses[i], MARKERS["tiny-random-llama"])
        assert abs(a.sum[i] - ref_sum) < 1e-3 and a.n_tokens[i] == ref_n


def test_cache_key_separates_models_templates_and_options(tiny_llama, tmp_path):
    from cdr_utils.chat import PLAIN_CHAT_TEMPLATE

    model, tok = tiny_llama
    rows = _rows(3)
    args = ([r["prompt"] for r in rows], [r["response"] for r in rows])
    LogProbScorer(model, tok, cache_dir=tmp_path).score(*args)
    other_seed = load_model("tiny-random-llama", seed=1)
    for scorer in (LogProbScorer(model, tok, cache_dir=tmp_path, include_end_of_turn=False),
                   LogProbScorer(model, tok, cache_dir=tmp_path, chat_template=PLAIN_CHAT_TEMPLATE),
                   LogProbScorer(*other_seed, cache_dir=tmp_path)):
        scorer.score(*args)
        assert scorer.last_stats["computed"] == 3
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 4


def test_killed_run_resumes_only_missing_shards_and_matches_uninterrupted(tmp_path):
    data = _write(_rows(1000), tmp_path / "data.jsonl")
    cache, out = tmp_path / "cache", tmp_path / "out.jsonl"
    cmd, env = _cli("--data", str(data), "--out", str(out), "--cache-dir", str(cache), "--shard-size", "100")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob("*/*.npz")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_rows = sum(len(np.load(s)["keys"]) for s in cache.glob("*/*.npz"))
    assert 0 < done_rows < 1000, f"the kill must land mid-run ({done_rows} rows were done)"
    assert not out.exists()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    stats = json.loads(Path(f"{out}.stats.json").read_text())["parts"][0]
    assert stats["cached"] == done_rows and stats["computed"] == 1000 - done_rows
    full_out = tmp_path / "full.jsonl"
    cmd2, _ = _cli("--data", str(data), "--out", str(full_out), "--cache-dir", str(tmp_path / "fresh"),
                   "--shard-size", "100")
    subprocess.run(cmd2, env=env, cwd=ROOT, check=True, capture_output=True)
    resumed, uninterrupted = _read(out), _read(full_out)
    assert [r["id"] for r in resumed] == [f"r{i}" for i in range(1000)]
    assert [r["logp_sum"] for r in resumed] == [r["logp_sum"] for r in uninterrupted]  # bitwise
    # a finished job re-run does no model work
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    assert json.loads(Path(f"{out}.stats.json").read_text())["parts"][0]["computed"] == 0


SLOW_FINAL_WRITE = """
import sys, time
from pathlib import Path

import cdr_utils.records as records

marker, target = Path(sys.argv[1]), sys.argv[2]
original = records.write_text


def slow(path, text):  # the merged output: write half, say so, then hang until killed
    if str(path) != target:
        return original(path, text)

    def write(f):
        f.write(text[: len(text) // 2])
        f.flush()
        marker.touch()
        time.sleep(600)
        f.write(text[len(text) // 2:])
    return records.atomic_write(path, write, binary=False)


records.write_text = slow
from cdr_utils.cli import main

main(sys.argv[3:])
"""


def test_killed_during_the_final_write_is_cleaned_and_resumed_from_the_cache(tmp_path):
    """SIGKILL while the merged output is being written: the output is absent (not half-written), the temporary
    file and <out>.parts are left; the next run says so, removes them, computes nothing (the cache has every
    shard) and writes an output bitwise equal to an uninterrupted run's."""
    work, ref = tmp_path / "work", tmp_path / "ref"
    work.mkdir(), ref.mkdir()
    data = _write(_rows(200, seed=1), work / "data.jsonl")
    out, cache, marker = work / "out.jsonl", work / "cache", tmp_path / "writing"
    args = ["score", "--model", "tiny-random-llama", "--data", str(data), "--out", str(out), "--cache-dir", str(cache),
            "--shard-size", "50"]
    (tmp_path / "slow.py").write_text(SLOW_FINAL_WRITE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slow.py"), str(marker), str(out), *args], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not marker.exists() and proc.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tmp = work / f".out.jsonl.{proc.pid}.tmp"
    assert not out.exists() and tmp.exists() and Path(f"{out}.parts").is_dir()
    assert 0 < len(tmp.read_text()) < len(_write(_rows(200, seed=1), tmp_path / "probe.jsonl").read_text()) * 2
    resumed = subprocess.run(_cli(*args[3:])[0], env=env, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"an interrupted run left {out}.parts, {tmp}: removed" in resumed.stderr
    assert "computes only what is missing" in resumed.stderr
    stats = json.loads(Path(f"{out}.stats.json").read_text())["parts"][0]
    assert (stats["computed"], stats["cached"]) == (0, 200)
    assert sorted(p.name for p in work.iterdir()) == ["cache", "data.jsonl", "out.jsonl", "out.jsonl.stats.json"]
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]
    full = ref / "full.jsonl"
    subprocess.run(_cli("--data", str(data), "--out", str(full), "--cache-dir", str(ref / "cache"), "--shard-size",
                        "50")[0], env=env, cwd=ROOT, check=True, capture_output=True)
    assert out.read_bytes() == full.read_bytes()  # bitwise, the whole file


def test_a_corrupted_shard_is_named_recomputed_alone_and_the_output_unchanged(tmp_path, capsys, tiny_llama,
                                                                               monkeypatch):
    """Flip bytes in one shard of a finished run: the next run warns naming the file, moves it aside, recomputes
    exactly that shard's rows and writes an output bitwise equal to the first (uninterrupted) run's."""
    from cdr_utils import cli
    from cdr_utils import models
    from cdr_utils.cache import CacheShardWarning

    monkeypatch.setattr(models, "load_model", lambda *a, **k: tiny_llama)
    data = _write(_rows(60, seed=2), tmp_path / "data.jsonl")
    cache, first, second = tmp_path / "cache", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    opts = ["score", "--model", "tiny-random-llama", "--data", str(data), "--cache-dir", str(cache),
            "--shard-size", "20"]
    cli.main([*opts, "--out", str(first)])
    shards = sorted(cache.glob("*/*.npz"))
    assert len(shards) == 3
    victim = shards[1]
    raw = bytearray(victim.read_bytes())
    for k in range(300, 310):  # inside the stored arrays
        raw[k] ^= 0x5A
    victim.write_bytes(bytes(raw))
    with pytest.warns(CacheShardWarning, match=rf"cache shard {victim} is damaged") as caught:
        cli.main([*opts, "--out", str(second)])
    assert len([w for w in caught if w.category is CacheShardWarning]) == 1
    stats = json.loads(Path(f"{second}.stats.json").read_text())["parts"][0]
    assert (stats["computed"], stats["cached"]) == (20, 40)  # that shard's rows, and only those
    assert second.read_bytes() == first.read_bytes()
    assert victim.exists() and victim.with_name(victim.name + ".corrupt").exists()
    capsys.readouterr()


def test_two_processes_check_every_row_before_either_scores(tmp_path):
    """Under torchrun, a row only the second process's tokenizer can reject (longer than the context) stops both
    processes before either scores: no cache shard, no part, no output; the error is printed once, naming the
    line and the field."""
    rows = _rows(41)
    rows[3]["response"] = "word " * 600  # row 3 is the second process's (rows 1, 3, 5, ...)
    data, out, cache = _write(rows, tmp_path / "data.jsonl"), tmp_path / "out.jsonl", tmp_path / "cache"
    torchrun = (str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2", "-m")
    cmd, env = _cli("--data", str(data), "--out", str(out), "--cache-dir", str(cache), "--shard-size", "5",
                    launcher=torchrun)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("cdr score: error:")]
    assert len(ours) == 1 and "process 1 of 2 stopped" in ours[0], proc.stderr[-3000:]
    assert f"{data} line 4: record 'r3', field 'response': prompt + response take" in ours[0]
    assert list(cache.glob("*/*.npz")) == [] and not out.exists() and not Path(f"{out}.parts").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]  # the cache was not even opened


LAUNCHERS = {
    "torchrun": ("torchrun", "--nproc_per_node", "2", "-m"),
    # `--cpu --num_processes 2` starts one process here (its multi-CPU mode wants MPI, see DESIGN.md);
    # `--multi_gpu` on a machine without GPUs goes through torch.distributed.run and starts two gloo processes.
    "accelerate": ("accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "-m"),
}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_cli_two_processes_merge_to_the_one_process_output(tmp_path, launcher):
    data = _write(_rows(41), tmp_path / "data.jsonl")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    cmd, env = _cli("--data", str(data), "--out", str(one))
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    exe, *args = LAUNCHERS[launcher]
    cmd, env = _cli("--data", str(data), "--out", str(two), launcher=(str(Path(sys.executable).with_name(exe)), *args))
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    stats = json.loads(Path(f"{two}.stats.json").read_text())
    assert stats["processes"] == 2 and [p["rows"] for p in stats["parts"]] == [21, 20]
    a, b = _read(one), _read(two)
    assert [r["id"] for r in b] == [r["id"] for r in a]
    np.testing.assert_allclose([r["logp_sum"] for r in b], [r["logp_sum"] for r in a], atol=1e-4)
    assert [r["logp_n_tokens"] for r in b] == [r["logp_n_tokens"] for r in a]
    assert not Path(f"{two}.parts").exists()


def test_cli_bad_record_names_the_id_and_writes_nothing(tmp_path):
    rows = _rows(5)
    rows[3]["prompt"] = [{"role": "robot", "content": "x"}]
    data, out = _write(rows, tmp_path / "data.jsonl"), tmp_path / "out.jsonl"
    cmd, env = _cli("--data", str(data), "--out", str(out))
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "record 'r3', field 'prompt[0].role'" in proc.stderr
    assert not out.exists()


def test_vllm_backend_says_not_installed(no_vllm):
    from cdr_utils.logprobs import vllm_score

    with pytest.raises(ImportError, match="needs the `vllm` package, which is not installed"):
        vllm_score("any", [[{"role": "user", "content": "x"}]], ["y"])


@pytest.mark.parametrize("include_end_of_turn", [True, False])
def test_vllm_adapter_equals_naive_reference(fake_vllm, tiny_llama, include_end_of_turn):
    """Our vLLM adapter (span, indexing, template) against the stand-in (tests/fake_vllm)."""
    from cdr_utils.logprobs import vllm_score

    model, tok = tiny_llama
    rows = _rows(6)
    res = vllm_score("tiny-random-llama", [r["prompt"] for r in rows], [r["response"] for r in rows],
                     include_end_of_turn=include_end_of_turn)
    assert res.meta["backend"] == "vllm"
    for i, r in enumerate(rows):
        ref_sum, ref_n, _ = naive_logprob(model, tok, r["prompt"], r["response"], MARKERS["tiny-random-llama"],
                                          include_end_of_turn=include_end_of_turn)
        assert res.n_tokens[i] == ref_n and abs(res.sum[i] - ref_sum) < 1e-4 * ref_n


def test_cli_vllm_backend_matches_hf_backend(tmp_path):
    data = _write(_rows(7), tmp_path / "data.jsonl")
    hf, vl = tmp_path / "hf.jsonl", tmp_path / "vllm.jsonl"
    for out, extra in ((hf, []), (vl, ["--backend", "vllm"])):
        cmd, env = _cli("--data", str(data), "--out", str(out), *extra)
        if extra:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE_VLLM_DIR), env.get("PYTHONPATH")]))
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = _read(hf), _read(vl)
    assert [r["id"] for r in b] == [r["id"] for r in a]
    np.testing.assert_allclose([r["logp_sum"] for r in b], [r["logp_sum"] for r in a], atol=1e-4)
    assert [r["logp_n_tokens"] for r in b] == [r["logp_n_tokens"] for r in a]
