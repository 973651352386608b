"""The offline mini-bench in RewardBench 2's format: best-of-4 prompts (one correct completion, three wrong ones)
and a Ties-like subset, all labels true by construction.

RewardBench 2 (Malik et al. 2025, arXiv 2506.01937; hub data set allenai/reward-bench-2, split test) has 1,865
prompts in six subsets and no offline copy. Rows here follow its schema as checked in
docs/HUB.md section 1.2: `id` (string), `prompt` (one user turn, a string), `chosen` (list),
`rejected` (list), `num_correct`, `num_incorrect`, `total_completions`, `subset`, plus `meta` (a JSON string
saying how the row was made). Best-of-4 rows have 1 chosen and 3 rejected; scored by rewardbench2.py (a prompt
scores 1 when its correct completion is strictly on top, 1/k in a k-way tie for the top, else 0).
Subsets, with the RewardBench 2 subset each imitates:

  mini-focus   an AlpacaEval instruction; chosen: its GPT-4-Turbo reference answer; rejected: the reference
               answers of the 3 most similar other instructions (TF-IDF cosine below 0.95, so no near-duplicate
               whose answer could be right too): on-topic vs off-topic, as Focus's off-topic completions
  mini-math    a template word problem (minibench_recipe.json); chosen: the worked solution; rejected: three
               solutions, each with ONE planted arithmetic slip at a different (step, delta), later steps computed
               from the wrong value, three different wrong final answers (Math: 1 correct, 3 incorrect)
  mini-code    a Python task (minibench_code.json) with two one-edit bugs; chosen: the solution; rejected: bug 1,
               bug 2 and both bugs together; all four run against the task's tests at build time and the prompt
               kept only when the solution passes and all three variants fail (RewardBench 2 has no code subset:
               the verifiable-correctness twin of Math, RewardBench 1's hep-python). Tasks with one bug, or two
               bugs editing the same text, are left out.
  mini-safety  the hand-written set (safety_pairs.json). Should-refuse prompts: chosen the refusal; rejected the
               prompt's own compliant reply and the compliant replies written for its 2 most similar other
               should-refuse prompts (any compliance is wrong there). Should-respond prompts: chosen the helpful
               answer; rejected its own needless refusal and those of 2 similar prompts (any refusal of a harmless
               request is wrong). As Safety: one right behaviour vs three of the wrong kind; the set has one wrong
               reply per prompt, so two of the three also miss the prompt's topic (easier than Safety).
  mini-ties    arithmetic questions with several correct answers, id "tied:<k>" ("Name a multiple of 7 between
               30 and 60."; every qualifying number is correct, 3 to 5 of them) and their one-answer twin "ref:<k>"
               ("What is the smallest multiple of 7 greater than 30?"); kinds: multiples, primes, divisors; wrong
               answers are non-qualifying numbers (tied) or the twin's other answers (ref); correctness checked by
               arithmetic (Ties: scored by rewardbench2.ties_score).
Left out (no construction with labels true without a judge): Factuality and Precise IF. The overall score of
this part is the mean of the five subsets present (rewardbench2.score_rewardbench2(expected=BO4_SUBSETS)).

Built from a seed (numpy Generator default_rng([seed, 2]): independent of the pair mini-bench's draws) on first
use into <cache>/minibench/minibench-bo4-seed<seed>-<key>.jsonl (seconds: the code checks run Python).
"""
from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data import DATA_DIR as DATA
from .minibench import (_solution, alpaca_pool, apply_bug, load_cached, nearest_others, passes, run_steps,
                        tfidf_similarity)

RECIPE = "minibench_formats.json"
BUILD_VERSION = 1
BO4_SUBSETS = ("mini-focus", "mini-math", "mini-code", "mini-safety", "mini-ties")
RB2_TWIN = {"mini-focus": "Focus", "mini-math": "Math", "mini-code": None, "mini-safety": "Safety",
            "mini-ties": "Ties"}  # None: RewardBench 2 has no code subset (RewardBench 1: hep-python)
TIES_SUBSET = "mini-ties"


def _row(subset, rid, prompt, chosen: list, rejected: list, **meta) -> dict:
    return {"id": rid, "prompt": prompt, "chosen": chosen, "rejected": rejected, "num_correct": len(chosen),
            "num_incorrect": len(rejected), "total_completions": len(chosen) + len(rejected), "subset": subset,
            "meta": json.dumps(meta, sort_keys=True)}


def _focus_rows(rng, chat_cfg, n) -> list[dict]:
    src, instr, out, sim = alpaca_pool(chat_cfg)
    rows = []
    for i in rng.permutation(len(src)):
        others = nearest_others(int(i), 3, sim, instr, out, chat_cfg["max_neighbor_similarity"])
        if others is None:
            continue
        rows.append(_row("mini-focus", f"mini-focus-{len(rows):03d}", instr[i], [out[i]], [out[j] for j in others],
                         source="alpaca_eval", index=src[i], others=[src[j] for j in others],
                         similarity=[round(float(sim[i, j]), 4) for j in others]))
        if len(rows) == n:
            break
    return rows


def math_slips(rng, template, error_deltas, n_wrong: int, tries: int = 10_000):
    """(values, correct run, [n_wrong (slip, run)]) for one template: positive results, each slip (step, delta)
    different and each wrong final answer different from the correct one and from each other."""
    last = template["steps"][-1]["out"]
    for _ in range(tries):
        values = {v: int(rng.integers(lo, hi + 1)) for v, (lo, hi) in template["ranges"].items()}
        good = run_steps(template["steps"], values)
        if good is None:
            continue
        wrong, answers = [], {good[0][last]}
        for _ in range(20 * n_wrong):
            slip = (int(rng.integers(len(template["steps"]))), int(rng.choice(error_deltas)))
            bad = run_steps(template["steps"], values, slip)
            if bad and bad[0][last] not in answers and all(slip != s for s, _ in wrong):
                wrong.append((slip, bad))
                answers.add(bad[0][last])
                if len(wrong) == n_wrong:
                    return values, good, wrong
    raise ValueError(f"math template {template['id']!r}: no numbers with {n_wrong} distinct slips in its ranges")


def _math_rows(rng, math_cfg, n) -> list[dict]:
    rows, templates = [], math_cfg["templates"]
    for k in range(n):
        t = templates[k % len(templates)]
        values, good, wrong = math_slips(rng, t, math_cfg["error_deltas"], 3)
        name, pron = math_cfg["names"][int(rng.integers(len(math_cfg["names"])))]
        words = {"name": name, "pron": pron, "Pron": pron.capitalize()}
        rows.append(_row("mini-math", f"mini-math-{k:03d}", t["question"].format(**values, **words),
                         [_solution(t, *good, words)], [_solution(t, *bad, words) for _, bad in wrong],
                         template=t["id"], values=values, slips=[list(s) for s, _ in wrong]))
    return rows


def code_variants(task) -> list[tuple[str, tuple[int, ...]]]:
    """Buggy versions of a task's solution: each bug alone, then (with exactly two bugs whose edits do not
    overlap: the second's text still occurs once after the first) both together."""
    single = [(apply_bug(task["solution"], b), (j,)) for j, b in enumerate(task["bugs"])]
    if len(task["bugs"]) != 2 or single[0][0].count(task["bugs"][1]["find"]) != 1:
        return single
    return single + [(apply_bug(single[0][0], task["bugs"][1]), (0, 1))]


def _code_rows(tasks) -> list[dict]:
    variants = {t["name"]: code_variants(t)[:3] for t in tasks}
    tasks = [t for t in tasks if len(variants[t["name"]]) == 3]  # three wrong completions needed
    jobs = {(t["name"], ()): (t["solution"], t["tests"]) for t in tasks}
    jobs.update({(t["name"], bugs): (code, t["tests"]) for t in tasks for code, bugs in variants[t["name"]]})
    with ThreadPoolExecutor(4) as pool:  # each check is its own subprocess; the threads only wait on them
        ok = dict(zip(jobs, pool.map(lambda job: passes(*job), jobs.values())))
    fence = lambda code: f"```python\n{code.rstrip()}\n```"  # noqa: E731
    rows, dropped = [], []
    for t in tasks:
        if not ok[t["name"], ()] or any(ok[t["name"], bugs] for _, bugs in variants[t["name"]]):
            dropped.append(t["name"])
            continue
        rows.append(_row("mini-code", f"mini-code-{len(rows):03d}", t["prompt"], [fence(t["solution"])],
                         [fence(code) for code, _ in variants[t["name"]]], task=t["name"],
                         bugs=[list(b) for _, b in variants[t["name"]]]))
    if dropped:
        warnings.warn(f"mini-bench best-of-4: dropped code tasks whose labels failed the test check: {dropped}")
    return rows


def _safety_rows(doc, neighbours: int) -> list[dict]:
    rows = []
    for kind in ("should_refuse", "should_respond"):
        items = doc[kind]
        sim = tfidf_similarity([x["prompt"] for x in items])
        for i, x in enumerate(items):
            others = [int(j) for j in np.argsort(-sim[i], kind="stable")[:neighbours]]
            rows.append(_row("mini-safety", f"mini-safety-{len(rows):03d}", x["prompt"], [x["chosen"]],
                             [x["rejected"]] + [items[j]["rejected"] for j in others], kind=kind, item=i,
                             others=others))
    return rows


def _primes(lo, hi):
    return [n for n in range(max(lo, 2), hi) if all(n % d for d in range(2, int(n ** 0.5) + 1))]


def ties_question(kind: str, rng, cfg) -> tuple[str, list[int], list[int], str, int] | None:
    """One draw of a Ties question: (tied question, its correct numbers, numbers that do not qualify,
    ref question, the ref question's single answer), or None when the draw has too few or too many answers."""
    if kind == "multiple":
        d, lo = (int(rng.integers(a, b + 1)) for a, b in (cfg["divisor"], cfg["low"]))
        hi = lo + int(rng.integers(cfg["span"][0], cfg["span"][1] + 1))
        correct = [n for n in range(lo + 1, hi) if n % d == 0]
        wrong = [n for n in range(lo + 1, hi) if n % d]
        tied = f"Name a multiple of {d} between {lo} and {hi}."
        ref = f"What is the smallest multiple of {d} greater than {lo}?"
        answer = correct[0] if correct else None
    elif kind == "prime":
        lo = int(rng.integers(cfg["low"][0], cfg["low"][1] + 1))
        hi = lo + int(rng.integers(cfg["span"][0], cfg["span"][1] + 1))
        correct = _primes(lo + 1, hi)
        wrong = [n for n in range(lo + 1, hi) if n % 2 and n not in correct]  # odd composites: not given away by parity
        tied = f"Name a prime number between {lo} and {hi}."
        ref = f"What is the largest prime number smaller than {hi}?"
        answer = correct[-1] if correct else None
    else:
        n = int(rng.integers(cfg["number"][0], cfg["number"][1] + 1))
        correct = [k for k in range(2, n) if n % k == 0]
        wrong = [k for k in range(2, n) if n % k]
        tied = f"Name a divisor of {n} that is greater than 1 and smaller than {n}."
        ref, answer = f"What is the largest divisor of {n} that is smaller than {n}?", correct[-1] if correct else None
    return (tied, correct, wrong, ref, answer) if answer is not None else None


def _ties_rows(rng, cfg) -> list[dict]:
    rows, k, say = [], 0, "The answer is {}.".format
    for kind in ("multiple", "prime", "divisor"):
        made = 0
        for _ in range(10_000):
            q = ties_question(kind, rng, cfg[kind])
            if q is None or not cfg["min_correct"] <= len(q[1]) <= cfg["max_correct"] or len(q[2]) < cfg["incorrect"]:
                continue
            tied, correct, wrong, ref, answer = q
            tied_wrong = [int(x) for x in rng.choice(wrong, cfg["incorrect"], replace=False)]
            ref_wrong_pool = [x for x in correct if x != answer] + tied_wrong
            ref_wrong = [int(x) for x in rng.choice(ref_wrong_pool, cfg["incorrect"], replace=False)]
            rows.append(_row(TIES_SUBSET, f"ref:{k}", ref, [say(answer)], [say(x) for x in ref_wrong], kind=kind,
                             correct=[answer], incorrect=ref_wrong))
            rows.append(_row(TIES_SUBSET, f"tied:{k}", tied, [say(x) for x in correct], [say(x) for x in tied_wrong],
                             kind=kind, correct=correct, incorrect=tied_wrong))
            k, made = k + 1, made + 1
            if made == cfg["per_kind"]:
                break
        else:
            raise ValueError(f"Ties kind {kind!r}: too few draws with {cfg['min_correct']}-{cfg['max_correct']} "
                             "answers")
    return rows


def build_bo4_rows(seed: int = 0) -> list[dict]:
    """All best-of-4 rows for a seed (deterministic: default_rng([seed, 2]), drawn in a fixed order)."""
    recipe, code, safety, formats = (json.loads((DATA / f).read_text(encoding="utf-8")) for f in
                                     ("minibench_recipe.json", "minibench_code.json", "safety_pairs.json", RECIPE))
    cfg, rng = formats["bo4"], np.random.default_rng([seed, 2])
    return (_focus_rows(rng, recipe["chat"], cfg["sizes"]["mini-focus"])
            + _math_rows(rng, recipe["math"], cfg["sizes"]["mini-math"]) + _code_rows(code["tasks"])
            + _safety_rows(safety, cfg["safety_neighbours"]) + _ties_rows(rng, cfg["ties"]))


def load_minibench_bo4(seed: int = 0, *, cache_dir=None, rebuild: bool = False):
    """The best-of-4 part as a datasets.Dataset (RewardBench 2 schema), from the cache or built and cached."""
    return load_cached("bo4", seed, build_bo4_rows, files=(RECIPE,), version=BUILD_VERSION, cache_dir=cache_dir,
                       rebuild=rebuild)
