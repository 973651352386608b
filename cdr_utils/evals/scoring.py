"""Answers + a judge -> judgment records (each benchmark's own layout) -> metric tables with intervals.

Judgment files are the interface: every metric in winrate.py / arena.py / mtbench.py is a pure function of
them, so a table can be recomputed from committed judgment files without any model or judge.
- AlpacaEval: alpaca_eval's annotation records (output_1 = baseline, output_2 = model, preference 1/2/1.5,
  None when the verdict is unparseable); the model's position (A or B) is drawn per instruction from the
  seed, as alpaca_eval randomizes it, and recorded.
- Arena-Hard: {uid, model, baseline, judge, games: [game 1 (baseline = A), game 2 (model = A)]}, each game
  {score: verdict or None, judgment: the judge's text}.
- MT-Bench: {question_id, model, turn, judge, judgment, score} (single-answer grading, turn 2 judged with
  the whole conversation).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
from tqdm.auto import tqdm

from ..stats import bootstrap, percentile_interval
from .arena import arena_hard_scores, battles_from_games
from .judges import parse_verdict
from .mtbench import mt_bench_scores, parse_rating
from .winrate import alpaca_eval_table

_PREFERENCE = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}


def _model_first(seed: int, key) -> bool:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[0] % 2 == 0


def judge_alpaca_eval(answers: list[dict], baseline: list[dict], items: list[dict], judge, *, seed: int = 0,
                      progress: bool = True) -> list[dict]:
    """AlpacaEval annotation records for one model's outputs against the baseline's (matched by instruction)."""
    base = {b["instruction"]: b for b in baseline}
    refs = {it["instruction"]: it.get("reference") for it in items}
    out = []
    for ans in tqdm(answers, desc=f"AlpacaEval judging {answers[0]['generator'] if answers else ''}",
                    disable=not progress):
        b = base[ans["instruction"]]
        first = _model_first(seed, ans["instruction"])
        a_text, b_text = (ans["output"], b["output"]) if first else (b["output"], ans["output"])
        text = judge.pairwise(ans["instruction"], a_text, b_text, refs.get(ans["instruction"]))
        winner = _PREFERENCE.get(parse_verdict(text))
        model_won = {"A": first, "B": not first}.get(winner)
        preference = None if winner is None else (1.5 if winner == "tie" else (2.0 if model_won else 1.0))
        out.append({"instruction": ans["instruction"], "output_1": b["output"], "output_2": ans["output"],
                    "generator_1": b["generator"], "generator_2": ans["generator"], "annotator": judge.name,
                    "judge_kind": judge.kind, "model_position": "A" if first else "B", "raw_judgment": text,
                    "preference": preference})
    return out


def judge_arena_hard(answers: list[dict], baseline: list[dict], items: list[dict], judge, *,
                     progress: bool = True) -> list[dict]:
    """Arena-Hard judgment records: two games per question, the positions swapped."""
    base = {b["uid"]: b for b in baseline}
    refs = {it["uid"]: it.get("reference") for it in items}
    out = []
    for ans in tqdm(answers, desc=f"Arena-Hard judging {answers[0]['model'] if answers else ''}",
                    disable=not progress):
        question = ans["messages"][0]["content"]
        mine, theirs = ans["messages"][-1]["content"]["answer"], base[ans["uid"]]["messages"][-1]["content"]["answer"]
        games = []
        for a_text, b_text in ((theirs, mine), (mine, theirs)):
            text = judge.pairwise(question, a_text, b_text, refs.get(ans["uid"]))
            games.append({"score": parse_verdict(text), "judgment": text})
        out.append({"uid": ans["uid"], "model": ans["model"], "baseline": base[ans["uid"]]["model"],
                    "judge": judge.name, "judge_kind": judge.kind, "games": games})
    return out


def judge_mt_bench(answers: list[dict], items: list[dict], judge, *, progress: bool = True) -> list[dict]:
    """MT-Bench single-answer judgments: one record per (question, turn)."""
    by_id = {it["question_id"]: it for it in items}
    out = []
    for ans in tqdm(answers, desc=f"MT-Bench judging {answers[0]['model_id'] if answers else ''}",
                    disable=not progress):
        it, turns = by_id[ans["question_id"]], ans["choices"][0]["turns"]
        refs = it.get("reference") or [None, None]
        texts = [judge.single(it["turns"][0], turns[0], refs[0]),
                 judge.multi_turn(it["turns"], turns, refs[1])]
        out += [{"question_id": ans["question_id"], "model": ans["model_id"], "turn": t + 1, "judge": judge.name,
                 "judge_kind": judge.kind, "judgment": text, "score": parse_rating(text)}
                for t, text in enumerate(texts)]
    return out


def reference_answers(benchmarks: dict[str, list[dict]], generator: str) -> dict[str, list[dict]]:
    """The benchmarks' own baseline answers (their references) in answer-file layout, for AlpacaEval and
    Arena-Hard: the official comparison (paper profile)."""
    return {"alpaca_eval": [{"instruction": it["instruction"], "output": it["reference"], "generator": generator}
                            for it in benchmarks.get("alpaca_eval", [])],
            "arena_hard": [{"uid": it["uid"], "model": generator, "messages": [
                {"role": "user", "content": it["prompt"]},
                {"role": "assistant", "content": {"answer": it["reference"] or ""}}]}
                for it in benchmarks.get("arena_hard", [])]}


def bootstrap_interval(groups: list, statistic: Callable[[list], float], *, rounds: int = 100, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of `statistic` over resamples (with replacement, numpy default_rng(seed)) of
    `groups` (e.g. one entry per instruction or question)."""
    values = bootstrap(lambda rows: statistic([groups[k] for k in rows]), len(groups), rounds=rounds, seed=seed)
    return percentile_interval(values, level)


def score_tables(alpaca: list[dict], arena: list[dict], mt: list[dict], *, rounds: int = 100,
                 seed: int = 0) -> dict[str, pd.DataFrame]:
    """The three benchmark tables from judgment records, each with a seeded bootstrap interval: AlpacaEval
    LC win rate (resampling instructions; difficulty refitted per resample), Arena-Hard score (resampling
    battles, arena-hard's convention), MT-Bench overall rating (resampling questions)."""
    tables = {}
    if alpaca:
        table = alpaca_eval_table(alpaca)
        by_instruction = pd.DataFrame(alpaca).groupby("instruction", sort=True)
        groups = [g for _, g in by_instruction]
        for model in table.index:
            lo, hi = bootstrap_interval(groups, lambda gs: alpaca_eval_table(pd.concat(gs)).loc[model, "LC win rate"],
                                        rounds=rounds, seed=seed)
            table.loc[model, ["LC lower", "LC upper"]] = lo, hi
        tables["alpaca_eval"] = table
    if arena:
        tables["arena_hard"] = arena_hard_scores(battles_from_games(arena), arena[0]["baseline"], rounds=rounds,
                                                 seed=seed)
    if mt:
        table = mt_bench_scores(mt)
        df = pd.DataFrame(mt)
        for model in table.index:
            groups = [g for _, g in df[df["model"] == model].groupby("question_id")]
            lo, hi = bootstrap_interval(groups, lambda gs: mt_bench_scores(pd.concat(gs).to_dict("records"))
                                        ["overall"].iloc[0], rounds=rounds, seed=seed)
            table.loc[model, ["lower", "upper"]] = lo, hi
        tables["mt_bench"] = table
    return tables


def summary_table(tables: dict[str, pd.DataFrame], judge_label: str, models: list | None = None) -> pd.DataFrame:
    """One row per evaluated model (default: every model in the tables; Arena-Hard's baseline scores 50 by
    definition): the headline number of each benchmark with its 95 % interval in brackets."""
    rows = {m: {} for m in models or []}
    for name, t in tables.items():
        for model, r in t.iterrows():
            if models is not None and model not in rows:
                continue
            row = rows.setdefault(model, {})
            if name == "alpaca_eval":
                row["AlpacaEval 2 LC (%)"] = f"{r['LC win rate']:.1f} [{r['LC lower']:.1f}, {r['LC upper']:.1f}]"
                row["AlpacaEval 2 WR (%)"] = f"{r['win rate']:.1f}"
            elif name == "arena_hard":
                row["Arena-Hard (%)"] = f"{r['score']:.1f} [{r['lower']:.1f}, {r['upper']:.1f}]"
            else:
                row["MT-Bench (1-10)"] = f"{r['overall']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]"
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"model (judge: {judge_label})")
