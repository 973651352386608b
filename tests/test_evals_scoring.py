"""evals.scoring's tables: AlpacaEval records carry their instruction index; the official LC variant when
df_gamed is given (checked against alpaca_eval 0.6.6 itself, also inside a bootstrap round); one table per
bootstrap round for all models gives the per-model bootstrap's numbers; columns name the LC variant; MT-Bench
counts what it leaves out; df_gamed.csv is read from a local copy or fails naming the hub data set.

RECORDED figures: alpaca_eval 0.6.6 (tatsu-lab/alpaca_eval v0.6.6, f19c323d) get_length_controlled_winrate on
model_mixed's records of make_lc_inputs() (tests/peers/lc_inputs.py) with an explicit `index` field,
hf_hub_download patched to the synthetic df_gamed.csv, produced by

    cd tests/peers && /tmp/peer-venv/bin/python alpaca_lc_resample.py > alpaca_lc_resample.json

(a) "resample": records [part[k] for k in default_rng(4).integers(0, 300, 300)] (duplicates included);
(b) "subset": every third instruction; (c) "score_tables_round": the instructions sorted by name (groupby's
order), then default_rng(4).integers(0, 300, 300) over them: the first bootstrap round of
score_tables(rounds=1, seed=4).
"""
import numpy as np
import pandas as pd
import pytest
from peers.lc_inputs import make_lc_inputs
from test_alpaca_lc_official import OFFICIAL

from cdr_utils.benchmarks.policy.answers import alpaca_eval_df_gamed
from cdr_utils.benchmarks.policy.judges import Judge
from cdr_utils.benchmarks.policy.scoring import bootstrap_interval, judge_alpaca_eval, score_tables, summary_table
from cdr_utils.benchmarks.policy.winrate import VARIANT_COLUMNS, VARIANT_LABELS, alpaca_eval_table

RECORDED = {"resample": (53.17282682392177, 1.090266679758323), "subset": (54.21658802149453, 1.468902921619231),
            "score_tables_round": (53.860158876588514, 0.9497518930048392)}
MODELS = ("model_long", "model_short", "model_mixed")


@pytest.fixture(scope="module")
def lc():
    records, gamed = make_lc_inputs()  # instruction i of each model is "instruction {i}", at position i
    return [{**r, "index": int(r["instruction"].split()[1])} for r in records], pd.DataFrame(gamed)


class FirstWins(Judge):
    kind, name = "llm", "first-wins"

    def pairwise(self, question, answer_a, answer_b, reference=None):
        return "[[A>B]]"


def test_alpaca_records_carry_the_instruction_index():
    items = [{"id": k, "instruction": f"q{k}", "reference": "r"} for k in (805 - 3, 17, 4)]
    mine = [{"instruction": f"q{k}", "output": "mine", "generator": "m"} for k in (4, 17, 802)]
    base = [{"instruction": f"q{k}", "output": "base", "generator": "b"} for k in (802, 17, 4)]
    records = judge_alpaca_eval(mine, base, items, FirstWins(), seed=0, progress=False)
    assert [r["index"] for r in records] == [4, 17, 802]
    no_ids = judge_alpaca_eval(mine, base, [{"instruction": f"q{k}"} for k in (4, 17, 802)], FirstWins(),
                               progress=False)
    assert all("index" not in r for r in no_ids)


def test_official_variant_from_df_gamed_and_its_labels(lc, tmp_path):
    records, gamed = lc
    path = tmp_path / "df_gamed.csv"
    gamed.to_csv(path, index=False)
    # records in AlpacaEval's order, as alpaca_eval was given them (the L1 fit's folds follow the row order)
    table = score_tables(records, [], [], rounds=1, seed=0, df_gamed=path)["alpaca_eval"]
    for model in MODELS:
        assert table.loc[model, "LC win rate"] == pytest.approx(OFFICIAL[f"length_controlled_v1/{model}"][0], abs=1e-9)
    assert set(table["LC variant"]) == {"length_controlled_v1"} and table.attrs["lc_column"] == "AlpacaEval 2 LC (%)"
    summary = summary_table({"alpaca_eval": table}, "test judge")
    assert list(summary.columns) == ["AlpacaEval 2 LC (%)", "AlpacaEval 2 WR (%)"]
    stand_in = score_tables(records, [], [], rounds=1, seed=0)["alpaca_eval"]  # no df_gamed: named stand-in
    assert set(stand_in["LC variant"]) == {"length_controlled_noreg_lomo"}
    column = "LC with leave-one-model-out difficulty, no gamed-baseline rows (%)"
    assert list(summary_table({"alpaca_eval": stand_in}, "j").columns)[0] == column
    # one wording: each header repeats its variant's description
    for variant, header in VARIANT_COLUMNS.items():
        assert header.endswith("(%)") and ("AlpacaEval 2 LC" in header) == (variant == "length_controlled_v1")
        if variant != "length_controlled_v1":
            assert "no gamed-baseline rows" in header and "no gamed-baseline rows" in VARIANT_LABELS[variant]
    with pytest.raises(ValueError, match="lack 'index'"):
        score_tables([{k: v for k, v in r.items() if k != "index"} for r in records], [], [], rounds=1,
                     df_gamed=gamed)


def test_index_matching_in_resamples_and_subsets_is_alpaca_evals(lc):
    records, gamed = lc
    part = [r for r in records if r["generator_2"] == "model_mixed"]
    for name, rows in (("resample", np.random.default_rng(4).integers(0, 300, 300)), ("subset", range(0, 300, 3))):
        t = alpaca_eval_table([part[k] for k in rows], df_gamed=gamed, unique=False)  # a resample repeats records
        assert (t.loc["model_mixed", "LC win rate"], t.loc["model_mixed", "LC standard error"]) == pytest.approx(
            RECORDED[name], abs=1e-9)
    # score_tables' own bootstrap round (rounds=1: the interval is that round's value)
    t = score_tables(part, [], [], rounds=1, seed=4, df_gamed=gamed)["alpaca_eval"]
    assert t.loc["model_mixed", "LC lower"] == t.loc["model_mixed", "LC upper"] == pytest.approx(
        RECORDED["score_tables_round"][0], abs=1e-9)


@pytest.mark.parametrize("official", [True, False])
def test_one_table_per_round_equals_one_bootstrap_per_model(lc, official):
    records, gamed = lc
    small = [r for r in records if r["index"] < 40]
    df_gamed = gamed if official else None
    rounds, seed = 4, 3
    table = score_tables(small, [], [], rounds=rounds, seed=seed, df_gamed=df_gamed)["alpaca_eval"]
    # the previous implementation: a bootstrap per model, the whole table rebuilt and one row read
    groups = [g for _, g in pd.DataFrame(small).groupby("instruction", sort=True)]
    for model in MODELS:
        lo, hi = bootstrap_interval(groups, lambda gs, m=model: alpaca_eval_table(pd.concat(gs), df_gamed=df_gamed,
                                                                                  unique=False)
                                    .loc[m, "LC win rate"], rounds=rounds, seed=seed)
        assert (table.loc[model, "LC lower"], table.loc[model, "LC upper"]) == (lo, hi)
        assert lo < hi


def test_mt_bench_counts_what_it_leaves_out():
    mt = [{"question_id": q, "model": "m", "turn": t, "judgment": j}
          for q, t, j in [(1, 1, "[[7]]"), (1, 2, "[[11]]"), (2, 1, "no verdict"), (2, 2, "[[5]]")]]
    table = score_tables([], [], mt, rounds=5, mt_bench_questions=[1, 2, 3])["mt_bench"]
    # rated: 7 and 5 (11 is out of range, "no verdict" unparsed); question 3 has no record
    assert table.loc["m", "overall"] == 6
    assert (table.loc["m", "unparsed"], table.loc["m", "out_of_range"], table.loc["m", "missing"]) == (1, 1, 1)
    assert table.loc["m", "missing_ids"] == [3]
    summary = summary_table({"mt_bench": table}, "j")
    assert summary.loc["m", "MT-Bench left out"] == "1 unparsed, 1 out of range, 1 missing"


def test_df_gamed_from_a_local_copy_or_a_clear_failure(lc, tmp_path, monkeypatch):
    _, gamed = lc
    path = tmp_path / "copy.csv"
    gamed.to_csv(path, index=False)  # the hub file's columns: model, index, preference, std_delta_len, ...
    got = alpaca_eval_df_gamed(path)
    assert len(got) == len(gamed) and got["not_gamed_baseline"].dtype == bool
    assert got["instruction_difficulty"].tolist() == gamed["instruction_difficulty"].tolist()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"'df_gamed.csv'.*'tatsu-lab/alpaca_eval'.*hf download"):
        alpaca_eval_df_gamed()
    with pytest.raises(FileNotFoundError, match="no df_gamed.csv at"):
        alpaca_eval_df_gamed(tmp_path / "absent.csv")
