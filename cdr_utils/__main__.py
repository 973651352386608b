"""Command line: `python -m cdr_utils prepare` (build the offline model caches) and `score` (cli.py)."""
from __future__ import annotations

import argparse
import importlib.util
import time

from .cli import add_score_parser
from .models import OFFLINE, prepare_offline_model
from .profiles import _gemma_accepted


def _prepare(_args) -> None:
    for name, (module, pip_name, licence) in OFFLINE.items():
        if name == "gemma3-270m" and not _gemma_accepted():
            print(f"[prepare] {name}: skipped (CDR_GEMMA=0, Gemma Terms of Use declined)")
            continue
        if importlib.util.find_spec(module) is None:
            print(f"[prepare] {name}: package {pip_name} not installed, skipped")
            continue
        t = time.time()
        path = prepare_offline_model(name)
        print(f"[prepare] {name} ({licence}): {path} ({time.time() - t:.0f} s)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdr_utils")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="dequantize the packaged GGUF models into the safetensors cache").set_defaults(
        func=_prepare)
    add_score_parser(sub)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
