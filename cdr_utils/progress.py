"""Progress bars for long work, shown where a person looks and kept out of saved notebooks.

- In a terminal (the `cdr` command): a tqdm bar on stderr.
- In a notebook kernel run by `make demo` (CDR_CONSOLE_PROGRESS=1, papermill): the bar is drawn on the kernel's
  own stderr, i.e. the terminal that runs `make demo`, and the notebook receives one line when a step of 10 s or
  more ends ("scoring X: 240 resp in 95 s"), so an executed notebook holds one line per long step, not hundreds
  of updates.
- In an interactive notebook (JupyterLab): a widget bar where ipywidgets is installed, else a text bar that
  redraws at most every 10 s.
"""
from __future__ import annotations

import os
import sys
import time

from tqdm import std as tqdm_std

REPORT_AFTER_S = 10.0  # steps shorter than this leave no line in the notebook


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and not sys.stderr.isatty()


class _ConsoleBar(tqdm_std.tqdm):
    """A bar on the kernel's console that reports to the notebook once, when it closes."""

    def __init__(self, *args, **kwargs):
        self._started = time.time()
        super().__init__(*args, file=sys.__stderr__, **kwargs)

    def close(self):
        seconds = time.time() - self._started
        if not self.disable and not getattr(self, "_reported", False) and seconds >= REPORT_AFTER_S:
            self._reported = True
            unit = self.unit if self.unit != "it" else "steps"
            print(f"{self.desc}: {self.n} {unit} in {seconds:.0f} s")
        super().close()


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool = False):
    """A tqdm-compatible bar (iterate over it, or call update(n) / close()) for `total` steps of `desc`."""
    kw = {"total": total, "desc": desc, "unit": unit, "disable": disable}
    if not _in_kernel():
        return tqdm_std.tqdm(iterable, **kw)
    if os.environ.get("CDR_CONSOLE_PROGRESS"):
        return _ConsoleBar(iterable, mininterval=5.0, **kw)
    try:
        from tqdm.notebook import tqdm as widget_bar  # needs ipywidgets
        import ipywidgets  # noqa: F401
    except ImportError:
        return tqdm_std.tqdm(iterable, mininterval=10.0, **kw)
    return widget_bar(iterable, **kw)
