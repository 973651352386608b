"""A dry run of the `paper` recipe on CPU: its settings and code paths, with every hub data set replaced by a small
local copy in the data set's exact schema (data.py), every hub model by random weights in its family's
architecture with its family's tokenizer and chat template (models.py), and the judge by a local
OpenAI-compatible server (judge.py). `python -m tools.dryrun` builds them and writes the overrides.
"""
