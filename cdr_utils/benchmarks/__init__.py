"""Benchmarks: rewards scored against labelled preferences, and policies scored by a judge.

Rewards (labels true by construction or from the benchmark):
    rewardbench.py      RewardBench 1: loading (hub, local file, rows), accuracy, section weighting
    rewardbench2.py     RewardBench 2: best-of-4 and Ties scoring
    rmbench.py          RM-Bench: the 3x3 style matrix (hard / normal / easy)
    minibench*.py       the offline mini-bench in the schemas of the three (RewardBench, best-of-4, styles)
    reward_eval.py      one reward on any of them: every completion scored once, tables with baselines
Policies (answers judged against a baseline):
    policy/             AlpacaEval 2 LC, Arena-Hard, MT-Bench; judges and answer files
"""
