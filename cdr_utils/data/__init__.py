"""Data the project owns, shipped inside the package (so `pip install .` has it): customization criteria and
exemplars, the hand-written safety set, the mini-bench recipe and code tasks, the MT-Bench-style set, the
primer's examples and the published reference figures. `path(name)` locates one file."""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The packaged data file `name` (e.g. "customization/criteria.yaml")."""
    found = DATA_DIR / name
    if not found.exists():
        raise FileNotFoundError(f"no packaged data file {name!r} in {DATA_DIR}")
    return found
