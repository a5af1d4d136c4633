"""The LLM teacher (RL-VLM-F's protocol, as text) against the canned OpenAI-compatible server.

The answers are canned: this tests the protocol (prompts, parsing, labels, provenance,
failures), not any model's judgement.
"""

import json

import numpy as np
import pytest

import pbrl.envs
from pbrl.preferences.segments import SegmentBatch
from pbrl.llm.backends import OpenAIBackend
from pbrl.synthesis.errors import BackendRequestError
from pbrl.teachers.llm import LLMTeacher, parse_answer, summarize_segment
from pbrl.teachers import TEACHERS, make_teacher

from synthesis_server import CannedServer

CARD = pbrl.envs.cards()["pbrl/HalfCheetah-v5"]


def batch(speeds, reward=123.456):
    b, h = len(speeds), 10
    rng = np.random.default_rng(0)
    return SegmentBatch(
        obs=rng.normal(size=(b, h, 17)),
        actions=rng.uniform(-1, 1, size=(b, h, 6)),
        rewards=np.full((b, h), reward),
        terms={"forward": np.full((b, h), reward), "ctrl": np.zeros((b, h))},
        extras={"x_velocity": np.repeat(np.asarray(speeds, float)[:, None], h, axis=1),
                "x_position": np.cumsum(np.repeat(np.asarray(speeds, float)[:, None], h, axis=1), axis=1)},
    )


@pytest.mark.parametrize("text, label", [
    ("Segment 2 moves forward faster.\n2", 1.0),
    ("Reasoning...\nAnswer: 1", 0.0),
    ("**1**", 0.0),
    ("They look the same.\ntie", 0.5),
    ("Final answer: Tie.", 0.5),
    ("equal", 0.5),
    ("I cannot decide.", None),
    ("1 or 2", None),
    ("", None),
])
def test_parse_answer(text, label):
    assert parse_answer(text) == label


def test_summary_uses_quantities_not_rewards():
    text = summarize_segment(batch([1.5]), 0, CARD)
    assert "x_velocity" in text and "mean 1.5" in text and "(10 steps)" in text
    assert "123" not in text and "reward" not in text.lower()


def test_llm_teacher_labels_through_the_registry(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    answers = iter(["Segment 2 is faster.\n2", "Same speed.\ntie", "Segment 1.\n1", "Hmm, hard to say."])
    with CannedServer(lambda body: [next(answers)]) as server:
        assert "llm" in TEACHERS
        log = tmp_path / "teacher.jsonl"
        teacher = make_teacher("llm", card=CARD, seed=0, model="canned", base_url=server.base_url, log_path=str(log))
        first, second = batch([0.5, 1.0, 2.0, 1.0]), batch([2.0, 1.0, 0.5, 1.1])
        labels = teacher.label(first, second, query_ids=[10, 11, 12, 13])
        assert labels.values[:3].tolist() == [1.0, 0.5, 0.0]
        assert labels.skipped.tolist() == [False, False, False, True]
        assert labels.provenance.kind == "llm" and labels.provenance.params["model"] == "canned"
        assert len(server.requests) == 4
        body = server.requests[0]["body"]
        assert body["temperature"] == 0.0
        user = body["messages"][1]["content"]
        assert CARD.goal in user and "Segment 1" in user and "Segment 2" in user and "x_velocity" in user
        assert "123.456" not in json.dumps(body)  # true rewards never reach the model
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        assert [r["query_id"] for r in rows] == [10, 11, 12, 13] and rows[3]["label"] is None


def test_llm_teacher_failures(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with CannedServer(lambda body: ["2"]) as server:
        backend = OpenAIBackend("canned", base_url=server.base_url, max_retries=1, backoff_base=0.0, sleep=lambda s: None)
        teacher = LLMTeacher(backend, CARD)
        server.push({"status": 500}, {"status": 500})  # retries exhausted: the pair is skipped
        labels = teacher.label(batch([1.0, 1.0]), batch([2.0, 2.0]))
        assert labels.skipped.tolist() == [True, False] and labels.values[1] == 1.0
        server.push({"status": 401})  # misconfiguration: raise
        with pytest.raises(BackendRequestError):
            teacher.label(batch([1.0]), batch([2.0]))
    with pytest.raises(ValueError, match="model"):
        make_teacher("llm", card=CARD)
