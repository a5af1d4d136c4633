"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (canned answers).

The server (tests/synthesis_server.py) speaks /v1/chat/completions; the backend uses the
real ``openai`` client. Nothing here is an LLM result: every answer is canned.
"""

import random

import pytest

from pbrl.llm.backends import OpenAIBackend, backoff_delay
from pbrl.synthesis.errors import BackendRequestError, BackendRetriesExhausted
from pbrl.llm.ledger import TokenLedger

from synthesis_server import CANNED_MODEL, CannedServer

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "write a reward"}]


class RecordingSleep:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


def make(server, **kw):
    kw.setdefault("sleep", RecordingSleep())
    kw.setdefault("seed", 0)
    return OpenAIBackend("canned", base_url=server.base_url, api_key_env="PBRL_TEST_LLM_KEY", **kw)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PBRL_TEST_LLM_KEY", "sk-test-123")
    return "sk-test-123"


def test_n_completions_in_one_request_with_key_and_ledger(key):
    with CannedServer(lambda body: ["a", "b", "c", "d"]) as server:
        ledger = TokenLedger(price_input=1.0, price_output=2.0)
        backend = make(server, ledger=ledger, temperature=0.7, max_tokens=99)
        out = backend.complete(MESSAGES, 3)
        assert [c.text for c in out] == ["a", "b", "c"]
        assert all(c.model == CANNED_MODEL for c in out)
        assert len(server.requests) == 1
        req = server.requests[0]
        assert req["headers"]["authorization"] == f"Bearer {key}"
        assert req["body"]["n"] == 3 and req["body"]["temperature"] == 0.7 and req["body"]["max_tokens"] == 99
        assert req["body"]["messages"] == MESSAGES and req["body"]["model"] == "canned"
        assert backend.supports_n is True
    totals = ledger.totals()
    assert totals["successful_requests"] == 1 and totals["completions"] == 3
    entry = ledger.entries[0]
    assert entry["status"] == "ok" and entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
    assert totals["total_tokens"] == entry["prompt_tokens"] + entry["completion_tokens"]
    assert totals["cost_usd"] == pytest.approx((entry["prompt_tokens"] * 1.0 + entry["completion_tokens"] * 2.0) / 1e6)


def test_n_is_emulated_when_the_server_ignores_it(key):
    with CannedServer(lambda body: ["x", "y", "z"], honour_n=False) as server:
        backend = make(server)
        out = backend.complete(MESSAGES, 3)
        assert len(out) == 3
        assert backend.supports_n is False
        assert len(server.requests) == 3
        assert server.requests[0]["body"]["n"] == 3
        assert all("n" not in r["body"] for r in server.requests[1:])
        # the next call asks one at a time right away
        backend.complete(MESSAGES, 2)
        assert len(server.requests) == 5 and all("n" not in r["body"] for r in server.requests[3:])


def test_n_is_emulated_when_the_server_refuses_it(key):
    with CannedServer(lambda body: ["ok"]) as server:
        server.push({"status": 400, "error": "n must be 1"})
        backend = make(server)
        out = backend.complete(MESSAGES, 2)
        assert [c.text for c in out] == ["ok", "ok"]
        assert backend.supports_n is False
        assert len(server.requests) == 3  # the refused one, then two single requests
        statuses = [e["status"] for e in backend.ledger.entries]
        assert statuses == ["request_error", "ok", "ok"]


def test_retries_429_5xx_and_malformed_bodies_with_bounded_backoff(key):
    with CannedServer(lambda body: ["```python\nx = 1\n```"]) as server:
        server.push(
            {"status": 429, "retry_after": 0.15},
            {"status": 503},
            {"malformed": "not_json"},
            {"malformed": "no_choices"},
            {"malformed": "null_content"},
            {"malformed": "html"},
        )
        sleep = RecordingSleep()
        backend = make(server, max_retries=6, backoff_base=0.01, backoff_max=0.2, sleep=sleep)
        out = backend.complete(MESSAGES, 1)
        assert out[0].text.startswith("```python")
        assert len(server.requests) == 7
    statuses = [e["status"] for e in backend.ledger.entries]
    assert statuses == ["rate_limit", "server_error", "malformed", "malformed", "malformed", "malformed", "ok"]
    assert backend.ledger.entries[0]["http_status"] == 429 and backend.ledger.entries[1]["http_status"] == 503
    # one sleep per retry, each within [half the nominal backoff, the cap], Retry-After honoured
    assert len(sleep.calls) == 6 and sleep.calls == backend.delays
    assert sleep.calls[0] >= 0.15
    for attempt, delay in enumerate(sleep.calls):
        nominal = min(0.2, 0.01 * 2**attempt)
        assert delay <= 0.2
        assert delay >= 0.5 * nominal
    assert backend.ledger.totals()["slept_seconds"] == pytest.approx(sum(sleep.calls))


def test_timeouts_are_retried(key):
    with CannedServer(lambda body: ["late but fine"]) as server:
        server.push({"sleep": 1.5})
        backend = make(server, timeout=0.3, max_retries=2, backoff_base=0.01)
        out = backend.complete(MESSAGES, 1)
        assert out[0].text == "late but fine"
    assert [e["status"] for e in backend.ledger.entries] == ["timeout", "ok"]


def test_retries_are_bounded(key):
    with CannedServer() as server:
        server.push({"status": 500}, {"status": 502}, {"status": 429}, {"texts": ["never reached"]})
        backend = make(server, max_retries=2, backoff_base=0.01)
        with pytest.raises(BackendRetriesExhausted):
            backend.complete(MESSAGES, 1)
        assert len(server.requests) == 3
        assert len(backend.delays) == 2  # no sleep after the last attempt


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(key, status):
    with CannedServer() as server:
        server.push({"status": status})
        backend = make(server, max_retries=3)
        with pytest.raises(BackendRequestError):
            backend.complete(MESSAGES, 1)
        assert len(server.requests) == 1


def test_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("PBRL_TEST_LLM_KEY", raising=False)
    with pytest.raises(BackendRequestError, match="PBRL_TEST_LLM_KEY"):
        OpenAIBackend("m", base_url=None, api_key_env="PBRL_TEST_LLM_KEY")
    with CannedServer(lambda body: ["ok"]) as server:
        backend = make(server)  # a local server without a key: a placeholder is sent
        backend.complete(MESSAGES, 1)
        assert server.requests[0]["headers"]["authorization"] == "Bearer not-needed"
        assert "sk-" not in str(backend.describe())


def test_backoff_delay_bounds():
    rng = random.Random(1)
    for attempt in range(12):
        for retry_after in (None, 0.0, 5.0, 100.0):
            d = backoff_delay(attempt, 0.5, 8.0, retry_after, rng)
            nominal = min(8.0, 0.5 * 2**attempt)
            assert 0.5 * nominal <= d <= 8.0
            if retry_after is not None:
                assert d >= min(retry_after, 8.0)


def test_ledger_file_and_reload(tmp_path, key):
    path = tmp_path / "ledger.jsonl"
    with CannedServer(lambda body: ["a"]) as server:
        server.push({"status": 429, "retry_after": 0})
        backend = make(server, ledger=TokenLedger(str(path)), backoff_base=0.0)
        backend.complete(MESSAGES, 1)
    again = TokenLedger.load(str(path))
    assert [e["status"] for e in again.entries] == ["rate_limit", "ok"]
    assert again.totals()["cost_usd"] is None  # no prices given


def test_no_test_reaches_the_network(key):
    # tests/conftest.py refuses connections that would leave the machine in these modules
    import socket

    with pytest.raises(OSError, match="must not reach the network"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.5)   # TEST-NET-1: never routed
    backend = OpenAIBackend("m", base_url="http://192.0.2.1:9/v1", api_key_env="PBRL_TEST_LLM_KEY", max_retries=0, timeout=1.0)
    with pytest.raises(BackendRetriesExhausted, match="connection"):
        backend.complete(MESSAGES, 1)
