"""Content-addressed, resumable on-disk cache of per-token log-probs.

Layout: `<root>/<scorer key>/meta.json` plus shard files `<shard hash>.npz`, each holding the results of up to
`shard_size` examples. The scorer key hashes everything the numbers depend on besides the input: model name and
revision (weights hash or hub commit), dtype, chat-template hash and scoring options. An example's key hashes its
exact token ids and scored span under that scorer (a function of the prompt/response text and the template), so
any job that meets the same example again (another notebook, the pair study's M models x M-1 pairs, a re-run)
finds it. Shards are written to a temporary file and renamed into place (atomic on POSIX): a run killed at any
point leaves only complete shards, and the re-run computes only what is missing.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .models import model_revision
from .records import atomic_write


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
        for shard in sorted(self.dir.glob("*.npz")):
            with np.load(shard) as z:
                for k, lp in zip(z["keys"], np.split(z["logprobs"], z["offsets"][1:-1])):
                    self.entries[str(k)] = lp

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> np.ndarray:
        return self.entries[key]

    def add_shard(self, keys: list[str], logprobs: list[np.ndarray]) -> Path:
        """Write one shard atomically and remember its entries."""
        offsets = np.cumsum([0] + [len(lp) for lp in logprobs])
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24] + ".npz"
        path = self.dir / name
        atomic_write(path, lambda f: np.savez(f, keys=np.array(keys), offsets=offsets,
                                               logprobs=np.concatenate(logprobs).astype(np.float32)))
        self.entries.update(zip(keys, logprobs))
        return path


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
