"""A canned OpenAI-compatible chat-completions server for the reward-synthesis tests.

Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a script of behaviours —
canned answers (honouring ``n`` or not), HTTP 429 with ``Retry-After``, 5xx, 400,
slow answers (client timeouts), malformed bodies — and records every request.
Everything it answers is canned text: nothing from it is ever an LLM result.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

CANNED_MODEL = "canned-test-server"


class CannedServer:
    """Start with ``with CannedServer(responder) as server: ... server.base_url``.

    Args:
        responder: ``responder(body) -> list[str]`` gives the answer texts when the script
            is empty (one per requested completion, or fewer).
        honour_n: return ``n`` choices when asked (False: always one, like servers
            that ignore ``n``).
    """

    def __init__(self, responder: Callable[[dict], list[str]] | None = None, honour_n: bool = True):
        self.responder = responder or (lambda body: ["```python\nimport numpy as np\n```"])
        self.honour_n = honour_n
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------

    def push(self, *actions: dict[str, Any]) -> None:
        """Queue behaviours for the next requests (one each)."""
        with self._lock:
            self.script.extend(actions)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "CannedServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                with server._lock:
                    server.requests.append({"path": self.path, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}, "time": time.time()})
                    action = server.script.popleft() if server.script else {}
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                if "sleep" in action:
                    time.sleep(action["sleep"])
                if "status" in action:
                    headers = {}
                    if action.get("retry_after") is not None:
                        headers["Retry-After"] = str(action["retry_after"])
                    return self._send(action["status"], {"error": {"message": action.get("error", "canned error"), "type": "canned"}}, headers)
                if "malformed" in action:
                    kind = action["malformed"]
                    if kind == "not_json":
                        return self._send_raw(200, b'{"id": "x", "choices": [ {"message": ', "application/json")
                    if kind == "no_choices":
                        return self._send(200, {"id": "canned", "object": "chat.completion", "model": CANNED_MODEL})
                    if kind == "null_content":
                        return self._send(200, self._completion([None], body))
                    if kind == "html":
                        return self._send_raw(200, b"<html>oops</html>", "text/html")
                texts = action.get("texts")
                if texts is None:
                    texts = server.responder(body)
                n = int(body.get("n") or 1)
                honour = action.get("honour_n", server.honour_n)
                texts = list(texts)[: (n if honour else 1)]
                return self._send(200, self._completion(texts, body))

            def _completion(self, texts, body):
                prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
                completion_tokens = sum(len(str(t or "")) // 4 + 1 for t in texts)
                return {
                    "id": f"canned-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": CANNED_MODEL,
                    "choices": [
                        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                        for i, t in enumerate(texts)
                    ],
                    "usage": {
                        "prompt_tokens": prompt_chars // 4 + 1,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_chars // 4 + 1 + completion_tokens,
                    },
                }

            def _send(self, status, payload, headers=None):
                self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _send_raw(self, status, data, ctype, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
