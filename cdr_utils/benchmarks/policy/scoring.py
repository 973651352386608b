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

Bad input (checks.py): the judge_* functions check answers, baseline answers and items before any judge call,
and the tables check every judgment record; a bad or duplicated record raises chat.BadRecords naming it (its
position), the field and the problem. What a table leaves out is counted per model, never dropped silently:
unparseable verdicts / ratings, out-of-range ratings, and (given the benchmark's items) missing answers.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ...chat import BadRecords, RecordError
from ...stats import bootstrap, percentile_interval
from . import checks
from .arena import arena_hard_table
from .judges import parse_verdict
from .mtbench import mt_bench_scores, parse_rating, ratings
from .mtbench import table as mt_table
from .winrate import _table as alpaca_table
from .winrate import alpaca_eval_table, check_records, lc_column, load_df_gamed

_PREFERENCE = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}


def _model_first(seed: int, key) -> bool:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[0] % 2 == 0


def judge_alpaca_eval(answers: list[dict], baseline: list[dict], items: list[dict], judge, *, seed: int = 0,
                      progress: bool = True) -> list[dict]:
    """AlpacaEval annotation records for one model's outputs against the baseline's (matched by instruction).
    items: the benchmark items (answers.alpaca_eval_items); their `id` (the position in AlpacaEval's 805
    instructions) becomes each record's `index`."""
    _check_pairwise(answers, baseline, items, "instruction", _alpaca_answer, "AlpacaEval")
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
    _check_pairwise(answers, baseline, items, "uid", _arena_answer, "Arena-Hard")
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
    """MT-Bench single-answer judgments: one record per (question, turn). Every answer has both turns (a
    one-turn answer is refused: turn 2 would be judged on turn 1's text), checked before any judge call."""
    items = checks.records(items, _mt_item, "MT-Bench items", unique=("question_id",),
                           what="one question listed twice")
    by_id = {it["question_id"]: it for it in items}
    checks.records(answers, lambda r: _mt_answer(r, by_id), "MT-Bench answers", unique=("model_id", "question_id"),
                   what="one question answered twice")
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


def _alpaca_item(r: dict) -> list:
    i = r.get("id")
    bad = not checks.absent(i) and (not checks.number(i) or not float(i).is_integer())
    return checks.text(r, "instruction") + ([("id", f"expected the instruction's position in AlpacaEval's 805 "
                                                    f"(an integer) or null, got {i!r:.40}")] if bad else [])


def _alpaca_answer(r: dict) -> list:
    return checks.text(r, "instruction") + checks.text(r, "output") + checks.text(r, "generator", empty_ok=False)


def _arena_answer(r: dict) -> list:
    out = checks.key(r, "uid") + checks.text(r, "model", empty_ok=False)
    msgs = r.get("messages")
    if not isinstance(msgs, list) or len(msgs) < 2 or not all(isinstance(m, dict) for m in msgs):
        return out + [("messages", f"expected [question, answer] messages, got {checks.kind(msgs)} {msgs!r:.60}")]
    if not isinstance(msgs[0].get("content"), str):
        out.append(("messages[0].content", "expected the question's text"))
    answer = msgs[-1].get("content")
    if not isinstance(answer, dict) or not isinstance(answer.get("answer"), str):
        out.append((f"messages[{len(msgs) - 1}].content.answer", "expected the answer's text (arena-hard's "
                    f"{{'answer': ...}}), got {checks.kind(answer)} {answer!r:.40}"))
    return out


def _check_pairwise(answers, baseline, items, key: str, answer_checks, bench: str) -> None:
    """Items, answers and baseline answers checked, and every answer's item in the items and the baseline, before
    any judge call: BadRecords naming each bad record, its field and the item."""
    model = "generator" if key == "instruction" else "model"
    items = checks.records(items, _alpaca_item if key == "instruction" else lambda r: checks.key(r, key),
                           f"{bench} items", unique=(key,), what="one item listed twice")
    baseline = checks.records(baseline, answer_checks, f"{bench} baseline answers", unique=(key,),
                               what="one item answered twice")
    answers = checks.records(answers, answer_checks, f"{bench} answers", unique=(model, key),
                              what="one item answered twice")
    known, base = {it[key] for it in items}, {b[key] for b in baseline}
    errors = [RecordError(i, key, f"{a[key]!r:.80} " + ("has no baseline answer" if a[key] in known else
                          "is none of the benchmark's items"), where=f"{bench} answers")
              for i, a in enumerate(answers) if a[key] not in known or a[key] not in base]
    if errors:
        raise BadRecords(errors)


def _mt_item(r: dict) -> list:
    out = checks.key(r, "question_id")
    turns, refs = r.get("turns"), r.get("reference")
    if not isinstance(turns, list) or len(turns) != 2 or not all(isinstance(t, str) for t in turns):
        out.append(("turns", f"expected the two questions' texts, got {checks.kind(turns)} {turns!r:.60}"))
    if refs is not None and (not isinstance(refs, list) or len(refs) < 2):
        out.append(("reference", f"expected null or one reference per turn, got {checks.kind(refs)} {refs!r:.60}"))
    return out


def _mt_answer(r: dict, items: dict) -> list:
    out = checks.key(r, "question_id") + checks.text(r, "model_id", empty_ok=False)
    choices = r.get("choices")
    turns = choices[0].get("turns") if isinstance(choices, list) and choices and isinstance(choices[0], dict) \
        else None
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        out.append(("choices[0].turns", f"expected the answers' texts, got {checks.kind(choices)} {choices!r:.60}"))
    elif len(turns) != 2:
        out.append(("choices[0].turns", f"{len(turns)} turn(s); a two-turn question needs two answers (turn 2 is "
                                        "judged with the whole conversation)"))
    if not out and r["question_id"] not in items:
        out.append(("question_id", f"{r['question_id']!r} is none of the benchmark's questions"))
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


def _alpaca_with_intervals(alpaca: list[dict], df_gamed, rounds: int, seed: int, items=None,
                           require_complete: bool = False) -> pd.DataFrame:
    """alpaca_eval_table plus "LC lower" / "LC upper": the percentile interval of each model's LC win rate over
    `rounds` resamples of the instructions (all models' records of an instruction move together). Each round's
    table is computed once for every model: the same resamples and numbers as one bootstrap per model with the
    same seed (numpy default_rng(seed) draws the same indices for each), at 1 / n_models of the cost."""
    table = alpaca_eval_table(alpaca, df_gamed=df_gamed, items=items, require_complete=require_complete)
    groups = [g for _, g in pd.DataFrame(alpaca).groupby("instruction", sort=True)]
    models = list(table.index)

    def lc_of_every_model(rows):
        return alpaca_table(pd.concat([groups[k] for k in rows]), df_gamed=df_gamed)["LC win rate"].reindex(
            models).to_numpy(dtype=float)

    values = bootstrap(lc_of_every_model, len(groups), rounds=rounds, seed=seed).reshape(rounds, len(models))
    for k, model in enumerate(models):
        table.loc[model, ["LC lower", "LC upper"]] = percentile_interval(values[:, k])
    return table


def score_tables(alpaca: list[dict], arena: list[dict], mt: list[dict], *, rounds: int = 100, seed: int = 0,
                 df_gamed: pd.DataFrame | str | Path | None = None, mt_bench_questions: list | None = None,
                 items: dict | None = None, require_complete: bool = False) -> dict[str, pd.DataFrame]:
    """The three benchmark tables from judgment records, each with a seeded bootstrap interval: AlpacaEval
    LC win rate (resampling instructions; the fit redone per resample), Arena-Hard score (resampling
    battles, arena-hard's convention), MT-Bench overall rating (resampling questions).

    Every record is checked first: a bad one (a missing or wrong-typed field, a turn other than 1 or 2, a
    second baseline) or a duplicate (one model judged twice on an item or turn: refused, in all three) raises
    chat.BadRecords naming each record and field. Exclusions are counted per model: "unparsed" verdicts and
    ratings (and MT-Bench's "out_of_range"), and, with `items`, "missing" / "missing_ids".

    df_gamed: alpaca_eval's df_gamed.csv (a DataFrame or a path; answers.alpaca_eval_df_gamed fetches it) ->
    the official LC "length_controlled_v1"; the records must then carry `index` (judge_alpaca_eval writes it).
    Without it the LC is the named stand-in of winrate.alpaca_eval_table. The AlpacaEval table keeps its
    "LC variant" column; attrs["lc_variant"] / ["lc_column"] name it for labels. items: the benchmarks' items
    ({"alpaca_eval": [...], "arena_hard": [...], "mt_bench": [...]}, as load_benchmarks, or their keys:
    instructions, uids, question ids) -> the answers missing per model; mt_bench_questions: MT-Bench's alone.
    require_complete=True: a missing answer raises, naming the model and the items."""
    items = {**({"mt_bench": mt_bench_questions} if mt_bench_questions is not None else {}), **(items or {})}
    tables = {}
    if alpaca:
        if df_gamed is not None:
            df_gamed = load_df_gamed(df_gamed)  # read and checked once, not once per resample
        alpaca = check_records(alpaca, index=df_gamed is not None, unique=True)
        tables["alpaca_eval"] = _alpaca_with_intervals(alpaca, df_gamed, rounds, seed, items.get("alpaca_eval"),
                                                       require_complete)
    if arena:
        tables["arena_hard"] = arena_hard_table(arena, items=items.get("arena_hard"),
                                                require_complete=require_complete, rounds=rounds, seed=seed)
    if mt:
        table = mt_bench_scores(mt, questions=items.get("mt_bench"), require_complete=require_complete)
        df = ratings(mt)
        for model in table.index:
            groups = [g for _, g in df[df["model"] == model].groupby("question_id")]
            lo, hi = bootstrap_interval(groups, lambda gs: mt_table(pd.concat(gs))["overall"].iloc[0],
                                        rounds=rounds, seed=seed)
            table.loc[model, ["lower", "upper"]] = lo, hi
        tables["mt_bench"] = table
    return tables


def _left_out(r, column: str) -> dict:
    """{column: "2 unparsed, 3 missing"} for a pairwise benchmark's table with missing counts (items given)."""
    return {column: f"{int(r['unparsed'])} unparsed, {int(r['missing'])} missing"} if "missing" in r else {}


def summary_table(tables: dict[str, pd.DataFrame], judge_label: str, models: list | None = None) -> pd.DataFrame:
    """One row per evaluated model (default: every model in the tables; Arena-Hard's baseline scores 50 by
    definition): the headline number of each benchmark with its 95 % interval in brackets. The AlpacaEval LC
    column is headed by its variant (lc_column: "AlpacaEval 2 LC (%)" only for length_controlled_v1, e.g.
    "LC with leave-one-model-out difficulty, no gamed-baseline rows (%)" otherwise); "MT-Bench left out"
    counts the ratings the MT-Bench average leaves out (unparsed, out of range) and the missing questions;
    "AlpacaEval left out" / "Arena-Hard left out" (when the tables were given the items) the unparsed verdicts
    (Arena-Hard: games) and the missing answers."""
    rows = {m: {} for m in models or []}
    for name, t in tables.items():
        for model, r in t.iterrows():
            if models is not None and model not in rows:
                continue
            row = rows.setdefault(model, {})
            if name == "alpaca_eval":
                row[lc_column(t)] = f"{r['LC win rate']:.1f} [{r['LC lower']:.1f}, {r['LC upper']:.1f}]"
                row["AlpacaEval 2 WR (%)"] = f"{r['win rate']:.1f}"
                row.update(_left_out(r, "AlpacaEval left out"))
            elif name == "arena_hard":
                row["Arena-Hard (%)"] = f"{r['score']:.1f} [{r['lower']:.1f}, {r['upper']:.1f}]"
                row.update(_left_out(r, "Arena-Hard left out"))
            else:
                row["MT-Bench (1-10)"] = f"{r['overall']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]"
                left_out = [f"{int(r[k])} {k.replace('_', ' ')}" for k in ("unparsed", "out_of_range", "missing")
                            if k in r and not pd.isna(r[k])]
                row["MT-Bench left out"] = ", ".join(left_out)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"model (judge: {judge_label})")
