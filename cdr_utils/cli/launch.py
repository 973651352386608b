"""Running a `cdr` command over the rows of a data file (and the checks of each command's rows), on one process or on every process of a launch
(torchrun / accelerate launch): reading and checking the rows and the output path before any model work, each
process taking every K-th row, every process prepared (models loaded, rows encoded) before any scores, a failure
anywhere stopping all, and the first process merging the parts in input order into one atomic output."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..chat import BadRecords, RecordError, as_messages
from ..hub import DatasetNotAvailable
from ..models import ModelNotAvailable
from ..records import (DataFileError, all_columns, check_writable, clean_leftovers, read_located, storage_problems,
                      write_records, write_text)

INPUT_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
                ModelNotAvailable, DatasetNotAvailable)  # exit status 2: bad input (other failures: 1)


class ProcessFailed(RuntimeError):
    """Another process of the launch stopped; `code` is its exit status (2: bad input)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# -- input and output ------------------------------------------------------------------------------------------
def read_rows(path) -> tuple[list[dict], list[str]]:
    """(records, where each is in the file) of a data file with at least one record."""
    rows, where = read_located(path)
    if not rows:
        raise DataFileError(f"{path}: no records")
    return rows, where


def messages_rows(rows: list[dict]) -> list[dict]:
    """Each `prompt` as a message list (a string becomes one user turn), in place."""
    for row in rows:
        if row.get("prompt") is not None:
            row["prompt"] = as_messages(row["prompt"])
    return rows


def check_outputs(rows, where, source, out, result_columns, *, overwrite: bool, hint: str = "") -> None:
    """Before any model work: `out` writable and not the input, the input without the columns the command adds
    (unless --overwrite-columns), and every input value storable in `out`'s format."""
    check_writable(out, label=f"--out {out}", inputs=[source])
    present = [c for c in result_columns if any(c in r for r in rows)]
    if present and not overwrite:
        first = next(i for i, r in enumerate(rows) if any(c in r for c in present))
        raise ValueError(f"{source}: already has the result column(s) {present} (e.g. {where[first]}): the output "
                         f"of an earlier run? Pass --overwrite-columns to replace them{hint}")
    problems = storage_problems([{k: v for k, v in r.items() if k not in present} for r in rows], Path(out).suffix)
    if problems:
        raise BadRecords([RecordError(rows[k].get("id"), col, f"{why} (--out {out})", where=f"{source} {where[k]}")
                          for k, col, why in problems], source)


def located(err: RecordError, rows, where, source) -> RecordError:
    """A scorer's RecordError (record = the row's index, or "index/response j") named by its place in the file."""
    index, _, rest = str(err.record).partition("/")
    if not index.isdigit() or int(index) >= len(rows):
        return err
    i, field = int(index), err.field
    if rest.startswith("response ") and field == "response" and isinstance(rows[i].get("responses"), list):
        field = f"responses[{rest.split()[1]}]"
    return RecordError(rows[i].get("id"), field, err.problem, where=f"{source} {where[i]}")


def _distributed():
    """(rank, world size, device) from the launcher's environment variables (torchrun and accelerate launch both
    set RANK / WORLD_SIZE / MASTER_ADDR): gloo on CPU, nccl on GPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1, None
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    return dist.get_rank(), dist.get_world_size(), device


def _agree(world: int, step):
    """step() on every process; when it fails on any, all of them stop here (the failing one with its own error,
    the others with ProcessFailed naming it), so no process scores or writes while another has stopped."""
    try:
        result, error = step(), None
    except Exception as err:  # noqa: BLE001 - handed to every process, then raised
        result, error = None, err
    if world > 1:
        notes = [None] * world
        bad_input = isinstance(error, INPUT_ERRORS)
        dist.all_gather_object(notes, None if error is None else (2, str(error)) if bad_input else
                               (1, f"{type(error).__name__}: {error}"))
        failed = [(r, n) for r, n in enumerate(notes) if n is not None]
        if failed and error is None:
            r, (code, note) = failed[0]
            raise ProcessFailed(f"process {r} of {world} stopped, so every process did: {note}", code)
    if error is not None:
        raise error
    return result


def _clean_interrupted(out, name: str, cache_dir) -> None:
    """Remove what a killed run of this command left (<out>.parts, temporary files of the final write) and say
    how this run resumes."""
    left = []
    parts = Path(f"{out}.parts")
    if parts.exists():
        shutil.rmtree(parts, ignore_errors=True)
        left.append(str(parts))
    left += [str(p) for p in clean_leftovers(out) + clean_leftovers(f"{out}.stats.json")]
    if left:
        how = (f"the cache {cache_dir} kept what it computed, so this run computes only what is missing" if cache_dir
               else "without --cache-dir its work is lost and is computed again (--cache-dir DIR makes runs resumable)")
        print(f"[{name}] an interrupted run left {', '.join(left)}: removed; {how}", file=sys.stderr)


def run_sharded(rows: list[dict], prepare, out: str, name: str, cache_dir=None) -> None:
    """prepare(my row indices, device, rank) -> run, and run() -> (one dict of added columns per row, stats), on
    every process (each takes every K-th row). Every process prepares (loads models, encodes its rows) before
    any scores, and a failure anywhere stops all. Each process writes its part under <out>.parts/; the first
    merges them in input order, writes `out` (atomically) and <out>.stats.json, and removes the parts."""
    rank, world, device = _distributed()
    try:
        if rank == 0:
            _clean_interrupted(out, name, cache_dir)
        if world > 1:
            dist.barrier()
        mine = list(range(rank, len(rows), world))
        start = time.time()
        run = _agree(world, lambda: prepare(mine, device, rank))
        added, stats = _agree(world, run)
        parts = Path(f"{out}.parts")
        parts.mkdir(parents=True, exist_ok=True)
        write_text(parts / f"rank{rank}.json", json.dumps({"index": mine, "added": added,
                                                          "seconds": time.time() - start, **stats}))
        if world > 1:
            dist.barrier()
        if rank == 0:
            columns = all_columns(rows)  # the input's columns (of all rows, missing values null), then the added
            merged, summary = [{c: r.get(c) for c in columns} for r in rows], []
            for r in range(world):
                part = json.loads((parts / f"rank{r}.json").read_text(encoding="utf-8"))
                for i, cols in zip(part["index"], part["added"]):
                    merged[i].update(cols)
                summary.append({"rank": r, "rows": len(part["index"]), "computed": part.get("computed", 0),
                                "cached": part.get("cached", 0), "seconds": round(part["seconds"], 2)})
            write_records(out, merged)
            shutil.rmtree(parts)
            write_text(f"{out}.stats.json", json.dumps({"rows": len(rows), "processes": world, "parts": summary},
                                                       indent=1))
            print(f"[{name}] {len(rows)} rows on {world} process(es), computed "
                  f"{sum(s['computed'] for s in summary)}, from cache {sum(s['cached'] for s in summary)} -> {out}")
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


# -- the rows each command needs -------------------------------------------------------------------------------
def read_sections(path) -> dict:
    """--sections: a JSON object {subset: section}, both strings."""
    text = Path(path).read_text(encoding="utf-8-sig") if Path(path).is_file() else None
    if text is None:
        raise FileNotFoundError(f"--sections {path}: no such file")
    try:
        sections = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(f"--sections {path}: line {err.lineno}, column {err.colno}: not valid JSON "
                            f"({err.msg})") from None
    if not isinstance(sections, dict):
        raise DataFileError(f"--sections {path}: expected a JSON object {{subset: section}}, got a "
                            f"{type(sections).__name__}")
    bad = [k for k, v in sections.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise DataFileError(f"--sections {path}: the section of subset {bad[0]!r} must be a non-empty string, got "
                            f"{sections[bad[0]]!r}")
    return sections
