"""Benchmark scoring as pure, tested functions over answer and judgment files (AlpacaEval 2 LC win rate,
Arena-Hard Bradley-Terry score with a bootstrap interval, MT-Bench ratings), pluggable judges and answer files.

- winrate.py   AlpacaEval: win rate and length-controlled win rate (alpaca_eval 0.6.6's length_controlled_v1 on
               scikit-learn's LogisticRegressionCV, or a named stand-in variant without df_gamed.csv)
- arena.py     Arena-Hard: battles, Bradley-Terry, bootstrap interval, the table from judgment records
- mtbench.py   MT-Bench: rating parsing as FastChat, per-turn and overall averages
- glm.py       the soft-label logistic fit arena.py's Bradley-Terry uses (numpy, Newton)
- judges.py    the judge interface, the OpenAI-compatible HTTP judge (cached, retried), the offline proxy judge
- prompts.py   the project's judge prompts (and loading official ones from a user's copy)
- answers.py   prompt sets, AlpacaEval's df_gamed.csv, answers in each benchmark's own file format
- scoring.py   answers + judge -> judgment records -> metric tables with intervals
- checks.py    bad records named (chat.BadRecords) before any judge call or table; missing answers counted
(notebook 06's whole run, prompts -> answer files -> judgment files -> tables: studies/benchmarks.py)
"""
from .arena import arena_hard_scores, arena_hard_table, battles_from_games, bradley_terry, win_rate_vs_baseline
from .mtbench import mt_bench_scores, parse_rating
from .winrate import (VARIANT_COLUMNS, VARIANT_LABELS, alpaca_eval_table, instruction_difficulty, lc_column,
                      length_controlled_win_rate, win_rate)

__all__ = ["VARIANT_COLUMNS", "VARIANT_LABELS", "alpaca_eval_table", "arena_hard_scores", "arena_hard_table",
           "battles_from_games", "bradley_terry", "instruction_difficulty", "lc_column", "length_controlled_win_rate",
           "mt_bench_scores", "parse_rating", "win_rate", "win_rate_vs_baseline"]
