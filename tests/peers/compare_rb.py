# Run with the project's venv from tests/peers: cd tests/peers && ../../.venv/bin/python compare_rb.py
import json, warnings
from rb_inputs import make_rb2_inputs, make_rmbench_inputs, digest
from cdr_utils.benchmarks.rewardbench2 import score_rewardbench2
from cdr_utils.benchmarks.rmbench import score_rmbench
ref = json.load(open("rb_reference.json"))
for seed, r in ref["rewardbench2"].items():
    rows, rewards = make_rb2_inputs(int(seed))
    assert digest([rows, rewards]) == r["inputs_sha256"]
    table, overall = score_rewardbench2(rows, rewards)
    for s, v in r["subsets"].items():
        print(seed, s, table.loc[s, "score"], v, table.loc[s, "score"] - v)
    print(seed, "overall", overall, 100 * r["overall_mean_of_six"])
    print(table)
rows = make_rmbench_inputs()
assert digest(rows) == ref["rmbench"]["inputs_sha256"]
table, overall = score_rmbench(rows)
print(table); print(overall); print(ref["rmbench"]["compute_accuracy"])
