"""A local OpenAI-compatible judge for the dry run: POST /v1/chat/completions answers in each benchmark's judge
format ("[[A>B]]"-style verdicts for AlpacaEval / Arena-Hard prompts, "Rating: [[n]]" for MT-Bench prompts),
GET /v1/models lists its one model. Verdicts are a hash of the prompt: random, but the same on every run.
When CDR_JUDGE_API_KEY is set, requests must carry it as a Bearer token (as the real endpoint would check).

    python -m tools.dryrun serve --port 8765   # then CDR_JUDGE_BASE_URL=http://127.0.0.1:8765/v1
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


def answer(messages: list[dict]) -> str:
    """The judge's text for a conversation: a verdict when the prompt asks for one, else a 1-10 rating."""
    text = "\n".join(str(m.get("content", "")) for m in messages)
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    if "[[A>>B]]" in text or "[[A>B]]" in text:
        return f"Both answers address the question; weighing accuracy and helpfulness.\n\n[[{VERDICTS[h % 5]}]]"
    return f"The answer is partly relevant.\n\nRating: [[{1 + h % 10}]]"


class JudgeServer:
    """The server on 127.0.0.1 (port 0: any free port) in a daemon thread; `url` ends in /v1."""

    def __init__(self, port: int = 0, model: str = "dry-run-judge", key: str | None = None):
        server, self.requests = self, 0
        self.model, self.key = model, key if key is not None else os.environ.get("CDR_JUDGE_API_KEY")
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                    self._send(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})
                    return False
                return True

            def do_GET(self):
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                if not self._authorized():
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server.lock:
                    server.requests += 1
                content = answer(body.get("messages", []))
                self._send(200, {"id": f"chatcmpl-{server.requests}", "object": "chat.completion",
                                 "model": body.get("model", server.model),
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}],
                                 "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
