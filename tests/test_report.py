"""The generated documents: docs/RESULTS.md and the README's results table are exactly what the committed
results/cpu/ files give (so no number in them was typed by hand or left stale), and the weights line of the
tuning findings on hand-written records."""
import re

from cdr_utils.studies import report


def test_results_doc_and_readme_block_are_generated_from_the_committed_results():
    assert (report.ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8") == report.results_doc("cpu")
    readme = (report.ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(report.README_BEGIN) + r"\n(.*?)\n" + re.escape(report.README_END), readme, re.S)
    assert block and block.group(1) == report.readme_block("cpu")
    assert len(block.group(1).splitlines()) == 2 + len(report.NOTEBOOKS)  # header, rule, one row per notebook
    # the AlpacaEval LC variant is named where the number stands: the cpu run has no df_gamed.csv, so it is not
    # the official length_controlled_v1 (alpaca_eval's get_length_controlled_winrate needs the gamed rows)
    row = next(line for line in block.group(1).splitlines() if line.startswith("| `06_benchmark_scoring`"))
    assert "LC (`length_controlled_noreg_lomo`)" in row
    assert "LC here: LC with leave-one-model-out difficulty, no gamed-baseline rows" in report.results_doc("cpu")


def test_the_weights_line_says_what_the_saved_dtype_kept():
    assert report._weights_line(None, "bfloat16") == ""
    assert report._weights_line({"training": 1.0, "saved": 1.0}, None) == \
        " Training changed 100 % of the parameter tensors (fp32)."
    line = report._weights_line({"training": 1.0, "saved": 0.25}, "bfloat16")
    assert line.startswith(" Training changed 100 % of the parameter tensors (fp32), 25 % as saved in bfloat16.")
    assert "smaller than the saved dtype resolves" in line


def test_runs_of_warm_up_steps_only_are_said_so():
    from cdr_utils.tuning import PreferenceRecipe, warmup_only

    recipe = PreferenceRecipe(warmup_ratio=0.1)
    # transformers' warm-up: step k of ceil(0.1 x T) runs at lr x k / ceil(0.1 x T): only step 0 runs at 0
    assert [warmup_only(recipe, t) for t in (0, 1, 2, 3, 20)] == [True, True, False, False, False]
    assert not warmup_only(PreferenceRecipe(warmup_ratio=0.0), 1)
    r = {"steps": {"DPO": 1, "RA-DPO": 3}, "dtype": "bfloat16", "warmup_only": {"DPO": True, "RA-DPO": False},
         "changed": {"DPO": {"training": 0.0, "saved": 0.0}, "RA-DPO": {"training": 1.0, "saved": 1.0}}}
    assert report._run_weights("DPO", r).startswith(" DPO: every optimizer step was a warm-up step at learning rate 0")
    assert report._run_weights("RA-DPO", r) == \
        " RA-DPO: training changed 100 % of the parameter tensors (fp32), 100 % as saved in bfloat16."
