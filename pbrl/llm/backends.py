"""LLM backends: the OpenAI-compatible chat-completions client used by synthesis and the LLM teacher.

:class:`OpenAIBackend` talks to any server that speaks OpenAI's
``/v1/chat/completions`` — OpenAI itself, vLLM, llama.cpp's server, Ollama, LM
Studio — through the ``openai`` package:

* ``base_url`` and ``model`` pick the server and model; the API key is read from
  the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``), never
  from a file or the command line; local servers that need no key get a
  placeholder;
* every request has a timeout (``timeout`` seconds);
* retries are bounded: at most ``max_retries`` more attempts after a 429, a 5xx,
  a timeout, a connection error or a malformed body (not JSON, no choices, no
  text), with exponential backoff ``backoff_base · 2^attempt`` — jittered to
  between half and all of that, never above ``backoff_max``, and at least the
  server's ``Retry-After`` (also capped at ``backoff_max``). A 400/401/403/404 is
  not retried (:class:`~pbrl.llm.errors.BackendRequestError`);
* ``n > 1`` completions are asked for in one request; servers that ignore ``n``
  (answer with fewer choices) or refuse it (HTTP 400 on a request with ``n > 1``)
  are detected, and the remaining completions are then asked for one request at a
  time;
* every attempt — tokens as the server reports them, status, latency, backoff —
  goes to a :class:`~pbrl.llm.ledger.TokenLedger`.

:class:`LLMBackend` is the interface: anything with ``complete(messages, n)`` works.
"""

from __future__ import annotations

import abc
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

from .errors import BackendError, BackendRequestError, BackendRetriesExhausted
from .ledger import TokenLedger

__all__ = ["Completion", "LLMBackend", "OpenAIBackend", "backoff_delay"]

Message = dict[str, str]


@dataclass
class Completion:
    """One answer of the model.

    Args:
        text: the message content.
        finish_reason: the server's finish reason (``stop``, ``length``, ...).
        model: the model name the server reported.
        request: index of the request (within one ``complete`` call) that produced it.
        usage: ``{"prompt_tokens", "completion_tokens"}`` of that request (shared by
            the completions of one request with ``n > 1``).
    """

    text: str
    finish_reason: str | None
    model: str
    request: int
    usage: dict[str, int]


class LLMBackend(abc.ABC):
    """Produces chat completions."""

    #: "openai", ...
    kind: str = "llm"

    @abc.abstractmethod
    def complete(self, messages: Sequence[Message], n: int = 1, *, temperature: float | None = None,
                 max_tokens: int | None = None, purpose: str = "") -> list[Completion]:
        """``n`` completions of the chat ``messages``."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings for run folders and label provenance (no secrets)."""
        return {"kind": self.kind}


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt + 1``.

    ``base · 2^attempt`` jittered into [half, all] of it, raised to ``retry_after``
    when the server sent one, and never more than ``cap``.
    """
    nominal = min(cap, base * (2.0**attempt))
    delay = nominal * (0.5 + 0.5 * rng.random())
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return float(max(0.0, min(cap, delay)))


class _Malformed(Exception):
    pass


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIBackend(LLMBackend):
    """A chat model behind an OpenAI-compatible HTTP API (see the module docstring).

    Args:
        model: the model name the server knows.
        base_url: e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:11434/v1``
            (Ollama); None: OpenAI's API.
        api_key_env: environment variable holding the API key.
        timeout: seconds per request.
        max_retries: more attempts after a retryable failure.
        backoff_base: first backoff (seconds).
        backoff_max: cap on any single backoff (seconds).
        temperature: default sampling temperature.
        max_tokens: default completion length cap (None: the server's).
        supports_n: whether the server honours ``n``; None: find out.
        ledger: where usage goes (default: a memory-only ledger).
        seed: seed of the backoff jitter.
        sleep: how to wait (tests may record instead of sleeping).
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        supports_n: bool | None = None,
        ledger: TokenLedger | None = None,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not model or not isinstance(model, str):
            raise ValueError("the openai backend needs a model name (--model NAME)")
        if timeout <= 0 or max_retries < 0 or backoff_base < 0 or backoff_max < 0:
            raise ValueError("timeout must be > 0; max_retries, backoff_base and backoff_max >= 0")
        try:
            import openai
        except ImportError:
            raise ImportError("the openai backend needs the openai package: pip install openai") from None
        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise BackendRequestError(
                    f"no API key: set the environment variable {api_key_env} (or give --base-url for a local server)"
                )
            key = "not-needed"  # local OpenAI-compatible servers usually ignore the key
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.supports_n = supports_n
        self.ledger = ledger or TokenLedger()
        self.sleep = sleep
        self._rng = random.Random(seed)
        self._openai = openai
        # Retries are ours (bounded, logged in the ledger), not the client's.
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=0)
        self.delays: list[float] = []

    def describe(self) -> dict[str, Any]:
        host = urlparse(self.base_url).netloc if self.base_url else "api.openai.com"
        return {
            "kind": self.kind, "model": self.model, "base_url": self.base_url, "host": host,
            "api_key_env": self.api_key_env, "timeout": self.timeout, "max_retries": self.max_retries,
            "backoff_base": self.backoff_base, "backoff_max": self.backoff_max, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "supports_n": self.supports_n,
        }

    # -- one request, with retries ------------------------------------------------------

    def _classify(self, exc: BaseException) -> tuple[str, bool, int | None]:
        """(kind, retryable, HTTP status) of a failed attempt."""
        o = self._openai
        status = getattr(exc, "status_code", None)
        if isinstance(exc, o.RateLimitError):
            return "rate_limit", True, status
        if isinstance(exc, o.APITimeoutError):
            return "timeout", True, None
        if isinstance(exc, o.APIConnectionError):
            return "connection", True, None
        if isinstance(exc, o.APIStatusError):
            if status is not None and (status >= 500 or status in (408, 409)):
                return "server_error", True, status
            return "request_error", False, status
        return "malformed", True, status

    def _request(self, messages: Sequence[Message], n: int, temperature: float | None, max_tokens: int | None,
                 purpose: str) -> Any:
        kwargs: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        temp = self.temperature if temperature is None else temperature
        if temp is not None:
            kwargs["temperature"] = float(temp)
        cap = self.max_tokens if max_tokens is None else max_tokens
        if cap is not None:
            kwargs["max_tokens"] = int(cap)
        if n > 1:
            kwargs["n"] = int(n)
        last_error = ""
        for attempt in range(self.max_retries + 1):
            start = time.time()
            try:
                response = self.client.chat.completions.create(**kwargs)
                choices = getattr(response, "choices", None)
                if not isinstance(choices, list) or not choices:
                    raise _Malformed("the response has no choices")
                texts = [getattr(getattr(c, "message", None), "content", None) for c in choices]
                if not any(isinstance(t, str) for t in texts):
                    raise _Malformed("the response's choices hold no text")
            except Exception as exc:  # noqa: BLE001 - classified below; unknown errors count as malformed
                kind, retryable, status = self._classify(exc)
                last_error = f"{kind}: {type(exc).__name__}: {str(exc)[:300]}"
                last = attempt == self.max_retries or not retryable
                delay = 0.0 if last else backoff_delay(attempt, self.backoff_base, self.backoff_max, _retry_after(exc), self._rng)
                self.ledger.record(
                    model=self.model, purpose=purpose, n_requested=n, n_returned=0, attempt=attempt, status=kind,
                    http_status=status, latency=round(time.time() - start, 4), backoff=delay, error=last_error[:500],
                )
                if not retryable:
                    if kind == "request_error" and n > 1:
                        raise _NRefused(last_error) from None
                    raise BackendRequestError(f"the server refused the request ({last_error})") from None
                if last:
                    break
                self.delays.append(delay)
                self.sleep(delay)
                continue
            usage = getattr(response, "usage", None)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            self.ledger.record(
                model=str(getattr(response, "model", None) or self.model), purpose=purpose, n_requested=n,
                n_returned=sum(isinstance(t, str) for t in texts), attempt=attempt, status="ok", http_status=200,
                latency=round(time.time() - start, 4), backoff=0.0, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            return response
        raise BackendRetriesExhausted(f"{self.max_retries + 1} attempts failed; last: {last_error}")

    # -- n completions -------------------------------------------------------------------

    def complete(self, messages, n=1, *, temperature=None, max_tokens=None, purpose=""):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        out: list[Completion] = []
        request = 0
        while len(out) < n:
            remaining = n - len(out)
            ask = remaining if self.supports_n is not False else 1
            try:
                response = self._request(messages, ask, temperature, max_tokens, purpose)
            except _NRefused:
                self.supports_n = False  # the server refuses n > 1: emulate it
                continue
            usage = getattr(response, "usage", None)
            tokens = {
                "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
            }
            got = 0
            for choice in response.choices:
                text = getattr(getattr(choice, "message", None), "content", None)
                if isinstance(text, str) and len(out) < n:
                    out.append(Completion(text, getattr(choice, "finish_reason", None),
                                          str(getattr(response, "model", None) or self.model), request, tokens))
                    got += 1
            if ask > 1 and got < ask and self.supports_n is None:
                self.supports_n = False  # the server ignored n: ask for the rest one at a time
            elif ask > 1 and got == ask:
                self.supports_n = True
            request += 1
        return out


class _NRefused(BackendError):
    """A request with n > 1 was refused (HTTP 4xx): retry the completions one at a time."""
