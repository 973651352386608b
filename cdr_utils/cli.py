"""The `cdr` command (also `python -m cdr_utils`): density-ratio rewards for your own data and model pair.

    cdr prepare                                          build the offline models' safetensors caches
    cdr score  --model M --data rows.jsonl --out scored.jsonl             log p(response | prompt), one model
    cdr reward --strong S --weak W --data cands.jsonl --out rewards.jsonl  density-ratio rewards, one or N
                                                                           responses per row
    cdr pairs  --data rewards.jsonl --out pairs [--test-fraction 0.1] [--augment]   preference pairs (TRL format)
    cdr evaluate --strong S --weak W --data minibench|FILE|HUB_ID           RewardBench-style section table

Data files are JSON (a list), JSONL or Parquet. A `prompt` is a list of {role, content} messages or a string
(one user turn). `score` and `reward` run on one process or several: under `torchrun --nproc_per_node K -m
cdr_utils ...` or `accelerate launch --num_processes K -m cdr_utils ...` each process takes every K-th row and
the first merges the parts in input order, so the output equals a one-process run (to fp32 round-off). With
--cache-dir, log-probs go through the resumable cache (cache.py): a killed run, re-run, computes only what is
missing. Bad input stops the command before any model loads, with one line naming the record and the field.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

import datasets
import torch
import torch.distributed as dist
from datasets import Dataset, DatasetDict

from . import rewardbench as rb
from .chat import PLAIN_CHAT_TEMPLATE, RecordError, as_messages, has_system_role, validate_prompt
from .customize import MODES, Customization
from .logprobs import LogProbScorer
from .minibench import load_minibench, stratified_subset
from .models import OFFLINE, ModelNotAvailable, ModelSpec, gemma_accepted, load_model, prepare_offline_model
from .pairs import STRATEGIES, build_pairs, reward_augment, split_by_prompt
from .records import FORMATS, read_records, write_records, write_text
from .rewards import APPLY_TO, REDUCTIONS, DensityRatioReward, score_candidates
from .vllm_backend import vllm_score

ROUTERS = ("keyword", "llm", "column")


# -- input and output ------------------------------------------------------------------------------------------
def load_rows(path) -> list[dict]:
    """Records of a data file, each `prompt` as a message list (a string becomes one user turn)."""
    rows = read_records(path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecordError(i, "(row)", f"expected a JSON object, got {type(row).__name__}")
        if "prompt" in row:
            row["prompt"] = as_messages(row["prompt"])
    return rows


def _distributed():
    """(rank, world size, barrier, device) from the launcher's environment variables (torchrun and
    accelerate launch both set RANK / WORLD_SIZE / MASTER_ADDR): gloo on CPU, nccl on GPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1, (lambda: None), None
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    return dist.get_rank(), dist.get_world_size(), dist.barrier, device


def run_sharded(rows: list[dict], compute, out: str, name: str) -> None:
    """compute(my rows, device, rank) -> (one dict of added columns per row, stats) on every process; each process
    writes its part under <out>.parts/, the first merges them in input order, writes `out` (atomically) and
    <out>.stats.json, and removes the parts."""
    rank, world, barrier, device = _distributed()
    mine = list(range(rank, len(rows), world))
    start = time.time()
    added, stats = compute([rows[i] for i in mine], device, rank)
    parts = Path(f"{out}.parts")
    parts.mkdir(parents=True, exist_ok=True)
    write_text(parts / f"rank{rank}.json", json.dumps({"index": mine, "added": added, "seconds": time.time() - start,
                                                      **stats}))
    barrier()
    if rank == 0:
        merged, summary = [dict(r) for r in rows], []
        for r in range(world):
            part = json.loads((parts / f"rank{r}.json").read_text())
            for i, cols in zip(part["index"], part["added"]):
                merged[i].update(cols)
            summary.append({"rank": r, "rows": len(part["index"]), "computed": part.get("computed", 0),
                            "cached": part.get("cached", 0), "seconds": round(part["seconds"], 2)})
        write_records(out, merged)
        shutil.rmtree(parts)
        write_text(f"{out}.stats.json", json.dumps({"rows": len(rows), "processes": world, "parts": summary},
                                                   indent=1))
        print(f"[{name}] {len(rows)} rows on {world} process(es), computed {sum(s['computed'] for s in summary)}, "
              f"from cache {sum(s['cached'] for s in summary)} -> {out}")
    if world > 1:
        dist.destroy_process_group()


def _scorer_options(args, rank: int = 0) -> dict:
    """The scorers' options from the command line; progress bars on the first process only."""
    return {"dtype": args.dtype, "include_end_of_turn": not args.no_end_of_turn, "cache_dir": args.cache_dir,
            "shard_size": args.shard_size, "max_batch_tokens": args.max_batch_tokens,
            "progress": None if rank == 0 else False}


# -- commands --------------------------------------------------------------------------------------------------
def prepare_command(_args) -> None:
    for name, (module, pip_name, licence) in OFFLINE.items():
        if name == "gemma3-270m" and not gemma_accepted():
            print(f"[prepare] {name}: skipped (CDR_GEMMA=0, Gemma Terms of Use declined)")
            continue
        if importlib.util.find_spec(module) is None:
            print(f"[prepare] {name}: package {pip_name} not installed, skipped")
            continue
        t = time.time()
        path = prepare_offline_model(name)
        print(f"[prepare] {name} ({licence}): {path} ({time.time() - t:.0f} s)")


def score_command(args) -> None:
    rows = load_rows(args.data)
    for i, row in enumerate(rows):
        rid = row.get("id", i)
        for field in ("prompt", "response"):
            if field not in row:
                raise RecordError(rid, field, "missing field")
        validate_prompt(row["prompt"], rid)

    def compute(mine, device, rank):
        prompts, responses = [r["prompt"] for r in mine], [r["response"] for r in mine]
        if args.backend == "vllm":
            result = vllm_score(args.model, prompts, responses, include_end_of_turn=not args.no_end_of_turn,
                                dtype=args.dtype or "bfloat16",
                                chat_template=PLAIN_CHAT_TEMPLATE if args.template == "plain" else None)
            stats = {"computed": len(mine), "cached": 0}
        else:
            spec = ModelSpec(args.model, seed=args.seed, template=args.template)
            scorer = LogProbScorer.from_pretrained(spec, device=device, **_scorer_options(args, rank))
            ids = [r.get("id", i) for i, r in enumerate(mine)]
            result = scorer.score(prompts, responses, record_ids=ids)
            stats = scorer.last_stats
        p = args.column_prefix
        return [{f"{p}_sum": float(s), f"{p}_n_tokens": int(n), f"{p}_mean": float(s / n)}
                for s, n in zip(result.sum, result.n_tokens)], stats

    run_sharded(rows, compute, args.out, f"score {args.model}")


def _customization(args) -> tuple[Customization | None, object]:
    """(Customization or None, router) from --customize / --router."""
    if args.customize is None:
        return None, None
    router = None if args.router == "column" else args.router
    return Customization(mode=args.customize, exemplars_per_prompt=args.exemplars), router


def reward_command(args) -> None:
    rows = load_rows(args.data)
    customization, router = _customization(args)

    def compute(mine, device, rank):
        reward = DensityRatioReward.from_pretrained(
            ModelSpec(args.strong, seed=args.strong_seed), ModelSpec(args.weak, seed=args.weak_seed),
            reduction=args.reduction, customization=customization, apply_to=args.apply_to, router=router,
            device=device, **_scorer_options(args, rank))
        scored, stats = score_candidates(reward, mine, domain_column=args.domain_column
                                         if args.router == "column" and customization else None)
        keys = [k for k in scored.column_names if k not in mine[0] or k in ("pair", "customization", "domain")]
        computed = sum(m.last_stats.get("computed", 0) for m in (reward.strong, reward.weak))
        cached = sum(m.last_stats.get("cached", 0) for m in (reward.strong, reward.weak))
        return [{k: row[k] for k in keys} for row in scored], {"computed": computed, "cached": cached,
                                                              "empty": stats["empty"]}

    run_sharded(rows, compute, args.out, f"reward {args.strong} over {args.weak}")


def _write_pairs(splits: DatasetDict, out: str) -> list[str]:
    """A folder (no suffix): DatasetDict.save_to_disk; a .jsonl / .json / .parquet file: one file, or one per
    split (<stem>.train<suffix>, <stem>.test<suffix>) when there is a test split."""
    path = Path(out)
    if path.suffix == "":
        splits.save_to_disk(str(path))
        return [str(path)]
    if path.suffix not in FORMATS:
        raise ValueError(f"--out {out}: expected a folder (no suffix) or a file ending in {FORMATS}")
    if list(splits) == ["train"]:
        return [str(write_records(path, splits["train"]))]
    return [str(write_records(path.with_name(f"{path.stem}.{name}{path.suffix}"), part))
            for name, part in splits.items()]


def pairs_command(args) -> None:
    rows = load_rows(args.data)
    for i, row in enumerate(rows):
        for field in ("prompt", "responses", "rewards"):
            if field not in row:
                raise RecordError(row.get("id", i), field, "missing field; pairs need rows with several "
                                  "`responses` and their `rewards` (the output of `cdr reward`)")
    system_role = args.system_role == "yes"
    if args.augment and args.system_role == "auto":
        if args.policy is None:
            raise ValueError("--system-role auto needs --policy MODEL (the tokenizer whose chat template decides)")
        system_role = has_system_role(load_model(args.policy)[1])
    pairs, stats = build_pairs(rows, strategy=args.strategy, min_margin=args.min_margin, seed=args.seed,
                               drop_nonfinite=args.drop_nonfinite)
    splits = split_by_prompt(pairs, args.test_fraction, args.seed) if args.test_fraction > 0 else \
        DatasetDict(train=pairs)
    if args.augment:
        train, info = reward_augment(splits["train"], levels=args.levels, system_role=system_role)
        augmented = {"train": train}
        if "test" in splits:
            augmented["test"] = reward_augment(splits["test"], levels=args.levels, edges=info["edges"],
                                               system_role=system_role)[0]
        splits = DatasetDict(augmented)
        stats["augment"] = info
    written = _write_pairs(splits, args.out)
    print(f"[pairs] {stats['prompts']} prompts -> {stats['pairs']} pairs "
          f"({', '.join(f'{k} {len(v)}' for k, v in splits.items())}); skipped: "
          + ", ".join(f"{k} {stats[k]}" for k in ("single", "all_tied", "identical_text", "below_margin", "nonfinite",
                                                   "empty_responses"))
          + f" -> {', '.join(written)}")


def load_bench(source: str, *, seed: int = 0, per_section=None, max_chars=None) -> Dataset:
    """Labelled pairs to evaluate on: "minibench" (built offline from `seed`), a local file or a hub data set
    (RewardBench's split "filtered"), then optionally a stratified sample of `per_section` rows per section."""
    if source == "minibench":
        ds = rb.to_rows(load_minibench(seed), source="minibench")
    elif Path(source).suffix in FORMATS:
        ds = rb.load_local(source, any_subset=True)
    else:
        ds = rb.load_hub(source)
    # the draw goes section by section in this map's order: keep RewardBench's, then a user's subsets as they come
    section_of = {**rb.SUBSET_SECTION, **{s: s for s in dict.fromkeys(ds["subset"]) if s not in rb.SUBSET_SECTION}}
    return stratified_subset(ds, per_section, seed, section_of=section_of, max_chars=max_chars)


def evaluate_command(args) -> None:
    bench = load_bench(args.data, seed=args.seed, per_section=args.per_section, max_chars=args.max_chars)
    sections = json.loads(Path(args.sections).read_text()) if args.sections else None
    reward = DensityRatioReward.from_pretrained(ModelSpec(args.strong, seed=args.strong_seed),
                                                ModelSpec(args.weak, seed=args.weak_seed), reduction=args.reduction,
                                                **_scorer_options(args))
    evaluation = rb.evaluate(reward, bench, sections=sections)
    table = evaluation.subset_table()
    print(f"[evaluate] {args.strong} over {args.weak}, reduction {args.reduction}: {len(bench)} pairs")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print("  ".join(f"{k} {v:.1f}" for k, v in evaluation.sections.items()))
    if args.out_csv:
        Path(args.out_csv).parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out_csv, table.to_csv(index=False))
    if args.out_json:
        write_text(args.out_json, json.dumps({"strong": args.strong, "weak": args.weak, "reduction": args.reduction,
                                              "pairs": len(bench), "sections": evaluation.sections,
                                              "subsets": table.to_dict("records")}, indent=1))


# -- the parser ------------------------------------------------------------------------------------------------
def _add_scorer_options(p) -> None:
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                   help="weights' dtype (default: float32 on CPU, bfloat16 on GPU); log-softmax is always fp32")
    p.add_argument("--cache-dir", default=None, help="resumable content-addressed log-prob cache")
    p.add_argument("--shard-size", type=int, default=256, help="examples per cache shard")
    p.add_argument("--max-batch-tokens", type=int, default=None, help="padded tokens per forward pass")
    p.add_argument("--no-end-of-turn", action="store_true", help="do not score the end-of-turn marker")


def _add_pair_options(p) -> None:
    p.add_argument("--strong", required=True, help="the better-aligned model: a known name, a local dir or a hub id")
    p.add_argument("--weak", required=True, help="the less-aligned model")
    p.add_argument("--strong-seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--weak-seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--reduction", choices=REDUCTIONS, default="sum",
                   help="sum: log-ratio in nats (the paper's); mean: per-token means")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdr", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="dequantize the packaged GGUF models into the safetensors cache").set_defaults(
        func=prepare_command)

    p = sub.add_parser("score", help="add log p(response | prompt) columns under one model")
    p.add_argument("--model", required=True, help="a name load_model knows, a local directory or a hub id")
    p.add_argument("--data", required=True, help="JSON / JSONL / Parquet with prompt, response (and id)")
    p.add_argument("--out", required=True, help="output file (.parquet, .json or .jsonl)")
    p.add_argument("--seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--template", choices=("own", "plain"), default="own")
    p.add_argument("--column-prefix", default="logp")
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    _add_scorer_options(p)
    p.set_defaults(func=score_command)

    p = sub.add_parser("reward", help="density-ratio rewards of one (`response`) or N (`responses`) per row")
    _add_pair_options(p)
    p.add_argument("--data", required=True, help="JSON / JSONL / Parquet with prompt and response or responses")
    p.add_argument("--out", required=True, help="output file (.parquet, .json or .jsonl)")
    p.add_argument("--customize", choices=MODES, default=None, help="criteria / exemplars per domain (none: off)")
    p.add_argument("--router", choices=ROUTERS, default="keyword",
                   help="how a prompt's domain is found: keyword rules, the strong model (llm), or a column")
    p.add_argument("--domain-column", default="domain", help="with --router column: CHAT, SAFETY or REASONING")
    p.add_argument("--apply-to", choices=APPLY_TO, default="both", help="which models read the customized prompt")
    p.add_argument("--exemplars", type=int, default=2, help="in-context exemplars per prompt")
    _add_scorer_options(p)
    p.set_defaults(func=reward_command)

    p = sub.add_parser("pairs", help="chosen / rejected pairs in TRL's conversational preference format")
    p.add_argument("--data", required=True, help="rows with prompt, responses, rewards (`cdr reward` output)")
    p.add_argument("--out", required=True, help="a folder (DatasetDict) or a .jsonl / .json / .parquet file")
    p.add_argument("--strategy", choices=STRATEGIES, default="best_worst")
    p.add_argument("--min-margin", type=float, default=None, help="drop pairs whose reward gap (nats) is below")
    p.add_argument("--seed", type=int, default=0, help="best_random's draw and the train / test split")
    p.add_argument("--test-fraction", type=float, default=0.0, help="held-out share of prompts (split by prompt)")
    p.add_argument("--drop-nonfinite", action="store_true", help="drop rows with a NaN / inf reward (else an error)")
    p.add_argument("--augment", action="store_true", help="reward-augmented rows (arXiv 2410.08067)")
    p.add_argument("--levels", type=int, default=10, help="rating scale 1..levels for --augment")
    p.add_argument("--system-role", choices=("yes", "no", "auto"), default="yes",
                   help="the rating condition as a system message (yes) or prepended to the user turn (no); "
                        "auto: as --policy's chat template allows")
    p.add_argument("--policy", default=None, help="with --system-role auto: the model to be trained")
    p.set_defaults(func=pairs_command)

    p = sub.add_parser("evaluate", help="RewardBench-style accuracy of the density ratio on labelled pairs")
    _add_pair_options(p)
    p.add_argument("--data", default="minibench", help="minibench, a local file, or a hub id (allenai/reward-bench)")
    p.add_argument("--per-section", type=int, default=None, help="a stratified sample of rows per section")
    p.add_argument("--seed", type=int, default=0, help="the mini-bench's build and the sample's draw")
    p.add_argument("--max-chars", type=int, default=None, help="skip rows longer than this (characters)")
    p.add_argument("--sections", default=None, help="JSON file mapping your subsets to sections")
    p.add_argument("--out-csv", default=None, help="per-subset accuracies as CSV")
    p.add_argument("--out-json", default=None, help="sections and subsets as JSON")
    _add_scorer_options(p)
    p.set_defaults(func=evaluate_command)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    datasets.disable_progress_bars()  # save_to_disk / map bars; the scorers show their own
    try:
        args.func(args)
    except (RecordError, ValueError, FileNotFoundError, ModelNotAvailable) as err:
        if args.debug:
            raise
        print(f"cdr {args.command}: error: {err}", file=sys.stderr)
        sys.exit(2)

