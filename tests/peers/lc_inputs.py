"""Synthetic AlpacaEval annotations + a df_gamed-style table (numpy only). The peer scripts here and
tests/test_alpaca_lc_official.py both import make_lc_inputs(); the script prints the inputs' sha256, the test
asserts it."""
import hashlib
import json

import numpy as np

GAMED_MODELS = ("gpt4_1106_preview_verbose", "gpt4_1106_preview_concise")
BASELINE = "gpt4_1106_preview"


def make_lc_inputs(seed=17, n=300):
    rng = np.random.default_rng(seed)
    difficulty = np.round(rng.normal(0.0, 1.0, n), 6)
    base_len = rng.integers(200, 2000, n)
    gamed = []  # df_gamed schema: model, index, preference (in [0, 1]), std_delta_len, instruction_difficulty,
    for model, scale in zip(GAMED_MODELS, (1.6, 0.55)):  # not_gamed_baseline (False); blocked by model
        glen = (base_len * scale * rng.uniform(0.7, 1.3, n)).astype(int)
        delta = (base_len - glen).astype(float)
        std = delta / delta.std(ddof=1)
        logit = -0.8 * difficulty - 0.9 * np.tanh(std) + rng.normal(0, 0.5, n)
        pref = np.round(1 / (1 + np.exp(-logit)), 6)
        gamed += [{"model": model, "index": i, "preference": float(pref[i]), "std_delta_len": float(std[i]),
                   "instruction_difficulty": float(difficulty[i]), "not_gamed_baseline": False} for i in range(n)]
    records = []
    for model, quality, scale, kind in (("model_long", 0.3, 1.5, "soft"), ("model_short", -0.4, 0.6, "hard"),
                                        ("model_mixed", 0.1, 1.0, "mixed")):
        mlen = np.maximum(5, (base_len * scale * rng.lognormal(0.0, 0.4, n)).astype(int))
        delta = (base_len - mlen).astype(float)
        logit = quality - 0.7 * difficulty - 1.1 * np.tanh(delta / delta.std(ddof=1))
        p = 1 / (1 + np.exp(-logit))
        u = rng.random(n)
        for i in range(n):
            if kind == "soft" or (kind == "mixed" and i % 2 == 0):
                pref = float(np.round(1 + p[i], 6))  # weighted judge: a probability on alpaca_eval's 1-2 scale
            else:
                pref = 2.0 if u[i] < p[i] else 1.0
                if i % 37 == 5:
                    pref = 0.0  # alpaca_eval's tie, read as 1.5
                elif i % 41 == 7:
                    pref = 1.5
            if kind != "soft" and i % 53 == 11:
                pref = None  # unparseable verdict
            records.append({"instruction": f"instruction {i}", "output_1": "b" * int(base_len[i]),
                            "output_2": "m" * int(mlen[i]), "generator_1": BASELINE, "generator_2": model,
                            "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": pref})
    return records, gamed


def inputs_digest(records, gamed):
    return hashlib.sha256(json.dumps([records, gamed], sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    r, g = make_lc_inputs()
    print(inputs_digest(r, g), len(r), len(g))
