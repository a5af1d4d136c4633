"""The synthesis loop end to end: the offline proposer (through the CLI) and a canned-LLM server.

Budgets are tiny (PPO of 1024 steps on a 32x32 policy): these tests check the machinery —
proposals, checks, sandboxed probes and training, trusted fitness, reflection, regeneration,
persistence, resume, critique, final retraining — not the quality of any reward. Answers of
the canned server are canned text, labelled as such, never an LLM result.
"""

import json
import os

import numpy as np
from typer.testing import CliRunner

from pbrl.cli.main import app
from pbrl.synthesis.loop import SynthesisConfig, Synthesizer
from pbrl.synthesis.search import OfflineProposer, term_library
from pbrl.synthesis.proposers import ProposalRequest
from pbrl.synthesis.reflection import reflect
from pbrl.synthesis.fitness import task_metric

from console_support import printed
from synthesis_server import CannedServer

TINY = ["n_envs=4", "n_steps=64", "batch_size=64", "n_epochs=2", "net_arch=[32,32]"]
TINY_HP = {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "net_arch": [32, 32]}
CANNED = "CANNED answers from a local test server: not an LLM result"


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_offline_loop_end_to_end_through_the_cli(tmp_path):
    args = ["synthesize", "--env", "pbrl/HalfCheetah-v5", "--backend", "offline", "--samples", "2", "--iterations", "2",
            "--steps", "1024", "--final-seeds", "1", "--eval-episodes", "2", "--runs-dir", str(tmp_path), "--name", "e2e",
            "--seed", "1"]
    for hp in TINY:
        args += ["--hp", hp]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "pbrl_HalfCheetah-v5" / "synthesis" / "e2e-s1"
    assert printed("run folder:", result.output) and printed(str(run), result.output)
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == "pbrl.synthesis" and config["proposer"]["origin"] == "offline-search"
    assert config["config"]["samples"] == 2 and config["metric"]["name"] == "progress"
    state = json.loads((run / "state.json").read_text())
    assert state["completed_iterations"] == 2
    cands = {}
    for rec in read_jsonl(run / "candidates.jsonl"):
        cands[rec["id"]] = rec
    done = [c for c in cands.values() if c["status"] == "ok"]
    assert len(done) == 4
    for c in done:
        assert np.isfinite(c["fitness"]) and c["fitness_detail"]["episodes"] == 2
        assert c["origin"] == "offline-search" and c["genes"]
        folder = run / "candidates" / c["id"]
        for name in ("response.txt", "program.py", "probe.json", "train.json", "fitness.json", "reflection.json", "weights.npz"):
            assert (folder / name).is_file(), name
        assert c["layers_reported"]["capabilities_dropped"]
    # the second iteration mutates the best of the first
    assert {c["parent"] for c in done if c["iteration"] == 1} == {state["iterations"][0]["best"]}
    responses = read_jsonl(run / "responses.jsonl")
    assert len(responses) == 4 and all(r["origin"] == "offline-search" for r in responses)
    assert "not a language model" in responses[0]["text"]
    reflection = (run / "reflection" / "it0.txt").read_text()
    assert "Max:" in reflection and "Mean:" in reflection and "fitness" in reflection
    messages = json.loads((run / "messages" / "it1-r0.json").read_text())
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[3]["content"] == reflection
    final = json.loads((run / "final.json").read_text())
    assert final["best"] == state["best"]["id"] and final["seeds"] == [1001]
    for kind in ("synthesized", "task_reward"):
        assert final[kind]["seeds_ok"] == 1 and np.isfinite(final[kind]["fitness_mean"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["proposer"] == "offline-search" and summary["tokens"]["attempts"] == 0
    assert printed("final (1 seeds", result.output)


GOOD_A = """Let me reward running forward.
```python
import numpy as np

def compute_reward(obs, action, next_obs, info):
    run = info["x_velocity"]
    effort = -0.1 * np.sum(np.square(action), axis=1)
    return run + effort, {"run": run, "effort": effort}
```"""
GOOD_B = GOOD_A.replace("0.1 *", "0.05 *")
GOOD_C = GOOD_A.replace("run = info", "run = 2.0 * info")
HOSTILE = "```python\nimport os\n\ndef compute_reward(obs, action, next_obs, info):\n    os.system('id')\n    return info['x_velocity'], {}\n```"
NO_CODE = "I would reward the cheetah for running fast."
NAN = "```python\nimport numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'] / 0.0 * 0.0, {}\n```"


def test_canned_llm_loop_regenerates_resumes_and_takes_a_critique(tmp_path, monkeypatch):
    monkeypatch.setenv("PBRL_CANNED_KEY", "sk-canned")
    script = iter([GOOD_A, HOSTILE, NO_CODE, NAN, GOOD_B, HOSTILE])

    def responder(body):
        return [next(script, GOOD_C)]

    with CannedServer(responder, honour_n=False) as server:
        config = SynthesisConfig(
            task="pbrl/HalfCheetah-v5", backend="openai", model="canned", base_url=server.base_url,
            api_key_env="PBRL_CANNED_KEY", samples=2, iterations=1, steps=1024, final_seeds=0, eval_episodes=2,
            max_regenerations=2, hyperparams=TINY_HP, runs_dir=str(tmp_path), name="canned", label=CANNED,
        )
        lines = []
        result = Synthesizer(config, log=lines.append).run()
        assert lines[0] == f"NOTE: {CANNED}"
        run = result.run_dir
        cands = {c["id"]: c for c in read_jsonl(os.path.join(run, "candidates.jsonl"))}
        kinds = {c["id"]: (c.get("failure") or {}).get("kind") for c in cands.values()}
        # round 0: GOOD_A trains, HOSTILE is refused statically; round 1: NO_CODE; round 2: NAN fails its probe
        assert kinds == {"i0-c00": None, "i0-c01": "disallowed", "i0-c02": "no_code", "i0-c03": "non_finite"}
        assert cands["i0-c00"]["status"] == "ok" and cands["i0-c00"]["model"] == "canned-test-server"
        assert result.best["id"] == "i0-c00"
        # each training job is said as it finishes, counted against the jobs of its phase
        assert [line.split(" trained")[0] for line in lines if line.startswith("  [")] == ["  [1/1] i0-c00"]
        first_requests = len(server.requests)
        assert first_requests == 4  # one per sample: the server ignores n, so the backend asked one at a time

        critique = "The cheetah flips over; reward staying upright too."
        resumed = Synthesizer.resume(run, {"iterations": 2, "critique": critique, "max_regenerations": 0},
                                   log=lines.append).run()
        it1 = [r["body"]["messages"] for r in server.requests[first_requests:]]
        assert len(it1) == 2
        roles = [m["role"] for m in it1[0]]
        assert roles == ["system", "user", "assistant", "user"]
        assert it1[0][2]["content"] == GOOD_A                       # Eureka: the best answer, then its reflection
        feedback = it1[0][3]["content"]
        assert "run: [" in feedback and "Max:" in feedback and critique in feedback
        assert "- disallowed: the static check refused the program" in feedback   # the other samples' errors
        assert "- non_finite:" in feedback
        assert "reward_terms" not in it1[0][1]["content"]           # no human reward in the prompt
    state = json.loads(open(os.path.join(run, "state.json")).read())
    assert state["completed_iterations"] == 2 and state["iterations"][1]["critique"] is True
    assert open(os.path.join(run, "critique", "it1.txt")).read() == critique
    assert resumed.best is not None and resumed.label == CANNED
    assert state["iterations"][1]["trained"] == 1 and state["iterations"][1]["failures"] == {"disallowed": 1}
    ledger = read_jsonl(os.path.join(run, "ledger.jsonl"))
    assert len(ledger) == 6 and all(e["status"] == "ok" and e["prompt_tokens"] > 0 for e in ledger)
    assert resumed.tokens["total_tokens"] == sum(e["prompt_tokens"] + e["completion_tokens"] for e in ledger)
    summary = json.loads(open(os.path.join(run, "summary.json")).read())
    assert summary["label"] == CANNED
    responses = read_jsonl(os.path.join(run, "responses.jsonl"))
    assert [r["text"] for r in responses[:4]] == [GOOD_A, HOSTILE, NO_CODE, NAN]


def test_offline_proposer_follows_the_reflection():
    import pbrl.envs

    card = pbrl.envs.cards()["pbrl/Hopper-v5"]
    assert set(term_library(card)) == {"progress", "alive", "upright", "control"}
    proposer = OfflineProposer(card, seed=0)
    first = proposer.propose(ProposalRequest(0, 0, 3, [], "code"))
    assert len(first) == 3 and first[0].meta["mutations"] == ["the library's default composition"]
    assert len({p.text for p in first}) == 3
    curves = {"program_terms": {"progress": [0.1, 0.5, 1.0], "alive": [1.0, 1.0, 1.0], "upright": [-50.0, -40.0, -30.0],
                                "control": [-0.2, -0.2, -0.2]},
              "task_score": [0.5, 1.0, 2.0], "episode_length": [20, 40, 80]}
    refl = reflect(curves, 3.0, task_metric(card)).to_dict()
    assert refl["terms"]["upright"]["dominant"] and refl["terms"]["control"]["flat"]
    best = {"id": "i0-c00", "genes": first[0].meta["genes"], "reflection": refl}
    child = proposer.propose(ProposalRequest(1, 0, 1, [], "code", best=best))[0]
    notes = " ".join(child.meta["mutations"])
    assert "rescale dominant upright" in notes
    assert child.meta["parent"] == "i0-c00"
    zero = reflect(curves, 0.0, task_metric(card)).to_dict()
    zero["observations"] = ["the task score is near zero"]
    rewrite = proposer.propose(ProposalRequest(2, 0, 1, [], "code", best={"id": "x", "genes": first[0].meta["genes"], "reflection": zero}))[0]
    assert rewrite.meta["mutations"] == ["rewrite: the task score was near zero"]


def test_a_failing_llm_is_recorded_and_the_loop_goes_on(tmp_path, monkeypatch):
    # A huge answer, then a server that only fails: each is recorded, no exception escapes,
    # and nothing reaches the sandbox. Canned answers: not an LLM result.
    from pbrl.llm.backends import OpenAIBackend

    monkeypatch.setenv("PBRL_CANNED_KEY", "sk-canned")
    with CannedServer(lambda body: ["never reached"]) as server:
        server.push({"texts": ["```python\n" + "x = 1\n" * 50_000 + "```"]},
                    *({"status": 500} for _ in range(4)))
        backend = OpenAIBackend("canned", base_url=server.base_url, api_key_env="PBRL_CANNED_KEY", max_retries=1,
                                sleep=lambda seconds: None)
        config = SynthesisConfig(
            task="pbrl/HalfCheetah-v5", backend="openai", model="canned", base_url=server.base_url,
            api_key_env="PBRL_CANNED_KEY", samples=1, iterations=3, steps=1024, final_seeds=1, max_regenerations=0,
            hyperparams=TINY_HP, runs_dir=str(tmp_path), name="failing", label=CANNED,
        )
        result = Synthesizer(config, backend=backend, log=lambda line: None).run()
    run = result.run_dir
    cands = read_jsonl(os.path.join(run, "candidates.jsonl"))
    assert [(c["id"], c["failure"]["kind"]) for c in cands] == [("i0-c00", "too_large")]
    events = read_jsonl(os.path.join(run, "events.jsonl"))
    assert [e["event"] for e in events] == ["proposer_error", "proposer_error"]
    assert all("BackendRetriesExhausted" in e["error"] for e in events)
    state = json.loads(open(os.path.join(run, "state.json")).read())
    assert state["completed_iterations"] == 3 and result.best is None and result.final is None
    statuses = [e["status"] for e in read_jsonl(os.path.join(run, "ledger.jsonl"))]
    assert statuses == ["ok"] + ["server_error"] * 4
