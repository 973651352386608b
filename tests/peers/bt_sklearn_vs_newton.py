import math, os, time, warnings, sys  # run from tests/peers with the project's venv (README.md)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: test_evals_metrics
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from cdr_utils.benchmarks.policy.arena import bradley_terry, _design, arena_hard_scores
from test_evals_metrics import _simulated_battles

def v01(df, baseline, SCALE=400, BASE=10, INIT_RATING=1000):  # arena-hard-auto v0.1 show_result.compute_mle_elo
    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    models = pd.Series(np.arange(len(models)), index=models)
    df = pd.concat([df, df], ignore_index=True)
    p = len(models.index); n = df.shape[0]
    X = np.zeros([n, p])
    X[np.arange(n), models[df["model_a"]]] = +math.log(BASE)
    X[np.arange(n), models[df["model_b"]]] = -math.log(BASE)
    Y = np.zeros(n); Y[df["winner"] == "model_a"] = 1.0
    tie_idx = (df["winner"] == "tie") | (df["winner"] == "tie (bothbad)")
    tie_idx[len(tie_idx)//2:] = False
    Y[tie_idx] = 1.0
    lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8)
    lr.fit(X, Y)
    elo = SCALE * lr.coef_[0] + INIT_RATING
    if baseline in models.index:
        elo += 1000 - elo[models[baseline]]
    return pd.Series(elo, index=models.index)

truth = {"base": 1000.0, "good": 1150.0, "bad": 880.0, "mid": 1040.0}
b = _simulated_battles(truth, 1500, seed=0)
t=time.time(); ours = bradley_terry(b, "base"); t1=time.time()-t
t=time.time(); off = v01(b, "base"); t2=time.time()-t
print(pd.DataFrame({"ours": ours, "v01": off.reindex(ours.index), "truth": pd.Series(truth)}), t1, t2)
print("max diff", (ours - off.reindex(ours.index)).abs().max())
# exact MLE check: gradient at ours
battles = pd.DataFrame({"model_a": "g", "model_b": "m", "winner": ["model_b"] * 30 + ["model_a"] * 10 + ["tie"] * 8})
print(bradley_terry(battles,"g")["m"]-1000-400*math.log10(34/14), v01(battles,"g")["m"]-1000-400*math.log10(34/14))
print("---- separable")
import warnings
warnings.simplefilter("default")
sep = pd.DataFrame({"model_a": "g", "model_b": "m", "winner": ["model_b"] * 2})
print(bradley_terry(sep, "g"))
print(v01(sep, "g"))
sep2 = pd.DataFrame({"model_a": "g", "model_b": "m", "winner": ["model_b"] * 20})
print(v01(sep2, "g"))
