"""Record files and atomic writes: the one place the project reads and writes data files.

Formats, by suffix: `.json` (a list of records), `.jsonl` (one record per line), `.parquet`. Text is UTF-8,
with or without a byte-order mark. JSONL is split on "\\n" only: U+2028, U+2029 and U+0085 are legal inside
JSON strings, and `str.splitlines` would cut a record there (the project's own JSONL output writes them
unescaped). A file that cannot be read as records (not UTF-8, not JSON, CSV under a .jsonl name, an object
where a list belongs, a truncated Parquet file) raises DataFileError naming the file and the line.

Every write goes to a temporary file `.<name>.<pid>.tmp` (or folder) next to the target and is renamed into
place, so a killed run leaves the old file or the new one, never half of one; `clean_leftovers` removes the
temporary files a killed run left behind. Written records carry the columns of all rows (a column missing from
some rows is null there), not only the first row's.
"""
from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
from pathlib import Path

FORMATS = (".json", ".jsonl", ".parquet")
SHOWN = 20  # problems listed in one error message; the total is always given


class DataFileError(ValueError):
    """A data file that cannot be read as records; the message names the file, the line and what to do."""


def atomic_write(path, write, *, binary: bool = True) -> Path:
    """Call write(f) on a temporary file beside `path`, flush it to disk, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path, text: str) -> Path:
    """Write a text file (UTF-8) atomically."""
    return atomic_write(path, lambda f: f.write(text), binary=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def clean_leftovers(path) -> list[Path]:
    """Remove the temporary files `.<name>.<pid>.tmp` that writes of `path` by processes no longer running left
    beside it (a run killed during its final write). Returns what was removed."""
    path = Path(path)
    return clean_stale_temps(path.parent, path.name)


def clean_stale_temps(folder, name: str | None = None) -> list[Path]:
    """Remove the temporary files (or folders) `.<name>.<pid>.tmp` in `folder` that writes by processes no longer
    running left behind; name None: the temporary files of any name. Returns what was removed."""
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f".{'*' if name is None else glob.escape(name)}.*.tmp"):
        stem, _, pid = tmp.name[1:-4].rpartition(".")
        if (name is None or stem == name) and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_dir(path, *, owner: bool = True):
    """`with atomic_dir(target) as tmp:` fill the folder `tmp`; on success it replaces `target` whole (an
    existing target is removed first), on an exception it is deleted and `target` is left as it was.
    owner=False: a process of a launch whose first process owns the folder (creates, swaps and removes it) and
    that only writes into it (e.g. a collective save): the same `tmp`, nothing else done."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if not owner:
        yield tmp
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


# -- reading ---------------------------------------------------------------------------------------------------
def _problems(path, problems: list[str], what: str) -> DataFileError:
    head = f"{path}: {problems[0]}" if len(problems) == 1 else (
        f"{path}: {len(problems)} {what}" + (f" (the first {SHOWN} below)" if len(problems) > SHOWN else "") + ":\n"
        + "\n".join(f"  {p}" for p in problems[:SHOWN]))
    return DataFileError(head)


def _decode(path: Path) -> str:
    """The file's text: UTF-8, a leading byte-order mark dropped; a clear error for anything else."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder; expected a data file ({', '.join(FORMATS)})")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataFileError(f"{path}: is UTF-16 (byte-order mark {data[:2].hex()}); save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise DataFileError(f"{path}: line {line}: not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
                            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    return text[1:] if text.startswith("\ufeff") else text


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _looks_like_csv(line: str) -> bool:
    s = line.strip()
    return bool(s) and s[0] not in "{[" and ("," in s or "\t" in s or ";" in s)


def read_jsonl(path) -> list[dict]:
    """Records of a JSONL file (split on "\\n" only; blank lines skipped)."""
    return _read_jsonl(Path(path))[0]


def _read_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    text = _decode(path)
    records, where, problems = [], [], []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            if not records and not problems and _looks_like_csv(line):
                raise DataFileError(f"{path}: line {n}: not JSON; this looks like CSV ({line.strip()[:60]!r}): "
                                    "convert it to JSONL, one JSON object per line") from None
            problems.append(f"line {n}, column {err.colno}: not valid JSON ({err.msg})")
            continue
        if not isinstance(rec, dict):
            hint = "; a JSON list of records belongs in a .json file" if isinstance(rec, list) and n == 1 else ""
            problems.append(f"line {n}: expected a JSON object (one record per line), got {_kind(rec)}{hint}")
            continue
        records.append(rec)
        where.append(f"line {n}")
    if problems:
        raise _problems(path, problems, "lines are not records")
    return records, where


def _read_json(path: Path) -> tuple[list[dict], list[str]]:
    text = _decode(path)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        hint = ""
        if err.msg == "Extra data" and err.lineno > 1:
            hint = "; one record per line is JSONL: name the file .jsonl"
        elif _looks_like_csv(text.split("\n", 1)[0]):
            hint = "; this looks like CSV: convert it to JSON"
        raise DataFileError(f"{path}: line {err.lineno}, column {err.colno}: not valid JSON ({err.msg}){hint}") \
            from None
    if not isinstance(records, list):
        hint = ""
        if isinstance(records, dict):
            lists = [k for k, v in records.items() if isinstance(v, list)]
            if len(lists) == 1:
                hint = f" (its key {lists[0]!r} holds a list: save that list alone)"
        raise DataFileError(f"{path}: expected a JSON list of records, got a {type(records).__name__}{hint}")
    problems = [f"item {k}: expected a JSON object (a record), got {_kind(r)}" for k, r in enumerate(records)
                if not isinstance(r, dict)]
    if problems:
        raise _problems(path, problems, "items are not records")
    return records, [f"item {k}" for k in range(len(records))]


def _read_parquet(path: Path) -> tuple[list[dict], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder; expected a data file ({', '.join(FORMATS)})")
    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise DataFileError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]}); it may be truncated, "
                            "damaged or in another format") from None
    return rows, [f"row {k}" for k in range(len(rows))]


def read_located(path) -> tuple[list[dict], list[str]]:
    """(records, where): the records of a .json / .jsonl / .parquet file and, for each, where it is in the file
    ("line 7" of a JSONL file, "item 6" of a JSON list, "row 6" of a Parquet file) for error messages."""
    path = Path(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".json":
        return _read_json(path)
    hint = " (convert CSV to JSONL, e.g. pandas.read_csv(f).to_json(out, orient='records', lines=True))" \
        if path.suffix.lower() in (".csv", ".tsv") else ""
    raise DataFileError(f"{path}: unknown format {path.suffix or '(no suffix)'!r}; expected one of {FORMATS}{hint}")


def read_records(path) -> list[dict]:
    """A list of records from a .json (a list), .jsonl or .parquet file."""
    return read_located(path)[0]


# -- writing ---------------------------------------------------------------------------------------------------
def all_columns(rows) -> list[str]:
    """The columns of all rows, in order of first appearance (not only the first row's)."""
    return list(dict.fromkeys(k for r in rows for k in r))


def with_all_columns(rows: list[dict]) -> list[dict]:
    """Rows that all carry every column of any row (None where a row lacks one), in one column order."""
    columns = all_columns(rows)
    if all(len(r) == len(columns) for r in rows):
        return rows
    return [{c: r.get(c) for c in columns} for r in rows]


def _type_name(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, float) and not math.isfinite(v):
        return "float"
    return type(v).__name__


def storage_problems(rows: list[dict], suffix: str, *, limit: int = SHOWN) -> list[tuple[int, str, str]]:
    """(row index, column, problem) for values the format `suffix` cannot store: Parquet needs one type per
    column (a number in one row and a string in another fails inside Arrow); JSON cannot hold bytes or dates."""
    out = []
    if suffix == ".parquet":
        import pyarrow as pa

        rows = with_all_columns(rows)
        for col in all_columns(rows):
            values = [r[col] for r in rows]
            try:
                pa.array(values)
                continue
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as err:
                lo, hi = 1, len(values)  # the shortest failing prefix: its last row is the first that cannot join
                while lo < hi:
                    mid = (lo + hi) // 2
                    try:
                        pa.array(values[:mid])
                        lo = mid + 1
                    except (pa.ArrowException, TypeError, ValueError, OverflowError):
                        hi = mid
                k = lo - 1
                first = next((_type_name(v) for v in values[:k] if v is not None), None)
                why = (f"holds {_type_name(values[k])} {values[k]!r:.40} where earlier rows hold {first}; "
                       "Parquet needs one type per column" if first and first != _type_name(values[k]) else
                       f"cannot be stored in Parquet ({str(err).splitlines()[0][:120]})")
                out.append((k, col, why + " (write .jsonl instead, or fix the value)"))
            if len(out) >= limit:
                break
    elif suffix in (".json", ".jsonl"):
        for k, r in enumerate(rows):
            for col, v in r.items():
                try:
                    json.dumps(v)
                except (TypeError, ValueError) as err:
                    out.append((k, col, f"cannot be stored in JSON ({err}); write .parquet instead"))
            if len(out) >= limit:
                break
    return out


def jsonl_text(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_records(path, records) -> Path:
    """Write records (a list of dicts or a datasets.Dataset) atomically as .json, .jsonl or .parquet, with the
    columns of all rows (missing values null)."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"{path}: unknown format; expected one of {FORMATS}")
    rows = with_all_columns(records.to_list() if hasattr(records, "to_list") else list(records))
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            k, col, why = storage_problems(rows, ".parquet", limit=1)[0]
            raise ValueError(f"{path}: row {k}, column {col!r} {why}") from None
        return atomic_write(path, lambda f: pq.write_table(table, f))
    text = json.dumps(rows, indent=1, ensure_ascii=False) if path.suffix == ".json" else jsonl_text(rows)
    return write_text(path, text)


# -- output paths, checked before any work ---------------------------------------------------------------------
def check_writable(path, *, label: str = "output", inputs=(), folder: bool = False) -> Path:
    """Raise ValueError (naming `label`, e.g. "--out x.jsonl") unless `path` can be written: not a folder (or,
    folder=True, not a file), not one of `inputs` (the input would be overwritten), and inside a folder this
    process can create files in (tried with a temporary file, removed again). Creates nothing."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise ValueError(f"{label}: is a folder; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{label}: is a file; a folder is written there")
    for src in filter(None, inputs):
        same = Path(src).resolve() == path.resolve() or (
            Path(src).exists() and path.exists() and os.path.samefile(src, path))  # also through a link
        if same:
            raise ValueError(f"{label}: is the input file {src}; it would be overwritten: write somewhere else")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{label}: {parent} is a file, not a folder")
    probe = parent / f".{path.name}.{os.getpid()}.probe.tmp"
    try:
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{label}: cannot write in the folder {parent} ({err.strerror or err})") from None
    return path
