"""AlpacaEval 2 metrics: win rate and length-controlled (LC) win rate, pure functions of judgment records.

Source: Dubois et al. 2024 (arXiv 2404.04475); alpaca_eval 0.6.6 (tatsu-lab/alpaca_eval tag v0.6.6, commit
f19c323d8309d0d6f306bd26597db44fc6c62d57), `metrics/glm_winrate.py` (`get_length_controlled_winrate`,
`_get_featurized_data`, `fit_LogisticRegressionCV`) and `metrics/winrate.py` (`get_winrate`). Units: percent.

A judgment record follows alpaca_eval's annotation schema: `instruction`, `output_1` (the baseline's answer),
`output_2` (the evaluated model's), `generator_1`, `generator_2`, `preference` on alpaca_eval's scale (1 = the
baseline preferred, 2 = the model, 1.5 or 0 = a tie, a value in between = a soft preference, None = unparseable:
dropped from the win rate and counted), and optionally `index`: the instruction's position in AlpacaEval's
805-instruction set (the key into `df_gamed.csv`).

LC, "length_controlled_v1" exactly as alpaca_eval 0.6.6 (one model's records against one baseline):
- features per record: tanh(delta / sd(delta)), delta = len(output_1) - len(output_2) in characters, sd the
  sample standard deviation (ddof 1, not centered) over the model's records (unparseable ones included); the
  instruction's difficulty; a constant 1 (the model term, "not_gamed_baseline"); no intercept;
- training rows: the model's records with a preference, label p = preference - 1 (a tie 0 -> 0.5), plus the two
  gamed baselines' rows of `df_gamed.csv` (the hub data set `tatsu-lab/alpaca_eval`; columns model, index,
  preference in [0, 1], std_delta_len, instruction_difficulty, not_gamed_baseline = False), whose model term
  is 0 and whose weight is regularize_to_baseline_lambda / 2 = 0.2 / 2 (model rows weigh 1);
- soft labels: each row is duplicated, once labelled 1 with weight w * p and once labelled 0 with weight
  w * (1 - p);
- fit: scikit-learn LogisticRegressionCV, L1 penalty (liblinear, random_state 123, no intercept, default
  grid Cs = 10 values 1e-4..1e4), C chosen by 5-fold GroupKFold (a row's two copies in one fold) on the
  weighted continuous-label log loss, then refitted on all rows;
- LC = 100 * mean over the model's records (unparseable ones included) of the predicted P(model preferred)
  with the length feature set to 0; lc_standard_error = 100 * the standard error of those predictions (ddof 1).
The difficulty comes from df_gamed's `instruction_difficulty` (first row of each `index`), matched to a
record by its instruction index (the record's `index` field, else `instruction_index[instruction]`, else its
position in the records, which is alpaca_eval's own behaviour: its annotations come in the eval set's order).
alpaca_eval looks the difficulty up by the *row label* of df_gamed's first rows of each index; that equals
matching by the `index` column when the file lists each gamed model's rows in index order (a warning says
when a file's layout makes the two differ; we match by the column).

Without df_gamed the same fit runs on the model's rows only, and the result says which variant it is:
"length_controlled_noreg" (a difficulty mapping supplied: alpaca_eval's GLM of that name),
"length_controlled_noreg_lomo" (difficulty estimated leave-one-model-out from the other models' records, this
project's stand-in, see instruction_difficulty) or "length_controlled_minimal" (no difficulty: alpaca_eval's GLM
of that name). Leaving out the difficulty and the gamed rows moves a model's LC by a median of ~5 points from
the leaderboard (DESIGN.md), so tables carry the variant. A model scored against itself gets 50 (as alpaca_eval).
Deviations, degenerate input only: when every length difference is equal (sd 0) the length feature is 0
(alpaca_eval divides 0 by 0 and fails); fewer than 5 training rows give LC = NaN with a warning (alpaca_eval's
GroupKFold raises). Same estimator, other spelling: `l1_ratios=(1,)` for the deprecated `penalty="l1"`
(identical fit under liblinear), and metadata routing switched on only inside the fit (alpaca_eval sets it
globally). Verified against alpaca_eval 0.6.6 itself: tests/test_alpaca_lc_official.py (bit-identical).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import make_scorer
from sklearn.model_selection import GroupKFold

from ...chat import RecordError
from . import checks

REGULARIZE_TO_BASELINE_LAMBDA = 0.2  # alpaca_eval GLM_INFO["length_controlled_v1"]
N_SPLITS = 5
LENGTH, DIFFICULTY, MODEL = "np.tanh(std_delta_len)", "instruction_difficulty", "not_gamed_baseline.astype(float)"
VARIANT_LABELS = {
    "length_controlled_v1": "AlpacaEval LC (length_controlled_v1: instruction difficulty + gamed-baseline rows)",
    "length_controlled_noreg": "LC with supplied instruction difficulty, no gamed-baseline rows",
    "length_controlled_noreg_lomo": "LC with leave-one-model-out difficulty, no gamed-baseline rows",
    "length_controlled_minimal": "LC, no instruction difficulty, no gamed-baseline rows",
}
VARIANT_COLUMNS = {  # table headers (percent), the same wording: "AlpacaEval 2 LC" means the official variant only
    "length_controlled_v1": "AlpacaEval 2 LC (%)",
    "length_controlled_noreg": "LC with supplied difficulty, no gamed-baseline rows (%)",
    "length_controlled_noreg_lomo": "LC with leave-one-model-out difficulty, no gamed-baseline rows (%)",
    "length_controlled_minimal": "LC, no difficulty, no gamed-baseline rows (%)",
}
GAMED_COLUMNS = ("index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")


def _frame(judgments) -> pd.DataFrame:
    df = judgments.copy() if isinstance(judgments, pd.DataFrame) else pd.DataFrame(list(judgments))
    missing = {"instruction", "output_1", "output_2", "preference"} - set(df.columns)
    if missing:
        raise ValueError(f"judgment records lack field(s) {sorted(missing)}")
    return df


def model_preference(preference) -> np.ndarray:
    """alpaca_eval's preference (1 = baseline, 2 = model, 0 or 1.5 = tie) -> P(model preferred) in [0, 1]
    (NaN where unparseable). A value outside [1, 2] raises, naming the record's position."""
    pref = pd.to_numeric(pd.Series(list(preference), dtype=object), errors="coerce").astype(float)
    pref = pref.where(pref != 0.0, 1.5)
    bad = np.flatnonzero((pref < 1) | (pref > 2))
    if len(bad):
        raise RecordError(int(bad[0]), "preference", f"{pref.iloc[bad[0]]} is outside [1, 2] (0 = tie, None = "
                          "unparseable)")
    return (pref - 1.0).to_numpy()


def win_rate(judgments) -> dict:
    """Raw win rate of output_2 over output_1 in percent, as alpaca_eval's get_winrate: mean P(model preferred)
    over parseable records, ties counting one half; "standard_error" (percent, ddof 1); "discrete_win_rate"
    (each soft preference rounded to a win / loss / tie first). Counts: n_wins, n_draws, n_losses (alpaca_eval's
    n_wins_base, also given under that name), n_total (parseable), n_unparsed."""
    df = _frame(judgments)
    p = model_preference(df["preference"])
    ok = ~np.isnan(p)
    p = p[ok]
    discrete = np.where(p > 0.5, 1.0, np.where(p < 0.5, 0.0, 0.5))
    n_losses = int((p < 0.5).sum())
    return {"win_rate": float(100.0 * p.mean()) if len(p) else float("nan"),
            "standard_error": float(100.0 * pd.Series(p).sem()), "discrete_win_rate": float(100.0 * discrete.mean())
            if len(p) else float("nan"), "n_wins": int((p > 0.5).sum()), "n_draws": int((p == 0.5).sum()),
            "n_losses": n_losses, "n_wins_base": n_losses, "n_total": int(len(p)), "n_unparsed": int((~ok).sum())}


def instruction_difficulty(judgments, *, exclude_generator: str | None = None, prior: float = 1.0) -> dict:
    """Per-instruction difficulty estimated from judgments (this project's stand-in when df_gamed.csv is not
    available): -logit of the smoothed mean P(model preferred) over the records of every generator except
    `exclude_generator` ((sum p + prior/2) / (n + prior)). Higher = harder for models against this baseline.
    Instructions no other generator answered get 0."""
    df = _frame(judgments)
    df["p"] = model_preference(df["preference"])
    df = df[df["p"].notna()]
    if exclude_generator is not None:
        df = df[df["generator_2"] != exclude_generator]
    grouped = df.groupby("instruction")["p"].agg(["sum", "count"])
    rate = (grouped["sum"] + prior / 2) / (grouped["count"] + prior)
    return (-np.log(rate / (1 - rate))).to_dict()


def load_df_gamed(df_gamed: pd.DataFrame | str | Path) -> pd.DataFrame:
    """alpaca_eval's df_gamed table (a DataFrame, or a path to the hub file `df_gamed.csv` of the data set
    `tatsu-lab/alpaca_eval`) checked and without its `model` column, rows in file order."""
    df = pd.read_csv(df_gamed) if isinstance(df_gamed, (str, Path)) else df_gamed.copy()
    missing = [c for c in GAMED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"df_gamed lacks column(s) {missing}; expected alpaca_eval's df_gamed.csv columns "
                         f"{['model', *GAMED_COLUMNS]}")
    df = df.drop(columns=["model"], errors="ignore").reset_index(drop=True)
    flag = df["not_gamed_baseline"]
    if flag.dtype != bool:
        flag = flag.map({True: True, False: False, "True": True, "False": False})
        if flag.isna().any():
            raise ValueError("df_gamed column 'not_gamed_baseline' must hold booleans")
    df["not_gamed_baseline"] = flag.astype(bool)
    for col in ("std_delta_len", "instruction_difficulty"):
        if df[col].isna().any():
            raise ValueError(f"df_gamed column {col!r} has missing values (row {int(df[col].isna().idxmax())})")
    return df


def gamed_difficulty(df_gamed: pd.DataFrame | str | Path) -> dict:
    """instruction index -> difficulty from df_gamed (the first row of each index, as alpaca_eval)."""
    first = load_df_gamed(df_gamed).drop_duplicates("index")
    return dict(zip(first["index"].astype(int), first["instruction_difficulty"].astype(float)))


def _indices(df: pd.DataFrame, instruction_index: Mapping[str, int] | None) -> np.ndarray:
    if "index" in df.columns:
        return df["index"].astype(int).to_numpy()
    if instruction_index is not None:
        out = []
        for pos, inst in enumerate(df["instruction"]):
            if inst not in instruction_index:
                raise RecordError(pos, "instruction", "not in instruction_index (no AlpacaEval index for it)")
            out.append(int(instruction_index[inst]))
        return np.asarray(out)
    return np.arange(len(df))  # alpaca_eval: the annotations' position in the eval set


def _logloss_continuous(y_true, y_pred, true_prob, true_sample_weight=None):
    """alpaca_eval's CV score: the log loss of the soft label (recovered from the duplicated rows), weighted,
    averaged over rows (probabilities clipped to [1e-15, 1 - 1e-15])."""
    y = np.where(y_true == 1, true_prob, 1 - true_prob)
    q = np.clip(y_pred, 1e-15, 1 - 1e-15)
    loss = y * np.log(q) + (1 - y) * np.log(1 - q)
    if true_sample_weight is not None:
        loss = loss * true_sample_weight
    return -np.mean(loss)


def _fit(x: pd.DataFrame, p: np.ndarray, weight: np.ndarray | None) -> LogisticRegressionCV:
    """alpaca_eval's fit_LogisticRegressionCV(is_ytrue_proba=True, n_splits=5): rows duplicated as label 1
    (weight w p) and label 0 (weight w (1 - p)), L1 liblinear, C by GroupKFold on _logloss_continuous."""
    n = len(x)
    x_dup = pd.concat([x, x], axis=0, ignore_index=True)
    y = np.r_[np.ones(n, dtype=int), np.zeros(n, dtype=int)]
    true_prob = np.r_[p, 1 - p]
    true_weight = None if weight is None else np.r_[weight, weight]
    sample_weight = true_prob if weight is None else true_prob * true_weight
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_scorer(_logloss_continuous, response_method="predict_proba", greater_is_better=False
                             ).set_score_request(true_sample_weight=True, true_prob=True)
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=N_SPLITS), scoring=scorer, l1_ratios=(1.0,),
                                     solver="liblinear", random_state=123, dual=False, n_jobs=None,
                                     fit_intercept=False, use_legacy_attributes=False)
        model.set_fit_request(sample_weight=True)
        with warnings.catch_warnings():
            # liblinear's default iteration cap, as in alpaca_eval (raising it would change the official
            # numbers); on a few dozen rows it often stops at the cap and warns once per fold and C
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_dup, y, sample_weight=sample_weight, groups=np.r_[np.arange(n), np.arange(n)],
                      true_sample_weight=true_weight, true_prob=true_prob)
    return model


def length_controlled_win_rate(judgments, difficulty: Mapping[str, float] | str | None = "auto", *,
                               df_gamed: pd.DataFrame | str | Path | None = None,
                               instruction_index: Mapping[str, int] | None = None) -> dict:
    """win_rate() plus "length_controlled_winrate" and "lc_standard_error" (percent), "variant" (see the module
    docstring) and "variant_label", the fitted "weights" (alpaca_eval's column names) and the chosen "C".

    judgments: records of ONE model (one generator_2) against one baseline. df_gamed: alpaca_eval's
    df_gamed.csv (DataFrame or path) -> the official "length_controlled_v1"; then `difficulty` must stay
    "auto" (the difficulty is df_gamed's). Without df_gamed, difficulty: a mapping instruction -> difficulty,
    "auto" (none here; alpaca_eval_table passes the leave-one-model-out estimate) or None.
    """
    df = _frame(judgments).reset_index(drop=True)
    generators = df["generator_2"].unique() if "generator_2" in df else [None]
    if len(generators) != 1:
        raise ValueError(f"length_controlled_win_rate takes one model's records, got {list(generators)}")
    if df_gamed is not None and difficulty not in ("auto", None):
        raise ValueError("pass either df_gamed (official difficulty) or a difficulty mapping, not both")
    variant = ("length_controlled_v1" if df_gamed is not None else "length_controlled_minimal"
               if difficulty in ("auto", None) else "length_controlled_noreg")
    for pos, (a, b) in enumerate(zip(df["output_1"], df["output_2"])):
        for field, text in (("output_1", a), ("output_2", b)):
            if not isinstance(text, str):
                raise RecordError(pos, field, f"expected the answer text, got {type(text).__name__}")
    metrics = win_rate(df)
    p = model_preference(df["preference"])
    delta = df["output_1"].str.len() - df["output_2"].str.len()
    sd = delta.std()
    std_delta = delta / sd if sd > 0 else delta * 0.0
    if variant == "length_controlled_v1":
        gamed = load_df_gamed(df_gamed)
        first = gamed.drop_duplicates("index")
        if not (first.index.to_numpy() == first["index"].to_numpy()).all():
            warnings.warn("df_gamed's first rows of each index are not in index order: alpaca_eval 0.6.6 would "
                          "look difficulties up by row label and get others; matched by the 'index' column here")
        by_index = dict(zip(first["index"].astype(int), first["instruction_difficulty"].astype(float)))
        idx = _indices(df, instruction_index)
        unknown = [int(i) for i in idx if int(i) not in by_index]
        if unknown:
            raise RecordError(int(np.flatnonzero(~np.isin(idx, list(by_index)))[0]), "index",
                              f"instruction index {unknown[0]} is not in df_gamed")
        diff = np.array([by_index[int(i)] for i in idx])
    elif variant == "length_controlled_noreg":
        diff = np.array([float(difficulty.get(i, 0.0)) for i in df["instruction"]])
    else:
        diff = None
    features = {LENGTH: np.tanh(std_delta.astype(float).to_numpy())}  # alpaca_eval's patsy column order
    if diff is not None:
        features[DIFFICULTY] = diff
    x = pd.DataFrame({**features, MODEL: np.ones(len(df))})
    cols = list(x.columns)
    x_test = x.assign(**{LENGTH: 0.0})
    keep = ~np.isnan(p)
    x_train, y_train, weight = x[keep], p[keep], None
    if variant == "length_controlled_v1":
        g = gamed[gamed["preference"].notna()]
        gx = pd.DataFrame({LENGTH: np.tanh(g["std_delta_len"].astype(float).to_numpy()),
                           DIFFICULTY: g["instruction_difficulty"].astype(float).to_numpy(),
                           MODEL: g["not_gamed_baseline"].astype(float).to_numpy()}, columns=cols)
        gw = g["not_gamed_baseline"].astype(float) + (REGULARIZE_TO_BASELINE_LAMBDA *
                                                      (~g["not_gamed_baseline"])).astype(float) / 2
        x_train = pd.concat([gx, x_train], axis=0, ignore_index=True)  # gamed rows first, as alpaca_eval
        y_train = np.r_[g["preference"].astype(float).to_numpy(), y_train]
        weight = np.r_[gw.to_numpy(), np.ones(int(keep.sum()))]
    base = df["generator_1"].unique() if "generator_1" in df else []
    if len(base) == 1 and base[0] == generators[0]:  # the baseline against itself: 50 % by construction
        predicted, weights, c = np.full(len(df), 0.5), dict.fromkeys(cols, 0.0), float("nan")
    elif len(y_train) < N_SPLITS:  # alpaca_eval's 5-fold GroupKFold cannot split fewer rows (it raises)
        warnings.warn(f"{len(y_train)} training row(s) for {generators[0]!r}: LC needs at least {N_SPLITS} "
                      "(5-fold cross-validation); LC is NaN")
        predicted, weights, c = np.full(len(df), np.nan), dict.fromkeys(cols, float("nan")), float("nan")
    else:
        model = _fit(x_train.reset_index(drop=True), y_train, weight)
        predicted = model.predict_proba(x_test)[:, 1]
        weights, c = dict(zip(cols, model.coef_[0].tolist())), float(np.ravel(model.C_)[0])
    metrics.update(length_controlled_winrate=float(100.0 * predicted.mean()),
                   lc_standard_error=float(100.0 * pd.Series(predicted).sem()), variant=variant,
                   variant_label=VARIANT_LABELS[variant], weights=weights, C=c)
    return metrics


def _problems(r: dict, index: bool) -> list:
    out = (checks.text(r, "instruction") + checks.text(r, "output_1") + checks.text(r, "output_2") +
           checks.text(r, "generator_2", empty_ok=False))
    pref = r.get("preference")
    if "preference" not in r:
        out.append(("preference", "missing field (null = an unparseable verdict)"))
    elif not checks.absent(pref) and not (checks.number(pref) and (pref == 0 or 1 <= pref <= 2)):
        out.append(("preference", f"{pref!r:.40} is not a preference: 1 = the baseline, 2 = the model, 1.5 or 0 = a "
                                  "tie, in between = soft, null = unparseable"))
    i = r.get("index")
    if checks.absent(i):
        if index:
            out.append(("index", "missing: with df_gamed, records that lack 'index' (the instruction's position in "
                                 "AlpacaEval's 805 instructions; judge_alpaca_eval writes it) cannot be matched"))
    elif not checks.number(i) or not float(i).is_integer():
        out.append(("index", f"expected the instruction's position (an integer), got {checks.kind(i)} {i!r:.40}"))
    return out


def check_records(judgments, *, index: bool = False, unique: bool = False) -> list[dict]:
    """Judgment records as a list, or chat.BadRecords naming every bad one and its field: a missing or
    wrong-typed field, a preference off alpaca_eval's scale, `index` missing (index=True, or some records carry
    one) or not an integer, and (unique=True) a (generator_2, instruction) judged twice."""
    recs = checks.records(judgments, lambda r: _problems(r, index), "AlpacaEval judgments",
                          unique=("generator_2", "instruction") if unique else None,
                          what="one instruction judged twice")
    if not index and any(not checks.absent(r.get("index")) for r in recs):
        recs = checks.records(recs, lambda r: _problems(r, True), "AlpacaEval judgments")
    return recs


def alpaca_eval_table(judgments: Iterable[dict], difficulty: Mapping[str, float] | str | None = "auto", *,
                      df_gamed: pd.DataFrame | str | Path | None = None,
                      instruction_index: Mapping[str, int] | None = None, items: Iterable | None = None,
                      require_complete: bool = False, unique: bool = True) -> pd.DataFrame:
    """One row per generator_2: "LC win rate", "LC standard error", "win rate", "standard error" (percent),
    counts ("unparsed": records without a verdict, left out of the win rate), mean answer lengths (characters)
    and "LC variant" (the variant name; also in `table.attrs["lc_variant"]`, a string when all rows share one;
    attrs["lc_variant_label"] describes it and attrs["lc_column"] is the header for a column or axis,
    VARIANT_COLUMNS). Bad records raise chat.BadRecords naming each and its field (check_records), and so does a
    (generator_2, instruction) judged twice; unique=False counts repeated records each time (a bootstrap resample).

    df_gamed given -> the official length_controlled_v1 for every model. Otherwise difficulty="auto": the
    leave-one-model-out estimate from the other generators' records when there are several
    ("length_controlled_noreg_lomo"), else none ("length_controlled_minimal"); a mapping or None as in
    length_controlled_win_rate. Without an `index` field or `instruction_index`, a record's instruction index is
    its position within its model's records (alpaca_eval's convention: records in the eval set's order).
    items: the benchmark's items (or instructions) -> "missing" / "missing_ids" (the instructions a model has
    no record for); require_complete=True raises naming each incomplete model and its missing instructions."""
    recs = check_records(judgments, unique=unique)
    table = _table(pd.DataFrame(recs), difficulty, df_gamed, instruction_index)
    expected = checks.item_keys(items, "instruction")
    present = {m: set() for m in table.index}
    for r in recs:
        present[r["generator_2"]].add(r["instruction"])
    lacking = checks.missing(present, expected, "AlpacaEval", "instruction", "instruction", require_complete)
    if expected is not None:
        table["missing"] = [len(lacking[m]) for m in table.index]
        table["missing_ids"] = pd.Series([lacking[m] for m in table.index], index=table.index, dtype=object)
    return table


def _table(judgments, difficulty="auto", df_gamed=None, instruction_index=None) -> pd.DataFrame:
    """alpaca_eval_table on checked records (or a resample of them), without the checks and missing counts."""
    df = _frame(judgments)
    rows = {}
    for gen, part in df.groupby("generator_2", sort=False):
        lomo = df_gamed is None and difficulty == "auto" and df["generator_2"].nunique() > 1
        diff = instruction_difficulty(df, exclude_generator=gen) if lomo else difficulty
        m = length_controlled_win_rate(part, diff, df_gamed=df_gamed, instruction_index=instruction_index)
        variant = "length_controlled_noreg_lomo" if lomo else m["variant"]
        rows[gen] = {"LC win rate": m["length_controlled_winrate"], "LC standard error": m["lc_standard_error"],
                     "win rate": m["win_rate"], "standard error": m["standard_error"], "wins": m["n_wins"],
                     "draws": m["n_draws"], "losses": m["n_losses"], "unparsed": m["n_unparsed"],
                     "length (chars)": part["output_2"].str.len().mean(),
                     "baseline length": part["output_1"].str.len().mean(), "LC variant": variant}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    variants = sorted(set(table["LC variant"])) if len(table) else []
    table.attrs["lc_variant"] = variants[0] if len(variants) == 1 else variants
    table.attrs["lc_variant_label"] = VARIANT_LABELS[variants[0]] if len(variants) == 1 else \
        [VARIANT_LABELS[v] for v in variants]
    table.attrs["lc_column"] = lc_column(table)
    return table


def lc_column(table: pd.DataFrame) -> str:
    """The header naming an AlpacaEval table's LC variant, from its "LC variant" column (VARIANT_COLUMNS):
    "AlpacaEval 2 LC (%)" only for the official length_controlled_v1; "LC (mixed variants) (%)" when rows differ."""
    variants = set(table["LC variant"]) if "LC variant" in table else set()
    return VARIANT_COLUMNS[variants.pop()] if len(variants) == 1 else "LC (mixed variants) (%)"
