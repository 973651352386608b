"""Domain routers for customized density ratios: `route(messages) -> "CHAT" | "SAFETY" | "REASONING"`.

- LLMRouter: a classification prompt (instructions, three worked examples, the request) to any local causal
  LM, greedy generation, the first label word in the answer wins; an answer with no label (or an empty one)
  falls back to CHAT, counted in `fallbacks`. A `generate(messages) -> str` function can replace the model.
- KeywordRouter: offline rules (word lists and an arithmetic pattern) for the `cpu` profile: free and
  instant, no model.
- OracleRouter: the known label of each prompt (the bench's section: Chat / Chat Hard -> CHAT, Safety ->
  SAFETY, Reasoning -> REASONING), for ablations that separate customization from routing errors.
"""
from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import torch

from .chat import ChatEncoder, prompt_id, with_instruction
from .customize import DOMAINS
from .models import load_spec
from .progress import progress as progress_bar
from .benchmarks.rewardbench import SUBSET_SECTION

SECTION_DOMAIN = {"Chat": "CHAT", "Chat Hard": "CHAT", "Safety": "SAFETY", "Reasoning": "REASONING"}
FALLBACK = "CHAT"

ROUTER_INSTRUCTIONS = (
    "Sort the user's request into exactly one category.\n"
    "CHAT: everyday questions, writing, editing, advice, explanations, summaries, brainstorming.\n"
    "SAFETY: requests that involve possible harm, danger, crime, violence, weapons, drugs, self-harm, hate, "
    "harassment or privacy, including harmless requests that only sound risky.\n"
    "REASONING: math problems, calculations, logic puzzles, and programming or code.\n"
    "Answer with the category name only.")
ROUTER_EXAMPLES = (  # project-written
    ("Write a short thank-you note to my aunt for the birthday present.", "CHAT"),
    ("How can I find out where my ex-partner lives now without them knowing?", "SAFETY"),
    ("A train travels 240 km in 3 hours. What is its average speed?", "REASONING"),
)
# A label word or a close synonym, as a whole word; the earliest one in the answer decides.
_SYNONYMS = {"CHAT": "CHAT", "GENERAL": "CHAT", "SAFETY": "SAFETY", "SAFE": "SAFETY", "UNSAFE": "SAFETY",
             "HARMFUL": "SAFETY", "REASONING": "REASONING", "MATH": "REASONING", "CODE": "REASONING",
             "CODING": "REASONING", "PROGRAMMING": "REASONING"}
_LABEL = re.compile(r"\b(" + "|".join(_SYNONYMS) + r")\b", re.IGNORECASE)


def parse_domain(text) -> str | None:
    """The domain named first in a router's answer (case-insensitive whole words, synonyms allowed), or None."""
    m = _LABEL.search(text or "")
    return _SYNONYMS[m.group(1).upper()] if m else None


def request_text(messages, max_chars: int = 600) -> str:
    """What a router reads: the last user turn, cut to max_chars."""
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return last[:max_chars]


class LLMRouter:
    """Routes with a causal LM (greedy, `max_new_tokens`) or with `generate(messages) -> str`."""

    def __init__(self, model=None, tokenizer=None, *, generate=None, chat_template: str | None = None,
                 max_new_tokens: int = 6, max_request_chars: int = 600):
        if generate is None and (model is None or tokenizer is None):
            raise ValueError("LLMRouter needs a model and its tokenizer, or a generate(messages) function")
        self.model, self.tokenizer, self.chat_template = model, tokenizer, chat_template
        self.generate = generate or self._greedy
        self._encoder = None
        self.max_new_tokens, self.max_request_chars = max_new_tokens, max_request_chars
        self.fallbacks, self.answers = 0, []

    def messages(self, messages) -> list[dict]:
        """The classification conversation for a prompt (instructions as a system message)."""
        shots = [t for q, a in ROUTER_EXAMPLES for t in ({"role": "user", "content": q},
                                                          {"role": "assistant", "content": a})]
        return ([{"role": "system", "content": ROUTER_INSTRUCTIONS}] + shots
                + [{"role": "user", "content": request_text(messages, self.max_request_chars)}])

    def _greedy(self, messages) -> str:
        encoder = self._encoder = self._encoder or ChatEncoder(self.tokenizer, chat_template=self.chat_template)
        if not encoder.system_role:  # fold the instructions into the first user turn, once
            messages = with_instruction(messages[1:], messages[0]["content"], system_role=False)
        ids = self.tokenizer(encoder.prompt_text(messages), add_special_tokens=False, return_tensors="pt")
        ids = {k: v.to(self.model.device) for k, v in ids.items()}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=pad)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    def route(self, messages) -> str:
        answer = self.generate(self.messages(messages))
        self.answers.append(answer)
        domain = parse_domain(answer)
        if domain is None:
            self.fallbacks += 1
            return FALLBACK
        return domain


class KeywordRouter:
    """Offline rules: SAFETY if the request names a harm (word list), else REASONING if it has arithmetic
    (two numbers joined by an operator), a math phrase or a programming word, else CHAT. A request that hits
    both lists goes to SAFETY when it has at least as many harm words ("kill a Python process" is SAFETY:
    the kind of prompt over-refusal tests are made of)."""

    SAFETY = re.compile(r"\b(kill\w*|murder\w*|weapons?|guns?|bombs?|explosives?|poison\w*|drugs?|meth|cocaine|"
                        r"heroin|hack\w*|steal\w*|stole|theft|rob|robbery|fraud|scam\w*|counterfeit|launder\w*|"
                        r"suicide|self-harm|hurt\w*|harm\w*|attack\w*|violen\w*|abus\w*|harass\w*|bull(y|ying)|"
                        r"stalk\w*|threat\w*|illegal\w*|cheat\w*|smuggl\w*|kidnap\w*|terror\w*|racis\w*|slurs?|"
                        r"hate|blackmail\w*|malware|ransomware|overdose|shoot\w*|knife|stab\w*|spy|spying|"
                        r"dangerous|lethal|break into|without (them|anyone|him|her) knowing)\b", re.I)
    REASONING = re.compile(r"(\d+(\.\d+)?\s*[-+*/×x]\s*\d+|\b(how (many|much)|calculate|compute|solve|equation|"
                           r"percent(age)?|average|probability|total|sum of|remainder|divisible|prime|integer|"
                           r"python|function|code|program(ming)?|algorithm|javascript|java|c\+\+|rust|sql|regex|"
                           r"def|return|bug|compile|array|list of numbers|string)\b)", re.I)

    def route(self, messages) -> str:
        text = request_text(messages, max_chars=10_000)
        harm = len(self.SAFETY.findall(text))
        reasoning = len(self.REASONING.findall(text))
        if harm and harm >= reasoning:
            return "SAFETY"
        if reasoning:
            return "REASONING"
        return "SAFETY" if harm else "CHAT"


class OracleRouter:
    """Known labels: {chat.prompt_id: domain}, e.g. from a bench's sections (`from_bench`)."""

    def __init__(self, labels: dict):
        bad = {d for d in labels.values() if d not in DOMAINS}
        if bad:
            raise ValueError(f"unknown domains {sorted(bad)}; expected {DOMAINS}")
        self.labels = labels

    @classmethod
    def from_bench(cls, bench) -> "OracleRouter":
        labels = {}
        for row in bench:
            key, domain = prompt_id(row["prompt"]), SECTION_DOMAIN[SUBSET_SECTION[row["subset"]]]
            if labels.setdefault(key, domain) != domain:
                raise ValueError(f"row {row['id']}: the same prompt is labelled {labels[key]} and {domain}")
        return cls(labels)

    def route(self, messages) -> str:
        try:
            return self.labels[prompt_id(messages)]
        except KeyError:
            raise KeyError(f"the oracle router has no label for the prompt {request_text(messages, 80)!r}") from None


def make_router(kind: str, *, bench=None, model=None, tokenizer=None, chat_template=None, generate=None,
                spec=None, dtype=None):
    """A router by kind: "oracle" (needs `bench`), "keyword", or "llm" (a model and tokenizer, a generate
    function, or a models.ModelSpec `spec` to load in `dtype`)."""
    if kind == "oracle":
        return OracleRouter.from_bench(bench)
    if kind == "keyword":
        return KeywordRouter()
    if kind == "llm":
        if generate is None and model is None:
            model, tokenizer = load_spec(spec, dtype=dtype)
            chat_template = spec.chat_template
        return LLMRouter(model, tokenizer, generate=generate, chat_template=chat_template)
    raise ValueError(f"unknown router kind {kind!r}; expected 'oracle', 'keyword' or 'llm'")


def route_all(router, prompts, *, progress: bool | None = None) -> list[str]:
    """router.route over a list of prompts (a progress bar for more than 16)."""
    show = progress if progress is not None else len(prompts) > 16
    return [router.route(p) for p in progress_bar(prompts, desc=f"routing ({type(router).__name__})", unit="prompt",
                                                  disable=not show)]


def router_report(bench, predicted) -> pd.DataFrame:
    """Per bench section: rows, how many were routed to each domain, and accuracy (%) against the section's
    domain (SECTION_DOMAIN); last row "all"."""
    sections = [SUBSET_SECTION[s] for s in bench["subset"]]
    rows = {}
    for section in [s for s in SECTION_DOMAIN if s in sections] + ["all"]:
        idx = [i for i, s in enumerate(sections) if section in ("all", s)]
        counts = Counter(predicted[i] for i in idx)
        right = sum(predicted[i] == SECTION_DOMAIN[sections[i]] for i in idx)
        rows[section] = {"rows": len(idx), **{d: counts.get(d, 0) for d in DOMAINS},
                         "accuracy (%)": 100 * right / len(idx)}
    return pd.DataFrame(rows).T.astype({"rows": int, **{d: int for d in DOMAINS}})
