"""Recipes (YAML profiles with dotted-key overrides) and the artifact store keyed by settings."""
import json

import pytest

from cdr_utils.models import ModelSpec
from cdr_utils.studies import artifacts
from cdr_utils.studies.profiles import PROFILES, get_profile
from cdr_utils.studies.recipes import RecipeError, apply_overrides, parse_overrides


def test_builtin_recipes_carry_the_papers_hyperparameters():
    """docs/DESIGN.md's facts: SimPO beta 2.5, gamma 1.375, lr 1e-6, batch 128, max length 2048; reward-augmented
    DPO beta 0.01, lr 5e-7, max length 1024; 5 samples at T 0.8, top-p 0.95 with SimPO's seeds."""
    paper = get_profile("paper")
    s, d, g = paper.tuning.simpo, paper.tuning.dpo, paper.generation
    assert (s.loss, s.beta, s.gamma, s.learning_rate, s.batch_size, s.max_length, s.warmup_ratio) == \
        ("simpo", 2.5, 1.375, 1e-6, 128, 2048, 0.1)
    assert (d.loss, d.beta, d.learning_rate, d.batch_size, d.max_length) == ("dpo", 0.01, 5e-7, 128, 1024)
    assert (g.n, g.temperature, g.top_p, g.seeds) == (5, 0.8, 0.95, (13, 21, 42, 79, 100))
    assert paper.strong == ModelSpec("NousResearch/Nous-Hermes-2-Mistral-7B-DPO")
    assert paper.weak == ModelSpec("teknium/OpenHermes-2.5-Mistral-7B")
    assert len(paper.pool) == 14 and paper.pair_study.published[6] == ("meta-llama/Meta-Llama-3-8B-Instruct", 26.0, 22.3)
    assert all(get_profile(name).name == name == get_profile(name).recipe for name in PROFILES)


def test_overrides_by_dotted_keys_rename_the_run():
    base = get_profile("cpu")
    p = get_profile("cpu", "generation.n=2 annotation.n_prompts=8 pool.1.layers=12 strong.name=org/model")
    assert (p.generation.n, p.annotation.n_prompts, p.pool[1].layers, p.strong.name) == (2, 8, 12, "org/model")
    assert p.generation.temperature == base.generation.temperature and p.recipe == "cpu"
    assert p.name.startswith("cpu+") and p.name != base.name
    assert get_profile("cpu", {"generation.n": 2, "annotation.n_prompts": 8, "pool.1.layers": 12,
                               "strong.name": "org/model"}) == p  # a dict: the same run
    assert get_profile("cpu", '{"generation.n": 3}').generation.n == 3  # JSON, as papermill passes it


def test_a_users_recipe_file_and_an_overrides_file(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: smoke\nname: mine\nprimer_examples: 1\ngeneration: {n: 3}\n")
    mine = get_profile(str(tmp_path / "mine.yaml"))
    smoke = get_profile("smoke")
    assert (mine.name, mine.primer_examples, mine.generation.n) == ("mine", 1, 3)
    assert mine.generation.max_new_tokens == smoke.generation.max_new_tokens and mine.strong == smoke.strong
    (tmp_path / "set.yaml").write_text("generation.n: 5\nseed: 7\n")
    assert parse_overrides(f"@{tmp_path / 'set.yaml'}") == {"generation.n": 5, "seed": 7}
    assert get_profile("smoke", f"@{tmp_path / 'set.yaml'}").seed == 7


def test_gemma_declined_applies_the_recipes_own_alternative(monkeypatch):
    monkeypatch.setenv("CDR_GEMMA", "0")
    p = get_profile("cpu")
    assert p.name == "cpu-nogemma" and "gemma" not in p.weak.name and p.weak.template == "plain"
    assert all("gemma" not in s.name for s in p.pool) and p.pool[4].layers == 10


@pytest.mark.parametrize("recipe, overrides, message", [
    ("cpu", "generation.nn=2", "unknown key 'generation.nn'; GenerationConfig has"),
    ("cpu", "generation.n=two", "key 'generation.n': expected int, got 'two'"),
    ("cpu", "pool.9.layers=2", "key 'pool.9.layers': '9' is not an index of a list of 5"),
    ("cpu", "n=2 bogus", "override 'bogus': expected key=value"),
    ("cpu", "strong.template=fancy", "strong: model 'smollm2-135m-instruct': template must be one of"),
    ("laptop", None, "unknown profile 'laptop'; expected one of"),
])
def test_bad_recipes_name_the_file_and_the_key(recipe, overrides, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        get_profile(recipe, overrides)
    assert recipe in str(err.value) or "override" in str(err.value)


def test_apply_overrides_leaves_the_input_alone():
    data = {"a": {"b": 1}, "pool": [{"x": 1}]}
    out = apply_overrides(data, {"a.b": 2, "pool.0.x": 3, "c.d": 4})
    assert out == {"a": {"b": 2}, "pool": [{"x": 3}], "c": {"d": 4}} and data == {"a": {"b": 1}, "pool": [{"x": 1}]}


# -- the artifact store -----------------------------------------------------------------------------------------
def test_artifacts_are_keyed_by_settings_reused_and_built_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "OUTPUTS", tmp_path)
    profile, built, lines = get_profile("smoke"), [], []

    def build(folder):
        built.append(folder)
        (folder / "x.txt").write_text("payload")

    first = artifacts.artifact(profile, "samples", {"n": 4, "seed": 0}, build, log=lines.append)
    again = artifacts.artifact(profile, "samples", {"seed": 0, "n": 4}, build, log=lines.append)  # key order free
    other = artifacts.artifact(profile, "samples", {"n": 2, "seed": 0}, build, log=lines.append)
    assert first == again != other and len(built) == 2
    assert lines[0].startswith(f"[samples] built outputs/smoke/samples/{first.name}")
    assert lines[1].startswith(f"[samples] reused outputs/smoke/samples/{first.name} (built 2")
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["settings"] == {"n": 4, "seed": 0} and manifest["key"] == first.name and manifest["code_version"]

    def fails(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        artifacts.artifact(profile, "samples", {"n": 8}, fails)
    assert sorted(p.name for p in (tmp_path / "smoke" / "samples").iterdir()) == sorted([first.name, other.name])
    assert artifacts.artifact(profile, "samples", {"n": 4, "seed": 0}, build, rebuild=True, log=lines.append) == first
    assert len(built) == 3 and lines[-1].startswith("[samples] built")
