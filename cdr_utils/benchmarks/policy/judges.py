"""Judges behind one interface: `pairwise(question, answer_a, answer_b, reference)` -> judge text holding a
verdict like "[[A>B]]", and `single(question, answer, reference)` / `multi_turn(questions, answers, reference)`
-> judge text holding a rating "[[n]]". Metrics parse the text (parse_verdict, mtbench.parse_rating), so an
LLM judge and the proxy feed the same code path.

- HttpJudge: any OpenAI-compatible /v1/chat/completions endpoint (base URL, model; key from an environment
  variable), temperature 0. Every judgment is cached on disk under a key of its inputs (model, messages,
  sampling settings): a re-run costs nothing and a killed run resumes where it stopped (one file per
  judgment, written atomically); a corrupt cached file is named in a JudgeCacheWarning and asked again.
  Connection errors, 429 and 5xx are retried with exponential backoff.
- ReferenceProxyJudge: offline, for the `cpu` profile. It compares each answer with the benchmark's reference
  answer (word-overlap F1), independent of the density-ratio reward the policy was tuned on (docs/DESIGN.md,
  "Judging what was optimized"). It reads no question and understands nothing: a PROXY, labelled as such.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from collections import Counter
from pathlib import Path

import requests

from ...records import clean_leftovers, write_text
from .prompts import JudgePrompts

VERDICT = re.compile(r"\[\[([AB][<>=]{1,2}[AB])\]\]")
_CANONICAL = {"A>>B": "A>>B", "A>B": "A>B", "A=B": "A=B", "B=A": "A=B", "B>A": "B>A", "B>>A": "B>>A",
              "A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B"}


class JudgeCacheWarning(UserWarning):
    """A cached judgment could not be read (named in the message); it is asked again."""


class JudgeError(RuntimeError):
    """The judge endpoint failed for good (a client error, or retries exhausted); the message says why."""


def parse_verdict(text: str | None) -> str | None:
    """The pairwise verdict in `text` as one of A>>B, A>B, A=B, B>A, B>>A; None when there is none or the text
    holds conflicting ones (Arena-Hard's rule)."""
    found = {_CANONICAL.get(v) for v in VERDICT.findall(text or "")} - {None}
    return found.pop() if len(found) == 1 else None


class Judge:
    """Base class: turns benchmark items into prompts and `complete(messages)` into judge text."""
    kind = "llm"
    name = "judge"

    def __init__(self, prompts: JudgePrompts | None = None):
        self.prompts = prompts or JudgePrompts()

    def complete(self, messages: list[dict]) -> str:
        raise NotImplementedError

    def pairwise(self, question: str, answer_a: str, answer_b: str, reference: str | None = None) -> str:
        return self.complete(self.prompts.pairwise_messages(question, answer_a, answer_b, reference))

    def single(self, question: str, answer: str, reference: str | None = None) -> str:
        return self.complete(self.prompts.single_messages(question, answer, reference))

    def multi_turn(self, questions: list[str], answers: list[str], reference: str | None = None) -> str:
        return self.complete(self.prompts.multi_turn_messages(questions, answers, reference))


class HttpJudge(Judge):
    """An OpenAI-compatible chat-completions judge with an on-disk judgment cache and retries.

    base_url: e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1" (default $CDR_JUDGE_BASE_URL);
    model: the judge model's name (default $CDR_JUDGE_MODEL); the key is read from the environment variable
    `api_key_env` (sent as a Bearer token when set). cache_dir: one JSON file per judgment (None: no cache).
    retries / backoff: attempt k (k >= 1) waits backoff * 2 ** (k - 1) seconds.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, *, api_key_env: str =
                 "CDR_JUDGE_API_KEY", cache_dir: str | Path | None = None, temperature: float = 0.0,
                 max_tokens: int = 1024, retries: int = 5, backoff: float = 1.0, timeout: float = 120.0,
                 prompts: JudgePrompts | None = None):
        super().__init__(prompts)
        self.base_url = (base_url or os.environ.get("CDR_JUDGE_BASE_URL") or "").rstrip("/")
        self.model = model or os.environ.get("CDR_JUDGE_MODEL")
        if not self.base_url or not self.model:
            raise JudgeError("the HTTP judge needs a base URL and a model name (arguments, or the environment "
                             "variables CDR_JUDGE_BASE_URL and CDR_JUDGE_MODEL)")
        self.api_key = os.environ.get(api_key_env)
        self.name = self.model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.temperature, self.max_tokens = temperature, max_tokens
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.requests_made = 0  # HTTP requests sent by this object (cache hits send none)

    def cache_key(self, messages: list[dict]) -> str:
        """sha256 of the judgment's inputs: model, messages and sampling settings (not the URL or key)."""
        payload = {"model": self.model, "messages": messages, "temperature": self.temperature,
                   "max_tokens": self.max_tokens}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def cached(self, messages: list[dict]) -> str | None:
        """The cached judgment of `messages`, or None: absent, or corrupt (not UTF-8 JSON holding a "text"
        string, e.g. half-written by a crash outside this class's atomic writes; a JudgeCacheWarning names the
        file, and the judgment is asked again and the file rewritten)."""
        path = None if self.cache_dir is None else self._cache_path(self.cache_key(messages))
        if path is None or not path.exists():
            return None
        try:
            text = json.loads(path.read_text(encoding="utf-8"))["text"]
            if isinstance(text, str):
                return text
            problem = f"'text' is {type(text).__name__}, not a string"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            problem = f"{type(err).__name__}: {err}"
        warnings.warn(f"corrupt cached judgment {path} ({problem}); asking the judge again", JudgeCacheWarning,
                      stacklevel=3)
        return None

    def complete(self, messages: list[dict]) -> str:
        text = self.cached(messages)
        if text is not None:
            return text
        text = self._request(messages)
        if self.cache_dir is not None:
            # atomic: a killed run leaves whole files or none (and its leftover temporary files are removed)
            path = self._cache_path(self.cache_key(messages))
            clean_leftovers(path)
            write_text(path, json.dumps({"model": self.model, "messages": messages, "text": text}))
        return text

    def _request(self, messages: list[dict]) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self.requests_made += 1
            try:
                resp = requests.post(f"{self.base_url}/chat/completions", json=body, headers=headers,
                                     timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                problem = f"{type(err).__name__}: {err}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code != 200:
                raise JudgeError(f"judge {self.model} at {self.base_url}: HTTP {resp.status_code}: "
                                 f"{resp.text[:300]}")
            return resp.json()["choices"][0]["message"]["content"]
        raise JudgeError(f"judge {self.model} at {self.base_url}: gave up after {self.retries + 1} attempts "
                         f"({problem})")


_STOPWORDS = frozenset("a an and are as at be but by for from has have i if in is it its of on or so that the "
                       "their them then there these they this to was were which will with you your".split())


def content_words(text: str) -> Counter:
    """Lower-cased word and number tokens minus a few function words: the bag the proxy compares."""
    return Counter(w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS)


def overlap_f1(answer: str, reference: str) -> float:
    """Word-overlap F1 of an answer against a reference answer (SQuAD-style bag-of-words), in [0, 1]."""
    a, r = content_words(answer), content_words(reference)
    common = sum((a & r).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(r.values())
    return 2 * precision * recall / (precision + recall)


class ReferenceProxyJudge(Judge):
    """Offline PROXY judge: prefers the answer whose words overlap more with the reference answer (F1).

    pairwise: F1 difference d = F1(A) - F1(B): |d| < tie -> A=B, |d| >= strong -> a decisive verdict (>>).
    single / multi_turn: rating = 1 + 9 * F1 (1-10), one decimal. Deterministic and free; it rewards topical
    and lexical agreement with the reference, not correctness or helpfulness.
    """
    kind = "proxy"

    def __init__(self, tie: float = 0.01, strong: float = 0.1):
        super().__init__()
        self.tie, self.strong = tie, strong
        self.name = "proxy: word-overlap F1 vs the reference answer"

    @staticmethod
    def _need(reference):
        if reference is None:
            raise ValueError("the reference proxy judge needs the benchmark's reference answer")

    def pairwise(self, question, answer_a, answer_b, reference=None) -> str:
        self._need(reference)
        fa, fb = overlap_f1(answer_a, reference), overlap_f1(answer_b, reference)
        d = fa - fb
        verdict = "A=B" if abs(d) < self.tie else ("A" if d > 0 else "B") + (">>" if abs(d) >= self.strong
                                                                              else ">") + ("B" if d > 0 else "A")
        return f"proxy F1 vs reference: A {fa:.3f}, B {fb:.3f} -> [[{verdict}]]"

    def single(self, question, answer, reference=None) -> str:
        self._need(reference)
        f = overlap_f1(answer, reference)
        return f"proxy F1 vs reference: {f:.3f} -> Rating: [[{1 + 9 * f:.1f}]]"

    def multi_turn(self, questions, answers, reference=None) -> str:
        return self.single(questions[-1], answers[-1], reference)
