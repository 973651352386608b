"""The one home of record files and atomic writes (records.py) and of resampling / rank statistics (stats.py)."""
import json

import numpy as np
import pytest
from datasets import Dataset

from cdr_utils.records import atomic_dir, read_records, write_records
from cdr_utils.stats import bootstrap, percentile_interval, resample, spearman

ROWS = [{"id": "a", "text": "line\u2028separator and next\u0085line", "x": 1.5},
        {"id": "b", "text": "para\u2029graph", "x": float("nan")}]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_records_round_trip_with_unicode_line_separators(tmp_path, suffix):
    path = write_records(tmp_path / f"rows{suffix}", ROWS)
    back = read_records(path)
    assert [r["text"] for r in back] == [r["text"] for r in ROWS] and np.isnan(back[1]["x"])
    if suffix == ".jsonl":  # the separators are written raw, one record per "\n"-terminated line
        assert path.read_text().count("\n") == 2 and "\u2028" in path.read_text()
    assert write_records(tmp_path / f"ds{suffix}", Dataset.from_list(ROWS[:1])) and \
        read_records(tmp_path / f"ds{suffix}")[0]["text"] == ROWS[0]["text"]
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_read_records_rejects_an_object_where_a_list_is_expected(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"id": 1}))
    with pytest.raises(ValueError, match="expected a JSON list of records, got a dict"):
        read_records(tmp_path / "x.json")


def test_atomic_dir_keeps_the_old_folder_when_filling_fails(tmp_path):
    target = tmp_path / "artifact"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]


def test_bootstrap_equals_a_naive_stratified_loop():
    strata = [np.array([0, 1, 2]), np.array([3, 4])]
    values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    got = bootstrap(lambda rows: values[rows].sum(), strata, rounds=50, seed=7)
    rng, naive = np.random.default_rng(7), []
    for _ in range(50):  # numpy's own choice() with replacement, stratum by stratum
        rows = np.concatenate([rng.choice(s, len(s)) for s in strata])
        naive.append(values[rows].sum())
    np.testing.assert_array_equal(got, naive)
    assert resample(np.random.default_rng(0), [np.arange(4)]).shape == (4,)


def test_percentile_interval_ignores_nans():
    assert percentile_interval([np.nan, *range(101)], 0.9) == pytest.approx((5.0, 95.0))  # (1 - 0.9) / 2 = 5 %
    assert all(np.isnan(percentile_interval([])))


def test_spearman_by_hand():
    # ranks d = [0, 1, 1, 0]: rho = 1 - 6 * 2 / (4 * 15) = 0.8; ties get average ranks
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    assert np.isnan(spearman([1, 2], [2, 1])) and np.isnan(spearman([1, 1, 1], [1, 2, 3]))
