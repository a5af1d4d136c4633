"""The reward worker's framing (pbrl/sandbox/protocol.py): the per-call deadline holds on blocking
and non-blocking pipe ends alike (the trusted side's are non-blocking: reads and writes wait only
when they must), and big frames cross intact."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pbrl.sandbox import protocol


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.parametrize("blocking", [True, False])
def test_a_stalled_writer_is_a_timeout_at_every_stage_of_a_frame(pipe, blocking):
    r, w = pipe
    os.set_blocking(r, blocking)
    start = time.monotonic()
    with pytest.raises(TimeoutError):  # nothing at all
        protocol.read_message(r, time.monotonic() + 0.2)
    os.write(w, protocol.FRAME.pack(20, 0))  # a frame that announces a header, then nothing
    with pytest.raises(TimeoutError):
        protocol.read_message(r, time.monotonic() + 0.2)
    frame = protocol.encode({"ok": True}, b"x" * 100)
    os.write(w, frame[:-10])  # all but the payload's last bytes
    with pytest.raises(TimeoutError):
        protocol.read_message(r, time.monotonic() + 0.2)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("blocking", [True, False])
def test_a_reader_that_never_reads_is_a_timeout(pipe, blocking):
    r, w = pipe
    os.set_blocking(w, blocking)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        protocol.write_all(w, b"x" * (8 << 20), time.monotonic() + 0.3)  # far more than a pipe holds
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("blocking", [True, False])
def test_big_frames_cross_intact(pipe, blocking):
    r, w = pipe
    os.set_blocking(r, blocking)
    os.set_blocking(w, blocking)
    payload = os.urandom(3 << 20)
    frame = protocol.encode({"op": "call", "n": 3}, payload)
    writer = threading.Thread(target=protocol.write_all, args=(w, frame, time.monotonic() + 30))
    writer.start()
    header, got = protocol.read_message(r, time.monotonic() + 30, max_payload=len(payload))
    writer.join()
    assert header == {"op": "call", "n": 3} and got == payload


def test_an_oversized_frame_is_refused_before_its_payload_is_read(pipe):
    r, w = pipe
    os.set_blocking(r, False)
    os.write(w, protocol.encode({"ok": True}, b"x" * 1000))
    with pytest.raises(ValueError, match="larger than allowed"):
        protocol.read_message(r, time.monotonic() + 1, max_payload=10)
