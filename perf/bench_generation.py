"""Sampling throughput against rows per batch (generate.generate_responses), medians of --repeats.

    .venv/bin/python perf/bench_generation.py        # ~8 min on 2 CPU cores; prints a markdown table

The cpu profile's sampling (SmolLM2-135M-Instruct, T 0.8, top-p 0.95, at most 128 new tokens, 4 samples per
prompt) on the first --prompts of notebook 04's prompts, at each --batch-sizes. On a CPU a decoding step reads
every weight once whatever the rows, so more rows per step cost little more; the samples themselves must not
change with the batch size (checked here on the real model; tests/test_generate.py checks it on tiny ones).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cdr_utils import load_model  # noqa: E402
from cdr_utils.generate import generate_responses  # noqa: E402
from cdr_utils.studies import annotate  # noqa: E402
from cdr_utils.studies.profiles import get_profile  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    P = get_profile("cpu")
    model, tok = load_model(P.generation.policy.name)
    prompts = annotate.load_prompts(P)[:args.prompts]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    times, outputs = {b: [] for b in sizes}, {}
    for rep in range(args.repeats):  # interleaved, so that machine noise hits every batch size alike
        for b in sizes:
            t = time.perf_counter()
            outputs[b] = generate_responses(model, tok, prompts, config=P.generation, seed=P.seed, batch_size=b,
                                            progress=False)
            times[b].append(time.perf_counter() - t)
            print(f"[{rep + 1}/{args.repeats}] batch {b:3d}: {times[b][-1]:6.1f} s", flush=True)
    n_samples = args.prompts * P.generation.n
    n_tokens = sum(d["n_tokens"] for cands in outputs[sizes[0]] for d in cands)
    same = all(outputs[b] == outputs[sizes[0]] for b in sizes)
    print(f"\n{n_samples} samples, {n_tokens} new tokens, {args.threads} threads, medians of {args.repeats}; "
          f"samples identical across batch sizes: {same}\n")
    print("| rows per batch | seconds | new tokens/s | speed vs first |\n|---|---|---|---|")
    base = statistics.median(times[sizes[0]])
    for b in sizes:
        m = statistics.median(times[b])
        print(f"| {b} | {m:.1f} | {n_tokens / m:.0f} | {base / m:.2f} |")


if __name__ == "__main__":
    main()
