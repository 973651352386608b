"""Root pytest configuration: notebooks collected by nbval run on the fast `smoke` profile.

`make test` runs the suite on two pytest-xdist workers (`-n 2`), which this file schedules: a test file is one unit
of work, given whole to one worker, except that
- all notebooks are one unit, run in order: a notebook's cells share one kernel, and notebooks 01-07 read what the
  earlier ones wrote;
- the dry-run stand-in tests are one unit, handed out first: they share a session fixture (the stand-in models,
  ~20 s) and the notebooks' stand-in run is the longest test (~3 min on one core); started last, it would end the
  run alone.
Each worker gets its share of the cores."""
import os

import pytest

os.environ.setdefault("CDR_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # Set before torch is imported (here, and inherited by the commands and kernels the tests start): two
    # processes of two OpenMP threads each on two cores spin against each other and run far slower than one each.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

# file -> unit of work (a file not named here is a unit of its own); FIRST: the units handed out before the rest
UNITS = {"tests/test_notebook_runs.py": "dry-run stand-ins", "tests/test_dryrun.py": "dry-run stand-ins"}
FIRST = ("dry-run stand-ins", "notebooks")


def _unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.startswith("notebooks/") else UNITS.get(path, path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Units of work as above (xdist's loadgroup marks do not reach its scheduler under pytest 9.2:
    pytest-xdist#1386)."""
    from xdist.scheduler import LoadScopeScheduling

    if config.getvalue("dist") not in ("load", "loadfile", "loadscope", "loadgroup"):
        return None  # each / worksteal: xdist's own

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _unit(nodeid)

    config.option.loadscopereorder = False  # hand units out in collection order (sorted below), not by size
    return Units(config, log)


def pytest_collection_modifyitems(config, items):
    if "PYTEST_XDIST_WORKER" in os.environ:  # a worker's collection, which the scheduler hands out in this order
        first = {unit: k for k, unit in enumerate(FIRST)}
        items.sort(key=lambda item: first.get(_unit(item.nodeid), len(FIRST)))  # stable: files keep their order
