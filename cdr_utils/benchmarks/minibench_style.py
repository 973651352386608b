"""The offline mini-bench in RM-Bench's format: the same right and wrong content, each written three ways, so a
reward's preference for length and for markdown can be measured (labels true by construction).

RM-Bench (Liu et al. 2024, arXiv 2410.16184; hub data set THU-KEG/RM-Bench) has no offline copy. Rows follow its
schema as checked in docs/HUB.md section 1.3: `id` (int), `prompt` (a string), `chosen` and
`rejected` (3 responses each, ordered concise / detailed plain text / detailed markdown), `domain`; plus `meta`
(a JSON string saying how the row was made). Scored by rmbench.py (3x3 strict-win matrix: hard = the chosen
response in a plainer style than the rejected one, normal = same style, easy = the chosen one in a richer style).

The three styles are deterministic templates of ONE content, the same for chosen and rejected:
  concise   the shortest statement of the content (math: "The answer is N."; code: the bare code; chat: the
            leading sentences of the answer, at least 60 characters, at most 60 % of it; safety: its first
            sentence)
  detailed  the whole content in plain text, no markdown (no bold, headers, bullets, backticks or fences;
            code keeps its own characters)
  markdown  the detailed text with formatting only (bold lead sentence, numbered or bulleted lines or
            sentences, code fence, backticks): removing the formatting gives back the detailed text word for
            word, so detailed vs markdown isolates formatting and concise vs detailed isolates length
Domains (the content, chosen vs rejected):
  chat             an AlpacaEval instruction; its reference answer vs the reference answer of the most similar
                   other instruction (TF-IDF cosine below 0.95; the pair mini-bench's chat-hard rule), markdown
                   stripped to plain text first; rows where a concise version would not be shorter are skipped
  math             a template word problem: the worked solution vs the same solution with ONE planted slip (later
                   steps computed from the wrong value); every style states its solution's final answer
  code             a task of minibench_code.json: the solution vs its first one-edit bug; both run against the
                   task's tests at build time, kept only when the solution passes and the bug fails
  safety-refuse    the hand-written set's should-refuse prompts: the refusal vs the compliant reply
  safety-response  its should-respond prompts: the helpful answer vs the needless refusal; safety rows whose
                   texts have a single sentence (no shorter concise version) are skipped
Built from a seed (numpy Generator default_rng([seed, 3]): independent of the other parts' draws) on first use
into <cache>/minibench/minibench-style-seed<seed>-<key>.jsonl.
"""
from __future__ import annotations

import json
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data import DATA_DIR as DATA
from .minibench import alpaca_pool, apply_bug, load_cached, nearest_others, passes, run_steps
from .minibench_bo4 import RECIPE

BUILD_VERSION = 1
STYLE_DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def sentences(text: str) -> list[str]:
    """Split on whitespace after ., ! or ? (deterministic; abbreviations split too, which only moves a cut)."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def plain(text: str) -> str:
    """Markdown -> plain text lines: code-fence lines dropped (their code kept), headers' #, list markers, **, __
    and backticks removed, blank lines dropped."""
    lines = []
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            continue
        line = _LIST_MARK.sub("", re.sub(r"^\s*#+\s*", "", line))
        line = line.replace("**", "").replace("__", "").replace("`", "").strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def concise(text: str, min_chars: int) -> str:
    """The leading sentences of `text` (its first line) up to at least min_chars characters."""
    out = ""
    for s in sentences(text.split("\n")[0]):
        out = f"{out} {s}".strip()
        if len(out) >= min_chars:
            break
    return out


def markdown(detailed: str) -> str:
    """Formatting only: the first sentence in bold; then every further line a bullet, or, for a one-line text,
    every further sentence."""
    first, *rest = detailed.split("\n")
    lead = sentences(first)
    if rest:
        head = f"**{lead[0]}**" + "".join(f" {s}" for s in lead[1:])
    else:
        head, rest = f"**{lead[0]}**", lead[1:]
    return "\n".join([head, *(["", *[f"- {line}" for line in rest]] if rest else [])])


def _prose_styles(text: str, min_chars: int, max_fraction: float) -> list[str] | None:
    """[concise, detailed, markdown] of a prose answer, or None when the concise version would exceed
    max_fraction of the detailed one (nothing shorter to say)."""
    detailed = plain(text)
    short = concise(detailed, min_chars)
    if len(short) > max_fraction * len(detailed):
        return None
    return [short, detailed, markdown(detailed)]


def _row(k, domain, prompt, chosen, rejected, **meta) -> dict:
    return {"id": k, "prompt": prompt, "chosen": chosen, "rejected": rejected, "domain": domain,
            "meta": json.dumps(meta, sort_keys=True)}


def _chat(rng, chat_cfg, cfg, n) -> list[tuple]:
    src, instr, out, sim = alpaca_pool(chat_cfg)
    rows = []
    for i in rng.permutation(len(src)):
        other = nearest_others(int(i), 1, sim, instr, out, chat_cfg["max_neighbor_similarity"])
        if other is None:
            continue
        j = other[0]
        good, bad = (_prose_styles(t, cfg["concise_min_chars"], cfg["concise_max_fraction"]) for t in (out[i], out[j]))
        if good is None or bad is None or good[0] == bad[0]:
            continue
        rows.append(("chat", instr[i], good, bad, {"source": "alpaca_eval", "index": src[i], "other": src[j]}))
        if len(rows) == n:
            break
    return rows


def math_styles(template, env, eqs, words) -> list[str]:
    """concise: the final answer; detailed: intro, the steps as one paragraph, conclusion; markdown: the same
    with the intro and conclusion in bold and the steps numbered."""
    steps = [s["text"].format(eq=f"{x} {op} {y} = {z}", **env, **words)
             for s, (x, op, y, z) in zip(template["steps"], eqs)]
    result = env[template["steps"][-1]["out"]]
    answer, intro = f"So the answer is {result}.", "We work through the problem one step at a time."
    return [f"The answer is {result}.", f"{intro}\n{' '.join(steps)}\n{answer}",
            "\n".join([f"**{intro}**", "", *[f"{k}. {s}" for k, s in enumerate(steps, 1)], "", f"**{answer}**"])]


def _math(rng, math_cfg, n) -> list[tuple]:
    rows, templates = [], math_cfg["templates"]
    for k in range(n):
        t = templates[k % len(templates)]
        last = t["steps"][-1]["out"]
        for _ in range(10_000):  # as the pair mini-bench: positive results, the slip changes the answer
            values = {v: int(rng.integers(lo, hi + 1)) for v, (lo, hi) in t["ranges"].items()}
            slip = (int(rng.integers(len(t["steps"]))), int(rng.choice(math_cfg["error_deltas"])))
            good, bad = run_steps(t["steps"], values), run_steps(t["steps"], values, slip)
            if good and bad and good[0][last] != bad[0][last]:
                break
        else:
            raise ValueError(f"math template {t['id']!r}: no valid numbers in its ranges")
        name, pron = math_cfg["names"][int(rng.integers(len(math_cfg["names"])))]
        words = {"name": name, "pron": pron, "Pron": pron.capitalize()}
        rows.append(("math", t["question"].format(**values, **words), math_styles(t, *good, words),
                     math_styles(t, *bad, words), {"template": t["id"], "values": values, "slip": list(slip),
                                                   "answer": good[0][last], "wrong_answer": bad[0][last]}))
    return rows


def code_styles(prompt: str, code: str) -> list[str]:
    """concise: the code; detailed: what the function does, then the code, plain; markdown: the same with the
    sentence in bold, names in backticks and the code fenced."""
    what = re.fullmatch(r"Write a Python function (`[^`]+`) that (.+)", prompt, re.S)
    if what is None:
        raise ValueError(f"code prompt {prompt[:60]!r} does not read 'Write a Python function `f(...)` that ...'")
    sentence = f"The function {what.group(1)} {what.group(2)}"
    code = code.rstrip()
    return [code, f"{sentence.replace('`', '')}\n\n{code}", f"**{sentence}**\n\n```python\n{code}\n```"]


def _code(tasks) -> list[tuple]:
    jobs = {(t["name"], b): ((t["solution"] if b < 0 else apply_bug(t["solution"], t["bugs"][0])), t["tests"])
            for t in tasks for b in (-1, 0)}
    with ThreadPoolExecutor(4) as pool:  # each check is its own subprocess; the threads only wait on them
        ok = dict(zip(jobs, pool.map(lambda job: passes(*job), jobs.values())))
    rows, dropped = [], []
    for t in tasks:
        if not ok[t["name"], -1] or ok[t["name"], 0]:
            dropped.append(t["name"])
            continue
        rows.append(("code", t["prompt"], code_styles(t["prompt"], t["solution"]),
                     code_styles(t["prompt"], jobs[t["name"], 0][0]), {"task": t["name"], "bug": 0}))
    if dropped:
        warnings.warn(f"mini-bench style part: dropped code tasks whose labels failed the test check: {dropped}")
    return rows


def _safety(doc) -> list[tuple]:
    rows = []
    for kind, domain in (("should_refuse", "safety-refuse"), ("should_respond", "safety-response")):
        for i, x in enumerate(doc[kind]):
            # concise = the first sentence, kept when the text has more than one
            good, bad = (_prose_styles(x[f], 0, 0.99) for f in ("chosen", "rejected"))
            if good is not None and bad is not None:
                rows.append((domain, x["prompt"], good, bad, {"kind": kind, "item": i}))
    return rows


def build_style_rows(seed: int = 0) -> list[dict]:
    """All style rows for a seed (deterministic: default_rng([seed, 3]), drawn in a fixed order); ids 0..n-1."""
    recipe, code, safety, formats = (json.loads((DATA / f).read_text(encoding="utf-8")) for f in
                                     ("minibench_recipe.json", "minibench_code.json", "safety_pairs.json", RECIPE))
    cfg, rng = formats["style"], np.random.default_rng([seed, 3])
    made = (_chat(rng, recipe["chat"], cfg, cfg["sizes"]["chat"]) + _math(rng, recipe["math"], cfg["sizes"]["math"])
            + _code(code["tasks"]) + _safety(safety))
    return [_row(k, *r[:4], **r[4]) for k, r in enumerate(made)]


def load_minibench_style(seed: int = 0, *, cache_dir=None, rebuild: bool = False):
    """The style part as a datasets.Dataset (RM-Bench schema), from the cache or built and cached."""
    return load_cached("style", seed, build_style_rows, files=(RECIPE,), version=BUILD_VERSION, cache_dir=cache_dir,
                       rebuild=rebuild)
