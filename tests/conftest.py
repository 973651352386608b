"""Shared fixtures: the models the tests score with."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here reaches a hub; fail fast instead of retrying
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from cdr_utils import load_model


@pytest.fixture(scope="session")
def tiny_llama():
    return load_model("tiny-random-llama", seed=0)


@pytest.fixture(scope="session")
def tiny_gpt2():
    return load_model("tiny-random-gpt2", seed=0)


@pytest.fixture(scope="session")
def smollm2():
    return load_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def gemma():
    if os.environ.get("CDR_GEMMA", "1") == "0":
        pytest.skip("CDR_GEMMA=0: Gemma Terms of Use declined, model not installed")
    return load_model("gemma3-270m")


@pytest.fixture
def no_vllm(monkeypatch):
    """vLLM absent for one test, whether or not this machine has it (a None entry in sys.modules makes
    `import vllm` fail and importlib.util.find_spec return None)."""
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)


@pytest.fixture
def fake_vllm(monkeypatch):
    """tests/fake_vllm importable as `vllm` for one test, removed from sys.modules afterwards (generate.py looks
    for vllm, so later tests must see the machine as it is)."""
    import sys

    from reference import FAKE_VLLM_DIR

    def drop():
        for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
            del sys.modules[name]

    drop()
    monkeypatch.syspath_prepend(str(FAKE_VLLM_DIR))
    import vllm

    yield vllm
    drop()


# The dry run's stand-ins (tools/dryrun) for one model of each chat-template kind of the paper recipe:
# ChatML with and without BOS (the strong / weak pair), Llama-3 (the policy; its Base-SFT configs stop at a token
# other than the template's), Mistral-Instruct's current and original templates, zephyr.
DRYRUN_MODELS = ("NousResearch/Nous-Hermes-2-Mistral-7B-DPO", "teknium/OpenHermes-2.5-Mistral-7B",
                 "meta-llama/Meta-Llama-3-8B-Instruct", "princeton-nlp/Llama-3-Base-8B-SFT",
                 "mistralai/Mistral-7B-Instruct-v0.2", "princeton-nlp/Mistral-7B-Instruct-DPO",
                 "alignment-handbook/zephyr-7b-sft-full")


@pytest.fixture(scope="session")
def dryrun_stand_ins(tmp_path_factory):
    """(local copies' overrides, {hub id: stand-in folder}), built once per session (~1 min: three tokenizers)."""
    from tools.dryrun.data import build_datasets
    from tools.dryrun.models import build_models

    root = tmp_path_factory.mktemp("dryrun")
    return build_datasets(root / "data"), build_models(root / "models", DRYRUN_MODELS, progress=lambda *a: None)
