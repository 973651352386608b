"""The study commands, in a checkout (`python -m cdr_utils.studies`, or `make plan` / `make train`):

    python -m cdr_utils.studies plan  --recipe paper [--set key=value ...] [--json]
    python -m cdr_utils.studies train --recipe paper --method simpo [--set key=value ...] [--retrain]

`plan` is a preflight check of a recipe before anything downloads (plan.py): a GPU and its memory, the hub and
access to gated models, parameter counts and download sizes from the hub's own metadata, what the local hub cache
holds, the judge endpoint, free disk, the offline packages. Exit status 0 when everything needed is present, 1 when
something is missing, 2 for bad arguments. Every check goes through a plan.Environment (tests replace it) with
short timeouts, so offline it says "missing" and never hangs. The time and memory each notebook needs is a table
in docs/PAPER.md section 1. `train` is `python -m cdr_utils.studies.checkpoints` (notebooks 05-07's tuned
policies). Outside a checkout both stop with one line (paths.require_checkout). The `cdr` command is the core's.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..cli import commands as core
from . import checkpoints
from .paths import require_checkout
from .plan import preflight, render


# -- the command ------------------------------------------------------------------------------------------------
def plan_command(args, env=None) -> None:
    require_checkout("plan")
    plan = preflight(args.recipe, args.overrides, env=env)
    try:
        print(plan.to_json() if args.json else render(plan), flush=True)
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

    p = command("plan", plan_command, help="preflight: GPU, hub access and sizes, cache, judge, disk, packages")
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
