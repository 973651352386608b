"""Benchmark scoring as pure, tested functions over answer and judgment files (AlpacaEval 2 LC win rate,
Arena-Hard Bradley-Terry score with a bootstrap interval, MT-Bench ratings), pluggable judges and answer files.

- winrate.py   AlpacaEval: win rate and length-controlled win rate
- arena.py     Arena-Hard: battles, Bradley-Terry, bootstrap interval
- mtbench.py   MT-Bench: rating parsing, per-turn and overall averages
- glm.py       the logistic-regression fit both use (numpy, Newton)
- judges.py    the judge interface, the OpenAI-compatible HTTP judge (cached, retried), the offline proxy judge
- prompts.py   the project's judge prompts (and loading official ones from a user's copy)
- answers.py   prompt sets and answers in each benchmark's own file format
- scoring.py   answers + judge -> judgment records -> metric tables with intervals
(notebook 06's whole run, prompts -> answer files -> judgment files -> tables: studies/benchmarks.py)
"""
from .arena import arena_hard_scores, battles_from_games, bradley_terry, win_rate_vs_baseline
from .mtbench import mt_bench_scores, parse_rating
from .winrate import alpaca_eval_table, instruction_difficulty, length_controlled_win_rate, win_rate

__all__ = ["alpaca_eval_table", "arena_hard_scores", "battles_from_games", "bradley_terry",
           "instruction_difficulty", "length_controlled_win_rate", "mt_bench_scores", "parse_rating",
           "win_rate", "win_rate_vs_baseline"]
