"""The studies layer: what the numbered notebooks run. It turns a profile (profiles.py) into calls of the core
(`cdr_utils`) and keeps the artifacts one notebook hands to a later one (artifacts.py). It imports the core;
the core never imports it.

    profiles.py        the smoke / cpu / paper profiles, one small config object per concern
    artifacts.py       outputs/<profile>/: artifacts keyed by the settings they were built with
    benches.py         the profile's evaluation rows (notebooks 01-03)
    pair_selection.py  notebook 01: the pool, all ordered pairs from cached scores, gap vs accuracy, best pair
    ablation.py        notebook 02: customization variants x routings x apply_to
    annotate.py        notebook 04: prompts -> policy samples -> scored candidates -> pairs
    checkpoints.py     notebooks 05-07: tuned policies trained once and reused
    tuning_eval.py     notebooks 05, 07: held-out implicit-reward accuracy, the reward of fresh samples
    policy_benchmarks.py  notebook 06: answers, judgments and tables
    paths.py           the checkout's folders (configs, outputs, results, runs, perf), overridable by environment
    plots.py           the figures
"""
from .profiles import PROFILES, Profile, get_profile, load_policy, load_reward, load_scorer

__all__ = ["PROFILES", "Profile", "get_profile", "load_policy", "load_reward", "load_scorer"]
