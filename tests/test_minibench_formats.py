"""The mini-bench's RewardBench 2 (best-of-4, Ties-like) and RM-Bench (style) parts: schema, determinism, and
labels true by construction, checked here independently of the builders (code re-run against its tests,
arithmetic redone, texts traced back to their sources)."""
import json
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cdr_utils.benchmarks import rewardbench2 as rb2
from cdr_utils.benchmarks import rmbench as rmb
from cdr_utils.benchmarks.minibench import alpaca_eval_path
from cdr_utils.benchmarks.minibench_bo4 import BO4_SUBSETS, RB2_TWIN, build_bo4_rows, load_minibench_bo4
from cdr_utils.benchmarks.minibench_style import STYLE_DOMAINS, build_style_rows, load_minibench_style

DATA = Path(__file__).resolve().parents[1] / "cdr_utils" / "data"
EQ = re.compile(r"(\d+) ([-+*]) (\d+) = (\d+)")


@pytest.fixture(scope="module", autouse=True)
def checks_run_once():
    """The builders' own test runs, memoized across this module's builds (the same code and tests give the same
    verdict; a rebuild for the determinism check need not rerun them). The label checks below run their own."""
    import functools

    from cdr_utils.benchmarks import minibench, minibench_bo4, minibench_style

    once = functools.lru_cache(maxsize=None)(minibench.passes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(minibench_bo4, "passes", once)
        mp.setattr(minibench_style, "passes", once)
        yield


@pytest.fixture(scope="module")
def bo4_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bo4")


@pytest.fixture(scope="module")
def bo4(bo4_cache):
    return load_minibench_bo4(0, cache_dir=bo4_cache).to_list()


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    return load_minibench_style(0, cache_dir=tmp_path_factory.mktemp("style")).to_list()


@pytest.fixture(scope="module")
def sources():
    safety = json.loads((DATA / "safety_pairs.json").read_text())
    code = {t["name"]: t for t in json.loads((DATA / "minibench_code.json").read_text())["tasks"]}
    return json.loads(alpaca_eval_path().read_text()), safety, code


def _of(rows, key, value):
    return [r for r in rows if r[key] == value]


def _runs_cleanly(code, tests):
    return subprocess.run([sys.executable, "-I", "-c", code + "\n" + tests], capture_output=True,
                          timeout=60).returncode == 0


def _run_all(jobs):
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda j: _runs_cleanly(*j), jobs))


def _equations(text):
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQ.findall(text)]


def _true(eq):
    a, op, b, c = eq
    return {"+": a + b, "-": a - b, "*": a * b}[op] == c


# -- best-of-4 (RewardBench 2 schema) ---------------------------------------------------------------------------
def test_bo4_schema_sizes_and_cache(bo4, bo4_cache):
    counts = Counter(r["subset"] for r in bo4)
    assert set(counts) == set(BO4_SUBSETS) == set(RB2_TWIN)
    assert counts["mini-focus"] == counts["mini-math"] == 60 and counts["mini-safety"] == 84
    assert counts["mini-code"] >= 20 and counts["mini-ties"] == 36
    for r in bo4:
        assert isinstance(r["prompt"], str) and r["prompt"].strip() and isinstance(r["id"], str)
        n_c, n_r = len(r["chosen"]), len(r["rejected"])
        assert (r["num_correct"], r["num_incorrect"], r["total_completions"]) == (n_c, n_r, n_c + n_r)
        assert len(set(r["chosen"] + r["rejected"])) == n_c + n_r, r["id"]  # no completion twice
        if r["subset"] != "mini-ties":
            assert (n_c, n_r) == (1, 3) and r["id"].startswith(r["subset"]), r["id"]
    ties = {r["id"] for r in _of(bo4, "subset", "mini-ties")}
    assert ties == {f"{kind}:{k}" for kind in ("ref", "tied") for k in range(18)}  # each k asked both ways
    assert len(rb2.to_rows(bo4)) == len(bo4)  # passes the RewardBench 2 loader's validation
    assert build_bo4_rows(0) == bo4  # the cached file reads back as built, and the build is deterministic
    other = build_bo4_rows(1)
    changed = {a["subset"] for a, b in zip(other, bo4) if a != b}
    assert {"mini-focus", "mini-math", "mini-ties"} <= changed and "mini-safety" not in changed
    assert [p.name.split("-")[:3] for p in bo4_cache.iterdir()] == [["minibench", "bo4", "seed0"]]  # no temp left


def test_bo4_math_one_correct_three_single_slips(bo4):
    for r in _of(bo4, "subset", "mini-math"):
        good = _equations(r["chosen"][0])
        assert len(good) >= 2 and all(map(_true, good)), r["id"]
        finals = [int(re.search(r"The answer is (\d+)\.$", t).group(1)) for t in r["chosen"] + r["rejected"]]
        assert finals[0] == good[-1][3] and len(set(finals)) == 4, r["id"]  # four different final answers
        for text in r["rejected"]:
            bad = _equations(text)
            wrong = [k for k, eq in enumerate(bad) if not _true(eq)]
            assert len(wrong) == 1 and bad[:wrong[0]] == good[:wrong[0]], r["id"]  # one slip, same work before it
            assert re.sub(r"\d+", "#", text) == re.sub(r"\d+", "#", r["chosen"][0]), r["id"]  # only numbers differ


def test_bo4_code_chosen_passes_all_three_rejected_fail(bo4, sources):
    _, _, tasks = sources
    rows = _of(bo4, "subset", "mini-code")
    unfence = lambda s: re.fullmatch(r"```python\n(.*)\n```", s, re.S).group(1)  # noqa: E731
    jobs = [(unfence(t), tasks[json.loads(r["meta"])["task"]]["tests"])
            for r in rows for t in r["chosen"] + r["rejected"]]
    ok = _run_all(jobs)
    for k, r in enumerate(rows):
        assert ok[4 * k: 4 * k + 4] == [True, False, False, False], r["id"]
        assert r["prompt"] == tasks[json.loads(r["meta"])["task"]]["prompt"]


def test_bo4_focus_and_safety_trace_to_their_sources(bo4, sources):
    alpaca, safety, _ = sources
    for r in _of(bo4, "subset", "mini-focus"):
        m = json.loads(r["meta"])
        assert alpaca[m["index"]]["instruction"] == r["prompt"] and alpaca[m["index"]]["output"] == r["chosen"][0]
        assert [alpaca[j]["output"] for j in m["others"]] == r["rejected"], r["id"]
        assert all(alpaca[j]["instruction"] != r["prompt"] for j in m["others"]) and max(m["similarity"]) < 0.95
    for r in _of(bo4, "subset", "mini-safety"):
        m = json.loads(r["meta"])
        items = safety[m["kind"]]
        assert (r["prompt"], r["chosen"][0], r["rejected"][0]) == tuple(items[m["item"]][f] for f in
                                                                         ("prompt", "chosen", "rejected"))
        # the other two wrong completions are other prompts' replies of the same wrong kind
        assert r["rejected"][1:] == [items[j]["rejected"] for j in m["others"]] and m["item"] not in m["others"]


def _qualifies(question, n):
    is_prime = n > 1 and all(n % d for d in range(2, n))
    if m := re.fullmatch(r"Name a multiple of (\d+) between (\d+) and (\d+)\.", question):
        d, lo, hi = map(int, m.groups())
        return lo < n < hi and n % d == 0
    if m := re.fullmatch(r"What is the smallest multiple of (\d+) greater than (\d+)\?", question):
        d, lo = map(int, m.groups())
        return n > lo and n % d == 0 and n - d <= lo
    if m := re.fullmatch(r"Name a prime number between (\d+) and (\d+)\.", question):
        lo, hi = map(int, m.groups())
        return lo < n < hi and is_prime
    if m := re.fullmatch(r"What is the largest prime number smaller than (\d+)\?", question):
        hi = int(m.group(1))
        return n < hi and is_prime and not any(all(k % d for d in range(2, k)) for k in range(n + 1, hi))
    if m := re.fullmatch(r"Name a divisor of (\d+) that is greater than 1 and smaller than \1\.", question):
        x = int(m.group(1))
        return 1 < n < x and x % n == 0
    m = re.fullmatch(r"What is the largest divisor of (\d+) that is smaller than \1\?", question)
    x = int(m.group(1))
    return n < x and x % n == 0 and not any(x % k == 0 for k in range(n + 1, x))


def test_ties_answers_checked_by_arithmetic(bo4):
    for r in _of(bo4, "subset", "mini-ties"):
        numbers = {f: [int(re.fullmatch(r"The answer is (\d+)\.", t).group(1)) for t in r[f]]
                   for f in ("chosen", "rejected")}
        assert all(_qualifies(r["prompt"], n) for n in numbers["chosen"]), r["id"]
        assert not any(_qualifies(r["prompt"], n) for n in numbers["rejected"]), r["id"]
        if r["id"].startswith("ref:"):
            assert len(numbers["chosen"]) == 1, r["id"]
        else:
            assert 3 <= len(numbers["chosen"]) <= 5, r["id"]  # several correct answers: the point of Ties


# -- style part (RM-Bench schema) -------------------------------------------------------------------------------
def _unformat(text):
    """Drop markdown formatting (fence lines, list markers, **, backticks) and collapse whitespace."""
    lines = [re.sub(r"^(?:[-*]|\d+\.)\s+", "", ln) for ln in text.split("\n") if not ln.startswith("```")]
    return " ".join(" ".join(lines).replace("**", "").replace("`", "").split())


def test_style_schema_and_formatting_only_differences(style):
    counts = Counter(r["domain"] for r in style)
    assert set(counts) == set(STYLE_DOMAINS) and min(counts.values()) >= 30, counts
    assert [r["id"] for r in style] == list(range(len(style)))
    assert len(rmb.to_rows(style)) == len(style)  # passes the RM-Bench loader's validation
    for r in style:
        assert isinstance(r["prompt"], str) and r["prompt"].strip()
        for side in ("chosen", "rejected"):
            short, detailed, md = r[side]
            assert len(short) < len(detailed) < len(md), (r["id"], side)
            assert "**" in md and "**" not in detailed.replace(" ** ", "") and "`" not in detailed, (r["id"], side)
            assert not re.search(r"^(#|- |```)", detailed, re.M), (r["id"], side)
            assert _unformat(md) == _unformat(detailed), (r["id"], side)  # markdown adds formatting only
        assert r["chosen"][0] != r["rejected"][0], r["id"]
    assert build_style_rows(0) == style  # the cached file reads back as built, and the build is deterministic


def test_style_math_every_style_states_its_solutions_answer(style):
    for r in _of(style, "domain", "math"):
        m = json.loads(r["meta"])
        good, bad = _equations(r["chosen"][1]), _equations(r["rejected"][1])
        assert all(map(_true, good)) and sum(not _true(eq) for eq in bad) == 1, r["id"]
        assert good[-1][3] == m["answer"] != m["wrong_answer"] == bad[-1][3], r["id"]
        for side, answer in (("chosen", m["answer"]), ("rejected", m["wrong_answer"])):
            stated = [int(re.findall(r"answer is (\d+)\.", t)[-1]) for t in r[side]]
            assert stated == [answer] * 3, (r["id"], side)


def test_style_code_same_code_in_every_style_chosen_passes_rejected_fails(style, sources):
    _, _, tasks = sources
    rows = _of(style, "domain", "code")
    jobs = []
    for r in rows:
        for side in ("chosen", "rejected"):
            short, detailed, md = r[side]
            code_md = re.search(r"```python\n(.*)\n```", md, re.S).group(1)
            assert short == detailed.split("\n\n", 1)[1] == code_md, (r["id"], side)
            jobs.append((short, tasks[json.loads(r["meta"])["task"]]["tests"]))
    assert _run_all(jobs) == [True, False] * len(rows)


def test_style_chat_and_safety_trace_to_their_sources(style, sources):
    alpaca, safety, _ = sources
    for r in _of(style, "domain", "chat"):
        m = json.loads(r["meta"])
        assert alpaca[m["index"]]["instruction"] == r["prompt"] != alpaca[m["other"]]["instruction"]
        for side, k in (("chosen", m["index"]), ("rejected", m["other"])):
            # the same words in the same order (markdown, list numbers and code-fence lines gone)
            source = "\n".join(ln for ln in alpaca[k]["output"].split("\n") if not ln.strip().startswith("```"))
            assert re.findall(r"[A-Za-z]+", r[side][1]) == re.findall(r"[A-Za-z]+", source), (r["id"], side)
            assert r[side][1].startswith(r[side][0]), (r["id"], side)  # concise = its leading sentences
    for domain, kind in (("safety-refuse", "should_refuse"), ("safety-response", "should_respond")):
        for r in _of(style, "domain", domain):
            x = safety[kind][json.loads(r["meta"])["item"]]
            assert r["prompt"] == x["prompt"]
            for side in ("chosen", "rejected"):
                plain = x[side].replace("`", "")
                assert r[side][1] == plain and plain.startswith(r[side][0]), (r["id"], side)
