"""Bad input gets a clear error before any work, and nothing is left behind (issue 15).

Each case of the battery runs one `cdr` command in-process on a bad file or option and asserts: the exit status
(2: bad input; argparse's own 2 for options), a message without a traceback that names the file (and line or
record) and the field or option, that no model was loaded (models.load_model and LogProbScorer.from_pretrained
fail if called), and that the folder holds only the inputs afterwards. The cache and the metric functions have
their own cases below. tests/test_cache_cli.py has the killed-run cases (SIGKILL mid-run, during the final
write, a corrupted shard, a bad row in one process's share under torchrun).
"""
import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from cdr_utils.cli import commands as cli
import cdr_utils.models as models
from cdr_utils.cache import CacheShardWarning, ScoreCache, read_shard
from cdr_utils.chat import RecordError
from cdr_utils.benchmarks.policy.mtbench import mt_bench_scores, parse_rating
from cdr_utils.logprobs import LogProbScorer
from cdr_utils.pairs import fit_rating_bins, reward_augment, to_rating
from cdr_utils.records import DataFileError, read_records, write_records

Q = [{"role": "user", "content": "Say hi."}]


def row(i, **kw):
    return {"id": f"r{i}", "prompt": f"Question {i}?", "response": f"Answer {i}.", **kw}


def cand(i, **kw):
    return {"id": f"c{i}", "prompt": f"Question {i}?", "responses": [f"Yes {i}.", f"No {i}."], **kw}


def scored(i, **kw):
    return {**cand(i), "rewards": [1.0 + i, -1.0], **kw}


def bench(i, **kw):
    return {"id": f"b{i}", "prompt": f"Question {i}?", "chosen": "Good.", "rejected": "Bad.", "subset": "mine", **kw}


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def parquet_bytes(rows, tmp_path) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "scratch.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    data = path.read_bytes()
    path.unlink()
    return data


@dataclass
class Case:
    """`files`: name -> text, bytes or a callable(tmp_path) -> bytes; `args`: the command line ({d}: the folder);
    `needles`: what the error output must contain."""
    command: str
    files: dict
    args: list
    needles: list
    code: int = 2
    lines: int | None = None  # how many lines the error takes (None: not checked)
    extra: list = field(default_factory=list)


def _score(*extra, data="data.jsonl", out="out.jsonl"):
    return ["score", "--model", "tiny-random-llama", "--data", "{d}/" + data, "--out", "{d}/" + out, *extra]


def _reward(*extra, data="data.jsonl", out="out.jsonl"):
    return ["reward", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", "{d}/" + data,
            "--out", "{d}/" + out, *extra]


def _pairs(*extra, out="pairs.jsonl"):
    return ["pairs", "--data", "{d}/data.jsonl", "--out", "{d}/" + out, *extra]


def _evaluate(*extra, data="{d}/bench.jsonl"):
    return ["evaluate", "--strong", "tiny-random-llama", "--weak", "tiny-random-gpt2", "--data", data, *extra]


GOOD = jsonl([row(0), row(1), row(2)])
MANY_BAD = jsonl([row(i, response=i) for i in range(25)])
CASES = {
    # -- score: the file ---------------------------------------------------------------------------------------
    "score-missing-file": Case("score", {}, _score(), ["data.jsonl: no such file"]),
    "score-data-is-a-folder": Case("score", {"data.jsonl/x": "{}"}, _score(), ["data.jsonl: is a folder"]),
    "score-unknown-suffix-csv": Case("score", {"data.csv": "id,prompt,response\n"},
                                     _score(data="data.csv", out="out.jsonl"),
                                     ["data.csv: unknown format '.csv'", "convert CSV to JSONL"]),
    "score-csv-given-as-jsonl": Case("score", {"data.jsonl": "id,prompt,response\nr0,Hi,Hello\n"}, _score(),
                                     ["data.jsonl: line 1: not JSON; this looks like CSV"], lines=1),
    "score-not-utf8": Case("score", {"data.jsonl": jsonl([row(0)]).encode() + b'{"prompt": "caf\xe9"}\n'},
                           _score(), ["data.jsonl: line 2: not UTF-8 (byte 0xe9"], lines=1),
    "score-utf16": Case("score", {"data.jsonl": GOOD.encode("utf-16")}, _score(), ["data.jsonl: is UTF-16"]),
    "score-truncated-json-line": Case("score", {"data.jsonl": GOOD + '{"id": "r9", "prompt": "Hi", "resp\n'},
                                      _score(), ["data.jsonl: line 4, column", "not valid JSON"], lines=1),
    "score-line-not-an-object": Case("score", {"data.jsonl": GOOD + "[1, 2]\n"}, _score(),
                                     ["data.jsonl: line 4: expected a JSON object (one record per line), got a list"]),
    "score-json-object-not-list": Case("score", {"data.json": json.dumps({"rows": [row(0)]})},
                                       _score(data="data.json", out="out.jsonl"),
                                       ["data.json: expected a JSON list of records, got a dict",
                                        "its key 'rows' holds a list"]),
    "score-json-item-not-object": Case("score", {"data.json": json.dumps([row(0), "text"])},
                                       _score(data="data.json", out="out.jsonl"),
                                       ["data.json: item 1: expected a JSON object (a record), got a string"]),
    "score-jsonl-named-json": Case("score", {"data.json": GOOD}, _score(data="data.json", out="o.jsonl"),
                                   ["data.json: line 2, column 1: not valid JSON (Extra data)",
                                    "name the file .jsonl"]),
    "score-truncated-parquet": Case("score", {"data.parquet": lambda t: parquet_bytes([row(0), row(1)], t)[:-40]},
                                    _score(data="data.parquet", out="out.jsonl"),
                                    ["data.parquet: not a readable Parquet file", "truncated"]),
    "score-empty-file": Case("score", {"data.jsonl": "\n\n"}, _score(), ["data.jsonl: no records"]),
    # -- score: the records ------------------------------------------------------------------------------------
    "score-prompt-missing-in-row-0-only": Case("score", {"data.jsonl": jsonl([{"id": "r0", "response": "A."}, row(1)])},
                                               _score(),
                                               ["data.jsonl line 1: record 'r0', field 'prompt': missing field"],
                                               lines=1),
    "score-prompt-a-number": Case("score", {"data.jsonl": jsonl([row(0), row(1, prompt=7)])}, _score(),
                                  ["data.jsonl line 2: record 'r1', field 'prompt': expected a string or a list"]),
    "score-prompt-empty": Case("score", {"data.jsonl": jsonl([row(0, prompt="  ")])}, _score(),
                               ["line 1: record 'r0', field 'prompt': empty prompt"]),
    "score-unknown-role": Case("score", {"data.jsonl": jsonl([row(0, prompt=[{"role": "robot", "content": "x"}])])},
                               _score(), ["line 1: record 'r0', field 'prompt[0].role': unknown role 'robot'"]),
    "score-prompt-ends-with-assistant": Case(
        "score", {"data.jsonl": jsonl([row(0), row(1, prompt=Q + [{"role": "assistant", "content": "Hi"}])])},
        _score(), ["line 2: record 'r1', field 'prompt[1].role': the prompt ends with an assistant turn"]),
    "score-content-not-string": Case("score", {"data.jsonl": jsonl([row(0, prompt=[{"role": "user", "content": 5}])])},
                                     _score(), ["record 'r0', field 'prompt[0].content': content must be a string"]),
    "score-message-without-role": Case("score", {"data.jsonl": jsonl([row(0, prompt=[{"content": "Hi"}])])},
                                       _score(), ["record 'r0', field 'prompt[0]': expected a dict with 'role'"]),
    "score-response-missing": Case("score", {"data.jsonl": jsonl([row(0), {"id": "r1", "prompt": "Hi"}])}, _score(),
                                   ["line 2: record 'r1', field 'response': missing field"]),
    "score-response-a-number": Case("score", {"data.jsonl": jsonl([row(0), row(1, response=42)])}, _score(),
                                    ["line 2: record 'r1', field 'response': response must be a string, got int 42"]),
    "score-response-empty": Case("score", {"data.jsonl": jsonl([row(0, response=" \n")])}, _score(),
                                 ["line 1: record 'r0', field 'response': response is empty"]),
    "score-duplicate-ids": Case("score", {"data.jsonl": jsonl([row(0), row(1), row(0)])}, _score(),
                                ["line 3: record 'r0', field 'id': duplicate id (first at", "data.jsonl line 1)"]),
    "score-mixed-type-ids": Case("score", {"data.jsonl": jsonl([row(0), {**row(1), "id": 1}])}, _score(),
                                 ["line 2: record 1, field 'id': an integer id, but the first id", "is a string"]),
    "score-id-a-float": Case("score", {"data.jsonl": jsonl([{**row(0), "id": 1.5}])}, _score(),
                             ["line 1: field 'id': an id must be a string or an integer, got float 1.5"]),
    "score-no-id-names-the-line": Case("score", {"data.jsonl": jsonl([row(0), {"prompt": "Hi", "response": ""}])},
                                       _score(), ["data.jsonl line 2: field 'response': response is empty"]),
    "score-25-bad-records": Case("score", {"data.jsonl": MANY_BAD}, _score(),
                                 ["data.jsonl: 25 problems in 25 records (the first 20 below):",
                                  "data.jsonl line 20: record 'r19', field 'response'"], lines=21),
    "score-mixed-types-for-parquet-out": Case(
        "score", {"data.jsonl": jsonl([row(0, extra=1), row(1), row(2, extra="two")])},
        _score(out="out.parquet"),
        ["line 3: record 'r2', field 'extra': holds str 'two' where earlier rows hold int; Parquet needs one type"]),
    "score-date-column-for-json-out": Case(
        "score", {"data.parquet": lambda t: _dated(t)}, _score(data="data.parquet"),
        ["data.parquet row 0: record 'r0', field 'when': cannot be stored in JSON"]),
    # -- score: the output and options -------------------------------------------------------------------------
    "score-out-is-the-input": Case("score", {"data.jsonl": GOOD}, _score(out="data.jsonl"),
                                   ["--out", "data.jsonl: is the input file", "would be overwritten"]),
    "score-out-is-a-folder": Case("score", {"data.jsonl": GOOD, "out.jsonl/keep": "x"}, _score(),
                                  ["--out", "out.jsonl: is a folder"]),
    "score-out-under-a-file": Case("score", {"data.jsonl": GOOD, "file": "x"}, _score(out="file/out.jsonl"),
                                   ["file is a file, not a folder"]),
    "score-out-suffix-unreadable": Case("score", {"data.jsonl": GOOD}, _score(out="out.csv"),
                                        ["argument --out: expected a file ending in .json / .jsonl / .parquet"]),
    "score-result-columns-in-input": Case("score", {"data.jsonl": jsonl([row(0, logp_sum=-1.0)])}, _score(),
                                          ["data.jsonl: already has the result column(s) ['logp_sum']",
                                           "--overwrite-columns"]),
    "score-dtype-choice": Case("score", {"data.jsonl": GOOD}, _score("--dtype", "float8"),
                               ["argument --dtype: invalid choice: 'float8'"]),
    "score-shard-size-zero": Case("score", {"data.jsonl": GOOD}, _score("--shard-size", "0"),
                                  ["argument --shard-size: expected a positive integer, got 0"]),
    "score-batch-tokens-negative": Case("score", {"data.jsonl": GOOD}, _score("--max-batch-tokens", "-5"),
                                        ["argument --max-batch-tokens: expected a positive integer, got -5"]),
    "score-batch-tokens-not-a-number": Case("score", {"data.jsonl": GOOD}, _score("--max-batch-tokens", "lots"),
                                            ["argument --max-batch-tokens: expected a positive integer, got 'lots'"]),
    "score-cache-dir-is-a-file": Case("score", {"data.jsonl": GOOD, "cache": "x"}, _score("--cache-dir", "{d}/cache"),
                                      ["--cache-dir", "cache: is a file, not a folder"]),
    "score-empty-column-prefix": Case("score", {"data.jsonl": GOOD}, _score("--column-prefix", ""),
                                      ["argument --column-prefix: expected a non-empty string"]),
    # -- reward --------------------------------------------------------------------------------------------------
    "reward-responses-a-string": Case("reward", {"data.jsonl": jsonl([cand(0), cand(1, responses="Yes.")])},
                                      _reward(),
                                      ["line 2: record 'c1', field 'responses': expected a list of strings"]),
    "reward-response-item-not-string": Case("reward", {"data.jsonl": jsonl([cand(0, responses=["a", None, 3])])},
                                            _reward(), ["2 problems in 1 record",
                                                        "line 1: record 'c0', field 'responses[1]': expected a string, "
                                                        "got null", "field 'responses[2]'"], lines=3),
    "reward-mixed-forms": Case("reward", {"data.jsonl": jsonl([row(0), cand(1)])}, _reward(),
                               ["line 1: record 'r0', field 'responses': missing field: rows of this file carry "
                                "`responses` lists (first at line 2)"]),
    "reward-bad-domain-column": Case("reward", {"data.jsonl": jsonl([cand(0, domain="CHAT"), cand(1, domain="chat")])},
                                     _reward("--customize", "criteria", "--router", "column"),
                                     ["line 2: record 'c1', field 'domain': expected one of ('CHAT', 'SAFETY', "
                                      "'REASONING') (--router column), got 'chat'"]),
    "reward-result-columns-in-input": Case("reward", {"data.jsonl": jsonl([scored(0)])}, _reward(),
                                           ["data.jsonl: already has the result column(s) ['rewards']"]),
    "reward-prompt-missing-parquet": Case("reward", {"data.parquet": lambda t: parquet_bytes(
        [cand(0), {**cand(1), "prompt": None}], t)}, _reward(data="data.parquet"),
        ["data.parquet row 1: record 'c1', field 'prompt': missing field"]),
    "reward-exemplars-negative": Case("reward", {"data.jsonl": GOOD}, _reward("--exemplars", "-1"),
                                      ["argument --exemplars: expected an integer >= 0, got -1"]),
    "reward-out-suffix": Case("reward", {"data.jsonl": GOOD}, _reward(out="out.txt"),
                              ["argument --out: expected a file ending in .json / .jsonl / .parquet, got"]),
    # -- pairs ---------------------------------------------------------------------------------------------------
    "pairs-rewards-missing": Case("pairs", {"data.jsonl": jsonl([scored(0), cand(1)])}, _pairs(),
                                  ["line 2: record 'c1', field 'rewards': missing field"]),
    "pairs-rewards-length": Case("pairs", {"data.jsonl": jsonl([scored(0, rewards=[1.0])])}, _pairs(),
                                 ["line 1: record 'c0', field 'rewards': 1 rewards for 2 responses"]),
    "pairs-reward-a-string": Case("pairs", {"data.jsonl": jsonl([scored(0, rewards=["3.5", 1.0])])}, _pairs(),
                                  ["line 1: record 'c0', field 'rewards[0]': expected a number, got str '3.5'"]),
    "pairs-reward-nan": Case("pairs", {"data.jsonl": jsonl([scored(0), scored(1, rewards=[1.0, math.nan])])}, _pairs(),
                             ["line 2: record 'c1', field 'rewards[1]': non-finite reward nan; pass --drop-nonfinite"]),
    "pairs-reward-null-for-an-answer": Case("pairs", {"data.jsonl": jsonl([scored(0, rewards=[None, 1.0])])}, _pairs(),
                                            ["line 1: record 'c0', field 'rewards[0]': expected a number, got null"]),
    "pairs-candidate-not-text": Case("pairs", {"data.jsonl": jsonl([scored(0, responses=["Yes.", 5])])}, _pairs(),
                                     ["line 1: record 'c0', field 'responses[1]': expected a string"]),
    "pairs-rewards-an-object": Case("pairs", {"data.jsonl": jsonl([scored(0, rewards={"a": 1})])}, _pairs(),
                                    ["line 1: record 'c0', field 'rewards': expected a list of numbers"]),
    "pairs-test-fraction-one": Case("pairs", {"data.jsonl": jsonl([scored(0)])}, _pairs("--test-fraction", "1"),
                                    ["argument --test-fraction: expected a fraction in [0, 1), got 1"]),
    "pairs-levels-one": Case("pairs", {"data.jsonl": jsonl([scored(0)])}, _pairs("--augment", "--levels", "1"),
                             ["argument --levels: expected an integer >= 2, got 1"]),
    "pairs-min-margin-nan": Case("pairs", {"data.jsonl": jsonl([scored(0)])}, _pairs("--min-margin", "nan"),
                                 ["argument --min-margin: expected a finite number, got nan"]),
    "pairs-auto-without-policy": Case("pairs", {"data.jsonl": jsonl([scored(0)])},
                                      _pairs("--augment", "--system-role", "auto"),
                                      ["--system-role auto needs --policy MODEL"]),
    "pairs-no-user-turn": Case("pairs", {"data.jsonl": jsonl([scored(0, prompt=[{"role": "system", "content": "S"}])])},
                               _pairs("--augment", "--system-role", "no"),
                               ["line 1: record 'c0', field 'prompt': no user turn to carry the rating condition"]),
    "pairs-out-suffix": Case("pairs", {"data.jsonl": jsonl([scored(0)])}, _pairs(out="p.txt"),
                             ["argument --out: expected a folder (no suffix) or a file ending in .json"]),
    "pairs-out-is-the-input": Case("pairs", {"data.jsonl": jsonl([scored(0)])}, _pairs(out="data.jsonl"),
                                   ["data.jsonl: is the input file"]),
    "pairs-out-folder-is-a-file": Case("pairs", {"data.jsonl": jsonl([scored(0)]), "pairs": "x"},
                                       _pairs(out="pairs"), ["pairs: is a file; a folder is written"]),
    # -- evaluate ------------------------------------------------------------------------------------------------
    "evaluate-id-missing": Case("evaluate", {"bench.jsonl": jsonl([bench(0), {**bench(1), "id": None}])}, _evaluate(),
                                ["bench.jsonl line 2: field 'id': missing id"]),
    "evaluate-chosen-empty": Case("evaluate", {"bench.jsonl": jsonl([bench(0, chosen=" ")])}, _evaluate(),
                                  ["line 1: record 'b0', field 'chosen': response is empty"]),
    "evaluate-rejected-a-list": Case("evaluate", {"bench.jsonl": jsonl([bench(0, rejected=["Bad."])])}, _evaluate(),
                                     ["line 1: record 'b0', field 'rejected': response must be a string, got list"]),
    "evaluate-subset-missing": Case("evaluate", {"bench.jsonl": jsonl([bench(0), bench(1, subset=None)])}, _evaluate(),
                                    ["line 2: record 'b1', field 'subset': missing field"]),
    "evaluate-duplicate-ids": Case("evaluate", {"bench.jsonl": jsonl([bench(0), bench(0)])}, _evaluate(),
                                   ["line 2: record 'b0', field 'id': duplicate id"]),
    "evaluate-missing-file-not-a-hub-id": Case("evaluate", {}, _evaluate(), ["bench.jsonl: no such file"]),
    "evaluate-truncated-parquet": Case("evaluate", {"bench.parquet": lambda t: parquet_bytes([bench(0)], t)[:50]},
                                       _evaluate(data="{d}/bench.parquet"),
                                       ["bench.parquet: not a readable Parquet file"]),
    "evaluate-sections-not-json": Case("evaluate", {"bench.jsonl": jsonl([bench(0)]), "s.json": "{mine: Chat}"},
                                       _evaluate("--sections", "{d}/s.json"),
                                       ["--sections", "s.json: line 1, column 2: not valid JSON"]),
    "evaluate-sections-a-list": Case("evaluate", {"bench.jsonl": jsonl([bench(0)]), "s.json": '["mine"]'},
                                     _evaluate("--sections", "{d}/s.json"),
                                     ["s.json: expected a JSON object {subset: section}, got a list"]),
    "evaluate-out-csv-suffix": Case("evaluate", {"bench.jsonl": jsonl([bench(0)])}, _evaluate("--out-csv", "{d}/a.txt"),
                                    ["argument --out-csv: expected a file ending in .csv"]),
    "evaluate-out-json-is-a-folder": Case("evaluate", {"bench.jsonl": jsonl([bench(0)]), "o.json/x": "x"},
                                          _evaluate("--out-json", "{d}/o.json"), ["--out-json", "o.json: is a folder"]),
    "evaluate-max-chars-leaves-nothing": Case("evaluate", {"bench.jsonl": jsonl([bench(0)])},
                                              _evaluate("--max-chars", "3"),
                                              ["--max-chars 3 leaves none of the 1 rows of", "bench.jsonl"]),
    "evaluate-per-section-zero": Case("evaluate", {"bench.jsonl": jsonl([bench(0)])}, _evaluate("--per-section", "0"),
                                      ["argument --per-section: expected a positive integer, got 0"]),
}


def _dated(tmp_path) -> bytes:
    import datetime

    return parquet_bytes([row(0, when=datetime.datetime(2024, 1, 2))], tmp_path)


@pytest.fixture
def no_model(monkeypatch):
    """Loading any model (or scoring through vLLM) fails the test: bad input must stop the command first."""
    calls = []

    def loaded(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(models, "load_model", loaded)
    monkeypatch.setattr(cli, "load_model", loaded)
    monkeypatch.setattr(cli, "vllm_score", loaded)
    monkeypatch.setattr(LogProbScorer, "from_pretrained", classmethod(lambda cls, *a, **k: loaded(*a)))
    return calls


def run_cdr(argv, capsys):
    """(exit status, stderr) of one in-process `cdr` run."""
    try:
        cli.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_stops_before_any_model_work(name, tmp_path, capsys, no_model):
    case = CASES[name]
    for rel, content in case.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        content = content(tmp_path) if callable(content) else content
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = run_cdr([a.replace("{d}", str(tmp_path)) for a in case.args], capsys)
    assert code == case.code, err
    assert "Traceback" not in err and all(n in err for n in case.needles), err
    if "argument" not in case.needles[0]:  # argparse prints its usage first; ours is one line per problem
        assert err.startswith(f"cdr {case.command}: error: "), err
        if case.lines is not None:
            assert len(err.strip().splitlines()) == case.lines, err
    assert no_model == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written, nothing left


def test_debug_works_before_and_after_the_command(tmp_path, no_model):
    (tmp_path / "data.jsonl").write_text(jsonl([row(0, response=3)]))
    argv = [a.replace("{d}", str(tmp_path)) for a in _score()]
    for args in (["--debug", *argv], [*argv, "--debug"]):
        with pytest.raises(RecordError, match="record 'r0', field 'response'"):
            cli.main(args)


def test_an_unexpected_failure_is_one_line_with_exit_1(tmp_path, capsys, monkeypatch):
    (tmp_path / "data.jsonl").write_text(GOOD)
    monkeypatch.setattr(LogProbScorer, "from_pretrained", classmethod(lambda cls, *a, **k: 1 / 0))
    code, err = run_cdr([a.replace("{d}", str(tmp_path)) for a in _score()], capsys)
    assert code == 1 and err.strip().splitlines() == [
        "cdr score: error: ZeroDivisionError: division by zero (--debug shows the traceback)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


# -- valid input that used to fail: accepted --------------------------------------------------------------------
def test_separators_bom_and_columns_of_all_rows_are_kept(tmp_path, capsys, tiny_llama, monkeypatch):
    """U+2028 / U+0085 inside strings, a byte-order mark, `id` absent from row 0, a column that appears only from
    row 2 on: all read, scored and carried through (missing values null), in JSONL and Parquet."""
    monkeypatch.setattr(models, "load_model", lambda *a, **k: tiny_llama)
    rows = [{"prompt": "Line\u2028separated\u0085prompt", "response": "A\u2029B."},
            {"id": "r1", "prompt": "Q?", "response": "Yes."}, {"id": "r2", "prompt": "Q?", "response": "No.", "tag": 7}]
    (tmp_path / "data.jsonl").write_bytes(b"\xef\xbb\xbf" + jsonl(rows).replace("\\u2028", "\u2028")
                                          .replace("\\u0085", "\u0085").encode())
    assert "\u2028" in (tmp_path / "data.jsonl").read_text(encoding="utf-8-sig")
    for out in ("out.jsonl", "out.parquet"):
        code, err = run_cdr(["score", "--model", "tiny-random-llama", "--data", str(tmp_path / "data.jsonl"),
                             "--out", str(tmp_path / out)], capsys)
        assert code == 0, err
        back = read_records(tmp_path / out)
        assert [r["id"] for r in back] == [None, "r1", "r2"] and [r["tag"] for r in back] == [None, None, 7]
        assert back[0]["prompt"][0]["content"] == rows[0]["prompt"] and back[0]["response"] == rows[0]["response"]
        assert all(r["logp_n_tokens"] > 0 for r in back)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data.jsonl", "out.jsonl", "out.jsonl.stats.json", "out.parquet", "out.parquet.stats.json"]


def test_write_records_uses_the_columns_of_all_rows(tmp_path):
    rows = [{"a": 1}, {"a": 2, "b": "x"}, {"c": [1.5]}]
    for suffix in (".jsonl", ".json", ".parquet"):
        back = read_records(write_records(tmp_path / f"r{suffix}", rows))
        assert back == [{"a": 1, "b": None, "c": None}, {"a": 2, "b": "x", "c": None},
                        {"a": None, "b": None, "c": [1.5]}]
    with pytest.raises(ValueError, match=r"row 1, column 'a' holds str 'two' where earlier rows hold int"):
        write_records(tmp_path / "bad.parquet", [{"a": 1}, {"a": "two"}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.jsonl", "r.parquet"]


def test_read_records_errors_are_data_file_errors(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n{"a": \n{"a": 3}\n[4]\n')
    with pytest.raises(DataFileError) as err:
        read_records(tmp_path / "x.jsonl")
    assert str(err.value).splitlines() == [
        f"{tmp_path / 'x.jsonl'}: 2 lines are not records:", "  line 2, column 7: not valid JSON (Expecting value)",
        "  line 4: expected a JSON object (one record per line), got a list"]


# -- the cache ----------------------------------------------------------------------------------------------------
def _fill_cache(scorer_pair, root, n=6, shard=2):
    model, tok = scorer_pair
    scorer = LogProbScorer(model, tok, cache_dir=root, shard_size=shard)
    prompts, responses = [Q] * n, [f"Answer number {i}." for i in range(n)]
    first = scorer.score(prompts, responses)
    return scorer, prompts, responses, first


def _damage_flip(path):
    """One flipped byte inside the stored log-prob array (the zip CRC sees it)."""
    data = bytearray(path.read_bytes())
    magic = data.find(b"\x93NUMPY", data.find(b"logprobs.npy"))
    start = magic + 10 + int.from_bytes(data[magic + 8:magic + 10], "little")  # npy 1.0: magic, version, header
    data[start + 5] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _damage_garbage(path):
    path.write_bytes(b"not a zip file at all")


def _damage_checksum_only(path):
    """A valid zip whose log-probs changed after its checksum was recorded (the CRC cannot see this)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["logprobs"] = arrays["logprobs"] + 1.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)


DAMAGE = {"flipped-byte": _damage_flip, "truncated": _damage_truncate, "not-a-zip": _damage_garbage,
          "checksum-mismatch": _damage_checksum_only}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_shard_is_named_set_aside_and_recomputed(damage, tiny_llama, tmp_path):
    scorer, prompts, responses, first = _fill_cache(tiny_llama, tmp_path)
    shards = sorted(tmp_path.glob("*/*.npz"))
    assert len(shards) == 3
    DAMAGE[damage](shards[1])
    model, tok = tiny_llama
    again = LogProbScorer(model, tok, cache_dir=tmp_path, shard_size=2)
    with pytest.warns(CacheShardWarning, match=rf"cache shard .*{shards[1].name} is damaged.*moved aside"):
        res = again.score(prompts, responses)
    assert again.last_stats == {"computed": 2, "cached": 4}  # exactly the damaged shard's two examples
    np.testing.assert_array_equal(res.sum, first.sum)
    assert shards[1].with_name(shards[1].name + ".corrupt").exists() and read_shard(shards[1])  # rewritten, valid
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the next run finds nothing wrong
        third = LogProbScorer(model, tok, cache_dir=tmp_path, shard_size=2)
        third.score(prompts[:1], responses[:1])
    assert third.last_stats == {"computed": 0, "cached": 1}


def test_old_shards_without_a_checksum_still_load(tiny_llama, tmp_path):
    scorer, prompts, responses, first = _fill_cache(tiny_llama, tmp_path)
    for shard in tmp_path.glob("*/*.npz"):
        with np.load(shard) as z:
            arrays = {k: z[k] for k in z.files if k != "sha256"}
        with open(shard, "wb") as f:
            np.savez(f, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = LogProbScorer(*tiny_llama, cache_dir=tmp_path, shard_size=2)
        np.testing.assert_array_equal(again.score(prompts, responses).sum, first.sum)
    assert again.last_stats == {"computed": 0, "cached": 6}


def test_a_killed_shard_write_is_cleaned(tiny_llama, tmp_path):
    scorer, *_ = _fill_cache(tiny_llama, tmp_path, n=2)
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    dead = folder / ".0123abcd.npz.999999999.tmp"  # a pid no process has
    dead.write_bytes(b"half a shard")
    ScoreCache(tmp_path, scorer)
    assert not dead.exists()


# -- the metric functions ------------------------------------------------------------------------------------------
def _pairs_ds(scores):
    from datasets import Dataset

    return Dataset.from_list([{"prompt_id": f"p{i}", "prompt": Q, "chosen": [{"role": "assistant", "content": "a"}],
                               "rejected": [{"role": "assistant", "content": "b"}], "score_chosen": w,
                               "score_rejected": l, "margin": w - l} for i, (w, l) in enumerate(scores)])


METRIC_CASES = {
    "to_rating-nan": (lambda: to_rating([0.5, math.nan], [0.0, 1.0]), RecordError,
                      r"record 1, field 'score': non-finite"),
    "to_rating-inf": (lambda: to_rating([math.inf], [0.0]), RecordError,
                      r"record 0, field 'score': non-finite score inf"),
    "to_rating-unsorted-edges": (lambda: to_rating([0.5], [1.0, 0.0]), ValueError, "non-decreasing"),
    "fit_rating_bins-nan": (lambda: fit_rating_bins([1.0, 2.0, math.nan], 4), RecordError, r"record 2, field 'score'"),
    "fit_rating_bins-levels-1": (lambda: fit_rating_bins([1.0, 2.0], 1), ValueError, "levels must be an integer >= 2"),
    "reward_augment-nan-with-given-edges": (
        lambda: reward_augment(_pairs_ds([(2.0, 1.0), (math.nan, 0.0)]), levels=4, edges=[0.5, 1.0, 1.5]),
        RecordError, r"record 1, field 'score_chosen': non-finite score nan \(prompt_id p1\)"),
    "reward_augment-inf-rejected": (lambda: reward_augment(_pairs_ds([(2.0, -math.inf)])), RecordError,
                                    r"record 0, field 'score_rejected': non-finite score -inf"),
    "reward_augment-edges-for-other-levels": (
        lambda: reward_augment(_pairs_ds([(2.0, 1.0)]), levels=10, edges=[0.5, 1.0, 1.5]), ValueError,
        "3 bin edges for 10 levels"),
    "mt_bench_scores-incomplete": (
        lambda: mt_bench_scores([{"model": "m", "question_id": 1, "turn": 1, "score": 8}], questions=[1, 2],
                                require_complete=True), ValueError, r"model 'm' lacks 2 question\(s\) \[1, 2\]"),
}


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metric_functions_reject_bad_scores_naming_the_row(name):
    call, error, pattern = METRIC_CASES[name]
    with pytest.raises(error, match=pattern):
        call()


def test_reward_augment_with_given_edges_never_rates_nan_at_the_top():
    """The reported fault: NaN sorted above every edge and got rating 10, becoming a chosen answer."""
    assert to_rating([2.0, 0.1], [0.5, 1.0, 1.5]).tolist() == [4, 1]
    with pytest.raises(RecordError):
        to_rating([math.nan], [0.5, 1.0, 1.5])


@pytest.mark.parametrize("text,expected", [("Rating: [[7]]", 7), ("no rating here", -1), ("[[08]]", -1), (None, -1),
                                           ("[[42]]", 42)])
def test_mt_bench_parse_rating_unparseable_is_minus_one(text, expected):
    assert parse_rating(text) == expected


def test_mt_bench_out_of_range_ratings_are_excluded_and_counted():
    table = mt_bench_scores([{"model": "m", "question_id": 1, "turn": 1, "score": 8},
                             {"model": "m", "question_id": 1, "turn": 2, "score": 42},
                             {"model": "m", "question_id": 2, "turn": 1, "judgment": "no rating"}])
    assert table.loc["m", "overall"] == 8 and table.loc["m", "out_of_range"] == 1 and table.loc["m", "unparsed"] == 1


def test_an_interrupt_says_how_to_resume_and_leaves_nothing(tmp_path, capsys, tiny_llama, monkeypatch):
    """Ctrl-C (or SIGTERM, turned into the same) while scoring: exit 130, one line saying how to resume."""
    monkeypatch.setattr(models, "load_model", lambda *a, **k: tiny_llama)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(LogProbScorer, "score_encoded", interrupted)
    (tmp_path / "data.jsonl").write_text(GOOD)
    code, err = run_cdr([a.replace("{d}", str(tmp_path)) for a in _score("--cache-dir", "{d}/cache")], capsys)
    assert code == 130 and err.strip().splitlines() == [
        "cdr score: interrupted; run the same command again to resume (the cache keeps every finished shard, so "
        "only what is missing is computed)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "data.jsonl"]
    assert not list((tmp_path / "cache").rglob("*.npz"))
