"""The dry run's stand-ins (tools/dryrun): model families with their real special-token ids, vocabulary
sizes and chat templates; stop tokens that end samples; the local judge in each benchmark's format; the overrides
that point every hub model of the paper recipe at a stand-in."""
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from cdr_utils.chat import ChatEncoder, has_system_role
from cdr_utils.benchmarks.policy.judges import HttpJudge, parse_verdict
from cdr_utils.benchmarks.policy.mtbench import parse_rating
from cdr_utils.generate import GenerationConfig, generate_responses, stop_token_ids
from cdr_utils.models import load_model
from tools.dryrun import __main__ as dryrun_main
from tools.dryrun.__main__ import model_overrides
from tools.dryrun.judge import JudgeServer
from tools.dryrun.models import STAND_INS
from cdr_utils.studies.recipes import read_recipe

# Renderings of [system "SYS", user "Hi", assistant "Hello!"] by the models' shipped templates, made with
# jinja2 (trim_blocks, lstrip_blocks: transformers' settings) from the template texts of the model repositories
# (Nous-Hermes-2 commit ebec0a6, OpenHermes-2.5 special_tokens_map / template, Meta-Llama-3-8B-Instruct via
# Meta's reference tokenizer and copies citing commit a8977699, Mistral-7B-Instruct-v0.2 commit 250544c, SimPO's
# chat_templates.json "mistral-instruct", alignment-handbook's zephyr recipe), 2026-12-01.
RENDERED = {
    "NousResearch/Nous-Hermes-2-Mistral-7B-DPO":
        "<s><|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!"
        "<|im_end|>\n",
    "teknium/OpenHermes-2.5-Mistral-7B":
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!"
        "<|im_end|>\n",
    "meta-llama/Meta-Llama-3-8B-Instruct":
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|><|start_header_id|>user"
        "<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
    "mistralai/Mistral-7B-Instruct-v0.2": "<s> [INST] SYS\n\nHi [/INST] Hello!</s>",
    "alignment-handbook/zephyr-7b-sft-full": "<|system|>\nSYS</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n",
}
CONVERSATION = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}]
# special tokens at their ids (added_tokens.json / Meta's tokenizer.py); vocabulary sizes of the configs
IDS = {"<|im_end|>": 32000, "<|im_start|>": 32001, "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001,
       "<|start_header_id|>": 128006, "<|end_header_id|>": 128007, "<|eot_id|>": 128009, "<s>": 1, "</s>": 2}
VOCAB = {"NousResearch/Nous-Hermes-2-Mistral-7B-DPO": 32002, "teknium/OpenHermes-2.5-Mistral-7B": 32002,
         "meta-llama/Meta-Llama-3-8B-Instruct": 128256, "mistralai/Mistral-7B-Instruct-v0.2": 32000,
         "alignment-handbook/zephyr-7b-sft-full": 32000}


@pytest.fixture(scope="module")
def stand_ins(dryrun_stand_ins):
    return dryrun_stand_ins[1]


def test_templates_special_tokens_and_vocabularies_are_the_families(stand_ins):
    for name, expected in RENDERED.items():
        model, tok = load_model(str(stand_ins[name]), dtype=torch.bfloat16)
        assert tok.apply_chat_template(CONVERSATION, tokenize=False) == expected, name
        assert len(tok) == model.config.vocab_size == VOCAB[name], name
        assert model.dtype == torch.bfloat16
        for token, i in IDS.items():
            if token in expected:
                assert tok.convert_tokens_to_ids(token) == i, (name, token)
    _, llama = load_model(str(stand_ins["meta-llama/Meta-Llama-3-8B-Instruct"]))
    assert llama.pad_token is None  # as Llama-3 ships
    # the original Mistral-Instruct template raises on a system message; the current one folds it in
    _, dec2023 = load_model(str(stand_ins["princeton-nlp/Mistral-7B-Instruct-DPO"]))
    assert not has_system_role(dec2023)
    with pytest.raises(Exception, match="roles must alternate"):
        dec2023.apply_chat_template(CONVERSATION, tokenize=False)


def test_response_spans_end_at_each_familys_end_of_turn(stand_ins):
    """The scorer's response span: the answer's tokens then exactly the family's end-of-turn token."""
    for name, eot in (("meta-llama/Meta-Llama-3-8B-Instruct", 128009), ("teknium/OpenHermes-2.5-Mistral-7B", 32000),
                      ("mistralai/Mistral-7B-Instruct-v0.2", 2), ("alignment-handbook/zephyr-7b-sft-full", 2)):
        _, tok = load_model(str(stand_ins[name]))
        enc = ChatEncoder(tok).encode([{"role": "user", "content": "Hi"}], "Hello there!")
        span = enc.ids[enc.start:enc.end]
        assert span[-1] == eot and tok.decode(span[:-1]).strip() == "Hello there!", name


def test_samples_stop_at_the_stop_tokens(stand_ins):
    model, tok = load_model(str(stand_ins["meta-llama/Meta-Llama-3-8B-Instruct"]), dtype=torch.bfloat16)
    assert stop_token_ids(model, tok) == [128001, 128009]
    cfg = GenerationConfig(n=4, temperature=0.8, top_p=0.95, max_new_tokens=400, batch_size=8)
    out = generate_responses(model, tok, [[{"role": "user", "content": "Hi"}]] * 2, config=cfg, progress=False)
    rows = [d for per in out for d in per]
    assert all(d["finished"] and d["response"] for d in rows)
    assert sum(d["n_tokens"] for d in rows) / len(rows) < 120  # ~30 tokens expected, never the limit


def test_the_judge_answers_each_format_and_checks_the_key(monkeypatch, tmp_path):
    monkeypatch.setenv("CDR_JUDGE_API_KEY", "secret")
    with JudgeServer() as server:
        judge = HttpJudge(server.url, "gpt-4-1106-preview", backoff=0.01)
        assert parse_verdict(judge.pairwise("Q?", "answer A", "answer B")) in ("A>>B", "A>B", "A=B", "B>A", "B>>A")
        assert 1 <= parse_rating(judge.single("Q?", "an answer")) <= 10
        assert 1 <= parse_rating(judge.multi_turn(["Q1", "Q2"], ["A1", "A2"])) <= 10
        assert judge.pairwise("Q?", "x", "y") == judge.pairwise("Q?", "x", "y")  # the same on every run
        request = urllib.request.Request(server.url + "/models", headers={"Authorization": "Bearer secret"})
        assert json.load(urllib.request.urlopen(request))["data"][0]["id"] == "dry-run-judge"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(server.url + "/models")


def test_every_hub_model_of_the_paper_recipe_gets_a_stand_in(tmp_path):
    recipe, _ = read_recipe("paper")
    folders = {name: tmp_path / name.replace("/", "--") for name in STAND_INS}
    out = model_overrides(recipe, folders)
    assert set(out) == {"strong", "weak", "generation.policy", *(f"pool.{i}" for i in range(len(recipe["pool"])))}
    for key, spec in out.items():
        assert spec["label"] in STAND_INS and spec["name"] == str(folders[spec["label"]]), key


def test_a_relative_root_gives_absolute_paths_in_the_overrides(tmp_path, monkeypatch):
    """`make dryrun` builds into .cache/dryrun (relative) and the notebooks run in notebooks/: every path the
    overrides file hands them is absolute, under the root as seen from where the build ran."""
    monkeypatch.setattr(dryrun_main, "build_datasets", lambda folder, seed: {"bench": str(folder / "reward-bench")})
    monkeypatch.setattr(dryrun_main, "build_models",
                        lambda folder, names, seed: {n: folder / n.replace("/", "--") for n in names})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache" / "dryrun").mkdir(parents=True)  # the stubs build nothing
    overrides = yaml.safe_load(dryrun_main.build(Path("cache/dryrun")).read_text())
    assert overrides["bench"] == str(tmp_path / "cache" / "dryrun" / "data" / "reward-bench")
    models = [v["name"] for v in overrides.values() if isinstance(v, dict)]
    assert len(models) == len(overrides) - 1 and all(m.startswith(str(tmp_path / "cache" / "dryrun")) for m in models)
