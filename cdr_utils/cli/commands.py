"""The `cdr` command (also `python -m cdr_utils`): density-ratio rewards for your own data and model pair.

    cdr prepare                                          build the offline models' safetensors caches
    cdr score  --model M --data rows.jsonl --out scored.jsonl             log p(response | prompt), one model
    cdr reward --strong S --weak W --data cands.jsonl --out rewards.jsonl  density-ratio rewards, one or N
                                                                           responses per row
    cdr pairs  --data rewards.jsonl --out pairs [--test-fraction 0.1] [--augment]   preference pairs (TRL format)
    cdr evaluate --strong S --weak W --data minibench|FILE|HUB_ID           RewardBench-style section table
    cdr select --models A B C --data minibench|FILE|HUB_ID --out DIR        which pair: every ordered pair's accuracy

The study commands `plan` and `train` are `python -m cdr_utils.studies ...` (a checkout's). Data files are
JSON (a list), JSONL or Parquet. A `prompt` is a list of {role, content} messages or a string
(one user turn). `score` and `reward` run on one process or several: under `torchrun --nproc_per_node K -m
cdr_utils ...` or `accelerate launch --num_processes K -m cdr_utils ...` each process takes every K-th row and
the first merges the parts in input order, so the output equals a one-process run (to fp32 round-off). With
--cache-dir, log-probs go through the resumable cache (cache.py): a killed run, re-run, computes only what is
missing, and the re-run removes what the killed one left (<out>.parts, temporary files of the final write).
Output columns are those of all input rows (missing values null), then the added ones.

Bad input stops the command before any model loads, with exit status 2: the whole file is read and every record
checked (structure, types, roles, empty texts where the command needs text, ids of one type and unique), on
every process of a launch, and each problem gets one line naming the file, the line (or item / row) or id, and
the field: the first 20, with their total. The output path is checked first too (writable, not a folder, not
the input; the input without the columns the command adds unless --overwrite-columns; every value storable in
the output's format). What needs the model's tokenizer (a response beyond the context) is checked on every
process after loading and before any process scores. --debug (before or after the command) shows tracebacks.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict

from ..benchmarks import rewardbench as rb
from ..chat import (PLAIN_CHAT_TEMPLATE, RecordError, bench_problems, candidates_problems, check_records,
                   has_system_role, prompt_problems, reward_problems, text_problems, texts_problems,
                   user_turn_problems)
from ..customize import DOMAINS, MODES, Customization
from ..logprobs import LogProbScorer, vllm_score
from ..models import OFFLINE, ModelSpec, gemma_accepted, load_model, prepare_offline_model, prepared_model
from ..pairs import STRATEGIES, build_pairs, reward_augment, split_by_prompt
from ..records import (FORMATS, atomic_dir, check_writable, clean_leftovers, write_records, write_text)
from ..rewards import APPLY_TO, REDUCTIONS, DensityRatioReward, score_candidates
from .launch import (INPUT_ERRORS, ProcessFailed, check_outputs, located, messages_rows, read_rows, read_sections,
                     run_sharded)
from ..benchmarks.pair_selection import pair_matrix, pair_matrix_figure, select_pairs
from ..benchmarks.reward_eval import BENCHMARKS, evaluate_benchmark

ROUTERS = ("keyword", "llm", "column")
def _scorer_options(args, rank: int = 0) -> dict:
    """The scorers' options from the command line; progress bars on the first process only."""
    return {"dtype": args.dtype, "include_end_of_turn": not args.no_end_of_turn, "cache_dir": args.cache_dir,
            "shard_size": args.shard_size, "max_batch_tokens": args.max_batch_tokens,
            "progress": None if rank == 0 else False}


# -- commands --------------------------------------------------------------------------------------------------
def _timed_prepare(name: str) -> tuple[Path, float]:
    t = time.time()
    return prepare_offline_model(name), time.time() - t


def prepare_command(_args) -> None:
    todo = []
    for name, (module, pip_name, licence) in OFFLINE.items():
        if name == "gemma3-270m" and not gemma_accepted():
            print(f"[prepare] {name}: skipped (CDR_GEMMA=0, Gemma Terms of Use declined)")
        elif importlib.util.find_spec(module) is None:
            print(f"[prepare] {name}: package {pip_name} not installed, skipped")
        elif ready := prepared_model(name):
            print(f"[prepare] {name} ({licence}): {ready} (ready)")
        else:
            todo.append(name)
    # transformers reads a GGUF's metadata in pure Python, three times per model (~17 s each for Gemma's 262k-token
    # vocabulary): one process per model (on 2 cores set-up takes the time of Gemma alone)
    workers = min(len(todo), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_timed_prepare, todo))
    else:
        done = map(_timed_prepare, todo)
    for name, (path, seconds) in zip(todo, done):
        print(f"[prepare] {name} ({OFFLINE[name][2]}): {path} ({seconds:.0f} s)")


def score_command(args) -> None:
    rows, where = read_rows(args.data)
    check_records(rows, [prompt_problems, lambda r: text_problems(r, "response")], where=where, source=args.data)
    messages_rows(rows)
    p = args.column_prefix
    check_outputs(rows, where, args.data, args.out, [f"{p}_sum", f"{p}_n_tokens", f"{p}_mean"],
                  overwrite=args.overwrite_columns, hint=" (or --column-prefix)")

    def prepare(mine, device, rank):
        prompts, responses = [rows[i]["prompt"] for i in mine], [rows[i]["response"] for i in mine]
        if args.backend == "vllm":
            def run_vllm():
                result = vllm_score(args.model, prompts, responses, include_end_of_turn=not args.no_end_of_turn,
                                    dtype=args.dtype or "bfloat16",
                                    chat_template=PLAIN_CHAT_TEMPLATE if args.template == "plain" else None)
                return columns(result), {"computed": len(mine), "cached": 0}
            return run_vllm
        spec = ModelSpec(args.model, seed=args.seed, template=args.template)
        scorer = LogProbScorer.from_pretrained(spec, device=device, **_scorer_options(args, rank))
        try:  # tokenize and check every row of this process (e.g. its length) before any process scores
            prepared = scorer.encode(prompts, responses, record_ids=mine)
        except RecordError as err:
            raise located(err, rows, where, args.data) from None

        def run():
            result = scorer.score_prepared(prepared)
            return columns(result), scorer.last_stats
        return run

    def columns(result):
        return [{f"{p}_sum": float(s), f"{p}_n_tokens": int(n), f"{p}_mean": float(s / n)}
                for s, n in zip(result.sum, result.n_tokens)]

    run_sharded(rows, prepare, args.out, f"score {args.model}", args.cache_dir)


def _customization(args) -> tuple[Customization | None, object]:
    """(Customization or None, router) from --customize / --router."""
    if args.customize is None:
        return None, None
    router = None if args.router == "column" else args.router
    return Customization(mode=args.customize, exemplars_per_prompt=args.exemplars), router


def reward_command(args) -> None:
    rows, where = read_rows(args.data)
    customization, router = _customization(args)
    many = next((k for k, r in enumerate(rows) if isinstance(r, dict) and r.get("responses") is not None), None)
    field = "response" if many is None else "responses"
    by_column = args.router == "column" and customization is not None

    def answers(row):
        if many is not None and row.get("responses") is None and row.get("response") is not None:
            return [("responses", f"missing field: rows of this file carry `responses` lists (first at "
                                  f"{where[many]}), this one a single `response`; use one form throughout")]
        return texts_problems(row) if many is not None else text_problems(row, "response", empty_ok=True)

    checks = [prompt_problems, answers]
    if by_column:
        checks.append(lambda r: [] if r.get(args.domain_column) in DOMAINS else [
            (args.domain_column, f"expected one of {DOMAINS} (--router column), got {r.get(args.domain_column)!r}")])
    check_records(rows, checks, where=where, source=args.data)
    messages_rows(rows)
    added_columns = ["reward" if many is None else "rewards", "logp_strong", "n_tokens_strong", "logp_weak",
                     "n_tokens_weak", "pair", "customization"] + (["domain"] if customization and not by_column else [])
    check_outputs(rows, where, args.data, args.out, added_columns, overwrite=args.overwrite_columns)

    def prepare(mine, device, rank):
        reward = DensityRatioReward.from_pretrained(
            ModelSpec(args.strong, seed=args.strong_seed), ModelSpec(args.weak, seed=args.weak_seed),
            reduction=args.reduction, customization=customization, apply_to=args.apply_to, router=router,
            device=device, **_scorer_options(args, rank))
        flat = [(i, j, t) for i in mine for j, t in enumerate([rows[i][field]] if many is None else rows[i][field])
                if t.strip()]
        if customization is None:  # both models' inputs, checked (e.g. their length) before any process scores
            for model in (reward.strong, reward.weak):
                try:
                    model.encode([rows[i]["prompt"] for i, _, _ in flat], [t for _, _, t in flat],
                                 [f"{i}/response {j}" for i, j, _ in flat])
                except RecordError as err:
                    raise located(err, rows, where, args.data) from None

        def run():
            if not mine:
                return [], {"computed": 0, "cached": 0, "empty": 0}
            keep = ["prompt", field] + ([args.domain_column] if by_column else [])
            try:
                scored, stats = score_candidates(reward, [{"id": str(i), **{k: rows[i][k] for k in keep}}
                                                          for i in mine],
                                                 domain_column=args.domain_column if by_column else None)
            except RecordError as err:
                raise located(err, rows, where, args.data) from None
            computed = sum(m.last_stats.get("computed", 0) for m in (reward.strong, reward.weak))
            cached = sum(m.last_stats.get("cached", 0) for m in (reward.strong, reward.weak))
            return [{k: row[k] for k in added_columns} for row in scored], {
                "computed": computed, "cached": cached, "empty": stats["empty"]}
        return run

    run_sharded(rows, prepare, args.out, f"reward {args.strong} over {args.weak}", args.cache_dir)


def _pair_outputs(out: str, test_split: bool) -> list[Path]:
    """The paths `cdr pairs` writes: a folder (no suffix), one file, or one per split (<stem>.train<suffix>,
    <stem>.test<suffix>) when there is a test split."""
    path = Path(out)
    if path.suffix == "" or not test_split:
        return [path]
    return [path.with_name(f"{path.stem}.{name}{path.suffix}") for name in ("train", "test")]


def _write_pairs(splits: DatasetDict, out: str) -> list[str]:
    """A folder (no suffix): DatasetDict.save_to_disk, atomically; a .jsonl / .json / .parquet file per split."""
    path = Path(out)
    if path.suffix == "":
        with atomic_dir(path) as tmp:
            splits.save_to_disk(str(tmp))
        return [str(path)]
    targets = _pair_outputs(out, list(splits) != ["train"])
    return [str(write_records(target, part)) for target, part in zip(targets, splits.values())]


def pairs_command(args) -> None:
    if args.augment and args.system_role == "auto" and args.policy is None:
        raise ValueError("--system-role auto needs --policy MODEL (the tokenizer whose chat template decides)")
    rows, where = read_rows(args.data)
    checks = [prompt_problems, candidates_problems, lambda r: reward_problems(r, args.drop_nonfinite)]
    if args.augment and args.system_role == "no":
        checks.append(user_turn_problems)
    check_records(rows, checks, where=where, source=args.data)
    messages_rows(rows)
    for target in _pair_outputs(args.out, args.test_fraction > 0):
        check_writable(target, label=f"--out {args.out}", inputs=[args.data], folder=target.suffix == "")
        if target.suffix:
            clean_leftovers(target)
    system_role = args.system_role == "yes"
    if args.augment and args.system_role == "auto":
        system_role = has_system_role(load_model(args.policy)[1])
    rows = [{**r, "rewards": [math.nan if x is None else x for x in r["rewards"]]} for r in rows]
    pairs, stats = build_pairs(rows, strategy=args.strategy, min_margin=args.min_margin, seed=args.seed,
                               drop_nonfinite=args.drop_nonfinite)
    splits = split_by_prompt(pairs, args.test_fraction, args.seed) if args.test_fraction > 0 else \
        DatasetDict(train=pairs)
    if args.augment:
        if len(splits["train"]) == 0:
            raise ValueError(f"{args.data}: no pairs to augment (every row was skipped: "
                             + ", ".join(f"{k} {stats[k]}" for k in ("single", "all_tied", "identical_text",
                                                                      "below_margin", "nonfinite")) + ")")
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
    """Labelled pairs to evaluate on (rewardbench.load: "minibench" built offline from `seed`, a local file, or a hub
    data set or a local copy of its repository, RewardBench's split "filtered"; a user's own subsets accepted), then
    optionally a stratified sample of `per_section` rows per section (rewardbench.sample). A local file is checked
    whole first: every bad record is listed (up to 20), with its line."""
    data = source
    if source != "minibench" and (Path(source).suffix in FORMATS or Path(source).is_file()):
        data, where = read_rows(source)
        check_records(data, [bench_problems], where=where, source=source, require_id=True)
    ds = rb.load(data, seed=seed, any_subset=True)
    bench = rb.sample(ds, per_section, seed, max_chars=max_chars)
    if len(bench) == 0:
        raise ValueError(f"--max-chars {max_chars} leaves none of the {len(ds)} rows of {source}")
    return bench


def evaluate_command(args) -> None:
    data = args.data if args.data != "minibench" and Path(args.data).exists() else None
    for option, out in (("--out-csv", args.out_csv), ("--out-json", args.out_json)):
        if out:
            check_writable(out, label=f"{option} {out}", inputs=[data])
            clean_leftovers(out)
    sections = read_sections(args.sections) if args.sections else None
    if args.benchmark != "rewardbench":
        return _evaluate_other(args)
    bench = load_bench(args.data, seed=args.seed, per_section=args.per_section, max_chars=args.max_chars)
    reward = DensityRatioReward.from_pretrained(ModelSpec(args.strong, seed=args.strong_seed),
                                                ModelSpec(args.weak, seed=args.weak_seed), reduction=args.reduction,
                                                **_scorer_options(args))
    evaluation = rb.evaluate(reward, bench, sections=sections)
    table = evaluation.subset_table()
    print(f"[evaluate] {args.strong} over {args.weak}, reduction {args.reduction}: {len(bench)} pairs")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print("  ".join(f"{k} {v:.1f}" for k, v in evaluation.sections.items()))
    if args.out_csv:
        write_text(args.out_csv, table.to_csv(index=False))
    if args.out_json:
        write_text(args.out_json, json.dumps({"strong": args.strong, "weak": args.weak, "reduction": args.reduction,
                                              "pairs": len(bench), "sections": evaluation.sections,
                                              "subsets": table.to_dict("records")}, indent=1))


def _evaluate_other(args) -> None:
    """RewardBench 2 (best-of-4 accuracy, Ties) or RM-Bench (style matrix): both reductions and the single-model
    and length baselines side by side, from one scoring pass (reward_benchmarks.evaluate_benchmark)."""
    reward = DensityRatioReward.from_pretrained(ModelSpec(args.strong, seed=args.strong_seed),
                                                ModelSpec(args.weak, seed=args.weak_seed), **_scorer_options(args))
    tables = evaluate_benchmark(reward, args.benchmark, args.data, per_section=args.per_section, seed=args.seed,
                                max_chars=args.max_chars)
    scores = tables["scores"]
    print(f"[evaluate] {args.benchmark}: {args.strong} over {args.weak}")
    print(scores.to_string(float_format=lambda v: f"{v:.1f}"))
    for note in scores.attrs.get("notes", []):
        print(note)
    if args.out_csv:
        write_text(args.out_csv, scores.to_csv())
    if args.out_json:
        write_text(args.out_json, json.dumps({"strong": args.strong, "weak": args.weak, "benchmark": args.benchmark,
                                              **{k: t.reset_index().to_dict("records") for k, t in tables.items()
                                                 if k != "per_completion"}}, indent=1, default=str))


def model_spec(text: str) -> ModelSpec:
    """A model on the command line: NAME (a known name, a local dir or a hub id), optionally followed by
    ,layers=K ,template=own|plain ,seed=S and last ,label=TEXT (the rest, commas included): a variant of it
    (models.ModelSpec)."""
    head, has_label, label = text.partition(",label=")
    name, *options = head.split(",")
    fields = {"label": label} if has_label else {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("layers", "template", "seed") or not value:
            raise ValueError(f"--models {text!r}: {option!r} is not layers=K, template=own|plain, seed=S or "
                             "(last) label=TEXT")
        if key in ("layers", "seed"):
            if not value.lstrip("-").isdigit() or key == "layers" and int(value) < 1:
                raise ValueError(f"--models {text!r}: {key} must be {'a positive' if key == 'layers' else 'an'} integer")
            value = int(value)
        fields[key] = value
    return ModelSpec(name, **fields)


def select_command(args) -> None:
    """Every ordered pair of --models as a density-ratio reward on labelled pairs, from one scoring pass per model
    (benchmarks.pair_selection.select_pairs); writes <out>/pairs.csv, baselines.csv, selection.json and
    pair_matrix.png. Log-probs go through a score cache (--cache-dir, default <out>/cache), so a killed run,
    re-run, scores only the models not yet cached."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    models = [model_spec(m) for m in args.models]
    if len(models) < 2:
        raise ValueError("--models: name at least 2 models (every ordered pair of them is scored)")
    if len({str(m) for m in models}) != len(models):
        raise ValueError("--models: a model is named twice (give variants distinct labels: NAME,label=TEXT)")
    performance = args.performance
    if performance is not None and performance not in ("log p (mean)", "log p (sum)"):
        path = Path(performance)
        scores, where = (json.loads(path.read_text(encoding="utf-8")), path) if path.is_file() else (None, path)
        if not isinstance(scores, dict) or not all(isinstance(v, (int, float)) for v in scores.values()):
            raise ValueError(f"--performance {where}: expected 'log p (mean)', 'log p (sum)' or a JSON file "
                             "{model: score}")
        performance = scores
    for name in ("pairs.csv", "baselines.csv", "selection.json", "pair_matrix.png"):
        check_writable(out / name, label=f"--out {out}", inputs=[args.data])
    bench = load_bench(args.data, seed=args.seed, per_section=args.per_section, max_chars=args.max_chars)
    args.cache_dir = args.cache_dir or str(out / "cache")  # resumable by default: a killed run keeps its models
    _check_cache_dir(args)
    options = _scorer_options(args)
    print(f"[select] {len(models)} models, {len(models) * (len(models) - 1)} ordered pairs, {len(bench)} labelled "
          f"pairs; score cache {options['cache_dir']}")
    sel = select_pairs(models, bench, reduction=args.reduction, performance=performance, seed=args.seed,
                       n_bootstrap=args.bootstrap, **options)
    table = sel.table.sort_values(["reduction", "Score"], ascending=[True, False])
    write_text(out / "pairs.csv", table.to_csv(index=False))
    write_text(out / "baselines.csv", sel.baselines.reset_index().to_csv(index=False))
    record = {"models": [str(m) for m in models], "rows": len(bench), "recommended": sel.recommended,
              "gap": None if sel.gap is None else {"measure": sel.gap.measure, "rho": sel.gap.rho,
                                                   "ci": list(sel.gap.ci)}}
    write_text(out / "selection.json", json.dumps(record, indent=1, default=float))
    mine = sel.table[sel.table["reduction"] == args.reduction]
    fig = pair_matrix_figure({f"Score ({args.reduction})": pair_matrix(mine)},
                             title=f"{len(bench)} labelled pairs: density-ratio accuracy (%)")
    fig.savefig(out / "pair_matrix.png", dpi=120, bbox_inches="tight")
    shown = mine.sort_values("Score", ascending=False).head(10)
    print(shown.drop(columns="reduction").to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(sel.baselines.to_string(float_format=lambda v: f"{v:.1f}"))
    r = sel.recommended
    print(f"[select] recommended: {r['strong']} over {r['weak']} ({r['reduction']}), Score {r['Score']:.1f}")
    for what, key in (("the runner-up pair", "runner_up"), ("the best baseline", "best_baseline")):
        if key in r:
            d = r[key]
            print(f"  lead over {what}: {d['lead']:+.1f} points, 95 % paired bootstrap [{d['ci'][0]:+.1f}, "
                  f"{d['ci'][1]:+.1f}]: {'resolved' if d['resolved'] else 'not resolved'}")
    if sel.gap is not None:
        print(f"  gap in {sel.gap.measure} vs pair Score: Spearman {sel.gap.rho:+.2f} "
              f"[{sel.gap.ci[0]:+.2f}, {sel.gap.ci[1]:+.2f}]")
    print(f"[select] -> {out}/pairs.csv, baselines.csv, selection.json, pair_matrix.png")


# -- the parser ------------------------------------------------------------------------------------------------
def _number(kind, test, wanted: str):
    """An argparse type: `kind` (int / float) that passes `test`, else a one-line error saying what is wanted."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value
    parse.__name__ = wanted  # argparse names the type in some messages
    return parse


POSITIVE = _number(int, lambda v: v > 0, "a positive integer")
NON_NEGATIVE = _number(int, lambda v: v >= 0, "an integer >= 0")
FRACTION = _number(float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")
LEVELS = _number(int, lambda v: v >= 2, "an integer >= 2")
FINITE = _number(float, math.isfinite, "a finite number")


def _path_type(suffixes: tuple, *, folder: bool = False):
    """An argparse type for an output path whose suffix a command can read back (or no suffix: a folder)."""
    def parse(text: str) -> str:
        suffix = Path(text).suffix
        if suffix in suffixes or folder and suffix == "":
            return text
        what = ("a folder (no suffix) or " if folder else "") + "a file ending in " + " / ".join(suffixes)
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    parse.__name__ = "path"
    return parse


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty string")
    return text


def _check_cache_dir(args) -> None:
    if getattr(args, "cache_dir", None):
        path = Path(args.cache_dir)
        if path.exists() and not path.is_dir():
            raise ValueError(f"--cache-dir {path}: is a file, not a folder")
        check_writable(path / "meta.json", label=f"--cache-dir {path}")


def _add_scorer_options(p) -> None:
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                   help="weights' dtype (default: float32 on CPU, bfloat16 on GPU); log-softmax is always fp32")
    p.add_argument("--cache-dir", default=None, help="resumable content-addressed log-prob cache")
    p.add_argument("--shard-size", type=POSITIVE, default=256, help="examples per cache shard")
    p.add_argument("--max-batch-tokens", type=POSITIVE, default=None, help="padded tokens per forward pass")
    p.add_argument("--no-end-of-turn", action="store_true", help="do not score the end-of-turn marker")


def _add_pair_options(p) -> None:
    p.add_argument("--strong", required=True, help="the better-aligned model: a known name, a local dir or a hub id")
    p.add_argument("--weak", required=True, help="the less-aligned model")
    p.add_argument("--strong-seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--weak-seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--reduction", choices=REDUCTIONS, default="sum",
                   help="sum: log-ratio in nats (the paper's); mean: per-token means")


def _add_output_options(p) -> None:
    p.add_argument("--out", required=True, type=_path_type(FORMATS), help="output file (.parquet, .json or .jsonl)")
    p.add_argument("--overwrite-columns", action="store_true",
                   help="replace the result columns when the input already has them (else an error)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdr", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, func, **kw):
        p = sub.add_parser(name, **kw)
        # also after the command's name; SUPPRESS keeps an earlier `cdr --debug score ...` from being reset
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
        p.set_defaults(func=func)
        return p

    command("prepare", prepare_command, help="dequantize the packaged GGUF models into the safetensors cache")

    p = command("score", score_command, help="add log p(response | prompt) columns under one model")
    p.add_argument("--model", required=True, help="a name load_model knows, a local directory or a hub id")
    p.add_argument("--data", required=True, help="JSON / JSONL / Parquet with prompt, response (and id)")
    _add_output_options(p)
    p.add_argument("--seed", type=int, default=0, help="tiny random models only")
    p.add_argument("--template", choices=("own", "plain"), default="own")
    p.add_argument("--column-prefix", type=_nonempty, default="logp")
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    _add_scorer_options(p)

    p = command("reward", reward_command, help="density-ratio rewards of one (`response`) or N (`responses`) per row")
    _add_pair_options(p)
    p.add_argument("--data", required=True, help="JSON / JSONL / Parquet with prompt and response or responses")
    _add_output_options(p)
    p.add_argument("--customize", choices=MODES, default=None, help="criteria / exemplars per domain (none: off)")
    p.add_argument("--router", choices=ROUTERS, default="keyword",
                   help="how a prompt's domain is found: keyword rules, the strong model (llm), or a column")
    p.add_argument("--domain-column", type=_nonempty, default="domain",
                   help="with --router column: CHAT, SAFETY or REASONING")
    p.add_argument("--apply-to", choices=APPLY_TO, default="both", help="which models read the customized prompt")
    p.add_argument("--exemplars", type=NON_NEGATIVE, default=2, help="in-context exemplars per prompt")
    _add_scorer_options(p)

    p = command("pairs", pairs_command, help="chosen / rejected pairs in TRL's conversational preference format")
    p.add_argument("--data", required=True, help="rows with prompt, responses, rewards (`cdr reward` output)")
    p.add_argument("--out", required=True, type=_path_type(FORMATS, folder=True),
                   help="a folder (DatasetDict) or a .jsonl / .json / .parquet file")
    p.add_argument("--strategy", choices=STRATEGIES, default="best_worst")
    p.add_argument("--min-margin", type=FINITE, default=None, help="drop pairs whose reward gap (nats) is below")
    p.add_argument("--seed", type=int, default=0, help="best_random's draw and the train / test split")
    p.add_argument("--test-fraction", type=FRACTION, default=0.0,
                   help="held-out share of prompts (split by prompt), in [0, 1)")
    p.add_argument("--drop-nonfinite", action="store_true", help="drop rows with a NaN / inf reward (else an error)")
    p.add_argument("--augment", action="store_true", help="reward-augmented rows (arXiv 2410.08067)")
    p.add_argument("--levels", type=LEVELS, default=10, help="rating scale 1..levels for --augment (>= 2)")
    p.add_argument("--system-role", choices=("yes", "no", "auto"), default="yes",
                   help="the rating condition as a system message (yes) or prepended to the user turn (no); "
                        "auto: as --policy's chat template allows")
    p.add_argument("--policy", default=None, help="with --system-role auto: the model to be trained")

    p = command("evaluate", evaluate_command, help="RewardBench-style accuracy of the density ratio on labelled pairs")
    _add_pair_options(p)
    p.add_argument("--benchmark", choices=BENCHMARKS, default="rewardbench",
                   help="rewardbench: pairs, section accuracy; rewardbench2: best-of-4 and Ties; rm-bench: the "
                        "3 x 3 style matrix (the last two show both reductions and the baselines)")
    p.add_argument("--data", default="minibench", help="minibench (the offline part in the benchmark's format), a "
                   "local file, or a hub id (allenai/reward-bench, allenai/reward-bench-2, THU-KEG/RM-Bench)")
    p.add_argument("--per-section", type=POSITIVE, default=None, help="a stratified sample of rows per section")
    p.add_argument("--seed", type=int, default=0, help="the mini-bench's build and the sample's draw")
    p.add_argument("--max-chars", type=POSITIVE, default=None, help="skip rows longer than this (characters)")
    p.add_argument("--sections", default=None, help="JSON file mapping your subsets to sections")
    p.add_argument("--out-csv", type=_path_type((".csv",)), default=None, help="per-subset accuracies as CSV")
    p.add_argument("--out-json", type=_path_type((".json",)), default=None, help="sections and subsets as JSON")
    _add_scorer_options(p)

    p = command("select", select_command, help="which of your models to pair: every ordered pair's accuracy, "
                "the single-model and length baselines, from one scoring pass per model")
    p.add_argument("--models", nargs="+", required=True, help="2 or more: known names, local dirs or hub ids, each "
                   "optionally with ,layers=K ,template=plain ,seed=S ,label=TEXT")
    p.add_argument("--data", default="minibench", help="minibench, a local RewardBench-schema file, or a hub id")
    p.add_argument("--out", required=True, help="a folder: pairs.csv, baselines.csv, selection.json, pair_matrix.png")
    p.add_argument("--reduction", choices=REDUCTIONS, default="sum",
                   help="the reduction the recommendation uses (the table holds both)")
    p.add_argument("--performance", default=None, help="'log p (mean)', 'log p (sum)' or a JSON file {model: "
                   "published score}: the gap-vs-accuracy rank correlation")
    p.add_argument("--bootstrap", type=POSITIVE, default=1000, help="bootstrap resamples of the intervals")
    p.add_argument("--per-section", type=POSITIVE, default=None, help="a stratified sample of rows per section")
    p.add_argument("--seed", type=int, default=0, help="the mini-bench's build, the sample's draw, the bootstrap")
    p.add_argument("--max-chars", type=POSITIVE, default=None, help="skip rows longer than this (characters)")
    _add_scorer_options(p)
    return parser


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None, parser: argparse.ArgumentParser | None = None) -> None:
    """Run a command. Bad input (a record, a file, an option, a path) stops it before any model work with one
    line per problem and exit status 2 (argparse's for options); another failure prints one line and exits 1;
    an interrupt (Ctrl-C, SIGTERM) exits 130 saying how to resume. --debug shows the traceback instead.
    parser: another parser dispatched the same way (the study commands, studies/cli.py)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()  # save_to_disk / map bars; the scorers show their own
    rank = int(os.environ.get("RANK", "0"))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _interrupt)  # so temporary files are removed on the way out
    except ValueError:  # not the main thread
        previous = None
    try:
        _check_cache_dir(args)
        args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        if rank == 0:
            how = ("nothing half-written is kept" if not hasattr(args, "cache_dir") else
                   "the cache keeps every finished shard, so only what is missing is computed" if args.cache_dir else
                   "pass --cache-dir DIR to make a re-run compute only what is missing")
            print(f"{parser.prog} {args.command}: interrupted; run the same command again to resume ({how})", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - one line, not a traceback (unless --debug)
        if args.debug:
            raise
        code = err.code if isinstance(err, ProcessFailed) else 2 if isinstance(err, INPUT_ERRORS) else 1
        # every process checks the same input, and learns of another's failure: the first process says so
        if rank == 0 or code != 2 and not isinstance(err, ProcessFailed):
            text = str(err) if code == 2 or isinstance(err, ProcessFailed) else \
                f"{type(err).__name__}: {err} (--debug shows the traceback)"
            print(f"{parser.prog} {args.command}: error: {text}", file=sys.stderr)
        sys.exit(code)
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)
