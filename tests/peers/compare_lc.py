# Run with the project's venv from tests/peers: cd tests/peers && ../../.venv/bin/python compare_lc.py
import json, sys, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pandas as pd
from lc_inputs import make_lc_inputs, inputs_digest
from cdr_utils.benchmarks.policy.winrate import length_controlled_win_rate
ref = json.load(open(HERE / "alpaca_lc_reference.json"))
records, gamed = make_lc_inputs()
assert inputs_digest(records, gamed) == ref["inputs_sha256"]
gdf = pd.DataFrame(gamed)
diff = {f"instruction {r['index']}": r["instruction_difficulty"] for r in gamed[:300]}
worst = 0
t = time.time()
for key, m in ref["results"].items():
    glm, model = key.split("/")
    part = [r for r in records if r["generator_2"] == model]
    kw = {"length_controlled_v1": dict(df_gamed=gdf), "length_controlled_noreg": dict(difficulty=diff),
          "length_controlled_minimal": dict(difficulty=None)}[glm]
    ours = length_controlled_win_rate(part, **kw)
    assert ours["variant"] == glm, (ours["variant"], glm)
    d = {k: abs(ours[k] - m[k]) for k in ("length_controlled_winrate", "lc_standard_error", "win_rate",
                                          "standard_error", "discrete_win_rate")}
    dw = {k: abs(ours["weights"][k] - v) for k, v in m["weights"].items()}
    print(key, ours["length_controlled_winrate"], m["length_controlled_winrate"], max(d.values()), max(dw.values()), ours["C"])
    for k in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert ours[k] == m[k], (k, ours[k], m[k])
    worst = max(worst, max(d.values()), max(dw.values()))
print("worst", worst, "time", time.time() - t)
