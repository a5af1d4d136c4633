"""Errors of the LLM backends (``pbrl.llm.backends``)."""

from __future__ import annotations


class BackendError(RuntimeError):
    """An LLM backend could not produce an answer."""


class BackendRequestError(BackendError):
    """The server refused the request for a reason retrying cannot fix (HTTP 400, 401,
    403, 404, ...)."""


class BackendRetriesExhausted(BackendError):
    """Every attempt failed with a retryable error (429, 5xx, timeout, malformed body)."""
