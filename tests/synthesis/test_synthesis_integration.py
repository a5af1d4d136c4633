"""Opt-in: a real OpenAI-compatible LLM server. Skipped unless PBRL_LLM_BASE_URL is set.

    PBRL_LLM_BASE_URL=http://localhost:8000/v1 PBRL_LLM_MODEL=qwen2.5-coder-7b \\
        python -m pytest -q tests/synthesis/test_synthesis_integration.py

The API key, if the server needs one, is read from the variable named by
PBRL_LLM_API_KEY_ENV (default OPENAI_API_KEY). These tests check that the pipeline
works with a real model; they do not judge the model.
"""

import os

import numpy as np
import pytest

import pbrl.envs
from pbrl.synthesis.errors import SynthesisFailure

BASE_URL = os.environ.get("PBRL_LLM_BASE_URL")
MODEL = os.environ.get("PBRL_LLM_MODEL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="set PBRL_LLM_BASE_URL (and PBRL_LLM_MODEL) to test a real LLM server")


@pytest.fixture(scope="module")
def backend():
    from pbrl.llm.backends import OpenAIBackend

    if not MODEL:
        pytest.skip("set PBRL_LLM_MODEL to the model name the server serves")
    return OpenAIBackend(MODEL, base_url=BASE_URL, api_key_env=os.environ.get("PBRL_LLM_API_KEY_ENV", "OPENAI_API_KEY"),
                         timeout=float(os.environ.get("PBRL_LLM_TIMEOUT", "300")), max_retries=2, temperature=0.7)


def test_completion_and_ledger(backend):
    out = backend.complete([{"role": "user", "content": "Reply with the single word: ok"}], 1, max_tokens=16)
    assert out and isinstance(out[0].text, str)
    assert backend.ledger.totals()["successful_requests"] >= 1


def test_reward_program_from_the_llm_goes_through_the_pipeline(backend):
    from pbrl.sandbox.check import check_program
    from pbrl.synthesis.extraction import extract_program
    from pbrl.synthesis.jobs import ProbeJob, run_probe_job
    from pbrl.synthesis.prompts import PromptBuilder

    card = pbrl.envs.cards()["pbrl/Reacher-v5"]
    messages = PromptBuilder(card, "code").initial_messages()
    answers = backend.complete(messages, 2, max_tokens=1500)
    outcomes = []
    for answer in answers:
        try:
            program = extract_program(answer.text).source
            check_program(program)
        except SynthesisFailure as exc:
            outcomes.append(exc.kind)
            continue
        result = run_probe_job(ProbeJob("llm", card.id, program, steps=16, num_envs=4))
        outcomes.append("ok" if result.ok else result.failure["kind"])
    assert len(outcomes) == 2  # every answer ends in "ok" or a named failure


def test_llm_teacher_answers(backend):
    from pbrl.preferences.segments import SegmentBatch
    from pbrl.teachers.llm import LLMTeacher

    card = pbrl.envs.cards()["pbrl/HalfCheetah-v5"]
    h = 10

    def seg(speed):
        return SegmentBatch(np.zeros((1, h, 17)), np.zeros((1, h, 6)), np.zeros((1, h)),
                            extras={"x_velocity": np.full((1, h), speed), "x_position": np.linspace(0, speed, h)[None]})

    labels = LLMTeacher(backend, card).label(seg(0.1), seg(3.0))
    assert labels.skipped[0] or labels.values[0] in (0.0, 0.5, 1.0)
