"""The token ledger: every LLM request, its attempts, tokens and cost.

One JSON object per attempt, appended to ``ledger.jsonl`` in the run folder (and
kept in memory): time, model, purpose, how many completions were asked and
returned, the outcome (``ok`` or the error kind: ``rate_limit``, ``timeout``,
``connection``, ``server_error``, ``malformed``, ``request_error``), the HTTP status,
latency, the backoff slept before the next attempt, prompt and completion tokens as
the server reported them, and the cost when prices are known (USD per million
tokens, given by the user: pbrl ships no price list).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

__all__ = ["TokenLedger"]


class TokenLedger:
    """Records LLM usage.

    Args:
        path: a JSONL file to append to (None: memory only).
        price_input: USD per million prompt tokens (None: cost unknown).
        price_output: USD per million completion tokens (None: cost unknown).
    """

    def __init__(self, path: str | None = None, price_input: float | None = None, price_output: float | None = None):
        self.path = path
        self.price_input = price_input
        self.price_output = price_output
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_input is None or self.price_output is None:
            return None
        return (prompt_tokens * self.price_input + completion_tokens * self.price_output) / 1e6

    def record(self, **entry: Any) -> dict[str, Any]:
        """Add one attempt (fills in ``time`` and ``cost_usd``); returns the stored entry."""
        entry.setdefault("time", time.time())
        prompt, completion = int(entry.get("prompt_tokens") or 0), int(entry.get("completion_tokens") or 0)
        entry.setdefault("cost_usd", self.cost(prompt, completion) if entry.get("status") == "ok" else 0.0)
        with self._lock:
            self.entries.append(entry)
            if self.path:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, default=str) + "\n")
        return entry

    def totals(self) -> dict[str, Any]:
        """Sums over every recorded attempt."""
        with self._lock:
            entries = list(self.entries)
        ok = [e for e in entries if e.get("status") == "ok"]
        failed: dict[str, int] = {}
        for e in entries:
            if e.get("status") != "ok":
                failed[str(e.get("status"))] = failed.get(str(e.get("status")), 0) + 1
        prompt = sum(int(e.get("prompt_tokens") or 0) for e in ok)
        completion = sum(int(e.get("completion_tokens") or 0) for e in ok)
        costs = [e.get("cost_usd") for e in ok]
        return {
            "attempts": len(entries),
            "successful_requests": len(ok),
            "failed_attempts": failed,
            "completions": sum(int(e.get("n_returned") or 0) for e in ok),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost_usd": None if any(c is None for c in costs) else float(sum(costs)),
            "slept_seconds": float(sum(float(e.get("backoff") or 0.0) for e in entries)),
        }

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> "TokenLedger":
        """A ledger that continues ``path`` (for resumed runs)."""
        ledger = cls(path, **kwargs)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        ledger.entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return ledger
