"""AlpacaEval LC against alpaca_eval 0.6.6's own get_length_controlled_winrate on identical synthetic inputs.

The figures below were produced by alpaca_eval 0.6.6 (tatsu-lab/alpaca_eval v0.6.6, f19c323d; resolved with
scikit-learn 1.9.1, pandas 3.1.1, numpy 2.4.6, patsy 1.0.3) in a side virtualenv:

    python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install alpaca_eval==0.6.6
    cd tests/peers && /tmp/peer-venv/bin/python alpaca_lc_reference.py > alpaca_lc_reference.json

whose essential lines are

    records, gamed = make_lc_inputs()                       # tests/peers/lc_inputs.py, imported here too
    pd.DataFrame(gamed).to_csv(csv, index=False)
    glm.hf_hub_download = lambda **kwargs: str(csv)         # the only patch: no hub here
    for glm_name in ("length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"):
        for model in ("model_long", "model_short", "model_mixed"):
            part = [r for r in records if r["generator_2"] == model]
            m = glm.get_length_controlled_winrate(part, glm_name=glm_name, save_weights_dir=wdir,
                                                  is_add_glm_preference_inplace=False)
            # weights: read back from wdir/<glm_name>/baseline_gpt4_1106_preview.csv (written with %.16f)

The algorithm is the same (same features, rows, weights, scikit-learn estimator, GroupKFold folds and
liblinear seed), so the agreement asserted is 1e-9 percentage points (observed: bit-identical); the weights are
compared at 1e-12 (alpaca_eval writes them with 16 decimals).
"""
import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cdr_utils.benchmarks.policy.winrate import alpaca_eval_table, length_controlled_win_rate, load_df_gamed
from peers.lc_inputs import BASELINE, make_lc_inputs  # the inputs the peer scripts ran on

INPUTS_SHA256 = "29210ac51c53acaa870ea6dab85a80d52cda0d48d4559b80dc59a7f824ad969b"  # printed by the script


# alpaca_eval 0.6.6: (length_controlled_winrate, lc_standard_error, win_rate, standard_error, discrete_win_rate,
# n_wins, n_wins_base, n_draws, n_total, weights in formula order)
OFFICIAL = {
    "length_controlled_v1/model_long": (
        59.0705261665995, 0.8726014293434898, 67.49733633333334, 0.968259071373077, 83.33333333333334,
        250, 50, 0, 300, (-0.9991127958797432, -0.7050824815052129, 0.3380121866370147)),
    "length_controlled_v1/model_short": (
        42.31388044890084, 0.7873163541765116, 31.292517006802722, 2.6217622048942646, 31.292517006802722,
        84, 194, 16, 294, (-0.8263810639144823, -0.6197855056592504, -0.3949145438365062)),
    "length_controlled_v1/model_mixed": (
        53.22228348028217, 0.8798126931119118, 55.294051020408155, 2.162686153311292, 57.82312925170068,
        166, 120, 8, 294, (-0.9628778011899515, -0.6927140103427312, 0.0759985825475897)),
    "length_controlled_noreg/model_long": (
        58.23864553414359, 0.8714684193701604, 67.49733633333334, 0.968259071373077, 83.33333333333334,
        250, 50, 0, 300, (-1.0997530300964682, -0.6999777775999114, 0.3001778860256243)),
    "length_controlled_noreg/model_short": (
        42.112939633707164, 0.7614497675369848, 31.292517006802722, 2.6217622048942646, 31.292517006802722,
        84, 194, 16, 294, (-0.8078951231449208, -0.5968263896999182, -0.3998197528881673)),
    "length_controlled_noreg/model_mixed": (
        53.144257108246926, 0.871832575353468, 55.294051020408155, 2.162686153311292, 57.82312925170068,
        166, 120, 8, 294, (-1.007000577900017, -0.684928238443948, 0.0730428597979485)),
    "length_controlled_minimal/model_long": (
        58.35218418499348, 1.2841171059069017e-15, 67.49733633333334, 0.968259071373077, 83.33333333333334,
        250, 50, 0, 300, (-0.9842632192387484, 0.3372478646869679)),
    "length_controlled_minimal/model_short": (
        42.00381928532044, 9.630878294301762e-16, 31.292517006802722, 2.6217622048942646, 31.292517006802722,
        84, 194, 16, 294, (-0.7467426869286278, -0.3226166091175552)),
    "length_controlled_minimal/model_mixed": (
        53.11395530187938, 0.0, 55.294051020408155, 2.162686153311292, 57.82312925170068,
        166, 120, 8, 294, (-0.9332228776050203, 0.124719628667359)),
}


@pytest.fixture(scope="module")
def inputs():
    records, gamed = make_lc_inputs()
    assert hashlib.sha256(json.dumps([records, gamed], sort_keys=True).encode()).hexdigest() == INPUTS_SHA256
    return records, pd.DataFrame(gamed)


def _check(m, key):
    lc, se, wr, sd, dwr, wins, base, draws, total, weights = OFFICIAL[key]
    assert m["variant"] == key.split("/")[0]
    assert m["length_controlled_winrate"] == pytest.approx(lc, abs=1e-9)
    assert m["lc_standard_error"] == pytest.approx(se, abs=1e-9)
    assert (m["win_rate"], m["standard_error"], m["discrete_win_rate"]) == pytest.approx((wr, sd, dwr), abs=1e-9)
    assert (m["n_wins"], m["n_wins_base"], m["n_draws"], m["n_total"]) == (wins, base, draws, total)
    assert list(m["weights"].values()) == pytest.approx(weights, abs=1e-12)


@pytest.mark.parametrize("key", sorted(OFFICIAL))
def test_matches_alpaca_eval(inputs, key):
    records, gamed = inputs
    variant, model = key.split("/")
    part = [r for r in records if r["generator_2"] == model]
    difficulty = {f"instruction {i}": d for i, d in zip(gamed["index"][:300], gamed["instruction_difficulty"])}
    kwargs = {"length_controlled_v1": {"df_gamed": gamed}, "length_controlled_noreg": {"difficulty": difficulty},
              "length_controlled_minimal": {"difficulty": None}}[variant]
    _check(length_controlled_win_rate(part, **kwargs), key)


def test_df_gamed_from_a_path_and_explicit_indices(inputs, tmp_path):
    records, gamed = inputs
    path = tmp_path / "df_gamed.csv"
    gamed.to_csv(path, index=False)
    part = [r for r in records if r["generator_2"] == "model_mixed"]
    _check(length_controlled_win_rate(part, df_gamed=path), "length_controlled_v1/model_mixed")
    with_index = [{**r, "index": i} for i, r in enumerate(part)]
    _check(length_controlled_win_rate(with_index, df_gamed=path), "length_controlled_v1/model_mixed")
    mapping = {r["instruction"]: i for i, r in enumerate(part)}
    _check(length_controlled_win_rate(part, df_gamed=gamed, instruction_index=mapping),
           "length_controlled_v1/model_mixed")
    # records carrying their index, in a shuffled order: alpaca_eval 0.6.6 gave 53.235941573890535 (LC) and
    # 0.8807247709173528 (SE) (tests/peers/alpaca_lc_shuffled.py: the same records and permutation)
    order = np.random.default_rng(0).permutation(len(with_index))
    m = length_controlled_win_rate([with_index[k] for k in order], df_gamed=gamed)
    assert (m["length_controlled_winrate"], m["lc_standard_error"]) == pytest.approx(
        (53.235941573890535, 0.8807247709173528), abs=1e-9)
    assert list(load_df_gamed(path).columns) == ["index", "preference", "std_delta_len", "instruction_difficulty",
                                                 "not_gamed_baseline"]


def test_table_labels_its_variant(inputs):
    records, gamed = inputs
    official = alpaca_eval_table(records, df_gamed=gamed)
    assert official.attrs["lc_variant"] == "length_controlled_v1"
    assert set(official["LC variant"]) == {"length_controlled_v1"}
    for model in ("model_long", "model_short", "model_mixed"):
        assert official.loc[model, "LC win rate"] == pytest.approx(OFFICIAL[f"length_controlled_v1/{model}"][0],
                                                                   abs=1e-9)
    minimal = alpaca_eval_table(records, difficulty=None)
    assert minimal.attrs["lc_variant"] == "length_controlled_minimal"
    assert minimal.loc["model_short", "LC win rate"] == pytest.approx(
        OFFICIAL["length_controlled_minimal/model_short"][0], abs=1e-9)
    lomo = alpaca_eval_table(records)  # no df_gamed: difficulty from the other two models' records
    assert lomo.attrs["lc_variant"] == "length_controlled_noreg_lomo"
    assert "no gamed-baseline rows" in lomo.attrs["lc_variant_label"]


def test_bad_inputs_raise_and_layout_warns(inputs):
    records, gamed = inputs
    part = [r for r in records if r["generator_2"] == "model_long"]
    with pytest.raises(ValueError, match="instruction index 300 is not in df_gamed"):
        length_controlled_win_rate([{**r, "index": i + 1} for i, r in enumerate(part)], df_gamed=gamed)
    with pytest.raises(ValueError, match="lacks column"):
        length_controlled_win_rate(part, df_gamed=gamed.drop(columns=["std_delta_len"]))
    with pytest.raises(ValueError, match="not both"):
        length_controlled_win_rate(part, {"instruction 0": 1.0}, df_gamed=gamed)
    with pytest.raises(ValueError, match="preference"):
        length_controlled_win_rate([{**part[0], "preference": 3}] + part[1:], difficulty=None)
    interleaved = pd.concat([gamed.iloc[300:], gamed.iloc[:300]]).sort_values("index", kind="stable")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = length_controlled_win_rate(part, df_gamed=interleaved)
    assert any("row label" in str(w.message) for w in caught)
    assert m["variant"] == "length_controlled_v1"


def test_baseline_against_itself_is_50(inputs):
    records, _ = inputs
    own = [{**r, "generator_2": BASELINE} for r in records if r["generator_2"] == "model_long"]
    m = length_controlled_win_rate(own, difficulty=None)
    assert m["length_controlled_winrate"] == 50.0


def test_too_few_rows_for_the_cross_validation(inputs):
    records, gamed = inputs
    three = [r for r in records if r["generator_2"] == "model_long"][:3]
    with pytest.warns(UserWarning, match="needs at least 5"):
        m = length_controlled_win_rate(three, difficulty=None)  # alpaca_eval's GroupKFold(5) would raise
    assert np.isnan(m["length_controlled_winrate"]) and m["win_rate"] == pytest.approx(
        100 * np.mean([r["preference"] - 1 for r in three]))
    m = length_controlled_win_rate(three, df_gamed=gamed)  # the 600 gamed rows make the fit possible
    assert 0 < m["length_controlled_winrate"] < 100
