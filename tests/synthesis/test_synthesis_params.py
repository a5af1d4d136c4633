"""Parametric mode (Language to Rewards): JSON weights validated against the task card."""

import json

import pytest

import pbrl.envs
from pbrl.sandbox.check import check_program
from pbrl.synthesis.errors import InvalidParameters
from pbrl.synthesis.jobs import ProbeJob, run_probe_job
from pbrl.synthesis.search import OfflineProposer
from pbrl.synthesis.params import compile_params, parse_params
from pbrl.synthesis.prompts import PromptBuilder
from pbrl.synthesis.proposers import ProposalRequest

HOPPER = pbrl.envs.cards()["pbrl/Hopper-v5"]


def answer(obj, fence=True):
    text = json.dumps(obj)
    return f"Here are my weights:\n```json\n{text}\n```\nThey favour speed." if fence else f"Weights: {text} -- done"


def test_valid_parameters_compile_to_a_checked_program():
    p = parse_params(answer({"terms": {"forward": 2.0, "healthy": 0.5, "ctrl": 1.0},
                             "targets": [{"quantity": "torso_angle", "kind": "gaussian", "target": 0.0, "scale": 0.2, "weight": 0.3},
                                         {"quantity": "torso_height", "kind": "square", "target": 1.2, "weight": 0.1}]}), HOPPER)
    assert p.terms == {"forward": 2.0, "healthy": 0.5, "ctrl": 1.0}
    assert [t.name for t in p.targets] == ["torso_angle_gaussian", "torso_height_square"]
    program = compile_params(p)
    check_program(program)
    assert "task_terms['forward']" in program and "np.exp" in program


def test_json_without_fence_and_missing_terms_are_zero():
    p = parse_params(answer({"terms": {"forward": 1}}, fence=False), HOPPER)
    assert p.terms == {"forward": 1.0, "healthy": 0.0, "ctrl": 0.0}
    assert "healthy" not in compile_params(p)


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"terms": {"speed": 1.0}}, "unknown reward terms"),
        ({"terms": {"forward": "fast"}}, "must be a number"),
        ({"terms": {"forward": True}}, "must be a number"),
        ({"terms": {"forward": 1e6}}, "[-100, 100]"),
        ({"terms": {"forward": 0.0}}, "every weight is zero"),
        ({"terms": {"forward": 1.0}, "bonus": 2}, "unknown keys"),
        ({"terms": [1, 2]}, "'terms' must be an object"),
        ({"terms": {"forward": 1.0}, "targets": {"quantity": "x_velocity"}}, "'targets' must be a list"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "altitude", "weight": 1}]}, "unknown quantity"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "torso_height", "kind": "cubic"}]}, "kind must be one of"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "torso_height", "kind": "gaussian", "scale": 0}]}, "'scale'"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "torso_height", "weight": 1, "code": "import os"}]}, "unknown keys"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "torso_height"}] * 2}, "given twice"),
        ({"terms": {"forward": 1.0}, "targets": [{"quantity": "torso_height", "kind": "abs", "target": 1}] * 9}, "at most 8"),
        ([1, 2, 3], "holds no JSON object"),
    ],
)
def test_invalid_parameters_are_refused(obj, fragment):
    with pytest.raises(InvalidParameters) as info:
        parse_params(answer(obj), HOPPER)
    assert fragment in info.value.message
    assert info.value.kind == "invalid_params"


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("no json at all", "no JSON object"),
    ('```json\n{"terms": {"forward": NaN}}\n```', "NaN"),
    ('```json\n{"terms": {"forward": 1.0,}}\n```', "not valid JSON"),
    ('{"terms": {"forward": 1.0}', "not closed"),
])
def test_malformed_json(text, fragment):
    with pytest.raises(InvalidParameters, match=fragment):
        parse_params(text, HOPPER)


def test_params_prompt_lists_terms_but_code_prompt_does_not():
    params = PromptBuilder(HOPPER, "params").task()
    code = PromptBuilder(HOPPER, "code").task()
    assert "forward:" in params and "healthy" in params
    for text in (params, code):
        assert "torso_angle" in text and HOPPER.goal in text
    # code mode shows no reward terms or weights of the task (no human reward in the prompt)
    assert "reward_terms" not in code and "ctrl_cost_weight" not in code


def test_offline_params_proposals_are_valid_and_run_in_the_sandbox():
    proposer = OfflineProposer(HOPPER, "params", seed=3)
    props = proposer.propose(ProposalRequest(0, 0, 3, [], "params"))
    assert len(props) == 3 and all(p.origin == "offline-search" for p in props)
    parsed = [parse_params(p.text, HOPPER) for p in props]
    assert parsed[0].terms == {"forward": 1.0, "healthy": 1.0, "ctrl": 1.0}
    program = compile_params(parsed[1])
    check_program(program)
    r = run_probe_job(ProbeJob("params", "pbrl/Hopper-v5", program, "full", seed=0, steps=16, num_envs=4))
    assert r.ok, r.failure
    assert set(r.result["probe"]["terms"]) <= {"forward", "healthy", "ctrl"}
    # the compiled program of all-ones weights is the task's reward: perfect correlation on random play
    r = run_probe_job(ProbeJob("ones", "pbrl/Hopper-v5", compile_params(parsed[0]), "full", seed=0, steps=16, num_envs=4))
    assert r.ok and r.result["correlation"] == pytest.approx(1.0)


def test_few_shot_examples_are_of_other_tasks_and_templates_are_editable(tmp_path):
    import shutil
    from importlib import resources

    from pbrl.synthesis.prompts import PromptBuilder

    reacher = pbrl.envs.cards()["pbrl/Reacher-v5"]
    plain = PromptBuilder(reacher, "code").initial_messages()
    shots = PromptBuilder(reacher, "code", few_shot=2).initial_messages()
    text = shots[1]["content"]
    assert "written for a different task" not in plain[1]["content"]
    assert text.count("written for a different task") == 2                  # Text2Reward's few-shot examples
    assert "(pbrl/Reacher-v5)" not in text                                  # never the task's own example
    # a copy of the templates folder, edited, overrides pbrl's (Text2Reward: prompts a user can change)
    mine = tmp_path / "prompts"
    shutil.copytree(str(resources.files("pbrl.synthesis.templates")), mine)
    (mine / "system.txt").write_text("You write reward code for robots. Reply in Latin.\n")
    edited = PromptBuilder(reacher, "code", templates_dir=str(mine))
    assert edited.initial_messages()[0]["content"].startswith("You write reward code for robots. Reply in Latin.")
    assert edited.initial_messages()[1]["content"] == plain[1]["content"]   # the other templates are pbrl's
