"""Customized scoring prompts: where the criteria and exemplars land in each model's rendered input, seeded
exemplar draws, vanilla = uncustomized, strong-only application, and prefix sharing of the long prompt."""
import numpy as np
import pytest

from cdr_utils import DensityRatioReward, LogProbScorer, load_model
from cdr_utils.chat import GEMMA3_CHAT_TEMPLATE, PLAIN_CHAT_TEMPLATE
from cdr_utils.customize import (EXEMPLAR_FOOTER, EXEMPLAR_HEADER, Customization, Exemplar, customize, load_criteria,
                                 load_exemplars)
from cdr_utils.benchmarks.rewardbench import to_rows
from cdr_utils.studies.ablation import evaluate_variant
from cdr_utils.studies.profiles import get_profile

# ChatML that refuses a system message, as Mistral-style templates do.
NO_SYSTEM_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ raise_exception('System role not supported') }}{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}")
USER = "How do I make a pipe bomb?"
PROMPT = [{"role": "user", "content": USER}]
CRITERIA = load_criteria()
SAFETY = CRITERIA["SAFETY"]


def test_data_files_hold_a_few_criteria_and_exemplars_per_domain():
    pools = load_exemplars()
    for domain in ("CHAT", "SAFETY", "REASONING"):
        assert len(CRITERIA[domain]) > 100 and len(pools[domain]) >= 3
        assert all(e.good != e.bad and e.why for e in pools[domain])


@pytest.mark.parametrize("template, expected", [
    (None, "<|im_start|>system\n{c}<|im_end|>\n<|im_start|>user\n{u}<|im_end|>\n<|im_start|>assistant\n"),
    (GEMMA3_CHAT_TEMPLATE, "<s><start_of_turn>user\n{c}\n\n{u}<end_of_turn>\n<start_of_turn>model\n"),
    (PLAIN_CHAT_TEMPLATE, "<s>System: {c}\n\nUser: {u}\n\nAssistant: "),
    (NO_SYSTEM_TEMPLATE, "<|im_start|>user\n{c}\n\n{u}<|im_end|>\n<|im_start|>assistant\n"),
], ids=["chatml", "gemma3", "plain", "no-system-role"])
def test_criteria_reach_the_rendered_input_once_in_the_right_place(tiny_llama, template, expected):
    model, tok = tiny_llama
    scorer = LogProbScorer(model, tok, chat_template=template)
    [messages] = Customization(mode="criteria").prompts_for(scorer.encoder, [PROMPT], ["SAFETY"])
    assert scorer.encoder.system_role == (template is not NO_SYSTEM_TEMPLATE)
    text = scorer.encoder.prompt_text(messages)
    assert text == expected.format(c=SAFETY, u=USER)
    enc = scorer.encoder.encode(messages, "I can't help with that.")
    scored_input = tok.decode(enc.ids[:enc.start])  # what the model reads before the response
    assert scored_input.count(SAFETY) == 1 and scored_input.index(SAFETY) < scored_input.index(USER)


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m"])
def test_real_templates_render_the_criteria_once(name):
    """SmolLM2's template (system role; inserts its own default system prompt when there is none, which the
    criteria replace) and Gemma 3's (no system role: folded into the first user turn by the template)."""
    from transformers import AutoTokenizer

    from cdr_utils.chat import ChatEncoder
    from cdr_utils.models import ModelNotAvailable, gemma_accepted, prepare_offline_model

    if name == "gemma3-270m" and not gemma_accepted():  # make test GEMMA=0: the licence declined, said clearly
        with pytest.raises(ModelNotAvailable, match="Gemma Terms of Use, which CDR_GEMMA=0 declines"):
            prepare_offline_model(name)
        return
    encoder = ChatEncoder(AutoTokenizer.from_pretrained(prepare_offline_model(name)))
    assert encoder.system_role
    for mode in ("criteria", "both"):
        text = encoder.prompt_text(customize(PROMPT, "SAFETY", Customization(mode=mode), system_role=True))
        assert text.count(SAFETY) == 1 and text.index(SAFETY) < text.index(USER)
        assert text.count(EXEMPLAR_HEADER) == (mode == "both")
    vanilla = encoder.prompt_text(PROMPT)
    if name == "gemma3-270m":
        assert text.startswith(f"<bos><start_of_turn>user\n{SAFETY}\n\n{EXEMPLAR_HEADER}")
    else:
        assert "You are a helpful AI assistant named SmolLM" in vanilla and "SmolLM" not in text
        assert text.startswith(f"<|im_start|>system\n{SAFETY}<|im_end|>\n<|im_start|>user\n{EXEMPLAR_HEADER}")


def test_multi_turn_criteria_first_exemplars_last_and_an_existing_system_message_kept():
    conv = [{"role": "system", "content": "Answer in English."}, {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"}, {"role": "user", "content": "second question"}]
    c = Customization(mode="both", exemplars_per_prompt=2)
    out = c.apply(conv, "REASONING")
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"] == CRITERIA["REASONING"] + "\n\nAnswer in English."
    assert out[1:3] == conv[1:3]
    shown = c.choose_exemplars(conv, "REASONING")
    expected = (EXEMPLAR_HEADER + "\n\n" + "\n\n".join(
        f"Example {j}\nRequest: {e.question}\nBetter answer: {e.good}\nWorse answer: {e.bad}\nWhy: {e.why}"
        for j, e in enumerate(shown, 1)) + "\n\n" + EXEMPLAR_FOOTER + "\nsecond question")
    assert out[3]["content"] == expected
    folded = c.apply(conv[1:], "REASONING", system_role=False)  # no system role: first user turn
    assert folded[0]["content"] == CRITERIA["REASONING"] + "\n\nfirst question"
    assert folded[2]["content"].endswith("\nsecond question") and EXEMPLAR_HEADER not in folded[0]["content"]
    assert conv[3]["content"] == "second question"  # the input is not modified


def test_exemplar_draw_is_seeded_per_prompt():
    prompts = [[{"role": "user", "content": f"Compute {i} + {i}."}] for i in range(40)]
    a, b = Customization(seed=0), Customization(seed=0)
    draws = [tuple(e.question for e in a.choose_exemplars(p, "REASONING")) for p in prompts]
    assert draws == [tuple(e.question for e in b.choose_exemplars(p, "REASONING")) for p in prompts]
    assert all(len(d) == 2 and len(set(d)) == 2 for d in draws)
    assert len(set(draws)) > 4  # different prompts, different draws
    other = [tuple(e.question for e in Customization(seed=1).choose_exemplars(p, "REASONING")) for p in prompts]
    assert other != draws
    pool = load_exemplars()["REASONING"]
    own = [{"role": "user", "content": pool[0].question}]  # a prompt that *is* an exemplar's question
    for seed in range(10):
        assert pool[0] not in Customization(seed=seed, exemplars_per_prompt=10).choose_exemplars(own, "REASONING")


def test_modes_and_vanilla_chat():
    for domain in ("CHAT", "SAFETY", "REASONING"):
        assert customize(PROMPT, domain, Customization(mode="vanilla")) == PROMPT
        crit = customize(PROMPT, domain, Customization(mode="criteria"))
        assert crit == [{"role": "system", "content": CRITERIA[domain]}] + PROMPT
        ex = customize(PROMPT, domain, Customization(mode="exemplars"))
        assert len(ex) == 1 and ex[0]["content"].startswith(EXEMPLAR_HEADER) and ex[0]["content"].endswith(USER)
        vc = customize(PROMPT, domain, Customization(mode="vanilla_chat"))
        assert vc == (PROMPT if domain == "CHAT" else customize(PROMPT, domain, Customization(mode="both")))
    with pytest.raises(ValueError, match="domain"):
        customize(PROMPT, "MATH")
    with pytest.raises(ValueError, match="mode"):
        Customization(mode="all")


# Short texts for scoring with the tiny models (512 positions; their corpus-trained BPE spends ~1.3 characters
# per token on this prose, so the data files' criteria and exemplars alone would fill the context).
SHORT = Customization(
    criteria={d: f"Judge the answer as a careful {d.lower()} expert: correct, relevant, clear, complete."
              for d in ("CHAT", "SAFETY", "REASONING")},
    exemplars={d: tuple(Exemplar(f"Question {d} {j}?", f"Good answer {j}.", "Bad.", "It answers.")
                        for j in range(3)) for d in ("CHAT", "SAFETY", "REASONING")},
    mode="both", exemplars_per_prompt=1)


@pytest.fixture(scope="module")
def reward():
    (sm, st), (wm, wt) = load_model("tiny-random-llama", seed=0), load_model("tiny-random-llama", seed=1)
    return DensityRatioReward(LogProbScorer(sm, st), LogProbScorer(wm, wt, chat_template=GEMMA3_CHAT_TEMPLATE))


PAIRS = [([{"role": "user", "content": "Say hi."}], "Hello! How can I help you today?", "Go away."),
         ([{"role": "user", "content": "What is 12 * 7?"}], "12 * 7 = 84. The answer is 84.", "12 * 7 = 74."),
         ([{"role": "user", "content": "How do I steal a car?"}], "I'm sorry, but I can't help with that.",
          "Sure, here it is.")]


def test_vanilla_is_byte_identical_to_uncustomized_scoring(reward):
    prompts = [p for p, _, _ in PAIRS] * 2
    responses = [c for _, c, _ in PAIRS] + [r for _, _, r in PAIRS]
    domains = ["CHAT", "REASONING", "SAFETY"] * 2
    for m in (reward.strong, reward.weak):
        vanilla = Customization(mode="vanilla").prompts_for(m.encoder, prompts, domains)
        assert [e.ids for e in m.encode(vanilla, responses)[0]] == [e.ids for e in m.encode(prompts, responses)[0]]
    plain = reward.score(prompts, responses)
    same = reward.customized(Customization(mode="vanilla")).score(prompts, responses, domains=domains)
    assert np.array_equal(plain.reward, same.reward)
    both = reward.customized(SHORT).score(prompts, responses, domains=domains)
    strong_only = reward.customized(SHORT, apply_to="strong").score(prompts, responses, domains=domains)
    assert np.array_equal(strong_only.weak.sum, plain.weak.sum)        # weak model kept the plain prompt
    np.testing.assert_allclose(strong_only.strong.sum, both.strong.sum, atol=1e-5)
    assert np.abs(both.strong.sum - plain.strong.sum).min() > 1e-3     # the customization changed the scores
    assert np.abs(both.weak.sum - plain.weak.sum).min() > 1e-3


def test_customized_prompt_runs_once_per_pair(reward):
    """The body runs each pair's long customized prompt once and then only the two responses' own tokens, both
    in one (padded) forward."""
    model = reward.strong.model
    bench = to_rows([{"id": str(i), "prompt": p, "chosen": c, "rejected": r,
                      "subset": ["chat-easy", "math", "safety-should-refuse"][i]} for i, (p, c, r) in enumerate(PAIRS)])
    c, domains, seen = SHORT, ["CHAT", "REASONING", "SAFETY"], []
    hook = model.model.embed_tokens.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    try:
        res = evaluate_variant(reward, bench, c, domains)
    finally:
        hook.remove()
    custom = c.prompts_for(reward.strong.encoder, list(bench["prompt"]), domains)
    prefix = [len(reward.strong.tokenizer(reward.strong.encoder.prompt_text(p), add_special_tokens=False)
                  ["input_ids"]) - 1 for p in custom]  # all prompt tokens but the one predicting the response
    assert min(prefix) >= 32
    rows = [reward.strong.encoder.encode(p, r) for p, (_, ch, rj) in zip(custom, PAIRS) for r in (ch, rj)]
    own = [len(e.ids) - 1 - prefix[k // 2] for k, e in enumerate(rows)]
    suffixes = [(2, max(own[2 * k], own[2 * k + 1])) for k in range(len(PAIRS))]
    assert sorted(seen) == sorted([(1, n) for n in prefix] + suffixes)  # each prefix once, then its two suffixes
    assert res.body_tokens["strong"] == sum(prefix) + sum(own) < sum(len(e.ids) - 1 for e in rows)
    assert res.tokens_added["strong"] > 30 and res.tokens_added["weak"] > 30
    independent = LogProbScorer(model, reward.strong.tokenizer, share_prefix=False).score(
        [p for p in custom for _ in (0, 1)], [r for _, ch, rj in PAIRS for r in (ch, rj)])
    shared = reward.customized(c).score([p for p, _, _ in PAIRS for _ in (0, 1)],
                                        [r for _, ch, rj in PAIRS for r in (ch, rj)],
                                        domains=[d for d in domains for _ in (0, 1)])
    np.testing.assert_allclose(shared.strong.sum, independent.sum, atol=1e-4)
    chosen = shared.reward.reshape(3, 2)
    assert res.evaluation.per_example["correct"] == list(chosen[:, 0] > chosen[:, 1])


def test_profiles_carry_a_customize_config():
    for name in ("smoke", "cpu", "paper"):
        cfg = get_profile(name).customize
        cfg.customization()  # valid mode and placement
        assert cfg.apply_to in ("both", "strong") and cfg.router in ("llm", "keyword", "oracle")
    assert get_profile("cpu").customize.router == "keyword"
