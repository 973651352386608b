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
