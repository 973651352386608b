"""Artifacts one notebook hands to a later one (best pair, samples, scored candidates, pairs, checkpoints,
benchmark answers): under outputs/<profile>/ (git-ignored; $CDR_OUTPUTS_DIR moves it), each folder with a
build_info.json recording the settings it was built with, so a later call reuses it only when they match."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..records import atomic_dir, write_text

OUTPUTS = Path(os.environ.get("CDR_OUTPUTS_DIR", Path(__file__).resolve().parents[2] / "outputs"))


def artifacts_dir(profile: str) -> Path:
    """outputs/<profile>/ (created): where notebooks leave artifacts for later notebooks."""
    path = OUTPUTS / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def saved(path: Path, settings: dict) -> bool:
    """Whether the artifact folder `path` exists and was built with exactly `settings`."""
    info = path / "build_info.json"
    return info.exists() and json.loads(info.read_text()).get("settings") == json.loads(json.dumps(settings))


def write_artifact(path: Path, save, info: dict) -> None:
    """save(tmp_dir), then build_info.json, then the folder replaces `path` (records.atomic_dir): a killed run
    leaves the old artifact or the new one, never half of one."""
    with atomic_dir(path) as tmp:
        save(tmp)
        write_text(tmp / "build_info.json", json.dumps(info, indent=1, default=str))


def build_info(path: Path) -> dict:
    return json.loads((Path(path) / "build_info.json").read_text())
