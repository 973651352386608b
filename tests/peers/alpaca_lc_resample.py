"""alpaca_eval 0.6.6 on model_mixed's records carrying an explicit `index` field: (a) a bootstrap resample of the
instructions (duplicates included), (b) a subset (every third instruction), (c) the first round of
cdr_utils.benchmarks.policy.scoring.score_tables(rounds=1, seed=4): instructions sorted by name (groupby's order), then
cdr_utils.stats.resample = default_rng(4).integers(0, 300, 300) over them, records in that order.

    cd tests/peers && /tmp/peer-venv/bin/python alpaca_lc_resample.py > alpaca_lc_resample.json
"""
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lc_inputs.py
import alpaca_eval.metrics.glm_winrate as glm  # noqa: E402
from lc_inputs import make_lc_inputs  # noqa: E402

warnings.simplefilter("ignore")
records, gamed = make_lc_inputs()
csv = Path(tempfile.mkdtemp()) / "df_gamed.csv"
pd.DataFrame(gamed).to_csv(csv, index=False)
glm.hf_hub_download = lambda **kwargs: str(csv)
part = [{**r, "index": i} for i, r in enumerate(r for r in records if r["generator_2"] == "model_mixed")]
rows = np.random.default_rng(4).integers(0, len(part), len(part))  # a bootstrap resample of the 300 instructions
out = {"resample_rng": "np.random.default_rng(4).integers(0, 300, 300)", "resample_head": rows[:5].tolist()}
by_name = sorted(range(len(part)), key=lambda k: part[k]["instruction"])  # "instruction 0", "instruction 1", "instruction 10", ...
bootstrap_round = [by_name[k] for k in np.random.default_rng(4).integers(0, len(part), len(part))]
for name, chosen in (("resample", rows), ("subset", np.arange(0, len(part), 3)), ("score_tables_round", bootstrap_round)):
    m = glm.get_length_controlled_winrate([part[k] for k in chosen], glm_name="length_controlled_v1",
                                          save_weights_dir=None, is_add_glm_preference_inplace=False)
    out[name] = {"length_controlled_winrate": m["length_controlled_winrate"], "lc_standard_error": m["lc_standard_error"],
                 "win_rate": m["win_rate"]}
print(json.dumps(out, indent=1))
