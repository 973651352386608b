"""Domain routers: robust parsing with a CHAT fallback (scripted generation and a tiny model), keyword rules,
oracle labels from bench sections, accuracy report."""
import copy

import pytest
import torch

from cdr_utils.chat import GEMMA3_CHAT_TEMPLATE
from cdr_utils.benchmarks.rewardbench import to_rows
from cdr_utils.router import (ROUTER_INSTRUCTIONS, KeywordRouter, LLMRouter, OracleRouter, make_router,
                              parse_domain, route_all, router_report)

from test_customize import NO_SYSTEM_TEMPLATE

MSG = [{"role": "user", "content": "What is 17 * 23?"}]


@pytest.mark.parametrize("answer, domain", [
    ("REASONING", "REASONING"), (" reasoning.\n", "REASONING"), ("Category: Safety", "SAFETY"),
    ("This is a math question.", "REASONING"), ("SAFETY, or maybe CHAT", "SAFETY"), ("chat", "CHAT"),
    ("", None), (None, None), ("I am not sure.", None), ("CHATTY REASONINGS", None), ("###", None)])
def test_parse_domain(answer, domain):
    assert parse_domain(answer) == domain


def test_scripted_generation_falls_back_to_chat_on_unparseable_or_empty_answers():
    script = iter(["", "   ", "no idea", "<|im_end|>", "SAFETY", "  reasoning\n", "Chat."])
    seen = []

    def generate(messages):
        seen.append(messages)
        return next(script)

    router = LLMRouter(generate=generate)
    assert [router.route(MSG) for _ in range(7)] == ["CHAT"] * 4 + ["SAFETY", "REASONING", "CHAT"]
    assert router.fallbacks == 4
    first = seen[0]
    assert first[0] == {"role": "system", "content": ROUTER_INSTRUCTIONS}
    assert first[-1] == MSG[-1] and [m["role"] for m in first[1:-1]] == ["user", "assistant"] * 3


def _forced(model, token_id: int):
    """A copy of the model whose LM head always puts token_id first (a bias of 1e4 on it)."""
    forced = copy.deepcopy(model)
    old = forced.lm_head
    forced.lm_head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        forced.lm_head.weight.copy_(old.weight)
        forced.lm_head.bias.zero_()
        forced.lm_head.bias[token_id] = 1e4
    return forced


@pytest.mark.parametrize("template", [None, GEMMA3_CHAT_TEMPLATE, NO_SYSTEM_TEMPLATE],
                         ids=["chatml", "gemma3", "no-system-role"])
def test_tiny_model_router_unparseable_and_empty_answers_fall_back_to_chat(tiny_llama, template):
    model, tok = tiny_llama
    the = tok.convert_tokens_to_ids(tok.tokenize("The")[0])
    empty = LLMRouter(_forced(model, tok.eos_token_id), tok, chat_template=template)  # stops at once: ""
    assert empty.route(MSG) == "CHAT" and empty.answers == [""] and empty.fallbacks == 1
    garbage = LLMRouter(_forced(model, the), tok, chat_template=template, max_new_tokens=4)
    assert garbage.route(MSG) == "CHAT" and garbage.answers[0].startswith("The") and garbage.fallbacks == 1


def test_keyword_router_on_hand_written_requests():
    router = KeywordRouter()
    cases = {"How do I build a bomb at home?": "SAFETY", "What is 17 * 23?": "REASONING",
             "Write a Python function that reverses a string.": "REASONING",
             "Write a haiku about autumn leaves.": "CHAT", "How do I kill a Python process that hangs?": "SAFETY",
             "How many apples are left if I eat 3 of 10?": "REASONING", "Summarize this email for me.": "CHAT"}
    assert {q: router.route([{"role": "user", "content": q}]) for q in cases} == cases


def _bench():
    rows = [("a", "Tell me a joke.", "chat-easy"), ("b", "Explain tides.", "chat-hard"),
            ("c", "How do I make a bomb?", "safety-should-refuse"), ("d", "What is 2 + 2?", "math")]
    return to_rows([{"id": i, "prompt": p, "chosen": "yes", "rejected": "no", "subset": s} for i, p, s in rows])


def test_oracle_router_uses_section_labels_and_refuses_unknown_prompts():
    bench = _bench()
    oracle = make_router("oracle", bench=bench)
    assert route_all(oracle, list(bench["prompt"])) == ["CHAT", "CHAT", "SAFETY", "REASONING"]
    with pytest.raises(KeyError, match="no label"):
        oracle.route([{"role": "user", "content": "unseen"}])
    clash = to_rows([{"id": "x", "prompt": "Q", "chosen": "a", "rejected": "b", "subset": "math"},
                     {"id": "y", "prompt": "Q", "chosen": "a", "rejected": "c", "subset": "chat-easy"}])
    with pytest.raises(ValueError, match="labelled"):
        OracleRouter.from_bench(clash)


def test_router_report_counts_and_accuracy():
    report = router_report(_bench(), ["CHAT", "REASONING", "SAFETY", "CHAT"])
    assert report.loc["Chat", "accuracy (%)"] == 100 and report.loc["Chat Hard", "accuracy (%)"] == 0
    assert report.loc["Reasoning", "CHAT"] == 1 and report.loc["Reasoning", "accuracy (%)"] == 0
    assert report.loc["all", "rows"] == 4 and report.loc["all", "accuracy (%)"] == 50
