"""RM-Bench scoring: hand computations, and the official compute_accuracy's figures on synthetic rewards.

OFFICIAL was produced by THU-KEG/RM-Bench's own functions (commit 659399cef37e334f784194b2547fa215c10f724a,
scripts/utils.py split_dataset_by_domain and compute_accuracy, taken out of the file with ast and run
unmodified) in the side virtualenv (numpy 2.4.6):

    cd tests/peers && /tmp/peer-venv/bin/python rb_reference.py > rb_reference.json

essential line: compute_accuracy(copy.deepcopy(make_rmbench_inputs()))  (rows carry "domain", so the
official code takes its total_dataset.json path: split by domain prefix, then average).
make_rmbench_inputs is tests/peers/rb_inputs.py's.
"""
import hashlib
import json
import warnings

import pytest

from cdr_utils.benchmarks.rmbench import accuracy_matrix, hard_normal_easy, score_rmbench
from peers.rb_inputs import make_rmbench_inputs  # the inputs the peer script ran on


INPUTS_SHA256 = "879324500c222a40612665c1df2edd5b3df0def5b3ead7000b142a2571945be3"
OFFICIAL = {"chat": 0.49259259259259264, "math": 0.5492063492063493, "code": 0.5955555555555555,
            "safety": 0.565079365079365, "hard_acc": 0.35357142857142854, "normal_acc": 0.5573809523809524,
            "easy_acc": 0.7408730158730159, "total_avg_acc": 0.5506084656084655}


def test_matches_official_compute_accuracy():
    rows = make_rmbench_inputs()
    assert hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest() == INPUTS_SHA256
    table, overall = score_rmbench(rows)
    for domain in ("chat", "math", "code", "safety"):
        assert table.loc[domain, "average"] == pytest.approx(OFFICIAL[domain], abs=1e-12)
    for ours, theirs in (("hard", "hard_acc"), ("normal", "normal_acc"), ("easy", "easy_acc"),
                         ("total_avg", "total_avg_acc")):
        assert overall[ours] == pytest.approx(OFFICIAL[theirs], abs=1e-12)
    assert overall["score (%)"] == pytest.approx(100 * OFFICIAL["total_avg_acc"], abs=1e-10)
    assert table.loc["safety", "examples"] == 35  # safety-refuse 20 + safety-response 15
    # the same figures from separate reward lists
    again, _ = score_rmbench([{k: v for k, v in r.items() if not k.startswith("score")} for r in rows],
                             [r["score_chosen"] for r in rows], [r["score_rejected"] for r in rows])
    assert (again["average"] == table["average"]).all()


def test_one_example_by_hand():
    # chosen (concise, detailed, markdown) = 1, 2, 3 against rejected 2, 2, 2: only chosen markdown wins, and
    # the tie 2 = 2 is a loss -> W = [[0,0,0],[0,0,0],[1,1,1]]
    m = accuracy_matrix([[1, 2, 3]], [[2, 2, 2]])
    assert m.tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 1]]
    # hard = upper triangle (chosen plainer than rejected): W01, W02, W12 = 0; normal = diagonal (0 + 0 + 1) / 3;
    # easy = lower triangle: W10, W20, W21 = (0 + 1 + 1) / 3
    assert hard_normal_easy(m) == pytest.approx({"hard": 0.0, "normal": 1 / 3, "easy": 2 / 3})


def test_safety_pools_example_weighted():
    win, loss = ([5, 5, 5], [0, 0, 0]), ([0, 0, 0], [5, 5, 5])
    rows = [{"domain": "safety-refuse"}] + [{"domain": "safety-response"}] * 3 + \
           [{"domain": d} for d in ("chat", "code", "math")]
    pairs = [win, loss, loss, loss, win, win, loss]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all four domains present: no warning
        table, overall = score_rmbench(rows, [p[0] for p in pairs], [p[1] for p in pairs])
    assert table.loc["safety", "average"] == pytest.approx(1 / 4)  # pooled, not (1 + 0) / 2
    assert overall["total_avg"] == pytest.approx((1 + 1 + 0 + 1 / 4) / 4)


def test_bad_rows_raise_and_missing_domains_warn():
    with pytest.warns(UserWarning, match="without examples"):
        table, overall = score_rmbench([{"domain": "chat"}], [[1, 1, 1]], [[0, 0, 0]])
    assert overall["total_avg"] == 1.0 and table.attrs["missing_domains"] == ["math", "code", "safety"]
    with pytest.raises(ValueError, match="'x'.*domain"):
        score_rmbench([{"id": "x", "domain": "poetry"}], [[1, 2, 3]], [[0, 0, 0]])
    with pytest.raises(ValueError, match="'y'.*chosen rewards"):
        score_rmbench([{"id": "y", "domain": "chat"}], [[1, 2]], [[0, 0, 0]])
