"""Where the studies layer reads and writes: the folders of a checkout of the project, each overridable by an
environment variable. The studies need a checkout (its recipes, notebooks and perf scripts); the core does not.

    CHECKOUT  the folder above the package          $CDR_CHECKOUT
    RECIPES   <checkout>/configs/profiles           built-in recipes (a user's own .yaml works anywhere)
    OUTPUTS   <checkout>/outputs                    artifacts (git-ignored)       $CDR_OUTPUTS_DIR
    RESULTS   <checkout>/results                    headline numbers              $CDR_RESULTS_DIR
    RUNS      <checkout>/runs                       executed notebooks, figures   $CDR_RUNS_DIR
    PERF      <checkout>/perf                       speed scripts
"""
from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(os.environ.get("CDR_CHECKOUT") or Path(__file__).resolve().parents[2])
RECIPES = CHECKOUT / "configs" / "profiles"
OUTPUTS = Path(os.environ.get("CDR_OUTPUTS_DIR") or CHECKOUT / "outputs")
RESULTS = Path(os.environ.get("CDR_RESULTS_DIR") or CHECKOUT / "results")
RUNS = Path(os.environ.get("CDR_RUNS_DIR") or CHECKOUT / "runs")
PERF = CHECKOUT / "perf"


class CheckoutRequired(ValueError):
    """A study command run from an installed package, away from a checkout of the project."""


def require_checkout(what: str) -> Path:
    """CHECKOUT if it is a checkout of the project (configs/profiles/ and notebooks/ in it), else CheckoutRequired
    with one line saying what to do."""
    if (RECIPES.is_dir() and (CHECKOUT / "notebooks").is_dir()):
        return CHECKOUT
    raise CheckoutRequired(f"{what} needs a checkout of the project (configs/profiles/ and notebooks/), and "
                           f"{CHECKOUT} is not one: clone the repository and run it there, or set "
                           f"CDR_CHECKOUT=<your checkout>")
