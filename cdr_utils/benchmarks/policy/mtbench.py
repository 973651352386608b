"""MT-Bench metrics: parse single-answer judge ratings and average them per turn and overall. Units: the judge's
1-10 rating scale.

Source: Zheng et al. 2023 (arXiv 2306.05685); FastChat (lm-sys/FastChat), `fastchat/llm_judge/common.py` at
commit 81785d7ed1d6afb966b464a8ee4689b7413e6313 (`one_score_pattern`, `one_score_pattern_backup`, the rating
block of `run_judge_single`) and `fastchat/llm_judge/show_result.py` (`display_result_single`).

parse_rating parses exactly as FastChat by default: the first match of `\\[\\[(\\d+\\.?\\d*)\\]\\]`, else the
first match of `\\[(\\d+\\.?\\d*)\\]`, read with `ast.literal_eval` (so "[[8]]" -> 8, "[[8.]]" -> 8.0,
"[[8.5]]" -> 8.5, "[[42]]" -> 42), -1 when neither matches. Two inputs FastChat does not handle: a group
`literal_eval` rejects ("[[08]]": FastChat raises SyntaxError) and None give -1 here. `lenient=True` also reads
what judges write when they ignore the format ("[[ 7 ]]", "Rating: 7", "Rating: 7/10", "Score: 7"), tried
only after FastChat's two patterns.

mt_bench_scores averages as FastChat's show_result: per model, "turn 1" and "turn 2" are the means of that
turn's ratings and "overall" the mean of all its (question, turn) ratings, leaving out unparseable ones (-1).
Deliberate deviation: a parsed rating outside 1-10 (e.g. 0 or 42, which FastChat averages in) is left out too
and counted in "out_of_range", next to "unparsed"; "excluded" is their sum.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable

import pandas as pd

from . import checks

ONE_SCORE_PATTERN = re.compile(r"\[\[(\d+\.?\d*)\]\]")  # FastChat common.py one_score_pattern
ONE_SCORE_PATTERN_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")  # FastChat common.py one_score_pattern_backup
_NUMBER = r"(\d+(?:\.\d+)?)"
LENIENT_PATTERNS = (re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]"),  # [[ 7 ]]
                    re.compile(r"\[\s*" + _NUMBER + r"\s*\]"),  # [ 7 ]
                    re.compile(r"(?:rating|score)\s*[:=]\s*\**\s*" + _NUMBER + r"(?:\s*/\s*10)?", re.I))
UNPARSED = -1


def _literal(group: str):
    try:
        return ast.literal_eval(group)
    except (SyntaxError, ValueError):  # e.g. "08": FastChat raises here; we call it unparseable
        return UNPARSED


def parse_rating(text: str | None, *, lenient: bool = False) -> int | float:
    """The judge's rating in `text` as FastChat reads it (int or float, any size), or -1 when unparseable.
    lenient=True: when FastChat's patterns find nothing, also accept "[[ 7 ]]", "Rating: 7", "Rating: 7/10"
    (and read "[[08]]" as 8.0)."""
    if not isinstance(text, str) or not text:
        return UNPARSED
    match = ONE_SCORE_PATTERN.search(text) or ONE_SCORE_PATTERN_BACKUP.search(text)
    if match:
        value = _literal(match.group(1))
        return float(match.group(1)) if value == UNPARSED and lenient else value
    if lenient:
        for pattern in LENIENT_PATTERNS:
            match = pattern.search(text)
            if match:
                return float(match.group(1))
    return UNPARSED


def _rating(rec: dict, lenient: bool):
    score = rec.get("score")
    if score is None or pd.isna(score) or score == UNPARSED:
        score = parse_rating(rec.get("judgment"), lenient=lenient)
    score = pd.to_numeric(score, errors="coerce")
    return UNPARSED if pd.isna(score) else float(score)


def _problems(r: dict, turns: tuple) -> list:
    out = checks.text(r, "model", empty_ok=False) + checks.key(r, "question_id")
    turn = r.get("turn")
    if checks.absent(turn):
        out.append(("turn", "missing field"))
    elif not checks.number(turn) or float(turn) not in turns:
        out.append(("turn", f"{turn!r:.40} is not a turn of this benchmark (turns {', '.join(map(str, turns))})"))
    score, judgment = r.get("score"), r.get("judgment")
    if not checks.absent(score) and not checks.number(score):
        out.append(("score", "expected the parsed rating (a number, -1 = unparseable) or null, got "
                             f"{checks.kind(score)} {score!r:.40}"))
    if not checks.absent(judgment) and not isinstance(judgment, str):
        out.append(("judgment", f"expected the judge's text, got {checks.kind(judgment)}"))
    if "score" not in r and "judgment" not in r:
        out.append(("score", "missing field (and no 'judgment' to parse it from)"))
    return out


def ratings(judgments: Iterable[dict], *, turns: tuple = (1, 2), lenient: bool = False) -> pd.DataFrame:
    """Checked records -> (model, question_id, turn, score) rows, or BadRecords naming every bad record: a
    missing or wrong-typed field, a turn outside `turns`, a (model, question, turn) judged twice."""
    recs = checks.records(judgments, lambda r: _problems(r, turns), "MT-Bench judgments",
                          unique=("model", "question_id", "turn"), what="one turn judged twice")
    rows = [{"model": r["model"], "question_id": r["question_id"], "turn": int(r["turn"]),
             "score": _rating(r, lenient)} for r in recs]
    return pd.DataFrame(rows, columns=["model", "question_id", "turn", "score"])


def table(df: pd.DataFrame, turns: tuple = (1, 2)) -> pd.DataFrame:
    """The averages of checked rating rows (ratings()), one row per model: a bootstrap round's statistic."""
    out = {}
    for model, part in df.groupby("model", sort=False):
        unparsed = part["score"] == UNPARSED
        out_of_range = ~unparsed & ~part["score"].between(1.0, 10.0)
        ok = part[~unparsed & ~out_of_range]
        row = {f"turn {t}": ok.loc[ok["turn"] == t, "score"].mean() for t in turns}
        row.update(overall=ok["score"].mean(), rated=len(ok), unparsed=int(unparsed.sum()),
                   out_of_range=int(out_of_range.sum()), excluded=int(unparsed.sum() + out_of_range.sum()))
        out[model] = row
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("model")


def mt_bench_scores(judgments: Iterable[dict], *, questions: Iterable | None = None, turns: tuple = (1, 2),
                    require_complete: bool = False, lenient: bool = False) -> pd.DataFrame:
    """Records {"question_id", "model", "turn" (1 or 2), "score" (a parsed rating, -1 = unparseable) or
    "judgment" (the judge's text, parsed when there is no score)} -> one row per model: "turn 1", "turn 2",
    "overall" (mean 1-10 ratings), "rated" (ratings averaged), "unparsed", "out_of_range" (ratings outside
    1-10, left out: see the module docstring), "excluded" (unparsed + out_of_range). A bad record (a missing
    field, a turn other than `turns`, a turn judged twice) raises chat.BadRecords naming it and the field.

    questions: the expected question ids (or the benchmark's items); then "missing" (how many expected
    questions lack a record for one of `turns`) and "missing_ids" (those ids, sorted as given) per model, and
    require_complete=True raises a RecordError naming each incomplete model and its missing ids. lenient:
    passed to parse_rating."""
    df = ratings(judgments, turns=turns, lenient=lenient)
    out = table(df, turns)
    present = {m: {(q, t) for q, t in zip(p["question_id"], p["turn"])} for m, p in df.groupby("model", sort=False)}
    expected = checks.item_keys(questions, "question_id")
    lacking = checks.missing({m: {q for q in (expected or []) if all((q, t) in have for t in turns)}
                              for m, have in present.items()}, expected, "MT-Bench", "question_id", "question",
                             require_complete)
    if expected is not None:
        out["missing"] = [len(lacking[m]) for m in out.index]
        out["missing_ids"] = pd.Series([lacking[m] for m in out.index], index=out.index, dtype=object)
    return out
