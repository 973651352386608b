"""python -m tools.dryrun build [--root DIR]   # local copies + stand-ins + DIR/overrides.yaml
python -m tools.dryrun serve [--port N]       # the local judge, until interrupted

`make dryrun` does both and runs the notebooks: `make demo PROFILE=paper SET=@.cache/dryrun/overrides.yaml`.
"""
from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

import yaml

from cdr_utils.studies.paths import CHECKOUT
from cdr_utils.studies.recipes import read_recipe
from .data import build_datasets
from .judge import JudgeServer
from .models import STAND_INS, VERSION, build_models

ROOT = CHECKOUT / ".cache" / "dryrun"
JUDGE_PORT = 8765


def model_overrides(recipe: dict, folders: dict) -> dict:
    """Dotted-key overrides that point each hub model of `recipe` at its stand-in, labelled with the hub id (so
    tables, published scores and plots still name the real model)."""
    out = {}

    def point(key, spec):
        if isinstance(spec, dict) and spec.get("name") in STAND_INS:
            out[key] = {**spec, "name": str(folders[spec["name"]]), "label": spec.get("label") or spec["name"]}

    for key in ("strong", "weak"):
        point(key, recipe.get(key))
    for i, spec in enumerate(recipe.get("pool") or []):
        point(f"pool.{i}", spec)
    point("generation.policy", (recipe.get("generation") or {}).get("policy"))
    point("customize.router_model", (recipe.get("customize") or {}).get("router_model"))
    return out


def build(root: Path = ROOT, *, recipe: str = "paper", seed: int = 0) -> Path:
    """Build the local copies and stand-ins the recipe needs under `root` and write root/overrides.yaml."""
    root = Path(root).resolve()  # the notebooks run in notebooks/ (papermill --cwd): the overrides' paths are absolute
    data, _ = read_recipe(recipe)
    start = time.time()
    overrides = build_datasets(root / "data", seed)
    needed = sorted({s["name"] for s in [data.get("strong"), data.get("weak"), *(data.get("pool") or []),
                                         (data.get("generation") or {}).get("policy")]
                     if isinstance(s, dict) and s.get("name") in STAND_INS})
    folders = build_models(root / "models" / f"v{VERSION}", needed, seed=seed)
    overrides.update(model_overrides(data, folders))
    path = root / "overrides.yaml"
    path.write_text("# The dry run of the paper recipe: every hub data set and model replaced by a local stand-in\n"
                    "# (python -m tools.dryrun build). Use: make demo PROFILE=paper SET=@" + str(path)
                    + "\n" + yaml.safe_dump(overrides, sort_keys=False, width=200), encoding="utf-8")
    print(f"[dryrun] {len(overrides)} overrides -> {path} ({time.time() - start:.0f} s)")
    return path


def serve(port: int = JUDGE_PORT) -> None:
    server = JudgeServer(port)
    print(f"[dryrun] judge at {server.url} (pid {os.getpid()})", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.dryrun", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="local copies of the data sets, model stand-ins, overrides.yaml")
    b.add_argument("--root", type=Path, default=ROOT)
    b.add_argument("--recipe", default="paper")
    b.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("serve", help="the local OpenAI-compatible judge")
    s.add_argument("--port", type=int, default=JUDGE_PORT)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.root, recipe=args.recipe, seed=args.seed)
    else:
        serve(args.port)


if __name__ == "__main__":
    main()
