"""pairs.py: pair building (tie rules, seeds), reward-augmented relabeling, and loading into TRL's DPOTrainer."""
import copy
import hashlib
import json
import math
import os
import re

import numpy as np
import pytest

from cdr_utils import chat
from cdr_utils.chat import RecordError, has_system_role, prompt_id
from cdr_utils.pairs import CONDITION, build_pairs, conditioned_prompt, fit_rating_bins, reward_augment, to_rating
from cdr_utils.tiny import CHATML_TEMPLATE


def user(text):
    return [{"role": "user", "content": text}]


ROWS = [
    {"prompt": user("A"), "responses": ["a1", "a2", "a3"], "rewards": [1.0, 3.0, -2.0]},      # pair a2 > a3
    {"prompt": user("B"), "responses": ["b1", "b2"], "rewards": [2.0, 2.0]},                  # all tied
    {"prompt": user("C"), "responses": ["same", " same ", "c3"], "rewards": [5.0, 1.0, 5.0]},  # same text
    {"prompt": user("D"), "responses": ["d1"], "rewards": [1.0]},                             # one candidate
    {"prompt": user("E"), "responses": ["e1", "e2", "e3"], "rewards": [0.5, 0.5, 0.2]},       # tie for best
]
NAN_ROW = {"prompt": user("F"), "responses": ["f1", "f2"], "rewards": [1.0, float("nan")]}


def test_build_pairs_tie_rules_exact_rows():
    pairs, stats = build_pairs([dict(r, pair="s over w", customization="none") for r in ROWS])
    assert pairs.to_list() == [
        {"prompt_id": prompt_id(user("A")), "prompt": user("A"), "chosen": [{"role": "assistant", "content": "a2"}],
         "rejected": [{"role": "assistant", "content": "a3"}], "score_chosen": 3.0, "score_rejected": -2.0,
         "margin": 5.0, "customization": "none", "pair": "s over w"},
        {"prompt_id": prompt_id(user("E")), "prompt": user("E"), "chosen": [{"role": "assistant", "content": "e1"}],
         "rejected": [{"role": "assistant", "content": "e3"}], "score_chosen": 0.5, "score_rejected": 0.2,
         "margin": pytest.approx(0.3), "customization": "none", "pair": "s over w"}]
    assert stats == {"prompts": 5, "pairs": 2, "single": 1, "all_tied": 1, "identical_text": 1, "below_margin": 0,
                     "nonfinite": 0, "empty_responses": 0}
    pairs, stats = build_pairs(ROWS, min_margin=0.5)  # E's gap 0.3 < 0.5
    assert pairs["prompt_id"] == [prompt_id(user("A"))] and stats["below_margin"] == 1


def test_build_pairs_nonfinite():
    with pytest.raises(RecordError, match=r"record 5, field 'rewards\[1\]'.*nan"):
        build_pairs(ROWS + [NAN_ROW])
    pairs, stats = build_pairs(ROWS + [dict(NAN_ROW, rewards=[math.inf, 0.0])], drop_nonfinite=True)
    assert len(pairs) == 2 and stats["nonfinite"] == 1
    with pytest.raises(RecordError, match="record 0, field 'rewards'"):
        build_pairs([{"prompt": user("A"), "responses": ["x", "y"], "rewards": [1.0]}])


def test_empty_responses_are_no_candidates():
    """score_candidates leaves an empty response unscored (NaN): it is skipped and counted, not an error, and a
    prompt left with one real candidate makes no pair."""
    rows = [{"prompt": user("G"), "responses": ["g1", " ", "g3"], "rewards": [1.0, float("nan"), 4.0]},
            {"prompt": user("H"), "responses": ["h1", ""], "rewards": [2.0, float("nan")]}]
    pairs, stats = build_pairs(rows)
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [("g3", "g1")]
    assert stats["empty_responses"] == 2 and stats["single"] == 1 and stats["nonfinite"] == 0


def test_prompt_id_is_stable_and_content_based():
    """The id names a conversation by its (role, content) turns in order: extra keys and key order do not matter,
    every change of role, content, order or turn boundary does, and another process (another hash seed) agrees."""
    import subprocess
    import sys

    a = [{"role": "user", "content": "ab"}, {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"}]
    same = [{"content": m["content"], "role": m["role"], "name": "x"} for m in a]
    assert prompt_id(a) == prompt_id(same) and re.fullmatch(r"[0-9a-f]{16}", prompt_id(a))
    variants = [[{**a[0], "content": "a"}, {**a[1], "content": "bc"}, a[2]],  # the turn boundary moved
                [{**a[0], "role": "system"}, *a[1:]], [a[2], a[1], a[0]], a[:2] + [{**a[2], "content": "d "}], a[1:]]
    assert len({prompt_id(v) for v in [a, *variants]}) == 1 + len(variants)
    # chat.py alone (standard library only): the package's import of torch and transformers would cost 5 s a process
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('chat', {chat.__file__!r}); "
            "m = sys.modules['chat'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            f"print(m.prompt_id({a!r}))")
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        assert out == prompt_id(a)


def _random_rows(n=40, k=5):
    rng = np.random.default_rng(123)
    return [{"prompt": user(f"prompt {i}"), "responses": [f"answer {i}.{j}" for j in range(k)],
             "rewards": rng.normal(size=k).round(3).tolist()} for i in range(n)]


def _digest(ds) -> str:
    return hashlib.sha256(json.dumps(ds.to_list(), sort_keys=True).encode()).hexdigest()


def test_best_random_seeded_and_order_free():
    rows = _random_rows()
    a, _ = build_pairs(rows, strategy="best_random", seed=7)
    b, _ = build_pairs(copy.deepcopy(rows), strategy="best_random", seed=7)
    assert _digest(a) == _digest(b)
    c, _ = build_pairs(rows, strategy="best_random", seed=8)
    assert _digest(c) != _digest(a)
    shuffled, _ = build_pairs(rows[::-1], strategy="best_random", seed=7)  # a prompt's pick ignores row order
    assert {r["prompt_id"]: r for r in shuffled} == {r["prompt_id"]: r for r in a}
    worst_hits = 0
    for row, pair in zip(rows, a):
        r = np.array(row["rewards"])
        assert pair["chosen"][0]["content"] == row["responses"][int(np.argmax(r))]
        j = row["responses"].index(pair["rejected"][0]["content"])
        assert r[j] < r.max() and pair["score_rejected"] == r[j]
        worst_hits += j == int(np.argmin(r))
    assert 0 < worst_hits < len(rows) / 2  # uniform over 4 lower candidates: worst ~ 1 in 4
    bw, _ = build_pairs(rows, strategy="best_worst")
    assert all(p["score_rejected"] == min(r["rewards"]) for p, r in zip(bw, rows))


def _pairs_for_augment():
    rows = [{"prompt": user(f"q{i}"), "responses": [f"good {i}", f"bad {i}"], "rewards": [w, l]}
            for i, (w, l) in enumerate([(8, 1), (7, 2), (6, 3), (5, 4)])]
    return build_pairs(rows)[0]


def test_rating_bins_by_hand():
    edges = fit_rating_bins(np.arange(1, 9), levels=4)  # quartiles of 1..8 (linear): 2.75, 4.5, 6.25
    assert edges == pytest.approx([2.75, 4.5, 6.25])
    assert to_rating(np.arange(1, 9), edges).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]


@pytest.mark.parametrize("system_role", [True, False])
def test_reward_augment_swaps_and_conditions_once(system_role):
    aug, info = reward_augment(_pairs_for_augment(), levels=4, system_role=system_role)
    assert info["rows"] == 8 and info["same_bin"] == 0
    expected = [(4, 1), (4, 1), (3, 2), (3, 2)]  # (rating of chosen, of rejected), by hand from the quartiles
    for i, (r_w, r_l) in enumerate(expected):
        first, second = aug[2 * i], aug[2 * i + 1]
        assert (first["rating"], first["swapped"], second["rating"], second["swapped"]) == (r_w, False, r_l, True)
        assert first["chosen"][0]["content"] == second["rejected"][0]["content"] == f"good {i}"
        assert first["rejected"][0]["content"] == second["chosen"][0]["content"] == f"bad {i}"
        assert second["score_chosen"] < second["score_rejected"] and second["margin"] < 0
        for row in (first, second):
            text = CONDITION.format(rating=row["rating"], levels=4)
            everything = json.dumps(row["prompt"])
            assert everything.count("quality rating") == 1 and text in everything
            roles = [m["role"] for m in row["prompt"]]
            if system_role:
                assert roles == ["system", "user"] and row["prompt"][0]["content"] == text
            else:
                assert roles == ["user"] and row["prompt"][0]["content"] == f"{text}\n\nq{i}"


def test_conditioning_with_existing_system_message_and_same_bin():
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    top = CONDITION.format(rating=10, levels=10)
    assert conditioned_prompt(prompt) == [{"role": "system", "content": f"{top}\n\nBe brief."},
                                          {"role": "user", "content": "Hi"}]
    assert conditioned_prompt(prompt, 3, system_role=False)[1]["content"].count("quality rating") == 1
    pairs, _ = build_pairs([{"prompt": user("q"), "responses": ["x", "y"], "rewards": [5.0, 4.9]}])
    aug, info = reward_augment(pairs, levels=3, edges=[0.0, 10.0])  # both scores in bin 2
    assert len(aug) == 1 and info["same_bin"] == 1 and aug[0]["chosen"][0]["content"] == "x"


NO_SYSTEM_TEMPLATE = (  # Mistral-style: raises on any role but user/assistant
    "{%- for m in messages -%}{%- if m['role'] not in ['user', 'assistant'] -%}"
    "{{ raise_exception('Only user and assistant roles are supported') }}{%- endif -%}"
    "{{ '[' + m['role'] + '] ' + m['content'] + '\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '[assistant] ' }}{%- endif -%}")


def test_conditioning_renders_once_in_both_template_kinds(tiny_llama):
    _, tok = tiny_llama
    assert has_system_role(tok, CHATML_TEMPLATE) and not has_system_role(tok, NO_SYSTEM_TEMPLATE)
    for template in (CHATML_TEMPLATE, NO_SYSTEM_TEMPLATE):
        aug, _ = reward_augment(_pairs_for_augment(), levels=4, system_role=has_system_role(tok, template))
        for row in aug:
            text = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True,
                                           chat_template=template)
            assert text.count(CONDITION.format(rating=row["rating"], levels=4)) == 1
            assert text.count("quality rating") == 1


def test_pairs_load_in_trl_dpo_trainer(tmp_path, tiny_llama):
    """Both datasets train one DPO step; with the reference = a copy of the policy the first loss is
    -log sigmoid(0) = log 2 exactly (DPO, Rafailov et al. 2023, Eq. 7), so the pairs were read as pairs."""
    import torch
    from trl import DPOConfig, DPOTrainer

    from cdr_utils import load_model

    pairs = _pairs_for_augment()
    aug, _ = reward_augment(pairs, levels=4)
    for name, data in (("plain", pairs), ("augmented", aug)):
        model, tok = load_model("tiny-random-llama", seed=0)
        ref, _ = load_model("tiny-random-llama", seed=0)
        args = DPOConfig(output_dir=str(tmp_path / name), max_steps=1, per_device_train_batch_size=4, bf16=False,
                         learning_rate=1e-3, logging_steps=1, report_to=[], save_strategy="no", max_length=256)
        trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=data, processing_class=tok)
        trainer.train()
        logged = next(h for h in trainer.state.log_history if "loss" in h)
        assert logged["loss"] == pytest.approx(math.log(2), abs=1e-3)
        assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), ref.parameters()))
