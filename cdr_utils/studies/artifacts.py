"""The artifact store: what one notebook hands to a later one (the chosen pair, policy samples, scored
candidates, pairs, checkpoints, benchmark answers and judgments), each kept under a key of the settings it was
built from.

    outputs/<profile>/<kind>/<key>/            key = sha256 of the settings (12 hex), which include the keys of
        manifest.json                          the artifacts it was built from (its inputs)
        ...                                    manifest: kind, key, settings, code version, creation time, seconds

`artifact(profile, kind, settings, build)` returns the folder: reused when a folder with that key exists,
built (atomically: a killed build leaves nothing) otherwise, and says which in one line. Two runs with other
settings (another seed, model or size) therefore never overwrite or reuse each other's builds. outputs/ is
git-ignored; $CDR_OUTPUTS_DIR moves it.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

from .. import __version__
from ..records import atomic_dir, write_text
from .paths import CHECKOUT, OUTPUTS



def artifacts_dir(profile: str) -> Path:
    """outputs/<profile>/ (created): where a profile's artifacts live."""
    path = OUTPUTS / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_key(settings) -> str:
    """A stable 12-hex-digit key of JSON-able settings (key order does not matter)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def code_version() -> str:
    """The package version and, in a git checkout, the commit (with "+dirty" for uncommitted changes)."""
    try:
        commit = subprocess.run(["git", "-C", str(CHECKOUT), "describe", "--always", "--dirty=+dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}" + (f" ({commit})" if commit else "")


def shown(path) -> str:
    """A path as notebooks print it, without a machine-specific prefix: outputs/... for artifacts (wherever
    $CDR_OUTPUTS_DIR puts them), else relative to the checkout."""
    path, root = Path(path).resolve(), CHECKOUT.resolve()
    if path.is_relative_to(OUTPUTS.resolve()):
        return str(Path("outputs") / path.relative_to(OUTPUTS.resolve()))
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def artifact_path(profile, kind: str, settings) -> Path:
    return artifacts_dir(profile.name) / kind / settings_key(settings)


def manifest(path: Path) -> dict | None:
    """The artifact's manifest, or None when the folder holds no finished build."""
    file = Path(path) / "manifest.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.exists() else None


def artifact(profile, kind: str, settings, build, *, rebuild: bool = False, log=print) -> Path:
    """The folder of artifact `kind` built from `settings`: reused when it exists (unless rebuild), else
    build(tmp_folder) fills it and a manifest is written; the folder replaces any old one atomically."""
    path = artifact_path(profile, kind, settings)
    found = manifest(path)
    where = shown(path)
    if found is not None and not rebuild:
        log(f"[{kind}] reused {where} (built {found['created']})")
        return path
    start = time.time()
    with atomic_dir(path) as tmp:
        build(tmp)
        seconds = time.time() - start
        write_text(tmp / "manifest.json", json.dumps(
            {"kind": kind, "key": path.name, "settings": settings, "code_version": code_version(),
             "created": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(seconds, 1)},
            indent=1, default=str))
    log(f"[{kind}] built {where} in {seconds:.0f} s")
    return path
