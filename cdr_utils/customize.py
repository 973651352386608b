"""Customized density ratios: the "C" in CDR (arXiv 2411.02481, Sec. 3.2).

The reward stays Eq. 1 of the paper, r(x, y) = log p_strong(y | c(x)) - log p_weak(y | c(x)), but both models
read a *customized* conversation c(x) instead of x: a domain router (router.py) labels the prompt CHAT, SAFETY
or REASONING, and c(x) adds, for that domain,

- **criteria**: a system message saying what a good answer looks like (data/customization/criteria.yaml). If
  the prompt already has a system message, the criteria go before its text in the same message. For a chat
  template without a system role the criteria are prepended once to the first user turn, followed by a blank
  line (what Gemma 3's own template does with a system message). `placement="first_user"` forces that form.
- **exemplars**: in-context preference examples (question, better answer, worse answer, why) drawn from the
  domain's pool (data/customization/exemplars.yaml), prepended to the *last* user turn in this format:

      Examples of a better and a worse answer to similar requests:

      Example 1
      Request: <question>
      Better answer: <good>
      Worse answer: <bad>
      Why: <why>

      Now the request to answer:
      <the original last user turn>

  The draw is seeded by (seed, a hash of the prompt's messages): the same prompt always gets the same
  exemplars, chosen and rejected share one scoring prompt (so the scorer's prefix sharing runs it once), and
  different prompts get different draws.

Modes: "vanilla" (x unchanged, byte for byte), "criteria", "exemplars", "both", and "vanilla_chat" (CHAT prompts
unchanged, "both" for SAFETY and REASONING). `apply_to="strong"` customizes only the strong model's input.
A customized reward: rewards.DensityRatioReward(customization=...); the ablation grid of notebook 02:
studies/ablation.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from .chat import prompt_id, with_instruction
from .data import DATA_DIR

DATA = DATA_DIR / "customization"
DOMAINS = ("CHAT", "SAFETY", "REASONING")
MODES = ("vanilla", "criteria", "exemplars", "both", "vanilla_chat")
PLACEMENTS = ("system", "first_user")
EXEMPLAR_HEADER = "Examples of a better and a worse answer to similar requests:"
EXEMPLAR_FOOTER = "Now the request to answer:"


@dataclass(frozen=True)
class Exemplar:
    question: str
    good: str
    bad: str
    why: str

    def render(self, number: int) -> str:
        return (f"Example {number}\nRequest: {self.question}\nBetter answer: {self.good}\n"
                f"Worse answer: {self.bad}\nWhy: {self.why}")


def load_criteria(path=DATA / "criteria.yaml") -> dict[str, str]:
    """{domain: criteria text} from a YAML file with one entry per domain."""
    criteria = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    missing = [d for d in DOMAINS if not isinstance(criteria.get(d), str) or not criteria[d].strip()]
    if missing:
        raise ValueError(f"{path}: no criteria text for {missing}")
    return {d: criteria[d].strip() for d in DOMAINS}


def load_exemplars(path=DATA / "exemplars.yaml") -> dict[str, tuple[Exemplar, ...]]:
    """{domain: exemplar pool} from a YAML file: per domain a list of {question, good, bad, why}."""
    pools = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    out = {}
    for d in DOMAINS:
        items = pools.get(d) or []
        if not items:
            raise ValueError(f"{path}: empty exemplar pool for {d}")
        for j, item in enumerate(items):
            if set(item) != {"question", "good", "bad", "why"}:
                raise ValueError(f"{path}: {d}[{j}] needs exactly question, good, bad, why; got {sorted(item)}")
        out[d] = tuple(Exemplar(**{k: str(v).strip() for k, v in item.items()}) for item in items)
    return out


@dataclass(frozen=True)
class Customization:
    """Per-domain criteria and exemplar pools, and how to apply them (see the module docstring).

    exemplars_per_prompt: k exemplars drawn without replacement from the domain's pool (at most its size).
    placement: "system" (criteria as a system message; folded into the first user turn only where the
    template has no system role) or "first_user" (always prepended to the first user turn)."""
    criteria: dict = field(default_factory=load_criteria)
    exemplars: dict = field(default_factory=load_exemplars)
    mode: str = "both"
    exemplars_per_prompt: int = 2
    placement: str = "system"
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")

    def with_mode(self, mode: str) -> "Customization":
        return replace(self, mode=mode)

    def parts(self, domain: str) -> tuple[bool, bool]:
        """(criteria?, exemplars?) that this mode adds for a prompt of `domain`."""
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        mode = ("vanilla" if domain == "CHAT" else "both") if self.mode == "vanilla_chat" else self.mode
        return mode in ("criteria", "both"), mode in ("exemplars", "both")

    def choose_exemplars(self, messages, domain: str) -> list[Exemplar]:
        """The k exemplars for this prompt: a draw seeded by (seed, prompt digest); an exemplar whose question
        is the prompt's own last user turn is never shown (it would give the answer away)."""
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        pool = [e for e in self.exemplars[domain] if e.question.strip() != last.strip()]
        k = min(self.exemplars_per_prompt, len(pool))
        rng = np.random.default_rng([self.seed, int(prompt_id(messages), 16)])
        return [pool[j] for j in rng.choice(len(pool), size=k, replace=False)]

    def apply(self, messages, domain: str, *, system_role: bool = True) -> list[dict]:
        """The scoring messages for `messages` (a prompt: no final assistant turn) of `domain`.
        system_role: whether the scoring template renders a system message (has_system_role)."""
        with_criteria, with_exemplars = self.parts(domain)
        out = [dict(m) for m in messages]
        if with_exemplars and self.exemplars_per_prompt > 0:
            last = max(i for i, m in enumerate(out) if m["role"] == "user")
            shown = "\n\n".join(e.render(j + 1) for j, e in enumerate(self.choose_exemplars(messages, domain)))
            out[last]["content"] = f"{EXEMPLAR_HEADER}\n\n{shown}\n\n{EXEMPLAR_FOOTER}\n{out[last]['content']}"
        if with_criteria:
            out = with_instruction(out, self.criteria[domain], system_role=self.placement == "system" and system_role,
                                   what="the criteria")
        return out if (with_criteria or with_exemplars) else list(messages)

    def prompts_for(self, encoder, prompts, domains) -> list[list[dict]]:
        """The scoring messages one model reads (a chat.ChatEncoder: its template decides whether criteria go
        into a system message): each prompt customized for its domain."""
        return [self.apply(p, d, system_role=encoder.system_role) for p, d in zip(prompts, domains)]


def customize(messages, domain: str, customization: Customization | None = None, *,
              system_role: bool = True) -> list[dict]:
    """Scoring messages for a prompt of `domain` under `customization` (default: mode "both", 2 exemplars)."""
    return (customization or Customization()).apply(messages, domain, system_role=system_role)
