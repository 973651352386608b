"""`python -m cdr_utils score`: score a data file's responses under one model, on one or many processes.

    python -m cdr_utils score --model smollm2-135m-instruct --data pairs.jsonl --out scored.parquet
    torchrun --nproc_per_node 2 -m cdr_utils score ...        # or: accelerate launch [--multi_gpu] --num_processes K -m ...

The data (JSON, JSONL or Parquet) has a `prompt` column (a list of {role, content} messages, or a string taken
as one user turn), a `response` column and optionally `id` (named in errors). The output is the same rows with
`<prefix>_sum` (nats), `<prefix>_n_tokens`, `<prefix>_mean` added. Under a launcher each process scores every
K-th row; rank 0 merges the parts in input order, so the output equals a one-process run (to fp32 round-off).
With --cache-dir, results go through the resumable cache: a killed run, re-run, computes only missing shards.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np


def load_records(path):
    """A datasets.Dataset from JSON / JSONL / Parquet; string prompts become one user turn. Read in memory,
    not through the datasets cache, which concurrent processes of one launch would race on."""
    import datasets

    path = str(path)
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        ds = datasets.Dataset(pq.read_table(path))
    else:
        text = Path(path).read_text()
        rows = json.loads(text) if path.endswith(".json") else [json.loads(x) for x in text.splitlines() if x.strip()]
        for row in rows:  # one type per column for Arrow
            if isinstance(row.get("prompt"), str):
                row["prompt"] = [{"role": "user", "content": row["prompt"]}]
        ds = datasets.Dataset.from_list(rows)
    for col in ("prompt", "response"):
        if col not in ds.column_names:
            raise ValueError(f"{path}: missing column {col!r} (columns: {ds.column_names})")
    prompts = [[{"role": "user", "content": p}] if isinstance(p, str) else p for p in ds["prompt"]]
    return ds, prompts


def save_records(ds, path) -> None:
    """Write atomically (temporary file, then rename): a killed run leaves no half-written output."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ds.to_parquet(str(tmp)) if path.suffix == ".parquet" else ds.to_json(str(tmp), lines=True, force_ascii=False)
    os.replace(tmp, path)


def _distributed():
    """(rank, world size, barrier, device) from the launcher's environment variables (torchrun and
    accelerate launch both set RANK / WORLD_SIZE / MASTER_ADDR): gloo on CPU, nccl on GPUs."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1, (lambda: None), None
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    return dist.get_rank(), dist.get_world_size(), dist.barrier, device


def score_command(args) -> None:
    from .models import load_scorer
    from .profiles import ModelSpec

    rank, world, barrier, device = _distributed()
    ds, prompts = load_records(args.data)
    ids = ds["id"] if "id" in ds.column_names else None
    mine = np.arange(rank, len(ds), world)
    t0 = time.time()
    if args.backend == "vllm":
        from .chat import PLAIN_CHAT_TEMPLATE
        from .vllm_backend import vllm_score

        result = vllm_score(args.model, [prompts[i] for i in mine], [ds["response"][i] for i in mine],
                            include_end_of_turn=not args.no_end_of_turn, dtype=args.dtype or "bfloat16",
                            chat_template=PLAIN_CHAT_TEMPLATE if args.template == "plain" else None)
        stats = {"computed": len(mine), "cached": 0}
    else:
        scorer = load_scorer(ModelSpec(args.model, seed=args.seed, template=args.template), dtype=args.dtype,
                             device=device, include_end_of_turn=not args.no_end_of_turn, cache_dir=args.cache_dir,
                             shard_size=args.shard_size, max_batch_tokens=args.max_batch_tokens,
                             progress=None if rank == 0 else False)
        result = scorer.score([prompts[i] for i in mine], [ds["response"][i] for i in mine],
                              record_ids=None if ids is None else [ids[i] for i in mine])
        stats = scorer.last_stats
    parts = Path(f"{args.out}.parts")
    parts.mkdir(parents=True, exist_ok=True)
    np.savez(parts / f"rank{rank}.npz", index=mine, sum=result.sum, n_tokens=result.n_tokens,
             seconds=time.time() - t0, **{k: v for k, v in stats.items()})
    barrier()
    if rank == 0:
        _merge_parts(ds, parts, world, args)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


def _merge_parts(ds, parts: Path, world: int, args) -> None:
    """Rank 0: put every process's part back in input order, write the output and a stats file."""
    total, n_tok, summary = np.zeros(len(ds)), np.zeros(len(ds), dtype=np.int64), []
    for r in range(world):
        with np.load(parts / f"rank{r}.npz") as z:
            total[z["index"]], n_tok[z["index"]] = z["sum"], z["n_tokens"]
            summary.append({"rank": r, "rows": len(z["index"]), "computed": int(z["computed"]),
                            "cached": int(z["cached"]), "seconds": round(float(z["seconds"]), 2)})
    p = args.column_prefix
    ds = ds.add_column(f"{p}_sum", total).add_column(f"{p}_n_tokens", n_tok).add_column(f"{p}_mean", total / n_tok)
    save_records(ds, args.out)
    shutil.rmtree(parts)
    Path(f"{args.out}.stats.json").write_text(json.dumps({"rows": len(ds), "processes": world, "parts": summary},
                                                         indent=1))
    print(f"[score] {args.model}: {len(ds)} rows on {world} process(es), computed "
          f"{sum(s['computed'] for s in summary)}, from cache {sum(s['cached'] for s in summary)} -> {args.out}")


def add_score_parser(sub) -> None:
    p = sub.add_parser("score", help="add log p(response | prompt) columns to a data file")
    p.add_argument("--model", required=True, help="a name load_model knows, a local directory or a hub id")
    p.add_argument("--data", required=True, help="JSON / JSONL / Parquet with prompt, response (and id)")
    p.add_argument("--out", required=True, help="output file (.parquet, else JSONL)")
    p.add_argument("--seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--template", choices=("own", "plain"), default="own")
    p.add_argument("--dtype", default=None, help="float32 / bfloat16 (default: float32 on CPU, bf16 on GPU)")
    p.add_argument("--cache-dir", default=None, help="resumable content-addressed cache (cache.py)")
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--max-batch-tokens", type=int, default=None)
    p.add_argument("--no-end-of-turn", action="store_true", help="do not score the end-of-turn marker")
    p.add_argument("--column-prefix", default="logp")
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    p.set_defaults(func=score_command)
