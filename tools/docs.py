"""The generated documents: docs/RESULTS.md and the README's results table, written from the committed headline
numbers (results/<profile>/*.json, which the notebooks save), never typed by hand.

`python -m tools.docs [--profile cpu]` (`make docs`) regenerates both from results/<profile>/; tests/test_report.py
checks that the committed documents equal what the committed results give. The notebooks themselves show their
headline numbers as a table and explain them in prose written once, by hand ("What this run shows"); the
bullet-point sections of docs/RESULTS.md (findings_NN below) are this writer's alone.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from cdr_utils.benchmarks.policy.winrate import VARIANT_COLUMNS
from cdr_utils.studies.paths import CHECKOUT, RESULTS
from cdr_utils.studies.results import NOTEBOOKS, load_results

SECTIONS = ("Chat", "Chat Hard", "Safety", "Reasoning", "Score")


def _f(value, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _ci(pair, digits: int = 1, sign: bool = False) -> str:
    return f"[{_f(pair[0], digits, sign)}, {_f(pair[1], digits, sign)}]"


def _sections(row: dict, digits: int = 1) -> str:
    return ", ".join(f"{s} {_f(row[s], digits)}" for s in SECTIONS if s in row)


# -- 00 ---------------------------------------------------------------------------------------------------------
def findings_00(r: dict) -> str:
    n, good = r["examples"], r["good_first"]
    out = [f"* **{r['strong']} over {r['weak']}** ranks the good answer first in **{good['sum']} of {n}** examples "
           f"with the summed ratio and {good['mean']} of {n} with the per-token mean."]
    wrong = {k: v for k, v in r["per_example"].items() if v["r_sum_good"] <= v["r_sum_bad"]}
    if wrong:
        cases = "; ".join(f"`{k}`: good {_f(v['r_sum_good'], sign=True)} nats, bad {_f(v['r_sum_bad'], sign=True)}"
                          for k, v in wrong.items())
        out.append(f"* **Where the reward fails on these examples** ({cases}). A density ratio prefers what the "
                   "strong model likes more than the weak one does; where the strong model is not aligned (a small "
                   "chat model asked for a harmful favour, say), neither is the reward. On `smoke` the models are "
                   "random, and so are the rankings.")
    else:
        out.append("* No example is ranked the wrong way by the sum here.")
    eot = r["end_of_turn_nats"]
    out.append(f"* The end-of-turn marker costs the weak model {_f(eot['weak'][0])} to {_f(eot['weak'][1])} nats "
               f"on these answers and the strong model {_f(eot['strong'][0])} to {_f(eot['strong'][1])}. A cost "
               "that is about the same for both answers of a prompt cancels in the sum; the mean divides it by each "
               "answer's own length and so favours the longer answer when the marker is expensive.")
    ln = r["length"]
    steps = ", ".join(_f(v, sign=True) for v in ln["r_sum"])
    trend = ("rises with every sentence" if all(b > a for a, b in zip(ln["r_sum"], ln["r_sum"][1:])) else
             "falls with every sentence" if all(b < a for a, b in zip(ln["r_sum"], ln["r_sum"][1:])) else
             "does not move one way")
    out.append(f"* **Length**: appending {len(ln['r_sum']) - 1} on-topic sentences takes the summed ratio through "
               f"{steps} nats: it {trend}, following the sign of each added sentence's own ratio. The mean stays "
               f"between {_f(min(ln['r_mean']), 2, True)} and {_f(max(ln['r_mean']), 2, True)} nats per token.")
    return "\n".join(out)


# -- 01 ---------------------------------------------------------------------------------------------------------
def _groups(points: list[dict]) -> str:
    """When the pairs split at their largest gap jump into two groups whose accuracies do not overlap, say so."""
    pts = sorted(points, key=lambda p: p["gap"])
    if len(pts) < 4:
        return ""
    jumps = [pts[k + 1]["gap"] - pts[k]["gap"] for k in range(len(pts) - 1)]
    cut = max(range(len(jumps)), key=jumps.__getitem__) + 1
    small, large = pts[:cut], pts[cut:]
    lo_acc, hi_acc = [p["accuracy"] for p in small], [p["accuracy"] for p in large]
    words = ("every pair of the large-gap group beats every pair of the small-gap group" if min(hi_acc) > max(lo_acc)
             else "the two groups' accuracies overlap")
    return (f" The points form two groups at the largest jump in gap: {len(large)} pairs with gaps "
            f"{_f(large[0]['gap'])}-{_f(large[-1]['gap'])} score {_f(min(hi_acc))}-{_f(max(hi_acc))}, {len(small)} "
            f"pairs with gaps {_f(small[0]['gap'])}-{_f(small[-1]['gap'])} score {_f(min(lo_acc))}-{_f(max(lo_acc))}: "
            f"{words}.")


def findings_01(r: dict) -> str:
    single = r["single"]
    measure = r["gap"]["measure"]
    alone = "; ".join(f"{m} {_f(v['mean'])} (sum {_f(v['sum'])})" for m, v in single.items())
    out = [f"* **Each model alone** (its own log p as the reward on {r['rows']} pairs; mean per token, summed in "
           f"brackets): {alone}. 50 is a coin flip."]
    top, own = r["top"], r["profile_pair"]
    out.append(f"* **{len(r['pairs'])} ordered pairs from {len(single)} scoring passes.** Best: **{top['strong']} over "
               f"{top['weak']}, {_f(top['Score'])}** ({_sections(r['top_sections'])}). The profile's own pair, "
               f"{own['strong']} over {own['weak']}: {_f(own['Score'])}.")
    if r.get("top_minus_profile_pair"):
        d = r["top_minus_profile_pair"]
        out.append(f"* **The pair later notebooks use**: the top pair leads the profile's by {_f(d['points'], sign=True)} "
                   f"points, paired 95 % bootstrap interval {_ci(d['ci'], sign=True)}: {r['chosen']}.")
    else:
        out.append(f"* **The pair later notebooks use**: {r['chosen']}.")
    g, alt = r["gap"], r["gap_alt"]
    out.append(f"* **Gap against accuracy** ({measure} as each model's performance): Spearman rho = "
               f"**{_f(g['rho'], 2, True)}**, 95 % bootstrap interval {_ci(g['ci'], 2, True)}, over "
               f"{len(g['points'])} pairs; with {alt['measure']}: {_f(alt['rho'], 2, True)} "
               f"{_ci(alt['ci'], 2, True)}.{_groups(g['points'])}")
    best = max(single, key=lambda m: single[m]["mean"])
    score = {(p["strong"], p["weak"]): p["Score"] for p in r["pairs"]}
    forward, reverse = score.get((best, own["strong"])), score.get((own["strong"], best))
    if best != own["strong"] and forward is not None and forward < reverse:
        out.append(f"* **A high single-model score does not make a good strong model**: {best} scores highest alone "
                   f"({_f(single[best]['mean'])}), yet {best} over {own['strong']} scores {_f(forward)} against "
                   f"{_f(reverse)} the other way round. Per-token likelihood of the better answer measures how well a "
                   "model reads the text, not how aligned it is.")
    return "\n".join(out)


# -- 02 ---------------------------------------------------------------------------------------------------------
def findings_02(r: dict) -> str:
    per = r["pairs"] / 4
    routers = "; ".join(f"{k} {_f(v['all'])} % (" + ", ".join(f"{s} {_f(a, 0)}" for s, a in v["sections"].items()) + ")"
                        for k, v in r["routers"].items())
    out = [f"* **Routers**, against the bench's own sections: {routers}."]
    rows = r["variants"]
    vanilla = next(v for v in rows if v["mode"] == "vanilla")
    others = [v for v in rows if v["mode"] != "vanilla"]
    name = lambda v: f"{v['mode']} ({v['routing']} routing, {'both models' if v['apply_to'] == 'both' else 'strong only'})"  # noqa: E731
    best, worst = max(others, key=lambda v: v["Score"]), min(others, key=lambda v: v["Score"])
    above = sum(v["Score"] > vanilla["Score"] for v in others)
    out.append(f"* **Accuracy**: vanilla {_f(vanilla['Score'])} ({_sections(vanilla)}). {above} of {len(others)} "
               f"variants score above it; best {name(best)} {_f(best['Score'])}, worst {name(worst)} "
               f"{_f(worst['Score'])}. At {per:.0f} pairs per section one pair moves a section by {100 / per:.1f} "
               "points: read differences of one or two pairs as noise.")
    cost = {v["mode"]: v for v in rows if v["routing"] in ("oracle", "-") and v["apply_to"] in ("both", "-")}
    base = cost["vanilla"]["body tokens (strong)"]
    parts = [f"{m} {int(v['body tokens (strong)']):,} ({100 * (v['body tokens (strong)'] / base - 1):+.0f} %)"
             for m, v in cost.items() if m not in ("vanilla", "vanilla_chat")]
    added = ", ".join(f"{m} +{_f(v['tokens added (strong)'], 0)} / +{_f(v['tokens added (weak)'], 0)}"
                      for m, v in cost.items() if m not in ("vanilla", "vanilla_chat"))
    out.append(f"* **Cost**: tokens the strong model's body runs, with prefix sharing (a pair's two responses share "
               f"one customized prompt, run once): vanilla {int(base):,}; {'; '.join(parts)}. Tokens added per prompt "
               f"(strong / weak): {added}.")
    return "\n".join(out)


# -- 03 ---------------------------------------------------------------------------------------------------------
def findings_03(r: dict) -> str:
    m, n = r["methods"], r["pairs"]
    ratio = m["density ratio (sum)"]["Score"]
    singles = {k: v["Score"] for k, v in m.items() if "log p" in k}
    beaten = [k for k, v in singles.items() if ratio > v]
    above = [k for k, v in singles.items() if ratio <= v]
    out = [f"* **{r['strong']} over {r['weak']}** on {n} pairs ({r['bench']}): density ratio (sum) **{_f(ratio)}**, "
           f"mean {_f(m['density ratio (mean)']['Score'])}; each model alone: "
           + ", ".join(f"{k} {_f(v)}" for k, v in singles.items())
           + f"; longer response {_f(m['longer response']['Score'])}, random {_f(m['random']['Score'])}. "
           + ("The ratio beats every single-model baseline." if not above else
              f"The ratio beats {', '.join(beaten) or 'none of them'} but not {', '.join(above)}.")]
    gains = sorted(((v["density ratio (sum)"] - v["strong log p (sum)"], k) for k, v in r["subsets"].items()),
                   reverse=True)
    sub = r["subsets"]
    fmt = lambda k: f"{k} {_f(sub[k]['density ratio (sum)'], 0)} % vs {_f(sub[k]['strong log p (sum)'], 0)} %"  # noqa: E731
    out.append(f"* **Where subtracting the weak model helps** (ratio vs the strong model's own sum): "
               f"{', '.join(fmt(k) for d, k in gains[:2] if d > 0) or 'nowhere'}; **where it hurts**: "
               f"{', '.join(fmt(k) for d, k in gains[::-1][:2] if d < 0) or 'nowhere'}. Where both models know the "
               "same thing (an arithmetic slip each catches alone), the difference cancels the evidence.")
    mk = r["marker"]
    out.append("* **The end-of-turn marker**: " + "; ".join(
        f"the {who} model pays {_f(-v['chosen'])} nats for `{v['marker']}` after chosen and {_f(-v['rejected'])} "
        f"after rejected responses (mean |difference| within a pair {_f(v['abs_diff'])})" for who, v in mk.items())
        + ". A cost that is about equal within a pair cancels in the sum; the mean divides it by each response's "
        "length, which favours the shorter response when the cost is high.")
    gap = max(sub, key=lambda k: abs(sub[k]["density ratio (sum)"] - sub[k]["density ratio (mean)"]))
    out.append(f"* **Sum versus mean** differ most on {gap}: {_f(sub[gap]['density ratio (sum)'], 0)} % (sum) vs "
               f"{_f(sub[gap]['density ratio (mean)'], 0)} % (mean). The sum prefers the longer response in "
               f"{_f(r['prefers_longer']['density ratio (sum)'], 0)} % of pairs whose lengths differ, the mean in "
               f"{_f(r['prefers_longer']['density ratio (mean)'], 0)} %.")
    no = r["no_eot"]["density ratio (sum)"]
    out.append(f"* **Without the marker in the span** the summed ratio scores {_f(no['Score'])} instead of "
               f"{_f(ratio)} (Chat Hard {_f(no['Chat Hard'])} vs {_f(m['density ratio (sum)']['Chat Hard'])}).")
    per = n / 4
    out.append(f"* {per:.0f} pairs per section: one standard error of a section is about {50 / per ** 0.5:.0f} points.")
    if "rewardbench2" in r:
        v2 = r["rewardbench2"]["scores"]["overall"]
        out.append(f"* **RewardBench 2 style** ({int(v2['prompts'])} prompts, best of 4: chance 25 %): density ratio "
                   f"{_f(v2['density ratio (sum)'])} (sum) / {_f(v2['density ratio (mean)'])} (mean); strong model "
                   f"alone {_f(v2['strong log p (sum)'])} / {_f(v2['strong log p (mean)'])}, weak alone "
                   f"{_f(v2['weak log p (sum)'])} / {_f(v2['weak log p (mean)'])}; longer response "
                   f"{_f(v2['longer response'])}.")
    if "rm_bench" in r:
        rm, hne, sp = (r["rm_bench"][k] for k in ("scores", "hard_normal_easy", "style_preference"))
        o = rm["overall"]
        styles = "; ".join(f"{m}: detailed over concise {_f(sp[m]['detailed > concise (%)'], 0)} %, markdown over "
                           f"detailed {_f(sp[m]['markdown > detailed (%)'], 0)} %"
                           for m in ("density ratio (sum)", "density ratio (mean)"))
        out.append(f"* **RM-Bench style** ({int(o['examples'])} contents x 3 styles): density ratio "
                   f"{_f(o['density ratio (sum)'])} (sum) / {_f(o['density ratio (mean)'])} (mean); hard / normal / easy "
                   + ", ".join(f"{m.split('(')[1].rstrip(')')} {_f(hne[m]['hard'])} / {_f(hne[m]['normal'])} / "
                               f"{_f(hne[m]['easy'])}" for m in ("density ratio (sum)", "density ratio (mean)")
                               if m in hne)
                   + f"; the length baseline {_f(hne['longer response']['hard'])} / {_f(hne['longer response']['normal'])} / "
                   f"{_f(hne['longer response']['easy'])}. Style preference, {styles}.")
    return "\n".join(out)


# -- 04 ---------------------------------------------------------------------------------------------------------
def findings_04(r: dict) -> str:
    c = r["candidates"]
    out = [f"* **{r['policy']}** sampled {r['n']} answers to each of {c['prompts_total']} prompts; "
           f"{c['dropped_identical']} prompts dropped (all samples identical), {c['empty']} empty answers left out; "
           f"{_f(c['finished_pct'], 0)} % of the answers ended by themselves within {r['max_new_tokens']} new tokens."]
    out.append(f"* **Rewards** ({r['reward']}): mean {_f(c['mean_reward'])} nats, std {_f(c['std_reward'])} over "
               f"{c['count']} answers of {_f(c['mean_length'], 0)} characters on average; rank correlation with the "
               f"answer's length {_f(c['spearman_length'], 2, True)}.")
    st = r["strategies"]
    text = "; ".join(f"{k}: {int(v['pairs'])} pairs, mean margin {_f(v['mean margin'])} nats, chosen longer in "
                     f"{_f(v['chosen longer (%)'])} %, Spearman(length difference, margin) "
                     f"{_f(v['spearman(length diff, margin)'], 2, True)}" for k, v in st.items())
    out.append(f"* **Pairs and length**: {text}. A share near 50 % and a correlation near 0 mean the margin is not a "
               "length reward.")
    m = r["margins"]
    out.append(f"* **Margins** of the {r['strategy']} pairs: largest {_f(m['largest'])}, median {_f(m['median'])}, "
               f"smallest {_f(m['smallest'])} nats: read the three pairs above before trusting the labels; a small "
               "pair of models can be confidently wrong (text in a language neither reads well, say).")
    a = r["augment"]
    out.append(f"* **Relabeling**: {a['pairs']} pairs became {a['rows']} reward-augmented rows ({a['same_bin']} pairs "
               f"had both answers in one rating bin and keep one row); the bin edges run from {_f(a['edges'][0])} to "
               f"{_f(a['edges'][-1])} nats.")
    out.append(f"* **Saved** for the tuning notebooks: {r['train']} train / {r['test']} test pairs, split by prompt.")
    return "\n".join(out)


# -- 06 ---------------------------------------------------------------------------------------------------------
def _by_model(rows: list[dict]) -> dict:
    return {row["model"]: row for row in rows}


def findings_06(r: dict) -> str:
    ae, ah, mt = (_by_model(r[b]) for b in ("alpaca_eval", "arena_hard", "mt_bench"))
    base, tuned = r["policies"]
    variant = VARIANT_COLUMNS.get(ae[base].get("LC variant"), "LC").removesuffix(" (%)")
    p = r["prompts"]
    out = [f"* **Judge: {r['judge']}**; baseline: {'a second sample of the base policy' if r['baseline'] == 'policy' else 'each benchmark`s reference answers'}; "
           f"{p['alpaca_eval']} AlpacaEval, {p['arena_hard']} Arena-Hard and {p['mt_bench']} two-turn MT-Bench-style "
           f"prompts (none of them used to build the preference pairs). AlpacaEval's LC here: {variant}."]
    for name in (base, tuned):
        out.append(f"* **{name}**: AlpacaEval LC {_f(ae[name]['LC win rate'])} {_ci((ae[name]['LC lower'], ae[name]['LC upper']))} "
                   f"(raw {_f(ae[name]['win rate'])}; {int(ae[name]['wins'])} wins, {int(ae[name]['draws'])} ties, "
                   f"{int(ae[name]['losses'])} losses; {_f(ae[name]['length (chars)'], 0)} characters vs the baseline's "
                   f"{_f(ae[name]['baseline length'], 0)}), Arena-Hard {_f(ah[name]['score'])} "
                   f"{_ci((ah[name]['lower'], ah[name]['upper']))}, MT-Bench {_f(mt[name]['overall'], 2)} "
                   f"{_ci((mt[name]['lower'], mt[name]['upper']), 2)}.")
    overlap = all(None in (lo1, hi1, lo2, hi2) or (lo2 <= hi1 and lo1 <= hi2) for lo1, hi1, lo2, hi2 in (
        (ae[base]["LC lower"], ae[base]["LC upper"], ae[tuned]["LC lower"], ae[tuned]["LC upper"]),
        (ah[base]["lower"], ah[base]["upper"], ah[tuned]["lower"], ah[tuned]["upper"]),
        (mt[base]["lower"], mt[base]["upper"], mt[tuned]["lower"], mt[tuned]["upper"])))
    diff = lambda t, b, k: None if None in (t[k], b[k]) else t[k] - b[k]  # noqa: E731
    out.append(f"* **Tuned minus base**: LC {_f(diff(ae[tuned], ae[base], 'LC win rate'), sign=True)}, "
               f"Arena-Hard {_f(diff(ah[tuned], ah[base], 'score'), sign=True)}, MT-Bench "
               f"{_f(diff(mt[tuned], mt[base], 'overall'), 2, True)}: "
               + ("every interval overlaps the base's, so no difference is resolved at this size."
                  if overlap else "at least one interval is clear of the base's."))
    return "\n".join(out)


# -- 05, 07 -----------------------------------------------------------------------------------------------------
def _paired(row: dict) -> str:
    return f"{_f(row['minus first (paired)'], sign=True)} +- {_f(row['paired SE'])} (SE)"


def _weights_line(changed: dict | None, dtype: str | None, warmup_only: bool = False) -> str:
    """What training did to the weights: the share of parameter tensors it changed in fp32 and as saved."""
    if warmup_only:
        return (" Every optimizer step was a warm-up step at learning rate 0, so the policy did not change: the "
                "training pairs are fewer than the recipe's batch needs for a step beyond the warm-up.")
    if not changed:
        return ""
    saved = "" if dtype in (None, "float32") else f", {_f(100 * changed['saved'], 0)} % as saved in {dtype}"
    line = f" Training changed {_f(100 * changed['training'], 0)} % of the parameter tensors (fp32){saved}."
    if changed["saved"] < changed["training"]:
        line += (" The rest of the updates were smaller than the saved dtype resolves: more steps (or data) are "
                 "needed before the saved policy differs from the base.")
    return line


def _run_weights(run: str, r: dict) -> str:
    """_weights_line for one of several runs, prefixed with its name."""
    line = _weights_line((r.get("changed") or {}).get(run), r.get("dtype"), (r.get("warmup_only") or {}).get(run))
    return f" {run}: {line[1].lower()}{line[2:]}" if line else ""


def findings_05(r: dict) -> str:
    rec, acc, smp = r["recipe"], r["accuracy"], r["samples"]
    first = r["first_step"]
    out = [f"* **The start**: at zero margin the SimPO loss is softplus(gamma) = softplus({rec['gamma']}) = "
           f"{_f(r['softplus_gamma'], 3)}; the first batch starts at {_f(first['loss'], 2)} with a reward margin of "
           f"{_f(first['margin'], 2, True)} ({'the policy already prefers the chosen answers per token' if first['margin'] > 0 else 'per token, the policy finds the chosen answers less likely than the rejected ones'}). "
           f"Over the {r['train']} training pairs the base policy's implicit reward agrees with the labels on "
           f"{_f(acc['base, train'])} %."]
    out.append(f"* **Training**: {r['steps']} optimizer steps (batch {rec['batch_size']}, lr {rec['learning_rate']:g}); "
               f"the per-step loss moves between {_f(r['loss_range'][0], 2)} and {_f(r['loss_range'][1], 2)} and ends "
               f"at {_f(r['loss_last'], 2)}. Agreement with the training labels: {_f(acc['base, train'])} % before, "
               f"{_f(acc['SimPO, train'])} % after; on the {r['test']} held-out pairs {_f(acc['base, test'])} % before "
               f"and {_f(acc['SimPO, test'])} % after."
               + _weights_line(r.get("changed"), r.get("dtype"), r.get("warmup_only", False)))
    out.append(f"* **Fresh samples** on the held-out prompts (same seeds for both policies): training reward "
               f"{_f(smp['base']['mean reward (nats)'])} nats for the base policy, "
               f"{_f(smp['SimPO']['mean reward (nats)'])} for the tuned one, a paired difference of "
               f"{_paired(smp['SimPO'])}; {r['identical_samples']} of {r['sample_count']} samples are word for word "
               "the base policy's. This is a check that optimization happened, not evidence of quality: the policy was "
               "tuned on this same reward.")
    return "\n".join(out)


def findings_07(r: dict) -> str:
    acc, smp, tb = r["accuracy"], r["samples"], r["top_minus_bottom"]
    out = [f"* **Same budget**: DPO on {r['train']} pairs and reward-augmented DPO on their {r['augmented_rows']} "
           f"relabeled rows, {r['steps']['DPO']} and {r['steps']['RA-DPO']} optimizer steps of the same recipe "
           f"(beta {r['recipe']['beta']}, lr {r['recipe']['learning_rate']:g})."
           + "".join(_run_weights(k, r) for k in r["steps"])]
    out.append(f"* **Held-out implicit-reward accuracy** ({r['test']} pairs): DPO {_f(acc['DPO, test'])} %, RA-DPO asked "
               f"for the top rating {_f(acc['RA-DPO @top, test'])} %, without a condition "
               f"{_f(acc['RA-DPO no condition, test'])} %. On the training pairs: DPO {_f(acc['DPO, train'])} %, "
               f"RA-DPO {_f(acc['RA-DPO @top, train'])} % at the top rating (its rows teach both orders of each pair, "
               "under different conditions).")
    out.append(f"* **Training reward of fresh samples** (base {_f(smp['base']['mean reward (nats)'])} nats): DPO "
               f"{_paired(smp['DPO'])}, RA-DPO at the top rating {_paired(smp['RA-DPO @top'])}, at the bottom "
               f"{_paired(smp['RA-DPO @bottom'])} (paired differences to the base).")
    direction = "the right way" if tb["RA-DPO"]["mean (nats)"] > 0 else "the wrong way"
    out.append(f"* **The rating condition at inference**: top minus bottom rating is "
               f"{_f(tb['RA-DPO']['mean (nats)'], sign=True)} +- {_f(tb['RA-DPO']['SE'])} nats for RA-DPO ({direction}) "
               f"and {_f(tb['base (control)']['mean (nats)'], sign=True)} +- {_f(tb['base (control)']['SE'])} for the "
               "untrained base given the same two conditions: the condition has been learned only if RA-DPO's "
               "difference is positive and clearly above the base's.")
    return "\n".join(out)


# docs/RESULTS.md's section for each notebook, from its results file
FINDINGS = {"00_density_ratio_primer": findings_00, "01_pair_selection": findings_01,
            "02_customization_ablations": findings_02, "03_rewardbench_eval": findings_03,
            "04_onpolicy_annotation": findings_04, "05_simpo_tuning": findings_05,
            "06_benchmark_scoring": findings_06, "07_reward_augmented_dpo": findings_07}



# -- the documents ----------------------------------------------------------------------------------------------
def results_doc(profile: str = "cpu") -> str:
    """docs/RESULTS.md: every notebook's findings on `profile` (FINDINGS), from results/<profile>/."""
    parts = [f"# Results of the `{profile}` run\n",
             f"Generated by `python -m tools.docs --profile {profile}` from `results/{profile}/*.json`, "
             "which `make demo` writes (every number below comes from those files; a test checks it).\n"]
    for nb in NOTEBOOKS:
        if nb in FINDINGS and (RESULTS / profile / f"{nb}.json").exists():
            parts.append(f"## {nb}\n\n{FINDINGS[nb](load_results(profile, nb))}\n")
    return "\n".join(parts)


README_BEGIN, README_END = "<!-- results:begin -->", "<!-- results:end -->"


def readme_block(profile: str = "cpu") -> str:
    """The README's table of headline numbers (between its results markers)."""
    rows = ["| notebook | headline on `cpu` (from `results/cpu/`) |", "|---|---|"]
    for nb in NOTEBOOKS:
        if nb in HEADLINES and (RESULTS / profile / f"{nb}.json").exists():
            rows.append(f"| `{nb}` | {HEADLINES[nb](load_results(profile, nb))} |")
    return "\n".join(rows)


def headline_00(r: dict) -> str:
    return f"good answer ranked first in {r['good_first']['sum']} of {r['examples']} examples (sum)"


def headline_01(r: dict) -> str:
    g, top, own = r["gap"], r["top"], r["profile_pair"]
    return (f"gap vs pair accuracy: Spearman rho = {_f(g['rho'], 2, True)} {_ci(g['ci'], 2, True)}; top pair "
            f"{top['strong']} over {top['weak']} ({_f(top['Score'])}) vs the profile's {_f(own['Score'])}: "
            f"{r['chosen']}")


def headline_02(r: dict) -> str:
    vanilla = next(v for v in r["variants"] if v["mode"] == "vanilla")
    best = max((v for v in r["variants"] if v["mode"] != "vanilla"), key=lambda v: v["Score"])
    return (f"vanilla {_f(vanilla['Score'])}, best variant {best['mode']} ({best['routing']}, {best['apply_to']}) "
            f"{_f(best['Score'])} on {r['pairs']} pairs; keyword router {_f(r['routers']['keyword']['all'])} % accurate")


def headline_03(r: dict) -> str:
    m = r["methods"]
    return (f"density ratio (sum) {_f(m['density ratio (sum)']['Score'])} on {r['pairs']} mini-bench pairs vs "
            f"{_f(m['strong log p (sum)']['Score'])} / {_f(m['weak log p (sum)']['Score'])} for each model's summed "
            f"log p and {_f(m['strong log p (mean)']['Score'])} / {_f(m['weak log p (mean)']['Score'])} per token")


def headline_04(r: dict) -> str:
    bw = r["strategies"].get("best_worst", next(iter(r["strategies"].values())))
    return (f"{r['train'] + r['test']} pairs from {r['candidates']['prompts_total']} prompts x {r['n']} samples; "
            f"best_worst chose the longer answer in {_f(bw['chosen longer (%)'])} % (Spearman of length difference "
            f"with margin {_f(bw['spearman(length diff, margin)'], 2, True)})")


def headline_05(r: dict) -> str:
    acc, smp = r["accuracy"], r["samples"]
    return (f"SimPO, {r['steps']} steps on {r['train']} pairs: held-out implicit-reward accuracy "
            f"{_f(acc['base, test'])} -> {_f(acc['SimPO, test'])} % ({r['test']} pairs); training reward of fresh "
            f"samples {_paired(smp['SimPO'])} nats")


def headline_06(r: dict) -> str:
    ae, ah = _by_model(r["alpaca_eval"]), _by_model(r["arena_hard"])
    base, tuned = r["policies"]
    variant = ae[base]["LC variant"]  # which LC: the official length_controlled_v1 needs df_gamed.csv
    return (f"base vs tuned ({r['judge'].split(',')[0]} judge): LC (`{variant}`) {_f(ae[base]['LC win rate'])} vs "
            f"{_f(ae[tuned]['LC win rate'])}, Arena-Hard {_f(ah[base]['score'])} vs {_f(ah[tuned]['score'])}")


def headline_07(r: dict) -> str:
    acc, tb = r["accuracy"], r["top_minus_bottom"]
    return (f"held-out accuracy DPO {_f(acc['DPO, test'])} % vs RA-DPO {_f(acc['RA-DPO @top, test'])} % "
            f"({r['test']} pairs); RA-DPO top minus bottom rating {_f(tb['RA-DPO']['mean (nats)'], sign=True)} nats "
            f"(base {_f(tb['base (control)']['mean (nats)'], sign=True)})")


HEADLINES = {"00_density_ratio_primer": headline_00, "01_pair_selection": headline_01,
             "02_customization_ablations": headline_02, "03_rewardbench_eval": headline_03,
             "04_onpolicy_annotation": headline_04, "05_simpo_tuning": headline_05,
             "06_benchmark_scoring": headline_06, "07_reward_augmented_dpo": headline_07}


def write_docs(profile: str = "cpu") -> list[Path]:
    """Regenerate docs/RESULTS.md and the README's results block from results/<profile>/."""
    doc = CHECKOUT / "docs" / "RESULTS.md"
    doc.write_text(results_doc(profile), encoding="utf-8")
    readme = CHECKOUT / "README.md"
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    readme.write_text(pattern.sub(f"{README_BEGIN}\n{readme_block(profile)}\n{README_END}", text), encoding="utf-8")
    return [doc, readme]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate docs/RESULTS.md and the README's results table")
    parser.add_argument("--profile", default="cpu")
    for path in write_docs(parser.parse_args(argv).profile):
        print(f"wrote {path.relative_to(CHECKOUT)}")


if __name__ == "__main__":
    main()
