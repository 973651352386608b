"""Content-addressed, resumable on-disk cache of per-token log-probs.

Layout: `<root>/<scorer key>/meta.json` plus shard files `<shard hash>.npz`, each holding the results of up to
`shard_size` examples. The scorer key hashes everything the numbers depend on besides the input: model name and
revision (weights hash or hub commit), dtype, chat-template hash and scoring options. An example's key hashes its
exact token ids and scored span under that scorer (a function of the prompt/response text and the template), so
any job that meets the same example again (another notebook, the pair study's M models x M-1 pairs, a re-run)
finds it. Shards are written to a temporary file and renamed into place (atomic on POSIX): a run killed at any
point leaves only complete shards, and the re-run computes only what is missing (and removes the temporary file
the killed run was writing).

Every shard records the sha256 of its contents when written. A shard that fails to load or to match its
checksum (a flipped byte, a truncated copy; shards written before checksums existed are checked by the zip
CRC and their structure) is never used: a CacheShardWarning names it, it is moved aside to `<name>.corrupt`, and
its examples are recomputed like any missing ones, so one damaged file costs one shard's work, on that data
only.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .models import model_revision
from .records import atomic_write, clean_stale_temps


class CacheShardWarning(UserWarning):
    """A damaged cache shard was found, moved aside and will be recomputed."""


def scorer_key(scorer) -> dict:
    """What a scorer's numbers depend on, besides the examples."""
    if not hasattr(scorer, "_revision"):
        scorer._revision = model_revision(scorer.model)  # hashing weights costs ~1 s per 100M params: once
    return {**scorer.meta, "revision": scorer._revision, "max_length": scorer.max_length}


def example_key(encoded) -> str:
    h = hashlib.sha256(np.asarray(encoded.ids, dtype=np.int64).tobytes())
    h.update(f"{encoded.start}:{encoded.end}".encode())
    return h.hexdigest()[:32]


class ScoreCache:
    """Per-token log-prob arrays by example key, for one scorer, backed by a directory of shards."""

    def __init__(self, root, scorer):
        key = scorer_key(scorer)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / digest
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.exists():
            atomic_write(meta, lambda f: f.write(json.dumps(key, indent=1, sort_keys=True).encode()))
        self.entries: dict[str, np.ndarray] = {}
        self.damaged: list[Path] = []  # shards found damaged (moved aside) when this cache was opened
        clean_stale_temps(self.dir)  # a shard a killed run was writing
        for shard in sorted(self.dir.glob("*.npz")):
            try:
                before = shard.stat()
                keys, logprobs = read_shard(shard)
            except FileNotFoundError:  # another process of the launch moved it aside first
                continue
            except Exception as err:  # noqa: BLE001 - any failure to read a shard means it is damaged
                self._set_aside(shard, before, err)
                continue
            self.entries.update(zip(keys, logprobs))

    def _set_aside(self, shard: Path, before, err: Exception) -> None:
        aside = shard.with_name(shard.name + ".corrupt")
        try:
            now = shard.stat()
            if (now.st_ino, now.st_mtime_ns, now.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size):
                os.replace(shard, aside)  # not if another process has rewritten it meanwhile
        except FileNotFoundError:
            pass
        self.damaged.append(shard)
        warnings.warn(CacheShardWarning(
            f"cache shard {shard} is damaged ({type(err).__name__}: {str(err)[:200]}); moved aside to {aside.name}, "
            "its examples will be recomputed"), stacklevel=3)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> np.ndarray:
        return self.entries[key]

    def add_shard(self, keys: list[str], logprobs: list[np.ndarray]) -> Path:
        """Write one shard atomically and remember its entries."""
        offsets = np.cumsum([0] + [len(lp) for lp in logprobs]).astype(np.int64)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24] + ".npz"
        path = self.dir / name
        arrays = {"keys": np.array(keys), "offsets": offsets, "logprobs": np.concatenate(logprobs).astype(np.float32)}
        atomic_write(path, lambda f: np.savez(f, **arrays, sha256=np.array(_checksum(**arrays))))
        self.entries.update(zip(keys, logprobs))
        return path


def _checksum(keys, offsets, logprobs) -> str:
    h = hashlib.sha256("\n".join(str(k) for k in keys).encode())
    h.update(np.ascontiguousarray(offsets, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(logprobs, dtype="<f4").tobytes())
    return h.hexdigest()


def read_shard(path) -> tuple[list[str], list[np.ndarray]]:
    """(keys, per-example log-probs) of one shard, verified: its recorded sha256 (when it has one), the zip CRC,
    and its structure. Raises on any damage."""
    with np.load(path, allow_pickle=False) as z:
        keys, offsets, logprobs = z["keys"], z["offsets"], z["logprobs"]
        recorded = str(z["sha256"]) if "sha256" in z.files else None
    if recorded is not None and recorded != _checksum(keys, offsets, logprobs):
        raise ValueError("contents do not match the sha256 recorded when it was written")
    if (keys.ndim != 1 or offsets.ndim != 1 or logprobs.ndim != 1 or len(offsets) != len(keys) + 1
            or offsets[0] != 0 or offsets[-1] != len(logprobs) or np.any(np.diff(offsets) < 0)):
        raise ValueError("inconsistent keys / offsets / logprobs")
    return [str(k) for k in keys], np.split(logprobs, offsets[1:-1])


def score_with_cache(scorer, encoded: list, cache: ScoreCache, shard_size: int) -> tuple[list[np.ndarray], dict]:
    """Per-token log-probs for `encoded`, computing only examples missing from the cache, a shard at a time.

    Shards are fixed chunks of the job's distinct examples in input order, so a resumed run recomputes
    exactly the shards a killed run did not finish, with the same batch-mates: its output is bitwise equal
    to an uninterrupted run's. Returns (log-probs in input order, {"computed": n, "cached": m})."""
    keys = [example_key(e) for e in encoded]
    first = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    distinct = list(first.items())
    computed = 0
    for s in range(0, len(distinct), shard_size):
        missing = [(k, i) for k, i in distinct[s:s + shard_size] if k not in cache]
        if missing:
            lps = scorer.score_encoded([encoded[i] for _, i in missing])
            cache.add_shard([k for k, _ in missing], lps)
            computed += len(missing)
    return [cache[k] for k in keys], {"computed": computed, "cached": len(keys) - computed}
