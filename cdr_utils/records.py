"""Record files and atomic writes: the one place the project reads and writes data files.

Formats, by suffix: `.json` (a list of records), `.jsonl` (one record per line), `.parquet`. JSONL is split on
"\\n" only: U+2028, U+2029 and U+0085 are legal inside JSON strings, and `str.splitlines` would cut a record
there (the project's own JSONL output writes them unescaped). Every write goes to a temporary file (or folder)
next to the target and is renamed into place, so a killed run leaves the old file or the new one, never half
of one.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

FORMATS = (".json", ".jsonl", ".parquet")


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


@contextlib.contextmanager
def atomic_dir(path):
    """`with atomic_dir(target) as tmp:` fill the folder `tmp`; on success it replaces `target` whole (an
    existing target is removed first), on an exception it is deleted and `target` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def read_jsonl(path) -> list[dict]:
    """Records of a JSONL file (split on "\\n" only; blank lines skipped)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8-sig").split("\n") if line.strip()]


def read_records(path) -> list[dict]:
    """A list of records from a .json (a list), .jsonl or .parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".json":
        records = json.loads(path.read_text(encoding="utf-8-sig"))
        if not isinstance(records, list):
            raise ValueError(f"{path}: expected a JSON list of records, got a {type(records).__name__}")
        return records
    raise ValueError(f"{path}: unknown format; expected one of {FORMATS}")


def jsonl_text(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_records(path, records) -> Path:
    """Write records (a list of dicts or a datasets.Dataset) atomically as .json, .jsonl or .parquet."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"{path}: unknown format; expected one of {FORMATS}")
    rows = records.to_list() if hasattr(records, "to_list") else list(records)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        return atomic_write(path, lambda f: pq.write_table(table, f))
    text = json.dumps(rows, indent=1, ensure_ascii=False) if path.suffix == ".json" else jsonl_text(rows)
    return write_text(path, text)
