"""`select_pairs` / `cdr select`: every ordered pair of K models from one scoring pass per model. Each pair's
accuracy equals scoring that pair alone with DensityRatioReward and rewardbench.evaluate; the baselines equal the
single models' and the length rule's evaluations; the paired bootstrap equals a naive loop over resampled rows
evaluated again; a killed run resumes scoring only the models not yet cached; the command reproduces the pair
study's table (notebook 01's code path) on the same rows."""
import json

import numpy as np
import pandas as pd
import pytest

from cdr_utils.benchmarks import pair_selection as sel
from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.cli import main
from cdr_utils.logprobs import LogProbScorer
from cdr_utils.models import ModelSpec
from cdr_utils.records import write_records
from cdr_utils.rewards import DensityRatioReward, density_ratio
from cdr_utils.stats import percentile_interval, resample
from cdr_utils.studies import get_profile
from cdr_utils.studies import pair_selection as ps

MODELS = (ModelSpec("tiny-random-llama", seed=0), ModelSpec("tiny-random-llama", seed=1, label="llama seed 1"),
          ModelSpec("tiny-random-gpt2"))  # another tokenizer and template too


@pytest.fixture(scope="module")
def bench():
    return rb.sample(rb.load("minibench"), 4, seed=0, max_chars=800)  # 16 pairs, 4 per section (tiny context 512)


@pytest.fixture(scope="module")
def selection(bench):
    return sel.select_pairs(MODELS, bench, n_bootstrap=50, log=None)


def test_every_ordered_pair_and_baseline_equals_its_own_evaluation(bench, selection):
    scorers = [LogProbScorer.from_pretrained(m) for m in MODELS]
    prompts, responses, _ = rb.pair_inputs(bench)
    table = selection.table.set_index(["strong", "weak", "reduction"])
    assert len(table) == 2 * 3 * 2  # 6 ordered pairs x 2 reductions
    for i, j in [(i, j) for i in range(3) for j in range(3) if i != j]:
        pair = DensityRatioReward(scorers[i], scorers[j]).score(prompts, responses)  # this pair alone
        for reduction in ("sum", "mean"):
            expected = rb.evaluate(density_ratio(pair.strong, pair.weak, reduction), bench).sections
            row = table.loc[(str(MODELS[i]), str(MODELS[j]), reduction)]
            assert [row[c] for c in ps.COLUMNS] == pytest.approx([expected[c] for c in ps.COLUMNS], abs=1e-9)
    for i, scorer in enumerate(scorers):
        out = scorer.score(prompts, responses)
        for name, values in (("log p (sum)", out.sum), ("log p (mean)", out.mean)):
            expected = rb.evaluate(values, bench).sections
            assert list(selection.baselines.loc[(str(MODELS[i]), name)]) == pytest.approx(
                [expected[c] for c in ps.COLUMNS])
    lengths = np.array([len(r) for r in responses], dtype=float)  # longer is better: a tie is wrong
    expected = rb.evaluate(lengths, bench).sections
    assert list(selection.baselines.loc[("length", "longer response")]) == pytest.approx(
        [expected[c] for c in ps.COLUMNS])
    sums = table.xs("sum", level="reduction")
    best = sums["Score"].idxmax()
    rec = selection.recommended
    assert (rec["strong"], rec["weak"], rec["Score"]) == (best[0], best[1], sums["Score"].max())
    assert sums.loc[best, "minus_best"] == 0 and (sums["minus_best"] <= 1e-9).all()


def test_paired_bootstrap_equals_a_naive_loop(bench, selection):
    """Score(pair) - Score(best pair) on rows resampled within each subset, every resample evaluated again by
    rewardbench.evaluate on the drawn rows (the same generator and strata, so the same draws)."""
    pool, n_boot = selection.scores, 50
    red = pool.logp("sum")
    n = len(bench)
    margins = red[:, :n] - red[:, n:]
    sums = selection.table[selection.table["reduction"] == "sum"].reset_index(drop=True)
    labels = pool.labels
    top = int(sums["Score"].to_numpy().argmax())
    pairs = [(labels.index(s), labels.index(w)) for s, w in zip(sums["strong"], sums["weak"])]
    subsets = np.array(bench["subset"])
    strata = [np.flatnonzero(subsets == s) for s in dict.fromkeys(subsets.tolist())]
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(n_boot):
        rows = resample(rng, strata)
        drawn = bench.select(rows)
        score = [rb.evaluate((margins[i, rows] - margins[j, rows], np.zeros(len(rows))), drawn).sections["Score"]
                 for i, j in pairs]
        diffs.append(np.array(score) - score[top])
    diffs = np.array(diffs)
    for k in range(len(pairs)):
        lo, hi = percentile_interval(diffs[:, k])
        assert (sums.loc[k, "ci_low"], sums.loc[k, "ci_high"]) == pytest.approx((lo, hi), abs=1e-9)


def test_cdr_select_resumes_after_a_kill_and_writes_its_files(tmp_path, bench, selection, monkeypatch, capsys):
    data = tmp_path / "pairs.jsonl"
    write_records(data, bench.to_list())
    out = tmp_path / "select"
    argv = ["select", "--models", "tiny-random-llama", "tiny-random-llama,seed=1,label=llama seed 1",
            "tiny-random-gpt2", "--data", str(data), "--out", str(out), "--bootstrap", "50"]
    original = LogProbScorer.from_pretrained

    def killed_at_the_third(model, **kw):
        if model.name == "tiny-random-gpt2":
            raise KeyboardInterrupt("SIGKILL stand-in")
        return original(model, **kw)

    monkeypatch.setattr(LogProbScorer, "from_pretrained", killed_at_the_third)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 130
    monkeypatch.setattr(LogProbScorer, "from_pretrained", original)
    capsys.readouterr()
    main(argv)
    said = capsys.readouterr().out
    scored = 2 * len(bench)
    assert f"model 1/3 tiny-random-llama: 0 responses scored, {scored} from the cache" in said
    assert f"model 2/3 llama seed 1: 0 responses scored, {scored} from the cache" in said
    assert f"model 3/3 tiny-random-gpt2: {scored} responses scored, 0 from the cache" in said
    assert "[select] recommended:" in said
    written = pd.read_csv(out / "pairs.csv").set_index(["strong", "weak", "reduction"]).sort_index()
    expected = selection.table.set_index(["strong", "weak", "reduction"]).sort_index()
    assert np.allclose(written[list(ps.COLUMNS)], expected[list(ps.COLUMNS)])
    record = json.loads((out / "selection.json").read_text())
    assert record["recommended"]["strong"] == selection.recommended["strong"]
    assert (out / "pair_matrix.png").stat().st_size > 0 and len(pd.read_csv(out / "baselines.csv")) == 3 * 2 + 1


def test_cdr_select_reproduces_the_pair_study_on_the_same_rows(tmp_path, capsys):
    """notebook 01's table (studies.pair_selection: the profile's pool loaded as the recipe says) equals
    `cdr select` given the same rows and the pool written as ,seed= / ,layers= variants."""
    smoke = get_profile("smoke")
    bench = ps.study_bench(smoke)
    study = ps.pair_table(ps.score_pool(smoke, bench, cache_dir=None), smoke.pair_study.reduction)
    data = tmp_path / "bench.jsonl"
    write_records(data, bench.to_list())
    models = [",".join([s.name, f"seed={s.seed}", *([f"layers={s.layers}"] if s.layers else []), f"label={s.label}"])
              for s in smoke.pool]
    main(["select", "--models", *models, "--data", str(data), "--out", str(tmp_path / "out"), "--bootstrap", "10",
          "--max-batch-tokens", str(smoke.max_batch_tokens)])
    written = pd.read_csv(tmp_path / "out" / "pairs.csv")
    written = written[written["reduction"] == smoke.pair_study.reduction].set_index(["strong", "weak"])
    study = study.set_index(["strong", "weak"])
    assert len(written) == len(study) == 20
    assert np.allclose(written.loc[study.index, list(ps.COLUMNS)], study[list(ps.COLUMNS)], atol=1e-9)


@pytest.mark.parametrize("argv,message", [
    (["--models", "tiny-random-llama"], "name at least 2 models"),
    (["--models", "tiny-random-llama", "tiny-random-llama"], "a model is named twice"),
    (["--models", "tiny-random-llama", "tiny-random-gpt2,layer=2"], "'layer=2' is not layers=K"),
    (["--models", "tiny-random-llama", "tiny-random-gpt2,layers=0"], "layers must be a positive integer"),
    (["--models", "tiny-random-llama", "tiny-random-gpt2", "--performance", "nope.json"], "--performance nope.json"),
])
def test_bad_select_options_are_one_line_before_any_model(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(LogProbScorer, "from_pretrained", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(SystemExit) as stop:
        main(["select", *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
