"""The notebooks as `make demo` runs them (papermill), on a user's own YAML recipe: every notebook runs, the
executed copies hold a handful of outputs per cell and no machine paths, each notebook writes its results file,
a second run reuses the artifacts and says so, and the git tree is left as it was."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAME = "pytest-user-recipe"


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True).stdout


def _run(notebook: Path, out: Path, recipe: Path, env: dict) -> dict:
    subprocess.run([str(Path(sys.executable).with_name("papermill")), "--log-level", "WARNING", "--no-progress-bar",
                    "--cwd", str(ROOT / "notebooks"), str(notebook), str(out), "-p", "profile", str(recipe)],
                   env=env, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def _texts(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if "text" in o:
            out.append("".join(o["text"]))
        for key in ("text/plain", "text/markdown", "text/html"):
            if key in o.get("data", {}):
                out.append("".join(o["data"][key]))
    return out


@pytest.mark.slow
def test_the_notebooks_on_a_users_recipe(tmp_path):
    recipe = tmp_path / "my-recipe.yaml"
    recipe.write_text(f"base: smoke\nname: {NAME}\nannotation: {{n_prompts: 6}}\n")
    env = {**os.environ, "CDR_OUTPUTS_DIR": str(tmp_path / "outputs"), "CDR_CONSOLE_PROGRESS": "1"}
    before = _git_status()
    try:
        for nb in NOTEBOOKS:
            executed = _run(nb, tmp_path / nb.name, recipe, env)
            for k, cell in enumerate(executed["cells"]):
                streams = [o for o in cell.get("outputs", []) if o["output_type"] == "stream"]
                assert len(streams) <= 4, f"{nb.name} cell {k}: {len(streams)} stream outputs"
                for text in _texts(cell):
                    assert str(ROOT) not in text and str(tmp_path) not in text, f"{nb.name} cell {k}: {text[:300]}"
                    assert "Warning" not in text, f"{nb.name} cell {k}: {text[:300]}"
            assert (ROOT / "results" / NAME / f"{nb.stem}.json").exists()
        results = json.loads((ROOT / "results" / NAME / "04_onpolicy_annotation.json").read_text())
        assert results["candidates"]["prompts_total"] == 6  # the recipe's override reached the notebook
        again = _run(NOTEBOOKS[4], tmp_path / "again.ipynb", recipe, env)  # the same settings: everything reused
        said = "\n".join(t for cell in again["cells"] for t in _texts(cell))
        assert re.search(r"\[candidates\] reused outputs/pytest-user-recipe/candidates/\w+", said)
        assert re.search(r"\[pairs\] reused outputs/pytest-user-recipe/pairs/\w+", said)
        assert not re.search(r"\[\w+\] built", said)
        assert _git_status() == before
    finally:
        for folder in (ROOT / "results" / NAME, ROOT / "runs" / NAME):
            shutil.rmtree(folder, ignore_errors=True)
