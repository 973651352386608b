"""Synthetic RewardBench 2 and RM-Bench rows with rewards (numpy only). rb_reference.py and
tests/test_rewardbench2.py / tests/test_rmbench.py import these generators; the tests check the inputs' sha256."""
import hashlib
import json

import numpy as np


def make_rb2_inputs(seed=2):
    """RewardBench 2 rows (id, prompt, chosen, rejected, num_correct, num_incorrect, total_completions, subset)
    and per-row rewards (chosen first). Rewards on a coarse grid, so ties for the top are common."""
    rng = np.random.default_rng(seed)
    rows, rewards = [], []
    for subset in ("Factuality", "Precise IF", "Math", "Safety", "Focus"):
        for i in range(40):
            n_chosen = 2 if subset == "Precise IF" and i % 5 == 0 else 1  # num_correct > 1 outside Ties
            n_rejected = 4 - n_chosen
            rows.append({"id": f"{subset[:4].lower()}-{i}", "prompt": f"{subset} prompt {i}",
                         "chosen": [f"good {j}" for j in range(n_chosen)],
                         "rejected": [f"bad {j}" for j in range(n_rejected)], "num_correct": n_chosen,
                         "num_incorrect": n_rejected, "total_completions": 4, "subset": subset})
            rewards.append([float(x) for x in np.round(rng.normal(0.3, 1.0, 4) * 2) / 2])
    for k in range(30):
        for kind in ("ref", "tied"):
            if (kind == "ref" and k % 10 == 3) or (kind == "tied" and k % 10 == 7):
                continue  # prompts present only as ref or only as tied
            n_correct = 1 if kind == "ref" else int(rng.integers(2, 6))
            n_incorrect = int(rng.integers(3, 7))
            correct = rng.normal(1.0, 0.8, n_correct)
            incorrect = rng.normal(0.0, 0.8, n_incorrect)
            if kind == "tied" and k % 10 == 1:
                correct = np.full(n_correct, 2.0)  # zero spread, positive margin: tanh(+inf)
            if kind == "tied" and k % 10 == 2:
                correct, incorrect = np.full(n_correct, 0.5), np.r_[0.5, incorrect[1:]]  # 0 / 0
            scores = np.round(np.r_[correct, incorrect], 3)
            rows.append({"id": f"{kind}:{k}", "prompt": f"ties prompt {k}",
                         "chosen": [f"right {j}" for j in range(n_correct)],
                         "rejected": [f"wrong {j}" for j in range(n_incorrect)], "num_correct": n_correct,
                         "num_incorrect": n_incorrect, "total_completions": n_correct + n_incorrect,
                         "subset": "Ties"})
            rewards.append([float(x) for x in scores])
    return rows, rewards


def make_rmbench_inputs(seed=3):
    """RM-Bench rows (id, prompt, chosen x3, rejected x3, domain) with score_chosen / score_rejected on a
    coarse grid (ties happen), the detailed / markdown styles scoring higher (a style-biased reward)."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain, n in (("chat", 30), ("code", 25), ("math", 35), ("safety-refuse", 20), ("safety-response", 15)):
        for i in range(n):
            style = np.array([0.0, 0.6, 1.0])
            chosen = np.round((0.5 + style + rng.normal(0, 0.9, 3)) * 2) / 2
            rejected = np.round((style + rng.normal(0, 0.9, 3)) * 2) / 2
            rows.append({"id": f"{domain}-{i}", "prompt": f"{domain} prompt {i}",
                         "chosen": ["c concise", "c detailed", "c markdown"],
                         "rejected": ["r concise", "r detailed", "r markdown"], "domain": domain,
                         "score_chosen": [float(x) for x in chosen], "score_rejected": [float(x) for x in rejected]})
    return rows


def digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    print(digest(make_rb2_inputs()), digest(make_rmbench_inputs()))
