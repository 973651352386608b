"""The generated documents (tools/docs.py): docs/RESULTS.md and the README's results table are exactly what the
committed results/cpu/ files give (so no number in them was typed by hand or left stale)."""
import re

from tools import docs


def test_results_doc_and_readme_block_are_generated_from_the_committed_results():
    assert (docs.CHECKOUT / "docs" / "RESULTS.md").read_text(encoding="utf-8") == docs.results_doc("cpu")
    readme = (docs.CHECKOUT / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(docs.README_BEGIN) + r"\n(.*?)\n" + re.escape(docs.README_END), readme, re.S)
    assert block and block.group(1) == docs.readme_block("cpu")
    assert len(block.group(1).splitlines()) == 2 + len(docs.NOTEBOOKS)  # header, rule, one row per notebook
    # the AlpacaEval LC variant is named where the number stands: the cpu run has no df_gamed.csv, so it is not
    # the official length_controlled_v1 (alpaca_eval's get_length_controlled_winrate needs the gamed rows)
    row = next(line for line in block.group(1).splitlines() if line.startswith("| `06_benchmark_scoring`"))
    assert "LC (`length_controlled_noreg_lomo`)" in row
    assert "LC here: LC with leave-one-model-out difficulty, no gamed-baseline rows" in docs.results_doc("cpu")


def test_warm_up_only_runs_are_recognized():
    from cdr_utils.tuning import PreferenceRecipe, warmup_only

    recipe = PreferenceRecipe(warmup_ratio=0.1)
    # transformers' warm-up: step k of ceil(0.1 x T) runs at lr x k / ceil(0.1 x T): only step 0 runs at 0
    assert [warmup_only(recipe, t) for t in (0, 1, 2, 3, 20)] == [True, True, False, False, False]
    assert not warmup_only(PreferenceRecipe(warmup_ratio=0.0), 1)
