"""Run the official RewardBench 2 and RM-Bench scorers on the synthetic inputs of rb_inputs.py.

    git clone https://github.com/allenai/reward-bench /tmp/peer-src/reward-bench
    git clone https://github.com/THU-KEG/RM-Bench /tmp/peer-src/RM-Bench
    cd tests/peers && /tmp/peer-venv/bin/python rb_reference.py > rb_reference.json

The functions are exec'd from the repositories' own source files (read with git show at the commits below from
the clones; REWARD_BENCH_GIT / RM_BENCH_GIT override their git directories), unmodified:
- allenai/reward-bench fd72033ea50678505a64998e0a381764f5c23576 rewardbench/utils.py: reroll_and_score_dataset,
  _compute_prompt_stats, process_single_model; the per-subset loop is scripts/run_v2.py lines 343-378.
- THU-KEG/RM-Bench 659399cef37e334f784194b2547fa215c10f724a scripts/utils.py: split_dataset_by_domain,
  compute_accuracy.
(Their modules import torch / transformers / fastchat at the top, so the functions are taken out with ast.)
"""
import ast
import contextlib
import copy
import json
import os
import subprocess
import sys
from collections import defaultdict
from typing import Any, Dict, List, Tuple

import numpy as np
import pandas as pd
from datasets import Dataset

from rb_inputs import digest, make_rb2_inputs, make_rmbench_inputs


def functions(git_dir, commit, path, names):
    src = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], capture_output=True,
                         text=True, check=True).stdout
    tree = ast.parse(src)
    ns = {"np": np, "pd": pd, "Dataset": Dataset, "defaultdict": defaultdict, "List": List, "Dict": Dict,
          "Tuple": Tuple, "Any": Any}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            exec(compile(ast.Module([node], []), path, "exec"), ns)
    return ns


RB = functions(os.environ.get("REWARD_BENCH_GIT", "/tmp/peer-src/reward-bench/.git"),
               "fd72033ea50678505a64998e0a381764f5c23576",
               "rewardbench/utils.py", {"reroll_and_score_dataset", "_compute_prompt_stats", "process_single_model"})
RM = functions(os.environ.get("RM_BENCH_GIT", "/tmp/peer-src/RM-Bench/.git"),
               "659399cef37e334f784194b2547fa215c10f724a",
               "scripts/utils.py", {"split_dataset_by_domain", "compute_accuracy"})



def run_v2(rows, rewards):
    # run_v2.py: one row per completion (chosen then rejected), scored, rerolled per prompt, then per subset
    unrolled = [{"id": r["id"], "subset": r["subset"], "text": t, "scores": s}
                for r, rw in zip(rows, rewards) for t, s in zip(r["chosen"] + r["rejected"], rw)]
    out_dataset = Dataset.from_pandas(pd.DataFrame(unrolled))
    out_dataset = RB["reroll_and_score_dataset"](out_dataset, [r["total_completions"] for r in rows],
                                                cols_to_combine=["text", "scores"])
    out_dataset = out_dataset.add_column("num_correct", [r["num_correct"] for r in rows])
    subsets = [r["subset"] for r in rows]
    results_grouped = {}
    for subset in np.unique(subsets):
        subset_dataset = out_dataset.filter(lambda example: example["subset"] == subset)
        if subset.lower() == "ties":
            _, overall_score = RB["process_single_model"](subset_dataset)
            results_grouped[subset] = overall_score
        else:
            num_correct = sum(subset_dataset["results"])
            num_total = len(subset_dataset["results"])
            results_grouped[subset] = num_correct / num_total
    return {"inputs_sha256": digest([rows, rewards]), "subsets": {k: float(v) for k, v in results_grouped.items()},
            "overall_mean_of_six": float(np.mean(list(results_grouped.values())))}


rb2 = {seed: run_v2(*make_rb2_inputs(seed)) for seed in (2, 5, 11)}
rm_rows = make_rmbench_inputs()
with contextlib.redirect_stdout(sys.stderr):  # compute_accuracy prints progress lines
    acc = RM["compute_accuracy"](copy.deepcopy(rm_rows))
rm = {"inputs_sha256": digest(rm_rows), "compute_accuracy": {k: float(v) for k, v in acc.items()}}
json.dump({"rewardbench2": rb2, "rmbench": rm}, sys.stdout, indent=1)
