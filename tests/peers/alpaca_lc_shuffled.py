"""alpaca_eval 0.6.6 on model_mixed's records carrying an explicit `index` field, in a shuffled order.

    cd tests/peers && /tmp/peer-venv/bin/python alpaca_lc_shuffled.py > alpaca_lc_shuffled.json
"""
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import alpaca_eval.metrics.glm_winrate as glm
from lc_inputs import make_lc_inputs

warnings.simplefilter("ignore")
records, gamed = make_lc_inputs()
csv = Path(tempfile.mkdtemp()) / "df_gamed.csv"
pd.DataFrame(gamed).to_csv(csv, index=False)
glm.hf_hub_download = lambda **kwargs: str(csv)
part = [{**r, "index": i} for i, r in enumerate(r for r in records if r["generator_2"] == "model_mixed")]
order = np.random.default_rng(0).permutation(len(part))
shuffled = [part[k] for k in order]
m = glm.get_length_controlled_winrate(shuffled, glm_name="length_controlled_v1", save_weights_dir=None,
                                      is_add_glm_preference_inplace=False)
print(json.dumps({"order_head": order[:5].tolist(), "length_controlled_winrate": m["length_controlled_winrate"],
                  "lc_standard_error": m["lc_standard_error"]}))
