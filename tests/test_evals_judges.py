"""Judges: the HTTP judge against a real OpenAI-compatible server on 127.0.0.1 (a deterministic rule, in a
thread), including server errors and a SIGKILLed run that resumes from its cache; the offline proxy judge."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cdr_utils.benchmarks.policy.judges import HttpJudge, JudgeError, ReferenceProxyJudge, overlap_f1, parse_verdict
from cdr_utils.benchmarks.policy.mtbench import parse_rating
from cdr_utils.benchmarks.policy.prompts import JudgePrompts

KEY = "test-key"


def _section(text, start, end):
    return text.split(start, 1)[1].split(end, 1)[0] if start in text else ""


def rule(content: str) -> str:
    """The server's judge: counts the word 'good' in each answer section of the prompt."""
    if "[[A>>B]]" in content:  # a pairwise prompt
        a = _section(content, "Assistant A's Answer]", "[The End").count("good")
        b = _section(content, "Assistant B's Answer]", "[The End").count("good")
        return "Compared. [[" + ("A>B" if a > b else "A=B" if a == b else "B>A") + "]]"
    n = _section(content, "[The Start of Assistant's Answer]", "[The End").count("good")
    return f"Rated. Rating: [[{min(max(n, 1), 10)}]]"


class RuleServer:
    """A tiny OpenAI-compatible /v1/chat/completions server; counts requests, can fail or be slow."""

    def __init__(self, fail_first=0, fail_always=False, delay=0.0):
        self.count, self.fail_first, self.fail_always, self.delay = 0, fail_first, fail_always, delay
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.count += 1
                    failing = server.fail_always or server.count <= server.fail_first
                if self.path != "/v1/chat/completions" or self.headers.get("Authorization") != f"Bearer {KEY}":
                    return self._send(401, {"error": "unauthorized"})
                if failing:
                    return self._send(500, {"error": "internal error"})
                time.sleep(server.delay)
                text = rule(body["messages"][-1]["content"])
                self._send(200, {"object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory(monkeypatch):
    monkeypatch.setenv("CDR_JUDGE_API_KEY", KEY)
    servers = []

    def make(**kw):
        servers.append(RuleServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_http_judge_verdicts_ratings_and_cache(server_factory, tmp_path):
    server = server_factory()
    judge = HttpJudge(server.url, "rule-judge", cache_dir=tmp_path, backoff=0.01)
    assert parse_verdict(judge.pairwise("q", "good good", "good")) == "A>B"
    assert parse_verdict(judge.pairwise("q", "meh", "good")) == "B>A"
    assert parse_verdict(judge.pairwise("q", "good", "good")) == "A=B"
    assert parse_rating(judge.single("q", "good " * 7)) == 7
    assert server.count == 4
    again = HttpJudge(server.url, "rule-judge", cache_dir=tmp_path)  # a re-run: every judgment is cached
    assert parse_verdict(again.pairwise("q", "good good", "good")) == "A>B"
    assert parse_rating(again.single("q", "good " * 7)) == 7
    assert server.count == 4 and again.requests_made == 0
    other = HttpJudge(server.url, "another-judge", cache_dir=tmp_path)  # the model is part of the key
    other.single("q", "good " * 7)
    assert server.count == 5


def test_http_judge_retries_a_server_error(server_factory):
    server = server_factory(fail_first=2)  # 500, 500, then success
    judge = HttpJudge(server.url, "rule-judge", backoff=0.01)
    assert parse_verdict(judge.pairwise("q", "good good", "good")) == "A>B"
    assert server.count == 3 and judge.requests_made == 3


def test_http_judge_gives_up_and_does_not_retry_client_errors(server_factory, monkeypatch):
    server = server_factory(fail_always=True)
    with pytest.raises(JudgeError, match="gave up after 3 attempts"):
        HttpJudge(server.url, "rule-judge", retries=2, backoff=0.01).single("q", "good")
    assert server.count == 3
    monkeypatch.setenv("CDR_JUDGE_API_KEY", "wrong")
    with pytest.raises(JudgeError, match="HTTP 401"):
        HttpJudge(server.url, "rule-judge", backoff=0.01).single("q", "good")
    assert server.count == 4  # a client error is final: no retry


RUN = """
import sys
from cdr_utils.benchmarks.policy.judges import HttpJudge
judge = HttpJudge(sys.argv[1], "rule-judge", cache_dir=sys.argv[2], backoff=0.01)
for k in range(int(sys.argv[3])):
    judge.pairwise(f"question {k}", "good " * (k % 3), "good")
"""


def test_killed_run_resumes_from_the_cache(server_factory, tmp_path):
    n = 16
    server = server_factory(delay=0.15)
    proc = subprocess.Popen([sys.executable, "-c", RUN, server.url, str(tmp_path), str(n)], env=os.environ.copy())
    deadline = time.time() + 60
    while server.count < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    files = list(tmp_path.rglob("*.json"))
    assert 0 < len(files) < n
    assert all("text" in json.loads(f.read_text()) for f in files)  # atomic writes: no half-written file
    before = server.count
    judge = HttpJudge(server.url, "rule-judge", cache_dir=tmp_path, backoff=0.01)
    verdicts = [parse_verdict(judge.pairwise(f"question {k}", "good " * (k % 3), "good")) for k in range(n)]
    assert server.count - before == n - len(files)  # only the missing judgments were requested
    assert verdicts == [("B>A", "A=B", "A>B")[k % 3] for k in range(n)]


def test_parse_verdict_formats():
    assert parse_verdict("... [[A>>B]]") == "A>>B"
    assert parse_verdict("[[B<A]]") == "A>B" and parse_verdict("[[A<<B]]") == "B>>A"
    assert parse_verdict("first [[A>B]] then [[B>A]]") is None  # conflicting
    assert parse_verdict("A is better") is None and parse_verdict(None) is None


def test_proxy_judge_by_hand():
    # answer bag {cat, sat, mat} ('the', 'on' are dropped), reference {cat, sat}: P = 2/3, R = 1, F1 = 0.8
    assert overlap_f1("The cat sat on the mat", "a cat sat") == pytest.approx(0.8)
    assert overlap_f1("dogs bark", "a cat sat") == 0.0
    judge = ReferenceProxyJudge(tie=0.01, strong=0.45)
    ref = "Paris is the capital of France"
    assert judge.kind == "proxy" and "proxy" in judge.name
    assert parse_verdict(judge.pairwise("q", "The capital of France is Paris.", "Lyon.", ref)) == "A>>B"
    assert parse_verdict(judge.pairwise("q", "France: Lyon", "Paris, France", ref)) == "B>A"  # F1 0.4 vs 0.8
    assert parse_verdict(judge.pairwise("q", "Paris", "Paris", ref)) == "A=B"
    assert parse_rating(judge.single("q", "Paris is the capital of France", ref)) == 10.0
    assert parse_rating(judge.single("q", "no idea", ref)) == 1.0
    with pytest.raises(ValueError, match="reference"):
        judge.single("q", "x")


def test_official_prompts_from_a_users_copy(tmp_path):
    path = tmp_path / "judge_prompts.jsonl"
    recs = [{"name": "pair-v2", "system_prompt": "SYS", "prompt_template": "Q {question} A {answer_a} B {answer_b}"},
            {"name": "single-v1", "system_prompt": "S1", "prompt_template": "Q {question} A {answer}"},
            {"name": "single-v1-multi-turn", "system_prompt": "S2",
             "prompt_template": "{question_1}|{answer_1}|{question_2}|{answer_2}|{ref_answer_1}"}]
    path.write_text("\n".join(json.dumps(r) for r in recs))
    prompts = JudgePrompts.from_file(path)
    msgs = prompts.pairwise_messages("why", "x", "y")
    assert msgs == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q why A x B y"}]
    assert prompts.multi_turn_messages(["q1", "q2"], ["a1", "a2"], "r")[1]["content"] == "q1|a1|q2|a2|r"
    with pytest.raises(KeyError, match="pair-v9"):
        JudgePrompts.from_file(path, pairwise="pair-v9")
