"""The whole benchmark run for notebook 06: prompts -> answer files -> judgments -> tables.

`load_benchmarks(profile)` draws the profile's prompts; `run_benchmarks(profile, policies, identities=...)`
generates each policy's answers (evals.answers), the baseline's (the benchmarks' own reference answers, or a
second sample of the base policy), judges them with the profile's judge, writes answer and judgment files into
the artifact "benchmarks" (outputs/<profile>/benchmarks/<key>) and returns the tables. The judgment files
alone reproduce every number (`tables_from_files`), which is how a matching artifact is reused.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from ..benchmarks.policy.answers import (alpaca_eval_df_gamed, alpaca_eval_items, arena_hard_baseline, arena_hard_items,
                             generate_answers, mt_bench_items, pick, write_answers)
from ..benchmarks.policy.judges import HttpJudge, ReferenceProxyJudge
from ..benchmarks.policy.scoring import (judge_alpaca_eval, judge_arena_hard, judge_mt_bench, reference_answers, score_tables,
                             summary_table)
from ..models import CACHE_DIR
from ..records import read_records, write_records, write_text
from .annotate import load_prompts
from .artifacts import artifact
from .profiles import recipe_key

# The papers' figures (Llama-3-8B-Instruct, official judges and baselines): Arena-Hard v0.1 (GPT-4-Turbo judge,
# gpt-4-0314 baseline), AlpacaEval 2 LC (GPT-4-Turbo), MT-Bench (GPT-4). The tuned row is the CDR paper's
# (arXiv 2411.02481: SimPO on CDR-annotated on-policy data); it gives no MT-Bench figure for the base policy.
PUBLISHED = {"Llama-3-8B-Instruct (paper)": {"alpaca_eval": 22.9, "arena_hard": 22.3},
             "+ SimPO on CDR data (paper)": {"alpaca_eval": 40.7, "arena_hard": 37.4, "mt_bench": 8.0}}


def load_benchmarks(profile) -> dict[str, list[dict]]:
    """{"alpaca_eval", "arena_hard", "mt_bench"}: the profile's seeded prompt draws (evals.answers: sources;
    at most n_* prompts of at most max_prompt_chars characters each), without the annotation's own prompts."""
    cfg = profile.evals
    exclude: set[str] = set()
    if profile.annotation.prompts == "offline":  # never score a policy on its training prompts
        exclude = {p[-1]["content"] for p in load_prompts(profile)}
    with recipe_key(profile, "evals.alpaca_eval"):
        alpaca = alpaca_eval_items(cfg.alpaca_eval)
    with recipe_key(profile, "evals.arena_hard"):
        arena = arena_hard_items(cfg.arena_hard)
    if cfg.arena_hard_baseline and cfg.arena_hard != "offline":
        with recipe_key(profile, "evals.arena_hard_baseline"):
            refs = arena_hard_baseline(cfg.arena_hard_baseline)
        arena = [{**it, "reference": refs.get(it["uid"])} for it in arena]
    with recipe_key(profile, "evals.mt_bench"):
        mt = mt_bench_items(cfg.mt_bench)
    return {"alpaca_eval": pick(alpaca, lambda it: it["instruction"], cfg.n_alpaca_eval, cfg.max_prompt_chars,
                                cfg.seed, exclude),
            "arena_hard": pick(arena, lambda it: it["prompt"], cfg.n_arena_hard, cfg.max_prompt_chars,
                               cfg.seed + 1, exclude),
            "mt_bench": mt if cfg.n_mt_bench is None else mt[:cfg.n_mt_bench]}


def make_judges(profile) -> dict:
    """{"pairwise": judge for AlpacaEval / Arena-Hard, "single": judge for MT-Bench} from profile.evals."""
    cfg = profile.evals
    if cfg.judge == "proxy":
        proxy = ReferenceProxyJudge()
        return {"pairwise": proxy, "single": proxy}
    if cfg.judge == "http":
        cache = CACHE_DIR / "judgments"
        return {"pairwise": HttpJudge(model=cfg.judge_model, cache_dir=cache),
                "single": HttpJudge(model=cfg.mt_bench_judge_model or cfg.judge_model, cache_dir=cache)}
    raise ValueError(f"unknown judge {cfg.judge!r} in profile {profile.name!r}; expected 'proxy' or 'http'")


def judge_label(judges: dict) -> str:
    kinds = {j.kind for j in judges.values()}
    names = " / ".join(dict.fromkeys(j.name for j in judges.values()))
    return ("PROXY, " if "proxy" in kinds else "") + names


@dataclass
class BenchmarkRun:
    benchmarks: dict
    judgments: dict               # benchmark -> judgment records (all generators)
    tables: dict                  # benchmark -> DataFrame
    summary: pd.DataFrame
    judge: str
    directory: Path
    seconds: dict = field(default_factory=dict)


def benchmark_settings(profile, identities: dict, base: str | None) -> dict:
    """What a benchmark run depends on: the evals config, the policies' sampling settings and identities
    ({name: what identifies its weights, e.g. a model spec or a checkpoint's key}), and the baseline policy."""
    g = profile.generation
    return {"evals": asdict(profile.evals), "identities": identities, "base": base, "dtype": profile.dtype,
            "policy_template": g.policy.template, "annotation_prompts": asdict(profile.annotation)}


def run_benchmarks(profile, policies: dict, *, identities: dict, base: str | None = None, rebuild: bool = False,
                   progress: bool = True) -> BenchmarkRun:
    """policies: {name: (model, tokenizer)}; identities: {name: what identifies that policy's weights} (the key
    of the artifact "benchmarks" that keeps the answer and judgment files); base: the name whose second sample
    is the baseline when profile.evals.baseline == "policy" (default: the first policy). A matching artifact is
    reused: its tables are recomputed from its judgment files, nothing is generated or judged."""
    base = base or next(iter(policies))
    run = {}

    def build(folder):
        run.update(_answer_and_judge(profile, policies, base, folder, progress))

    directory = artifact(profile, "benchmarks", benchmark_settings(profile, identities, base), build, rebuild=rebuild)
    if not run:  # reused: everything from the files
        run = {"judgments": {b: read_records(p) for b, p in judgment_paths(directory).items()}, "seconds": {},
               "judge": json.loads((directory / "judge.json").read_text(encoding="utf-8"))["label"], "benchmarks":
               json.loads((directory / "benchmarks.json").read_text(encoding="utf-8"))}
    tables = tables_from_files(directory, profile)
    return BenchmarkRun(run["benchmarks"], run["judgments"], tables,
                        summary_table(tables, run["judge"], list(policies)), run["judge"], directory, run["seconds"])


def _answer_and_judge(profile, policies: dict, base: str, directory: Path, progress: bool) -> dict:
    """Generate every policy's answers and the baseline's, judge them, write answer and judgment files."""
    cfg = profile.evals
    gen_cfg = replace(profile.generation, n=1, temperature=cfg.temperature, top_p=cfg.top_p,
                      max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, seeds=())
    benchmarks = load_benchmarks(profile)
    seconds, answers = {}, {}
    for name, (model, tok) in policies.items():
        start = time.time()
        answers[name] = generate_answers(model, tok, benchmarks, name, gen_cfg, seed=cfg.seed, progress=progress)
        write_answers(directory / "answers", name, answers[name])
        seconds[f"generate {name}"] = time.time() - start
    if cfg.baseline == "policy":
        model, tok = policies[base]
        baseline_name = f"{base} (second sample)"
        start = time.time()
        pairwise_only = {k: v for k, v in benchmarks.items() if k != "mt_bench"}
        baseline = generate_answers(model, tok, pairwise_only, baseline_name, gen_cfg, seed=cfg.seed + 1,
                                    progress=progress)
        seconds[f"generate {baseline_name}"] = time.time() - start
    elif cfg.baseline == "reference":
        baseline_name = "reference"
        baseline = reference_answers(benchmarks, baseline_name)
    else:
        raise ValueError(f"unknown baseline {cfg.baseline!r}; expected 'policy' or 'reference'")
    write_answers(directory / "answers", baseline_name, baseline)
    judges = make_judges(profile)
    start = time.time()
    judgments = {"alpaca_eval": [], "arena_hard": [], "mt_bench": []}
    for name in policies:
        judgments["alpaca_eval"] += judge_alpaca_eval(answers[name]["alpaca_eval"], baseline["alpaca_eval"],
                                                      benchmarks["alpaca_eval"], judges["pairwise"], seed=cfg.seed,
                                                      progress=progress)
        judgments["arena_hard"] += judge_arena_hard(answers[name]["arena_hard"], baseline["arena_hard"],
                                                    benchmarks["arena_hard"], judges["pairwise"], progress=progress)
        judgments["mt_bench"] += judge_mt_bench(answers[name]["mt_bench"], benchmarks["mt_bench"],
                                                judges["single"], progress=progress)
    seconds["judge"] = time.time() - start
    for bench, path in judgment_paths(directory).items():
        write_records(path, judgments[bench])
    label = judge_label(judges)
    write_text(directory / "judge.json", json.dumps({"label": label}))
    write_text(directory / "benchmarks.json", json.dumps(benchmarks, ensure_ascii=False))
    return {"benchmarks": benchmarks, "judgments": judgments, "judge": label, "seconds": seconds}


def judgment_paths(directory: str | Path) -> dict[str, Path]:
    d = Path(directory) / "judgments"
    return {"alpaca_eval": d / "alpaca_eval_annotations.json", "arena_hard": d / "arena_hard_judgments.jsonl",
            "mt_bench": d / "mt_bench_judgments.jsonl"}


def tables_from_files(directory: str | Path, profile) -> dict[str, pd.DataFrame]:
    """Recompute every table from the judgment files alone (no model, no judge), with the profile's bootstrap,
    its df_gamed (the official LC when given) and the benchmarks' items asked (missing answers counted)."""
    cfg, paths = profile.evals, judgment_paths(directory)
    items = json.loads((Path(directory) / "benchmarks.json").read_text(encoding="utf-8"))
    return score_tables(*(read_records(paths[b]) for b in ("alpaca_eval", "arena_hard", "mt_bench")),
                        rounds=cfg.bootstrap_rounds, seed=cfg.seed, df_gamed=_df_gamed(profile), items=items)


def _df_gamed(profile):
    """The profile's df_gamed.csv (evals.df_gamed), or None; a failure names the recipe key."""
    if profile.evals.df_gamed is None:
        return None
    with recipe_key(profile, "evals.df_gamed"):
        return alpaca_eval_df_gamed(profile.evals.df_gamed)
