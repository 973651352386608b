"""Pair selection (notebook 01): M models scored once serve all M (M - 1) pairs; the pair numbers equal
independent pair evaluations; Spearman and its bootstrap against naive computations; the best-pair artifact;
the weakened (first-k-layers) variants."""
import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from datasets import Dataset

from cdr_utils.studies import artifacts, profiles
from cdr_utils.studies import pair_selection as ps
from cdr_utils.benchmarks import rewardbench as rb
from cdr_utils.logprobs import LogProbScorer
from cdr_utils.models import ModelSpec, load_model, model_revision
from cdr_utils.rewards import DensityRatioReward, density_ratio
from cdr_utils.stats import spearman
from cdr_utils.studies.profiles import get_profile, load_reward

SMOKE = get_profile("smoke")


# -- weakened variants -------------------------------------------------------------------------------------------
def _tiny_gemma3():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=4,
                           layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    return Gemma3ForCausalLM(cfg).eval()


@pytest.mark.parametrize("kind", ["llama", "gpt2", "gemma3"])
def test_first_k_layers_equals_a_model_built_with_k_layers(kind):
    from cdr_utils.models import keep_first_layers

    full = _tiny_gemma3() if kind == "gemma3" else load_model(f"tiny-random-{kind}", seed=0)[0]
    cut = keep_first_layers(copy.deepcopy(full), 1) if kind == "gemma3" else load_model(f"tiny-random-{kind}", layers=1)[0]
    cfg = copy.deepcopy(full.config)
    cfg.num_hidden_layers = 1
    if kind == "gemma3":
        cfg.layer_types = cfg.layer_types[:1]
    reference = type(full)(cfg).eval()  # independent: a model built with one layer, given layer 0's weights
    reference.load_state_dict({k: v for k, v in full.state_dict().items()
                               if not any(f".{name}.{i}." in k for name in ("layers", "h") for i in (1, 2))})
    ids = torch.arange(3, 40)[None] % full.config.vocab_size
    with torch.inference_mode():
        assert torch.allclose(cut(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-6)
        assert not torch.allclose(cut(input_ids=ids).logits, full(input_ids=ids).logits, atol=1e-2)
    assert model_revision(cut) != model_revision(full)  # the score cache keeps the variant apart


def test_variant_has_its_own_cache_entry(tmp_path):
    prompts, responses = [[{"role": "user", "content": "Say hi."}]], ["Hello there."]
    full = LogProbScorer.from_pretrained(ModelSpec("tiny-random-llama"), cache_dir=tmp_path)
    cut = LogProbScorer.from_pretrained(ModelSpec("tiny-random-llama", layers=1), cache_dir=tmp_path)
    a, b = full.score(prompts, responses), cut.score(prompts, responses)
    assert cut.last_stats == {"computed": 1, "cached": 0} and a.sum[0] != b.sum[0]
    assert len(list(tmp_path.iterdir())) == 2
    assert str(ModelSpec("tiny-random-llama", layers=1)) == "tiny-random-llama (first 1 layers)"


# -- M passes for M (M - 1) pairs ---------------------------------------------------------------------------------
def test_m_models_are_scored_exactly_once_each(tmp_path, monkeypatch):
    calls = []
    original = LogProbScorer.score_encoded

    def counting(self, encoded):
        calls.append((self.name, len(encoded)))
        return original(self, encoded)

    monkeypatch.setattr(LogProbScorer, "score_encoded", counting)
    bench = ps.study_bench(SMOKE)
    distinct = len(set(zip(map(str, rb.pair_inputs(bench)[0]), rb.pair_inputs(bench)[1])))
    # notebook 03 scores the profile's pair first: the pool finds those two models in the cache
    load_reward(SMOKE, cache_dir=tmp_path).score(*rb.pair_inputs(bench)[:2])
    assert len(calls) == 2
    calls.clear()
    pool = ps.score_pool(SMOKE, bench, cache_dir=tmp_path)
    m = len(SMOKE.pool)
    assert m == 5 and len(calls) == m - 2  # one pass per model not already cached, each over every response
    assert sorted(name for name, _ in calls) == sorted(str(s) for s in SMOKE.pool[2:])
    assert all(n == distinct for _, n in calls)
    assert [s["computed"] for s in pool.stats] == [0, 0] + [distinct] * (m - 2)
    calls.clear()
    again = ps.score_pool(SMOKE, bench, cache_dir=tmp_path)
    table = ps.pair_table(again)
    ps.gap_analysis(again, SMOKE, n_bootstrap=5)
    assert calls == [] and len(table) == m * (m - 1)  # all 20 pairs from cached numbers, no model run
    assert np.array_equal(again.sums, pool.sums)


def test_pair_table_equals_independent_pair_evaluations():
    specs = (SMOKE.pool[0], SMOKE.pool[3], SMOKE.pool[4])  # llama, gpt2 (another tokenizer), a 1-layer variant
    profile = dataclasses.replace(SMOKE, pool=specs)
    bench = ps.study_bench(profile)
    pool = ps.score_pool(profile, bench, cache_dir=None)
    scorers = [LogProbScorer.from_pretrained(s, max_batch_tokens=SMOKE.max_batch_tokens) for s in specs]
    tables = {red: ps.pair_table(pool, red).set_index(["strong", "weak"]) for red in ("sum", "mean")}
    for i, j in [(i, j) for i in range(3) for j in range(3) if i != j]:
        pair = DensityRatioReward(scorers[i], scorers[j], "sum").score(*rb.pair_inputs(bench)[:2])  # this pair alone
        for reduction, table in tables.items():
            ev = rb.evaluate(density_ratio(pair.strong, pair.weak, reduction), bench)
            row = table.loc[(str(specs[i]), str(specs[j]))]
            for column in ps.COLUMNS:
                assert row[column] == pytest.approx(ev.sections[column], abs=1e-9), (reduction, i, j, column)
    assert len(tables["sum"]) == 6
    single = ps.baseline_table(pool)
    for i, spec in enumerate(specs):
        out = scorers[i].score(*rb.pair_inputs(bench)[:2])
        for name, values in (("log p (sum)", out.sum), ("log p (mean)", out.mean)):
            expected = rb.evaluate(values, bench).sections
            assert list(single.loc[(str(spec), name)]) == pytest.approx([expected[c] for c in ps.COLUMNS])


# -- statistics ---------------------------------------------------------------------------------------------------
def test_spearman_hand_computed():
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) with d = (-1, 1, -1, 1, 0): 1 - 24 / 120
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties take the average rank: x ranks (1, 2.5, 2.5, 4); Pearson of ranks = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)


def _naive_ranks(v):
    v = np.asarray(v, dtype=float)
    return np.array([1 + (v < x).sum() + ((v == x).sum() - 1) / 2 for x in v])


def _synthetic_pool(m=4, per_subset=6, seed=3):
    subsets = ["chat-easy", "chat-hard", "safety-should-refuse", "math"]
    rows = [{"id": f"{s}-{k}", "subset": s} for s in subsets for k in range(per_subset)]
    bench = Dataset.from_list(rows)
    rng = np.random.default_rng(seed)
    n = len(rows)
    skill = np.linspace(0.2, 1.5, m)[:, None]  # later models prefer the chosen response more often
    sums = np.concatenate([rng.normal(skill, 1, (m, n)), rng.normal(0, 1, (m, n))], axis=1) - 30
    tokens = rng.integers(5, 40, (m, 2 * n)).astype(float)
    specs = tuple(ModelSpec(f"model-{k}") for k in range(m))
    return ps.PoolScores(specs, bench, sums, tokens, [{}] * m, [0.0] * m)


def test_gap_analysis_and_bootstrap_match_a_naive_recomputation():
    pool, n_boot, seed = _synthetic_pool(), 12, 7
    result = ps.gap_analysis(pool, SMOKE, measure="log p (mean)", reduction="sum", n_bootstrap=n_boot, seed=seed)
    n = len(pool.bench)

    def naive(rows):
        ds = pool.bench.select(rows)
        cols = np.r_[rows, rows + n]
        means = (pool.sums / pool.n_tokens)[:, cols]
        perf = [rb.evaluate(means[k], ds).sections["Score"] for k in range(len(pool.specs))]
        gaps, accs = [], []
        for i in range(len(perf)):
            for j in range(i + 1, len(perf)):
                s, w = (i, j) if perf[i] > perf[j] else (j, i)
                if perf[s] == perf[w]:
                    continue
                gaps.append(perf[s] - perf[w])
                accs.append(rb.evaluate(pool.sums[s, cols] - pool.sums[w, cols], ds).sections["Score"])
        return perf, gaps, accs

    perf, gaps, accs = naive(np.arange(n))
    assert list(result.performance) == pytest.approx(perf)
    assert list(result.points["gap"]) == pytest.approx(gaps) and list(result.points["accuracy"]) == pytest.approx(accs)
    assert (result.points["gap"] > 0).all()
    assert result.rho == pytest.approx(np.corrcoef(_naive_ranks(gaps), _naive_ranks(accs))[0, 1])
    rng = np.random.default_rng(seed)  # the same stratified draws: each subset's rows with replacement
    groups = [np.flatnonzero(np.array(pool.bench["subset"]) == s) for s in dict.fromkeys(pool.bench["subset"])]
    boot = []
    for _ in range(n_boot):
        _, g, a = naive(np.concatenate([rng.choice(r, len(r)) for r in groups]))
        boot.append(np.corrcoef(_naive_ranks(g), _naive_ranks(a))[0, 1])
    assert result.boot == pytest.approx(np.array(boot))
    assert result.ci == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))


def test_published_performance_is_fixed_and_missing_scores_are_left_out():
    pool = _synthetic_pool()
    published = (("model-0", 10.0, None), ("model-1", 30.0, None), ("model-2", 20.0, None), ("model-3", None, None))
    profile = dataclasses.replace(SMOKE, pair_study=profiles.PairStudyConfig(performance="AlpacaEval 2 LC",
                                                                             published=published))
    result = ps.gap_analysis(pool, profile, n_bootstrap=5)
    table = ps.pair_table(pool).set_index(["strong", "weak"])
    assert np.isnan(result.performance["model-3"])
    assert sorted(zip(result.points["strong"], result.points["weak"], result.points["gap"])) == [
        ("model-1", "model-0", 20.0), ("model-1", "model-2", 10.0), ("model-2", "model-0", 10.0)]
    for _, p in result.points.iterrows():
        assert p["accuracy"] == table.loc[(p["strong"], p["weak"]), "Score"]


# -- the artifact later notebooks read ---------------------------------------------------------------------------
def test_best_pair_artifact(tmp_path, monkeypatch):
    """The chosen pair is an artifact keyed by the study's settings: absent -> an error without build, the study
    run with build=True; present -> read back; another pool -> another key, not this one."""
    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    pool = _synthetic_pool()
    profile = dataclasses.replace(SMOKE, pool=pool.specs)
    with pytest.raises(FileNotFoundError, match="run notebook 01"):
        ps.best_pair(profile, build=False)
    table = ps.pair_table(pool)
    top = table.sort_values("Score", ascending=False, kind="stable").iloc[0]
    record = ps.save_best_pair(profile, pool, table)
    assert (str(ps.best_pair(profile)[0]), str(ps.best_pair(profile)[1])) == (top["strong"], top["weak"])
    [folder] = (tmp_path / "smoke" / "best_pair").iterdir()
    assert json.loads((folder / "best_pair.json").read_text()) == record
    assert folder.name == artifacts.settings_key(ps.study_settings(profile))
    assert record["sections"]["Score"] == table["Score"].max()
    other = dataclasses.replace(profile, pool=pool.specs[:3])  # another pool: the artifact does not apply
    with pytest.raises(FileNotFoundError):
        ps.best_pair(other, build=False)
    calls = []
    monkeypatch.setattr(ps, "study_bench", lambda p, seed=0: pool.bench)
    monkeypatch.setattr(ps, "score_pool", lambda p, bench, seed=0: calls.append(p) or pool)
    built = ps.best_pair(other, build=True)  # build=True runs the study when the artifact is missing
    assert calls == [other] and (str(built[0]), str(built[1])) == (top["strong"], top["weak"])
    assert len(list((tmp_path / "smoke" / "best_pair").iterdir())) == 2


def _margin_pool(margins: np.ndarray) -> ps.PoolScores:
    """Models 0..2 (model-0 over model-1 is the profile's pair) with given log p(chosen) - log p(rejected) per row;
    4 subsets (one per section) of 10 rows."""
    subsets = ["chat-easy", "chat-hard", "safety-should-refuse", "math"]
    bench = Dataset.from_list([{"id": f"{s}-{k}", "subset": s} for s in subsets for k in range(10)])
    sums = np.concatenate([margins - 30.0, np.full_like(margins, -30.0)], axis=1)
    return ps.PoolScores(tuple(ModelSpec(f"model-{k}") for k in range(3)), bench, sums,
                         np.full(sums.shape, 10.0), [{}] * 3, [0.0] * 3)


def test_best_pair_switches_only_beyond_the_noise(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    specs = tuple(ModelSpec(f"model-{k}") for k in range(3))
    profile = dataclasses.replace(SMOKE, pool=specs, strong=specs[0], weak=specs[1])
    # Near tie: model-2 = model-0 but right on one more chat row. Pairs (over model-1, whose margin is 0):
    # (2,1) wrong only on math-0 -> Chat 100, Reasoning 90 -> 97.5; (0,1) also wrong on chat-easy-0 -> 95.0.
    m0 = np.ones(40)
    m0[[0, 30]] = -1
    m2 = m0.copy()
    m2[0] = 1
    pool = _margin_pool(np.stack([m0, np.zeros(40), m2]))
    record = ps.save_best_pair(profile, pool, ps.pair_table(pool))
    assert record["top"]["strong"] == "model-2" and record["top"]["weak"] == "model-1" and record["top"]["Score"] == 97.5
    assert record["top_minus_profile_pair"]["points"] == 2.5
    assert record["top_minus_profile_pair"]["ci"][0] == 0.0  # the one deciding row is missed by 35% of resamples
    assert ps.best_pair(profile) == (specs[0], specs[1]) and record["sections"]["Score"] == 95.0
    # Clear lead: model-0 right on half the rows (50.0), model-2 on all (100.0 over model-1): switch.
    m0 = np.where(np.arange(40) % 10 < 5, 1.0, -1.0)
    pool = _margin_pool(np.stack([m0, np.zeros(40), np.ones(40)]))
    record = ps.save_best_pair(profile, pool, ps.pair_table(pool))
    assert record["top_minus_profile_pair"]["points"] == 50.0 and record["top_minus_profile_pair"]["ci"][0] > 0
    assert ps.best_pair(profile) == (specs[2], specs[1]) and record["sections"]["Score"] == 100.0
