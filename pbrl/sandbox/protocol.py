"""How the trusted side and the reward worker talk: framed messages on a pair of pipes.

A message is ``<u32 header length><u32 payload length>``, a JSON header, then a raw
payload (arrays, C order, back to back). Requests (trusted side -> worker):

* ``{"op": "load", "source": ..., "seed": ...}``: run the program's module body;
* ``{"op": "call", "n": N, "arrays": [[name, dtype, shape, offset], ...]}`` + the
  arrays' bytes: one batch; names are ``obs``, ``action``, ``next_obs`` and
  ``info/<key>`` (``info/<key>/<sub>`` for one level of nested dicts such as
  ``reward_terms``);
* ``{"op": "close"}``.

Answers (worker -> trusted side): ``{"ok": true, ...}`` — for a call,
``{"ok": true, "terms": [names]}`` + ``(1 + len(terms)) * N`` float64 (the reward,
then each term) — or ``{"ok": false, "kind": ..., "message": ..., "detail": ...}``.
The worker's first message, before any request, is ``{"ok": true, "ready": true,
"layers": {...}}``.

The worker gets its arrays as read-only views of the bytes it read (a program can
change nothing the trusted side measures); the trusted side reads at most
:data:`MAX_HEADER` bytes of header and exactly the payload it expects.

Standard library only (numpy is imported by the functions that need it).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

__all__ = ["ALLOWED_DTYPES", "MAX_HEADER", "encode", "read_message", "write_all"]

FRAME = struct.Struct("<II")
#: largest header either side reads (bytes)
MAX_HEADER = 1 << 20
#: array types a batch may hold (no object arrays: nothing is ever unpickled)
ALLOWED_DTYPES = frozenset({"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "|u1", "<u2", "<u4", "<u8", "|b1"})


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return FRAME.pack(len(head), len(payload)) + head + payload


def _wait(fd: int, write: bool, deadline: float | None) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
    if not (ready[1] if write else ready[0]):
        raise TimeoutError


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write all of ``data`` (raises ``TimeoutError`` past ``deadline``, ``BrokenPipeError`` if the reader is gone).

    With a deadline, a blocking ``fd`` is waited for before every write of at most 64 KiB; a
    non-blocking one is written at once and waited for only when it is full (fewer system calls).
    """
    wait_first = deadline is not None and os.get_blocking(fd)
    view = memoryview(data)
    while view:
        if wait_first:
            _wait(fd, True, deadline)
        try:
            n = os.write(fd, view[: 1 << 16] if wait_first else view)
        except BlockingIOError:
            _wait(fd, True, deadline)
            continue
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None, wait_first: bool) -> bytes:
    chunks, got = [], 0
    while got < n:
        if wait_first:
            _wait(fd, False, deadline)
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except BlockingIOError:
            _wait(fd, False, deadline)
            continue
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read exactly ``n`` bytes (``EOFError`` if the writer is gone first, ``TimeoutError`` past ``deadline``).

    With a deadline, a blocking ``fd`` is waited for before every read; a non-blocking one is
    read at once and waited for only when it is empty (fewer system calls)."""
    return _read_exact(fd, n, deadline, deadline is not None and os.get_blocking(fd))


def read_message(fd: int, deadline: float | None = None, max_payload: int | None = None) -> tuple[dict[str, Any], bytes]:
    """One framed message: ``(header, payload)``. ``ValueError`` for a malformed or oversized frame."""
    wait_first = deadline is not None and os.get_blocking(fd)
    head_len, payload_len = FRAME.unpack(_read_exact(fd, FRAME.size, deadline, wait_first))
    if head_len > MAX_HEADER or (max_payload is not None and payload_len > max_payload):
        raise ValueError(f"a message of {head_len} + {payload_len} bytes is larger than allowed")
    header = json.loads(_read_exact(fd, head_len, deadline, wait_first).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("a message header is not a JSON object")
    return header, _read_exact(fd, payload_len, deadline, wait_first)
