"""MT-Bench metrics: parse single-answer judge ratings (1-10) and average them per turn and overall.

MT-Bench (Zheng et al. 2023, arXiv 2306.05685) asks a judge to rate each turn of a two-turn conversation on a
1-10 scale and to end with "[[rating]]". FastChat reads `[[8]]` / `[[8.5]]` and falls back to a single-bracket
`[8]`; judges that ignore the format often write "Rating: 8" or "Rating: 8/10", which we accept too. A rating
outside 1-10, or a judgment with none of these, is excluded from the averages and counted (FastChat writes -1
and filters it out). The overall score averages every parsed (question, turn) rating, as FastChat's
`show_result.py` does; per-turn scores average each turn's.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

_NUMBER = r"(\d+(?:\.\d+)?)"
PATTERNS = (re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]"),        # [[8]] , [[8.5]]   (the requested format)
            re.compile(r"\[\s*" + _NUMBER + r"\s*\]"),              # [8]               (FastChat's backup)
            re.compile(r"rating\s*[:=]\s*\**\s*" + _NUMBER + r"(?:\s*/\s*10)?", re.I))  # Rating: 8, Rating: 8/10


def parse_rating(text: str | None) -> float | None:
    """The judge's 1-10 rating in `text`, or None (no rating found, or outside 1-10). When the text holds
    several, the last one of the first pattern that matches counts (judges restate the scale before rating)."""
    if not text:
        return None
    for pattern in PATTERNS:
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def mt_bench_scores(judgments: Iterable[dict]) -> pd.DataFrame:
    """Records {"question_id", "model", "turn" (1 or 2), "judgment" (judge text) or "score"} -> one row per
    model: "turn 1", "turn 2", "overall" (mean 1-10 ratings), "rated" (turns with a rating) and "excluded"
    (turns whose judgment held no valid rating)."""
    rows = []
    for rec in judgments:
        score = rec.get("score")
        if score is None or score == -1:
            score = parse_rating(rec.get("judgment"))
        rows.append({"model": rec["model"], "turn": int(rec["turn"]), "score": score})
    df = pd.DataFrame(rows, columns=["model", "turn", "score"])
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    table = {}
    for model, part in df.groupby("model", sort=False):
        ok = part[part["score"].notna()]
        row = {f"turn {t}": ok.loc[ok["turn"] == t, "score"].mean() for t in (1, 2)}
        row.update(overall=ok["score"].mean(), rated=len(ok), excluded=int(part["score"].isna().sum()))
        table[model] = row
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("model")
