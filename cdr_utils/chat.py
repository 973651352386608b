"""Conversations -> token ids, with the exact prompt/response boundary. The one place for chat templates.

The scored span of a response y after a conversation x (docs/DESIGN.md, "core contracts"):

    P = template(x, add_generation_prompt=True)          # the text the model is given
    F = template(x + [assistant: y])                     # the text of the whole exchange
    span = the tokens of F that cover F[len(P) : end]    # y, plus the end-of-turn marker by default

`end` stops right after the end-of-turn marker the template emits after the response (the model's decision
to stop); whitespace the template writes after the marker is not scored. The marker is found once per
template by rendering a sentinel response, so templates that trim the content (Gemma, Llama 3) are handled
without guessing.

Merged boundary: byte-level BPEs can fuse the last characters of P with the first of y (a template ending
in "Assistant: " followed by "Hello" tokenizes as "Assistant:" + " Hello"; "assistant\\n" followed by
"\\nHi" may give a single "\\n\\n" token). We tokenize F as a whole (the text the model would see in
training) and score every token that covers at least one response character, conditioned on the tokens
before it. The merged token therefore counts as a response token; `Encoded.merged` records that it happened.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")
_SENTINEL = "\x00CDR-SENTINEL\x00"
_PROBE = "\x00CDR-SYSTEM-PROBE\x00"


class RecordError(ValueError):
    """A bad input record. The message names the record (its index or id) and the field, and with `where`
    (e.g. "data.jsonl line 7") the place in its file; a record without an id is then named by `where` alone
    (record=None)."""

    def __init__(self, record, field: str, problem: str, *, where: str | None = None):
        self.record, self.field, self.problem, self.where = record, field, problem, where
        name = f"record {record!r}, " if record is not None or where is None else ""
        super().__init__(f"{where + ': ' if where else ''}{name}field '{field}': {problem}")


class BadRecords(RecordError):
    """All the bad records of an input at once (`errors`, each a RecordError): the message lists the first
    `shown` and gives the total. With a single error it reads exactly as that error."""

    def __init__(self, errors: list[RecordError], source: str | None = None, shown: int = 20):
        first = errors[0]
        super().__init__(first.record, first.field, first.problem, where=first.where)
        self.errors = list(errors)
        if len(errors) > 1:
            records = len({(e.where, e.record) for e in errors})
            head = (f"{source}: " if source else "") + f"{len(errors)} problems in {records} record" + (
                "s" if records > 1 else "") + (f" (the first {shown} below)" if len(errors) > shown else "") + ":"
            self.args = ("\n".join([head, *(f"  {e}" for e in errors[:shown])]),)


# Gemma 3's own chat template (text parts), as published with google/gemma-3-270m. The GGUF file in the
# offline package carries no template, so `models.load_model("gemma3-270m")` attaches this one. Gemma has
# no system role: a system message is prepended to the first user turn.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

# A plain, non-chat rendering ("User: ... Assistant: ..."), used to score a chat model *without* its chat
# template (a weaker variant in the pair study) and by the tiny GPT-2. The space after "Assistant:" merges
# with the response's first word in byte-level BPEs, so this template always exercises the merged boundary.
PLAIN_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ 'System: ' + message['content'] + '\n\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ 'User: ' + message['content'] + '\n\n' }}"
    "{%- else -%}{{ 'Assistant: ' + message['content'] + eos_token + '\n\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant: ' }}{%- endif -%}"
)


def as_messages(prompt) -> list[dict]:
    """A prompt as a list of {role, content} messages: a string becomes one user turn."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def with_instruction(messages, text: str, *, system_role: bool = True, what: str = "the instruction") -> list[dict]:
    """A copy of `messages` with `text` put before them: system_role=True, in a system message (before an existing
    system message's text, in the same message); False, prepended once to the first user turn (for templates
    without a system role). Raises ValueError naming `what` when there is no user turn to carry it."""
    out = [dict(m) for m in messages]
    if system_role:
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{text}\n\n{out[0]['content']}"
        else:
            out.insert(0, {"role": "system", "content": text})
        return out
    first = next((k for k, m in enumerate(out) if m["role"] == "user"), None)
    if first is None:
        raise ValueError(f"the prompt has no user turn to carry {what}")
    out[first]["content"] = f"{text}\n\n{out[first]['content']}"
    return out


def prompt_id(messages) -> str:
    """Stable 16-hex-digit id of a conversation: sha256 of its [role, content] pairs as JSON. Names prompts in
    pairs and splits, and seeds per-prompt draws (int(prompt_id, 16))."""
    text = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validate_prompt(messages, record) -> None:
    """Raise RecordError unless `messages` is a non-empty list of {role, content} ending in a non-assistant turn."""
    if not isinstance(messages, (list, tuple)) or len(messages) == 0:
        raise RecordError(record, "prompt", "expected a non-empty list of {'role', 'content'} messages, "
                          f"got {type(messages).__name__} {messages!r:.60}")
    for j, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise RecordError(record, f"prompt[{j}]", f"expected a dict with 'role' and 'content', got {m!r:.80}")
        if m["role"] not in ROLES:
            raise RecordError(record, f"prompt[{j}].role", f"unknown role {m['role']!r}; expected one of {ROLES}")
        if not isinstance(m["content"], str):
            raise RecordError(record, f"prompt[{j}].content",
                              f"content must be a string, got {type(m['content']).__name__}")
    if messages[-1]["role"] == "assistant":
        raise RecordError(record, f"prompt[{len(messages) - 1}].role",
                          "the prompt ends with an assistant turn; pass that turn as the response instead")


def benchmark_record(r: dict, position: int, source: str, fields=("prompt", "chosen", "rejected", "subset")):
    """(id as a string, prompt as validated messages) of one labelled benchmark row (RewardBench 1 and 2 schemas);
    raises RecordError naming the row (`source[position]` when it has no id) and the field that is missing."""
    rid = r.get("id")
    if rid is None or str(rid) == "":
        raise RecordError(f"{source}[{position}]", "id", "missing id")
    rid = str(rid)
    for field in fields:
        if r.get(field) is None:
            raise RecordError(rid, field, "missing field")
    prompt = as_messages(r["prompt"])
    validate_prompt(prompt, rid)
    return rid, prompt


def validate_response(response, record) -> None:
    if not isinstance(response, str):
        raise RecordError(record, "response", f"response must be a string, got {type(response).__name__}")
    if response.strip() == "":
        raise RecordError(record, "response", "response is empty")


# -- whole-input checks: every record checked, every problem collected, before any model work ----------------
def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def prompt_problems(row: dict, field: str = "prompt") -> list[tuple[str, str]]:
    """(field, problem) pairs for a row's prompt: messages (validate_prompt) or a non-empty string."""
    value = row.get(field)
    if value is None:
        return [(field, "missing field")]
    if isinstance(value, str):
        return [] if value.strip() else [(field, "empty prompt")]
    if not isinstance(value, (list, tuple)):
        return [(field, f"expected a string or a list of {{'role', 'content'}} messages, got {_kind(value)} "
                        f"{value!r:.60}")]
    try:
        validate_prompt(value, None)
    except RecordError as err:
        return [(err.field.replace("prompt", field, 1), err.problem)]
    if not any(m["content"].strip() for m in value):
        return [(field, "the prompt has no text (every message is empty)")]
    return []


def text_problems(row: dict, field: str, *, empty_ok: bool = False, noun: str = "response") -> list[tuple[str, str]]:
    """(field, problem) pairs for a string field: present, a string, and not blank unless `empty_ok`."""
    value = row.get(field)
    if value is None:
        return [(field, "missing field")]
    if not isinstance(value, str):
        return [(field, f"{noun} must be a string, got {_kind(value)} {value!r:.40}")]
    return [] if empty_ok or value.strip() else [(field, f"{noun} is empty")]


def texts_problems(row: dict, field: str = "responses") -> list[tuple[str, str]]:
    """(field, problem) pairs for a list of strings (empty strings allowed: an empty candidate is not scored)."""
    value = row.get(field)
    if value is None:
        return [(field, "missing field")]
    if isinstance(value, str):
        return [(field, "expected a list of strings, got one string (a single answer goes in `response`)")]
    if not isinstance(value, (list, tuple)):
        return [(field, f"expected a list of strings, got {_kind(value)} {value!r:.40}")]
    return [(f"{field}[{j}]", f"expected a string, got {_kind(t)}" + ("" if t is None else f" {t!r:.40}"))
            for j, t in enumerate(value) if not isinstance(t, str)]


def check_records(rows, checks=(), *, where=None, source: str | None = None, id_field: str = "id",
                  require_id: bool = False, unique_ids: bool = True, shown: int = 20) -> None:
    """Check every record and raise BadRecords listing the first `shown` problems and their total count (or
    return when there are none). checks: functions row -> [(field, problem)]. where: each row's place in its
    file ("line 7"), prefixed with `source` (the file) in messages; rows are named by their id when they have
    one. Ids, when given, must be strings or integers, all of one type, not blank, and (unique_ids) unique."""
    errors, seen, id_type = [], {}, None
    for i, row in enumerate(rows):
        loc = None if where is None else f"{source} {where[i]}" if source else where[i]
        here = loc or f"record {i}"
        if not isinstance(row, dict):
            errors.append(RecordError(i, "(row)", f"expected a record (a dict), got {_kind(row)}", where=loc))
            continue
        rid = row.get(id_field)
        name = rid if rid is not None and isinstance(rid, (str, int)) else (None if loc else i)
        found = []
        if rid is None:
            if require_id:
                found.append((id_field, "missing id"))
        elif isinstance(rid, bool) or not isinstance(rid, (str, int)):
            found.append((id_field, f"an id must be a string or an integer, got {_kind(rid)} {rid!r:.40}"))
        elif isinstance(rid, str) and not rid.strip():
            found.append((id_field, "empty id"))
        elif id_type is None:
            id_type = (type(rid), here)
        elif type(rid) is not id_type[0]:
            kinds = {str: "a string", int: "an integer"}
            found.append((id_field, f"{kinds[type(rid)]} id, but the first id ({id_type[1]}) is "
                                    f"{kinds[id_type[0]]}: use one type for all ids"))
        if unique_ids and rid is not None and not found:
            if rid in seen:
                found.append((id_field, f"duplicate id (first at {seen[rid]})"))
            else:
                seen[rid] = here
        for check in checks:
            found += check(row)
        errors += [RecordError(name, field, problem, where=loc) for field, problem in found]
    if errors:
        raise BadRecords(errors, source, shown)


def checked_records(records, check, source: str | None = None, shown: int = 20) -> list:
    """[check(position, record) for every record], for checks that raise RecordError at a record's first problem
    (the benchmark loaders): every record is checked, then BadRecords lists the failing ones (the first `shown`,
    with their count). A record that is not a dict is named `source[position]`."""
    out, errors = [], []
    for i, r in enumerate(records):
        try:
            if not isinstance(r, dict):
                raise RecordError(f"{source or 'records'}[{i}]", "(row)", f"expected a record (a dict), got {_kind(r)}")
            out.append(check(i, r))
        except RecordError as err:
            errors.append(err)
    if errors:
        raise BadRecords(errors, source, shown)
    return out


# -- the row shapes shared by the Python functions and the `cdr` commands (one check per shape) ---------------
def is_number(value) -> bool:
    """A real number (Python or numpy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def candidate_text(c):
    """A candidate's text: a string, or a dict's "response" (build_pairs reads both); None otherwise."""
    c = c.get("response") if isinstance(c, dict) else c
    return c if isinstance(c, str) else None


def candidates_problems(row, field: str = "responses") -> list[tuple[str, str]]:
    """(field, problem) pairs for a list of candidates, each a string or {'response': string}."""
    texts = row.get(field)
    if isinstance(texts, (list, tuple)):
        return [(f"{field}[{j}]", f"expected a string (or {{'response': string}}), got {_kind(t)}")
                for j, t in enumerate(texts) if candidate_text(t) is None]
    return texts_problems(row, field)


def reward_problems(row, drop_nonfinite: bool = False, option: str = "--drop-nonfinite") -> list[tuple[str, str]]:
    """(field, problem) pairs for `rewards`: one number per candidate of `responses` (None or NaN allowed for an
    empty candidate, which has no reward); a NaN / inf reward of a real candidate unless `drop_nonfinite`.
    option: how the caller drops such rows ("--drop-nonfinite", or "drop_nonfinite=True" for build_pairs)."""
    texts, rewards = row.get("responses"), row.get("rewards")
    if rewards is None:
        made_by = "`cdr reward`" if option.startswith("--") else "score_candidates"
        return [("rewards", "missing field; pairs need rows with several `responses` and their `rewards` "
                            f"(the output of {made_by})")]
    if not isinstance(rewards, (list, tuple, str, dict)) and hasattr(rewards, "tolist"):
        rewards = rewards.tolist()  # a numpy array
    if not isinstance(rewards, (list, tuple)):
        return [("rewards", f"expected a list of numbers (one per response), got {_kind(rewards)} {rewards!r:.40}")]
    if not isinstance(texts, (list, tuple)):
        return []  # reported under `responses`
    if len(rewards) != len(texts):
        return [("rewards", f"{len(rewards)} rewards for {len(texts)} responses")]
    out = []
    for j, (t, r) in enumerate(zip(texts, rewards)):
        empty = candidate_text(t) is not None and not candidate_text(t).strip()
        if r is None and empty:
            continue  # an empty candidate has no reward
        if not is_number(r):
            out.append((f"rewards[{j}]", "expected a number, got " + ("null" if r is None else
                                                                        f"{type(r).__name__} {r!r:.40}")))
        elif not math.isfinite(r) and not empty and not drop_nonfinite:
            out.append((f"rewards[{j}]", f"non-finite reward {r}; pass {option} to drop such rows"))
    return out


def user_turn_problems(row, option: str = "--augment --system-role no") -> list[tuple[str, str]]:
    """A message-list prompt without a user turn cannot carry a rating condition prepended to the user turn."""
    prompt = row.get("prompt")
    if isinstance(prompt, list) and not any(isinstance(m, dict) and m.get("role") == "user" for m in prompt):
        return [("prompt", f"no user turn to carry the rating condition ({option})")]
    return []


def bench_problems(row) -> list[tuple[str, str]]:
    """(field, problem) pairs for a labelled pair: prompt, chosen and rejected texts, subset."""
    out = prompt_problems(row)
    for f in ("chosen", "rejected"):
        out += text_problems(row, f)
    return out + text_problems(row, "subset", noun="subset")


def completion_problems(row, field: str) -> list[tuple[str, str]]:
    """(field, problem) pairs for a completion in TRL's conversational format: [one non-empty assistant message]."""
    value = row.get(field)
    if value is None:
        return [(field, "missing field")]
    if not (isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], dict)
            and value[0].get("role") == "assistant"):
        return [(field, "expected [{'role': 'assistant', 'content': text}] (one assistant message, as build_pairs "
                        f"writes), got {_kind(value)} {value!r:.60}")]
    return [(f"{field}[0].{f}", problem) for f, problem in text_problems(value[0], "content")]


def chat_template_of(tokenizer, chat_template: str | None = None) -> str:
    """The template text a tokenizer renders with: the explicit one, else the tokenizer's own, else an error."""
    template = chat_template or getattr(tokenizer, "chat_template", None)
    if not template:
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ValueError(f"tokenizer {name!r} has no chat template; pass chat_template=... explicitly "
                         "(cdr_utils.chat.PLAIN_CHAT_TEMPLATE is a plain 'User:/Assistant:' rendering)")
    return template


def template_hash(tokenizer, chat_template: str | None = None) -> str:
    """Short sha256 of the template text plus the special tokens it may emit: part of every cache key."""
    text = chat_template_of(tokenizer, chat_template) + f"|{tokenizer.bos_token}|{tokenizer.eos_token}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(tokenizer, messages, *, add_generation_prompt: bool, chat_template: str | None = None) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt,
                                         chat_template=chat_template_of(tokenizer, chat_template))


@functools.lru_cache(maxsize=64)
def _renders_system(tokenizer, template: str) -> bool:
    probe = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "Hi"}]
    try:
        text = render(tokenizer, probe, add_generation_prompt=True, chat_template=template)
    except Exception:  # templates without a system role raise (jinja's raise_exception)
        return False
    return text.count(_PROBE) == 1


def has_system_role(tokenizer, chat_template: str | None = None) -> bool:
    """Whether a template renders a system message's text exactly once. Gemma 3's folds it into the first user
    turn (still True: the text arrives once); templates that raise on a system role or drop it: False."""
    return _renders_system(tokenizer, chat_template_of(tokenizer, chat_template))


def end_of_turn_tail(tokenizer, chat_template: str | None = None) -> tuple[str, str]:
    """(marker, trailing): what the template writes after an assistant response, split into the end-of-turn
    marker (scored by default) and the whitespace after it (never scored). E.g. ChatML: ("<|im_end|>", "\\n")."""
    probe = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _SENTINEL}]
    text = render(tokenizer, probe, add_generation_prompt=False, chat_template=chat_template)
    if text.count(_SENTINEL) != 1:
        raise ValueError("the chat template does not render the assistant content verbatim; cannot locate responses")
    tail = text.split(_SENTINEL, 1)[1]
    marker = tail.rstrip()
    return marker, tail[len(marker):]


@dataclass(frozen=True)
class Encoded:
    """One (prompt, response) as token ids. Scored tokens are ids[start:end]; each is predicted from ids[:k]."""
    ids: list[int]
    start: int
    end: int
    merged: bool  # the first scored token also covers prompt characters (see module docstring)


class ChatEncoder:
    """Renders and tokenizes (prompt, response) pairs for one tokenizer/template, finding the scored span.

    include_end_of_turn: score the end-of-turn marker after the response (default, docs/DESIGN.md) or not.
    """

    def __init__(self, tokenizer, *, chat_template: str | None = None, include_end_of_turn: bool = True):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("a fast (Rust) tokenizer is required: the response span is located with offset mappings")
        self.tokenizer, self.include_end_of_turn = tokenizer, include_end_of_turn
        self.chat_template = chat_template_of(tokenizer, chat_template)
        self.marker, self.trailing = end_of_turn_tail(tokenizer, self.chat_template)
        self.template_hash = template_hash(tokenizer, self.chat_template)

    @property
    def system_role(self) -> bool:
        """Whether this template renders a system message (has_system_role)."""
        return has_system_role(self.tokenizer, self.chat_template)

    def prompt_text(self, prompt) -> str:
        return render(self.tokenizer, prompt, add_generation_prompt=True, chat_template=self.chat_template)

    def encode(self, prompt, response: str, record=None) -> Encoded:
        """Tokenize prompt + response and locate the scored span. Raises RecordError naming `record`."""
        validate_prompt(prompt, record)
        validate_response(response, record)
        p_text = self.prompt_text(prompt)
        f_text = render(self.tokenizer, list(prompt) + [{"role": "assistant", "content": response}],
                        add_generation_prompt=False, chat_template=self.chat_template)
        tail = self.marker + self.trailing
        if not f_text.startswith(p_text):
            raise RecordError(record, "prompt", "the chat template renders the prompt differently once a response "
                              "follows it, so log p(response | prompt) is undefined for this template")
        if not f_text.endswith(tail) or len(f_text) - len(tail) < len(p_text):
            raise RecordError(record, "response", f"the rendered exchange does not end with the template's "
                              f"end-of-turn text {tail!r}")
        b, e_resp = len(p_text), len(f_text) - len(tail)
        if f_text[b:e_resp].strip() != response.strip():
            raise RecordError(record, "response", "the chat template changed the response text beyond trimming")
        e = e_resp + (len(self.marker) if self.include_end_of_turn else 0)
        enc = self.tokenizer(f_text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        scored = [k for k, (s, t) in enumerate(offsets) if t > b and s < e and t > s]
        if not scored:
            raise RecordError(record, "response", "no response token found after tokenization")
        start, end = scored[0], scored[-1] + 1
        if start == 0:
            raise RecordError(record, "prompt", "the response starts at the first token; nothing conditions it")
        return Encoded(ids=list(ids[:end]), start=start, end=end, merged=offsets[start][0] < b)
