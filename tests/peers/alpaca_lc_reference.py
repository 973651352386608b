"""Run alpaca_eval 0.6.6's own get_length_controlled_winrate on the synthetic inputs of lc_inputs.py.

    cd tests/peers && /tmp/peer-venv/bin/python alpaca_lc_reference.py > alpaca_lc_reference.json

venv (README.md): python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install alpaca_eval==0.6.6
(resolved: scikit-learn 1.9.1, pandas 3.1.1, numpy 2.4.6, patsy 1.0.3, scipy 1.17.1). hf_hub_download is
replaced by a function returning the local synthetic df_gamed.csv (no hub here); everything else is alpaca_eval's
code, unmodified.
"""
import json
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

import alpaca_eval
import alpaca_eval.metrics.glm_winrate as glm
from lc_inputs import inputs_digest, make_lc_inputs

warnings.simplefilter("ignore")
records, gamed = make_lc_inputs()
tmp = Path(tempfile.mkdtemp())
csv = tmp / "df_gamed.csv"
pd.DataFrame(gamed).to_csv(csv, index=False)
glm.hf_hub_download = lambda **kwargs: str(csv)  # the only patch: the hub file is the local synthetic one

out = {"alpaca_eval": alpaca_eval.__version__, "inputs_sha256": inputs_digest(records, gamed), "results": {}}
for glm_name in ("length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"):
    for model in ("model_long", "model_short", "model_mixed"):
        part = [r for r in records if r["generator_2"] == model]
        wdir = tmp / glm_name / model
        m = glm.get_length_controlled_winrate(part, glm_name=glm_name, save_weights_dir=wdir,
                                              is_add_glm_preference_inplace=False)
        weights = pd.read_csv(wdir / glm_name / "baseline_gpt4_1106_preview.csv", index_col=0).loc[model]
        m = {k: (float(v) if hasattr(v, "__float__") else v) for k, v in m.items()}
        m["weights"] = {k: float(v) for k, v in weights.items()}
        out["results"][f"{glm_name}/{model}"] = m
json.dump(out, sys.stdout, indent=1)
