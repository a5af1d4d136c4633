"""Limits shared by the sandboxed worker and the trusted parent that validates its output."""

from __future__ import annotations

from pbrl.sandbox.policy import MAX_TERMS, TERM_NAME  # noqa: F401  (one definition for every path)

#: largest result JSON the parent reads from a worker (bytes)
MAX_RESULT_BYTES = 1 << 20
#: largest weights file the parent accepts from a worker (bytes)
MAX_WEIGHTS_BYTES = 64 << 20
#: most points of a training curve kept in a worker's result
MAX_CURVE_POINTS = 200
#: longest failure message / detail kept from a worker (characters)
MAX_MESSAGE_CHARS = 2_000
MAX_DETAIL_CHARS = 6_000
#: how much of a worker's log the parent reads (bytes, from the end)
LOG_TAIL_BYTES = 16_384
