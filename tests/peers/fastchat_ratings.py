"""FastChat's single-answer rating parse on a battery of judge strings.

    git clone https://github.com/lm-sys/FastChat /tmp/peer-src/FastChat
    git -C /tmp/peer-src/FastChat show \
        81785d7ed1d6afb966b464a8ee4689b7413e6313:fastchat/llm_judge/common.py > /tmp/peer-src/fastchat_common.py
    cd tests/peers && python3 fastchat_ratings.py > fastchat_ratings.out

FastChat's common.py (Apache-2.0) is not kept in this repository; FASTCHAT_COMMON overrides where it is read from.

The two pattern definitions are exec'd from the file itself; parse() is the block of run_judge_single
(common.py lines 158 and 175-183), verbatim apart from the function wrapper.
"""
import ast
import os
import re

src = open(os.environ.get("FASTCHAT_COMMON", "/tmp/peer-src/fastchat_common.py")).read()
ns = {"re": re}
for line in src.splitlines():
    if line.startswith(("one_score_pattern =", "one_score_pattern_backup =")):
        exec(line, ns)
one_score_pattern, one_score_pattern_backup = ns["one_score_pattern"], ns["one_score_pattern_backup"]
print("one_score_pattern", one_score_pattern.pattern, "| backup", one_score_pattern_backup.pattern)


def parse(judgment):
    rating = -1
    match = re.search(one_score_pattern, judgment)
    if not match:
        match = re.search(one_score_pattern_backup, judgment)

    if match:
        rating = ast.literal_eval(match.groups()[0])
    else:
        rating = -1
    return rating


BATTERY = [
    "The answer is accurate and helpful. Rating: [[8]]",
    "First answer [[3]], on reflection [[9]]",
    "Rating: [[8.]]",
    "Rating: [[8.5]]",
    "Rating: [8]",
    "Rating: 7/10",
    "Rating: [[42]]",
    "Rating: [[0]]",
    "on a scale of 1 to 10 ... [[ 3 ]]",
    "scale [1] to [10]; final verdict [[6]]",
    "Rating: [[10]]",
    "Rating: [[08]]",
    "no rating here",
    "",
]
for text in BATTERY:
    try:
        out = repr(parse(text))
    except Exception as e:  # FastChat would raise out of run_judge_single
        out = f"raises {type(e).__name__}"
    print(repr(text), "->", out)
