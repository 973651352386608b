"""Scorer throughput and memory against baselines measured in the same run (medians of --repeats).

    .venv/bin/python perf/bench_scoring.py            # ~33 min on 2 CPU cores; prints a markdown table
    python perf/bench_scoring.py --device cuda        # the GPU column: bf16 weights, fp32 log-softmax,
                                                            # random weights in the paper architectures

Methods, all computing the same numbers (the same token ids and scored spans, from cdr_utils.chat):
  a  naive:  one example at a time, full forward, fp32 log-softmax over the whole vocabulary at every position
  b  padded: fixed batches of 8 in input order, right-padded, full-vocabulary fp32 log-softmax (the common approach)
  c  ours:   LogProbScorer (length-sorted token-budget batches, LM head only at scored positions, in chunks)
  d  ideal:  the body over each sequence unpadded + the LM head on scored positions only (no batching at all)
Cases: SmolLM2-135M and Gemma-3-270M on a mixed-length workload (40 sequences of 32-1024 tokens, responses
40% of tokens); N=8 responses sharing a 600-token prompt (prefix sharing on vs off); Gemma's peak memory on
16 x 1024 tokens; bf16 weights on CPU. Each method runs in its own subprocess so peak RSS is its own.
With --device cuda: the mixed workload (--sequences of them) and the shared-prompt case for each of --models
(default: random weights in the Mistral-7B and Llama-3-8B architectures, DESIGN.md), bf16 weights, fp32
log-softmax in every method; peak memory is torch's peak GPU allocation above the weights.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cdr_utils import LogProbScorer, load_model  # noqa: E402
from cdr_utils.chat import Encoded  # noqa: E402

WORDS = ("the model reads a long question about rivers mountains cities history numbers and code then writes an "
         "answer with several careful steps while checking each claim against what it knows").split()


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def workload(tok, case: str, seed: int = 0, sequences: int = 40) -> list[Encoded]:
    """Encoded examples built directly as token ids: prompt tokens, then response tokens (+ end of turn)."""
    rng = np.random.default_rng(seed)
    word_ids = [tok.encode(" " + w, add_special_tokens=False) for w in WORDS]

    def text_ids(n):
        out = []
        while len(out) < n:
            out += word_ids[rng.integers(len(word_ids))]
        return out[:n]

    if case == "mixed":
        lengths = rng.integers(32, 1025, size=sequences)
        shapes = [(int(L - round(0.4 * L)), int(round(0.4 * L))) for L in lengths]
        return [_enc(text_ids(p), text_ids(r), tok) for p, r in shapes]
    if case == "shared":
        prompt = text_ids(600)
        return [_enc(prompt, text_ids(int(rng.integers(90, 111))), tok) for _ in range(8)]
    if case == "long":
        return [_enc(text_ids(768), text_ids(256), tok) for _ in range(16)]
    raise ValueError(case)


def _enc(prompt_ids, response_ids, tok) -> Encoded:
    ids = prompt_ids + response_ids[:-1] + [tok.eos_token_id]  # last scored token: the end-of-turn marker
    return Encoded(ids=ids, start=len(prompt_ids), end=len(ids), merged=False)


@torch.inference_mode()
def naive(model, items):
    dev, out = model.device, []
    for e in items:
        ids = torch.tensor([e.ids], device=dev)
        lp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        out.append(lp[e.start - 1:e.end - 1].gather(1, ids[0, e.start:e.end, None])[:, 0].cpu().numpy())
    return out


@torch.inference_mode()
def padded(model, items, batch=8):
    dev, out = model.device, []
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        width = max(len(e.ids) for e in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(chunk):
            ids[r, :len(e.ids)], mask[r, :len(e.ids)] = torch.tensor(e.ids), 1
        ids, mask = ids.to(dev), mask.to(dev)
        lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for r, e in enumerate(chunk):
            out.append(lp[r, e.start - 1:e.end - 1].gather(1, ids[r, e.start:e.end, None])[:, 0].cpu().numpy())
    return out


@torch.inference_mode()
def ideal(scorer, items):
    dev, out = scorer.device, []
    for e in items:
        hidden = scorer.body(input_ids=torch.tensor([e.ids[:-1]], device=dev),
                             use_cache=False)[0][0, e.start - 1:e.end - 1]
        logits = scorer._logits(hidden)
        target = torch.tensor(e.ids[e.start:e.end], device=dev)
        out.append((logits.gather(1, target[:, None])[:, 0] - torch.logsumexp(logits, -1)).cpu().numpy())
    return out


def run_one(args) -> dict:
    """One (model, case, method) in this process: median seconds, peak extra RSS, sums for the parity check."""
    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, dtype=args.dtype, device=args.device, layers=args.layers)
    items = workload(tok, args.case, sequences=args.sequences)
    cuda = model.device.type == "cuda"
    share = args.method != "ours-noshare"
    scorer = LogProbScorer(model, tok, share_prefix=share, progress=False)
    fn = {"naive": lambda: naive(model, items), "padded": lambda: padded(model, items),
          "ours": lambda: scorer.score_encoded(items), "ours-noshare": lambda: scorer.score_encoded(items),
          "ideal": lambda: ideal(scorer, items)}[args.method]
    if cuda:  # one untimed call: CUDA context, kernel selection and the allocator's first growth
        fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else _rss_mb()
    times, result = [], None
    for _ in range(args.repeats):
        t = time.perf_counter()
        result = fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_tokens = sum(len(e.ids) - 1 for e in items)
    return {"seconds": statistics.median(times), "tokens": n_tokens, "peak_extra_mb": peak - base,
            "peak_mb": peak, "sums": [float(np.sum(x, dtype=np.float64)) for x in result]}


def speed(r: dict) -> float:
    """Tokens per second of one measurement."""
    return r["tokens"] / r["seconds"]


def measure(model, case, method, repeats, dtype="float32", threads=2, device="cpu", sequences=40,
            layers=None) -> dict:
    cmd = [sys.executable, __file__, "--one", "--model", model, "--case", case, "--method", method,
           "--repeats", str(repeats), "--dtype", dtype, "--threads", str(threads), "--device", device,
           "--sequences", str(sequences)] + (["--layers", str(layers)] if layers else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--case", default="mixed")
    ap.add_argument("--method", default="ours")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-gemma", action="store_true", help="Gemma Terms of Use declined")
    ap.add_argument("--device", default="cpu", help="cpu (the CPU table) or cuda (the GPU column)")
    ap.add_argument("--sequences", type=int, default=40, help="sequences in the mixed workload")
    ap.add_argument("--models", default="random-mistral-7b,random-llama3-8b", help="--device cuda: models to run")
    ap.add_argument("--layers", type=int, default=None, help="keep only the first k decoder layers (quick runs)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args)))
        return
    if args.device != "cpu":
        gpu_main(args)
        return
    smol, gem = "smollm2-135m-instruct", "gemma3-270m"
    plan = {("smol", m): (smol, "mixed", m, "float32") for m in ("naive", "padded", "ours", "ideal")}
    if not args.skip_gemma:
        plan.update({("gemma", m): (gem, "mixed", m, "float32") for m in ("naive", "ours")})
        plan[("memory", "ours")] = (gem, "long", "ours", "float32")
    plan.update({("shared", m): (smol, "shared", m, "float32") for m in ("ours", "ours-noshare")})
    plan[("bf16", "ours")] = (smol, "mixed", "ours", "bfloat16")
    # Interleave the repeats (a b c d a b c d ...) so that machine noise hits every method alike.
    runs: dict = {k: [] for k in plan}
    for rep in range(args.repeats):
        for k, (model, case, method, dtype) in plan.items():
            r = measure(model, case, method, 1, dtype=dtype, threads=args.threads)
            if "error" in r:
                sys.exit(f"{k}: {r['error']}")
            runs[k].append(r)
            print(f"[{rep + 1}/{args.repeats}] {model:22s} {case:7s} {method:12s} {dtype:9s} "
                  f"{r['tokens'] / r['seconds']:7.0f} tok/s {r['seconds']:7.2f} s  peak +{r['peak_extra_mb']:5.0f} MB",
                  flush=True)
    med = {k: {**v[0], "seconds": statistics.median(x["seconds"] for x in v),
               "peak_mb": max(x["peak_mb"] for x in v), "peak_extra_mb": max(x["peak_extra_mb"] for x in v)}
           for k, v in runs.items()}
    res = {m: med[("smol", m)] for m in ("naive", "padded", "ours", "ideal")}
    gemma = {} if args.skip_gemma else {m: med[("gemma", m)] for m in ("naive", "ours")}
    shared = {m: med[("shared", m)] for m in ("ours", "ours-noshare")}
    mem = {} if args.skip_gemma else {"ours": med[("memory", "ours")]}
    bf16 = med[("bf16", "ours")]

    def diff(x, y):
        return float(np.max(np.abs(np.array(x["sums"]) - np.array(y["sums"]))))

    print(f"\nmedians of {args.repeats} interleaved runs, {args.threads} threads, fp32 unless noted\n")
    print("| workload | method | tokens/s | peak extra RSS (MB) |\n|---|---|---|---|")
    for (group, method), r in med.items():
        print(f"| {group} | {method} | {r['tokens'] / r['seconds']:.0f} | {r['peak_extra_mb']:.0f} |")
    print("\n| case | measure | value | target |\n|---|---|---|---|")
    print(f"| SmolLM2-135M mixed | c/a (vs naive loop) | {speed(res['ours']) / speed(res['naive']):.2f} | >= 1.0 |")
    print(f"| SmolLM2-135M mixed | c/b (vs padded full-vocab batches) | "
          f"{speed(res['ours']) / speed(res['padded']):.2f} | >= 2.0 |")
    print(f"| SmolLM2-135M mixed | c/d (vs ideal unpadded) | {speed(res['ours']) / speed(res['ideal']):.2f} | >= 0.9 |")
    print(f"| SmolLM2-135M mixed | max abs diff of sums, a/b/d vs c (nats) | "
          f"{max(diff(res[m], res['ours']) for m in ('naive', 'padded', 'ideal')):.1e} | <= 1e-4 per token |")
    if gemma:
        print(f"| Gemma-3-270M mixed | c/a | {speed(gemma['ours']) / speed(gemma['naive']):.2f} | >= 1.4 |")
    print(f"| 8 x ~100 tokens after a 600-token prompt | shared / independent speed | "
          f"{shared['ours-noshare']['seconds'] / shared['ours']['seconds']:.2f} | >= 3 |")
    print(f"| 8 x ~100 tokens after a 600-token prompt | max abs diff (nats) | "
          f"{diff(shared['ours'], shared['ours-noshare']):.1e} | <= 1e-4 |")
    if mem:
        print(f"| Gemma-3-270M 16 x 1024 tokens | peak RSS (MB) | {mem['ours']['peak_mb']:.0f} | <= 3000 |")
    print(f"| SmolLM2-135M mixed, bf16 weights | speed vs fp32 | {speed(bf16) / speed(res['ours']):.2f} | report |")
    print(f"| SmolLM2-135M mixed, bf16 weights | max abs diff of sums vs fp32 (nats) | {diff(bf16, res['ours']):.2f} "
          f"| report |")


def gpu_main(args):
    """The GPU column: per model, the mixed workload under a/b/c/d and the shared-prompt case, bf16 weights and
    fp32 log-softmax. Each (model, case, method) in its own process, one warm-up call, median of --repeats."""
    where = torch.cuda.get_device_name() if torch.cuda.is_available() else args.device
    layers = f", layers={args.layers}" if args.layers else ""
    print(f"{where}, bf16 weights{layers}, fp32 log-softmax, median of {args.repeats} after one warm-up call; "
          f"{args.sequences} mixed sequences\n")
    rows = []
    for model in args.models.split(","):
        res = {}
        for case, methods in (("mixed", ("naive", "padded", "ours", "ideal")), ("shared", ("ours", "ours-noshare"))):
            for method in methods:
                r = measure(model, case, method, args.repeats, dtype="bfloat16", device=args.device,
                            sequences=args.sequences, layers=args.layers)
                if "error" in r:
                    sys.exit(f"{model} {case} {method}: {r['error']}")
                res[case, method] = r
                print(f"{model:22s} {case:7s} {method:12s} {r['tokens'] / r['seconds']:9.0f} tok/s "
                      f"{r['seconds']:7.3f} s  peak +{r['peak_extra_mb']:7.0f} MB", flush=True)
        rows.append((model, res))

    print("\n| model (random weights, paper architecture) | naive a | padded b | ours c | ideal d | c/a | c/b | c/d "
          "| peak extra MB a / b / c (GPU: allocated) | shared / independent |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, res in rows:
        a, b, c, d = (res["mixed", m] for m in ("naive", "padded", "ours", "ideal"))
        shared = res["shared", "ours-noshare"]["seconds"] / res["shared", "ours"]["seconds"]
        print(f"| {model} | {speed(a):.0f} | {speed(b):.0f} | {speed(c):.0f} | {speed(d):.0f} | "
              f"{speed(c) / speed(a):.2f} | {speed(c) / speed(b):.2f} | {speed(c) / speed(d):.2f} | "
              f"{a['peak_extra_mb']:.0f} / {b['peak_extra_mb']:.0f} / {c['peak_extra_mb']:.0f} | {shared:.2f} |")
    print("\ntarget: c/a >= 5 on a GPU (issue 3); tokens/s counts every input token")


if __name__ == "__main__":
    main()
