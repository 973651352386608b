"""Checks of answer and judgment records before any judge call or table: every bad record of an input at once, as
chat.BadRecords (the first 20 listed, with the count), each naming the record (its position in the input, or the
key in the problem), the field and what is wrong. Duplicates (the same model judged twice on one item / turn) are
refused, never counted twice or silently dropped; missing answers (`missing`) are counted against the benchmark's
items, and `require_complete` turns them into an error naming each model and its missing items.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import pandas as pd

from ...chat import BadRecords, RecordError

SHOWN = 20


def kind(value) -> str:
    return "null" if value is None else type(value).__name__


def absent(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text(r: dict, field: str, *, empty_ok: bool = True) -> list[tuple[str, str]]:
    """(field, problem) pairs for a string field."""
    v = r.get(field)
    if absent(v):
        return [(field, "missing field")]
    if not isinstance(v, str):
        return [(field, f"expected a string, got {kind(v)} {v!r:.40}")]
    return [] if empty_ok or v.strip() else [(field, "empty")]


def key(r: dict, field: str) -> list[tuple[str, str]]:
    """(field, problem) pairs for an id (a string or an integer)."""
    v = r.get(field)
    if absent(v):
        return [(field, "missing field")]
    if isinstance(v, bool) or not isinstance(v, (str, numbers.Integral)):
        return [(field, f"expected a string or an integer id, got {kind(v)} {v!r:.40}")]
    return []


def number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def records(rows, problems: Callable[[dict], list], source: str, *, unique: tuple | None = None,
            what: str = "") -> list[dict]:
    """rows (records or a DataFrame) as a list of dicts, or BadRecords listing every problem `problems(row)`
    finds, plus each row repeating an earlier row's `unique` fields (`what` says what that means, e.g. "one
    question judged twice")."""
    rows = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    errors, first = [], {}
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            errors.append(RecordError(i, "(row)", f"expected a record (a dict), got {kind(r)}", where=source))
            continue
        found = problems(r)
        errors += [RecordError(i, field, problem, where=source) for field, problem in found]
        if unique and not found:
            k = tuple(r.get(f) for f in unique)
            if k in first:
                errors.append(RecordError(i, unique[-1], "duplicate: " + ", ".join(
                    f"{f} {v!r:.60}" for f, v in zip(unique, k)) + f" as in record {first[k]} ({what}; refused rather "
                    "than counted twice or one of them dropped)", where=source))
            else:
                first[k] = i
    if errors:
        raise BadRecords(errors, None, SHOWN)
    return rows


def item_keys(items: Iterable | None, field: str) -> list | None:
    """The benchmark's item keys, in order: items as dicts (their `field`) or the keys themselves."""
    if items is None:
        return None
    return list(dict.fromkeys(it[field] if isinstance(it, dict) else it for it in items))


def missing(present: dict, expected: list | None, benchmark: str, field: str, noun: str,
            require_complete: bool) -> dict:
    """{model: [the expected keys it lacks]} ({} without `expected`); require_complete raises naming each
    incomplete model and its missing keys (the first 20 of each)."""
    if expected is None:
        if require_complete:
            raise ValueError(f"{benchmark}: require_complete=True needs the benchmark's items (the expected "
                             f"{field}s)")
        return {}
    out = {m: [k for k in expected if k not in have] for m, have in present.items()}
    lacking = {m: ks for m, ks in out.items() if ks}
    if require_complete and lacking:
        raise RecordError(None, field, "; ".join(
            f"model {m!r} lacks {len(ks)} {noun}(s) {ks[:SHOWN]}" + (" ..." if len(ks) > SHOWN else "")
            for m, ks in lacking.items()), where=f"{benchmark} judgments incomplete")
    return out
