"""Answers + a judge -> judgment records (each benchmark's own layout) -> metric tables with intervals.

Judgment files are the interface: every metric in winrate.py / arena.py / mtbench.py is a pure function of
them, so a table can be recomputed from committed judgment files without any model or judge.
- AlpacaEval: alpaca_eval's annotation records (output_1 = baseline, output_2 = model, preference 1/2/1.5,
  None when the verdict is unparseable, and `index`: the instruction's position in AlpacaEval's 805-instruction
  set, the key into df_gamed.csv, so the LC fit finds each instruction's difficulty in any subset, order or
  bootstrap resample); the model's position (A or B) is drawn per instruction from the seed, as alpaca_eval
  randomizes it, and recorded.
- Arena-Hard: {uid, model, baseline, judge, games: [game 1 (baseline = A), game 2 (model = A)]}, each game
  {score: verdict or None, judgment: the judge's text}.
- MT-Bench: {question_id, model, turn, judge, judgment, score} (single-answer grading, turn 2 judged with
  the whole conversation).

Tables (score_tables): AlpacaEval's LC win rate in the variant the inputs allow (winrate.py: the official
"length_controlled_v1" when df_gamed.csv is given, else a named stand-in; the table's "LC variant" column and
attrs say which, and summary_table's column header names it), Arena-Hard's score, MT-Bench's rating with the
unparsed, out-of-range and missing ratings counted. Units: percent (AlpacaEval, Arena-Hard), 1-10 (MT-Bench);
intervals: 95 % seeded bootstrap percentiles.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ...stats import bootstrap, percentile_interval
from .arena import arena_hard_scores, battles_from_games
from .judges import parse_verdict
from .mtbench import mt_bench_scores, parse_rating
from .winrate import alpaca_eval_table, lc_column, load_df_gamed

_PREFERENCE = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}


def _model_first(seed: int, key) -> bool:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[0] % 2 == 0


def judge_alpaca_eval(answers: list[dict], baseline: list[dict], items: list[dict], judge, *, seed: int = 0,
                      progress: bool = True) -> list[dict]:
    """AlpacaEval annotation records for one model's outputs against the baseline's (matched by instruction).
    items: the benchmark items (answers.alpaca_eval_items); their `id` (the position in AlpacaEval's 805
    instructions) becomes each record's `index`."""
    base = {b["instruction"]: b for b in baseline}
    refs = {it["instruction"]: it.get("reference") for it in items}
    index = {it["instruction"]: int(it["id"]) for it in items if it.get("id") is not None}
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
                    "preference": preference,
                    **({"index": index[ans["instruction"]]} if ans["instruction"] in index else {})})
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


def _alpaca_with_intervals(alpaca: list[dict], df_gamed, rounds: int, seed: int) -> pd.DataFrame:
    """alpaca_eval_table plus "LC lower" / "LC upper": the percentile interval of each model's LC win rate over
    `rounds` resamples of the instructions (all models' records of an instruction move together). Each round's
    table is computed once for every model: the same resamples and numbers as one bootstrap per model with the
    same seed (numpy default_rng(seed) draws the same indices for each), at 1 / n_models of the cost."""
    table = alpaca_eval_table(alpaca, df_gamed=df_gamed)
    groups = [g for _, g in pd.DataFrame(alpaca).groupby("instruction", sort=True)]
    models = list(table.index)

    def lc_of_every_model(rows):
        return alpaca_eval_table(pd.concat([groups[k] for k in rows]), df_gamed=df_gamed)["LC win rate"].reindex(
            models).to_numpy(dtype=float)

    values = bootstrap(lc_of_every_model, len(groups), rounds=rounds, seed=seed).reshape(rounds, len(models))
    for k, model in enumerate(models):
        table.loc[model, ["LC lower", "LC upper"]] = percentile_interval(values[:, k])
    return table


def score_tables(alpaca: list[dict], arena: list[dict], mt: list[dict], *, rounds: int = 100, seed: int = 0,
                 df_gamed: pd.DataFrame | str | Path | None = None,
                 mt_bench_questions: list | None = None) -> dict[str, pd.DataFrame]:
    """The three benchmark tables from judgment records, each with a seeded bootstrap interval: AlpacaEval
    LC win rate (resampling instructions; the fit redone per resample), Arena-Hard score (resampling
    battles, arena-hard's convention), MT-Bench overall rating (resampling questions).

    df_gamed: alpaca_eval's df_gamed.csv (a DataFrame or a path; answers.alpaca_eval_df_gamed fetches it) ->
    the official LC "length_controlled_v1"; the records must then carry `index` (judge_alpaca_eval writes it).
    Without it the LC is the named stand-in of winrate.alpaca_eval_table. The AlpacaEval table keeps its
    "LC variant" column; attrs["lc_variant"] / ["lc_column"] name it for labels. mt_bench_questions: the
    benchmark's question ids (e.g. [it["question_id"] for it in items]) -> "missing" / "missing_ids" counts
    per model next to "unparsed" and "out_of_range"."""
    tables = {}
    if alpaca:
        if df_gamed is not None:
            df_gamed = load_df_gamed(df_gamed)  # read and checked once, not once per resample
            lacking = [k for k, r in enumerate(alpaca) if r.get("index") is None]
            if lacking:
                raise ValueError(f"{len(lacking)} AlpacaEval record(s) lack 'index' (first: position {lacking[0]}, "
                                 f"instruction {alpaca[lacking[0]].get('instruction', '')[:60]!r}): with df_gamed "
                                 "each record needs its instruction's position in AlpacaEval's 805 instructions "
                                 "(judge_alpaca_eval writes it from the items' id)")
        tables["alpaca_eval"] = _alpaca_with_intervals(alpaca, df_gamed, rounds, seed)
    if arena:
        tables["arena_hard"] = arena_hard_scores(battles_from_games(arena), arena[0]["baseline"], rounds=rounds,
                                                 seed=seed)
    if mt:
        table = mt_bench_scores(mt, questions=mt_bench_questions)
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
    definition): the headline number of each benchmark with its 95 % interval in brackets. The AlpacaEval LC
    column is headed by its variant (lc_column: "AlpacaEval 2 LC (%)" only for length_controlled_v1, e.g.
    "LC with leave-one-model-out difficulty, no gamed-baseline rows (%)" otherwise); "MT-Bench left out"
    counts the ratings the MT-Bench average leaves out (unparsed, out of range) and the missing questions."""
    rows = {m: {} for m in models or []}
    for name, t in tables.items():
        for model, r in t.iterrows():
            if models is not None and model not in rows:
                continue
            row = rows.setdefault(model, {})
            if name == "alpaca_eval":
                row[lc_column(t)] = f"{r['LC win rate']:.1f} [{r['LC lower']:.1f}, {r['LC upper']:.1f}]"
                row["AlpacaEval 2 WR (%)"] = f"{r['win rate']:.1f}"
            elif name == "arena_hard":
                row["Arena-Hard (%)"] = f"{r['score']:.1f} [{r['lower']:.1f}, {r['upper']:.1f}]"
            else:
                row["MT-Bench (1-10)"] = f"{r['overall']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]"
                left_out = [f"{int(r[k])} {k.replace('_', ' ')}" for k in ("unparsed", "out_of_range", "missing")
                            if k in r and not pd.isna(r[k])]
                row["MT-Bench left out"] = ", ".join(left_out)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"model (judge: {judge_label})")
