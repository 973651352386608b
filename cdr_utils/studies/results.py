"""Headline numbers: each notebook writes what its prose and the docs quote to results/<profile>/<notebook>.json.

results/cpu/ is committed (docs/RESULTS.md and the README's results table are generated from it, and a test
checks they agree); every other profile's results stay local (git-ignored). The files hold results only, no
timings or dates, so a rerun that reproduces the numbers leaves them byte for byte unchanged. Floats are kept to
6 significant digits (the docs quote 1-3).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..records import write_text
from .paths import RESULTS

NOTEBOOKS = ("00_density_ratio_primer", "01_pair_selection", "02_customization_ablations", "03_rewardbench_eval",
             "04_onpolicy_annotation", "05_simpo_tuning", "06_benchmark_scoring", "07_reward_augmented_dpo")


def _clean(value):
    """JSON-ready: numpy scalars to Python, floats to 6 significant digits, NaN to None, tuples to lists."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def results_path(profile: str, notebook: str) -> Path:
    if notebook not in NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; expected one of {NOTEBOOKS}")
    return RESULTS / profile / f"{notebook}.json"


def save_results(profile, notebook: str, values: dict) -> dict:
    """Write the notebook's headline numbers for `profile` (a Profile or its name); returns them as saved."""
    name = getattr(profile, "name", profile)
    cleaned = _clean(values)
    write_text(results_path(name, notebook), json.dumps(cleaned, indent=1, ensure_ascii=False) + "\n")
    return cleaned


def load_results(profile: str, notebook: str) -> dict:
    return json.loads(results_path(profile, notebook).read_text(encoding="utf-8"))
