"""ICPL mode of reward synthesis end to end, and the reward-hacking check in the run and its report.

Tiny budgets (PPO of 512 steps on a 32x32 policy, 2 evaluation episodes): these check the machinery —
rollouts recorded by the trusted evaluation, the teacher asked, the preference store, the preferred
candidate handed to the proposer, the held-out scores and flags — not the quality of any reward. The
canned server's answers are canned text, labelled as such, never an LLM result.
"""

import json
import os

import numpy as np

from pbrl.cli.synthesize_cmd import _report
from pbrl.preferences import PreferenceStore
from pbrl.synthesis.loop import SynthesisConfig, Synthesizer
from pbrl.synthesis.search import OfflineProposer

from synthesis_server import CannedServer

TINY_HP = {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "net_arch": [32, 32]}
CANNED = "CANNED answers from a local test server: not an LLM result"


class RecordingProposer(OfflineProposer):
    """The offline proposer, keeping every request it gets."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    def propose(self, request):
        self.requests.append(request)
        return super().propose(request)


def test_icpl_with_the_offline_proposer_and_a_scripted_teacher(tmp_path):
    import pbrl.envs

    card = pbrl.envs.cards()["pbrl/HalfCheetah-v5"]
    proposer = RecordingProposer(card, seed=3)
    # HERON's teacher with the control cost first: it prefers gentle policies, whatever their progress (the fitness)
    config = SynthesisConfig(
        task="pbrl/HalfCheetah-v5", backend="offline", samples=2, iterations=2, steps=512, final_seeds=0, eval_episodes=2,
        hyperparams=TINY_HP, runs_dir=str(tmp_path), name="icpl", seed=3, feedback="preferences", teacher="hierarchical",
        teacher_options={"terms": ["ctrl", "forward"]}, comparisons=3, segment_length=40, hacking_pairs=16,
    )
    result = Synthesizer(config, proposer=proposer, log=lambda line: None).run()
    run = result.run_dir
    tour0 = json.load(open(os.path.join(run, "preferences", "it0.json")))
    tour1 = json.load(open(os.path.join(run, "preferences", "it1.json")))
    # iteration 0: the two candidates compared, 3 segment pairs, every pair answered
    assert tour0["candidates"] == ["i0-c00", "i0-c01"] and tour0["decided_by"] == "preferences"
    comp = tour0["comparisons"][0]
    assert comp["first_wins"] + comp["second_wins"] + comp["ties"] == 3 and comp["unanswered"] == 0
    assert tour0["preferred"] == max(tour0["win_rate"], key=lambda k: tour0["win_rate"][k])
    # the queries and labels are in the run's preference store, with the candidates they compare
    with PreferenceStore(os.path.join(run, "preferences.sqlite"), create=False) as store:
        queries = store.queries()
        data = store.labelled_pairs()
    metas = [json.loads(m) for m in queries["meta"]]
    assert len(metas) == 3 + 3 * 3  # it0: one pair of candidates; it1: two new ones and the incumbent
    assert {tuple(m["candidates"]) for m in metas if m["iteration"] == 0} == {("i0-c00", "i0-c01")}
    assert len(data) == len(metas) and set(data.labelers) == {"hierarchical:" + data.labelers[0].split(":")[1]}
    # the segments shown are the candidates' own rollouts, drawn by the trusted evaluation
    assert data.first.horizon == 40 and set(np.char.partition(data.first.source_id.astype(str), "/")[:, 2]) <= {
        "i0-c00", "i0-c01", "i1-c00", "i1-c01"}
    # the proposer of iteration 1 got the preferred candidate (not the best by fitness) and the outcomes
    it1 = [r for r in proposer.requests if r.iteration == 1]
    assert it1 and all(r.best["id"] == tour0["preferred"] for r in it1)
    assert it1[0].preferences["preferred"] == tour0["preferred"] and it1[0].preferences["win_rate"] == tour0["win_rate"]
    cands = {}
    for line in open(os.path.join(run, "candidates.jsonl")):
        rec = json.loads(line)
        cands[rec["id"]] = rec
    assert {cands[c]["parent"] for c in ("i1-c00", "i1-c01")} == {tour0["preferred"]}
    given = json.load(open(os.path.join(run, "preferences", "it0-proposer.json")))
    assert given["best"] == tour0["preferred"] and tour0["preferred"] in given["feedback_text"]
    # the incumbent competes in iteration 1; the run's best is the last preferred candidate
    assert tour0["preferred"] in tour1["candidates"] and result.best["id"] == tour1["preferred"]
    assert [it["preferred"] for it in result.iterations] == [tour0["preferred"], tour1["preferred"]]
    # the hacking check scored every trained candidate before and after training
    assert set(result.hacking) == {"i0-c00", "i0-c01", "i1-c00", "i1-c01"}
    for rec in result.hacking.values():
        for phase in ("before", "after"):
            assert 0.0 <= rec[phase]["agreement"] <= 1.0 and rec[phase]["pairs"] == 16, rec
        assert rec["flagged"] == (min(rec["before"]["agreement"], rec["after"]["agreement"]) < 0.6)
    assert os.path.isfile(os.path.join(run, "heldout.sqlite"))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run))
    assert os.path.isfile(os.path.join(run, "candidates", "i0-c00", "rollouts.npz"))


FORWARD = """```python
import numpy as np

def compute_reward(obs, action, next_obs, info):
    terms = {"run": info["x_velocity"], "effort": -0.1 * np.sum(action ** 2, axis=1)}
    return terms["run"] + terms["effort"], terms
```"""
# pays for running backwards: fitness (progress) aside, it orders behaviour against the task's own reward
BACKWARD = FORWARD.replace('"run": info["x_velocity"]', '"run": -10.0 * info["x_velocity"]')


def test_icpl_prompt_of_the_llm_proposer_and_a_flagged_candidate_in_the_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PBRL_CANNED_KEY", "sk-canned")
    script = iter([FORWARD, BACKWARD])
    with CannedServer(lambda body: [next(script, FORWARD)], honour_n=False) as server:
        config = SynthesisConfig(
            task="pbrl/HalfCheetah-v5", backend="openai", model="canned", base_url=server.base_url,
            api_key_env="PBRL_CANNED_KEY", samples=2, iterations=2, steps=512, final_seeds=0, eval_episodes=2,
            max_regenerations=0, hyperparams=TINY_HP, runs_dir=str(tmp_path), name="canned", label=CANNED,
            feedback="preferences", teacher="oracle", comparisons=2, hacking_pairs=24,
        )
        lines = []
        result = Synthesizer(config, log=lines.append).run()
        sent = [r["body"]["messages"] for r in server.requests]
    tour0 = json.load(open(os.path.join(result.run_dir, "preferences", "it0.json")))
    preferred = tour0["preferred"]
    # ICPL's prompt: the preferred answer as the assistant turn, then the outcomes and the rejected code
    second_round = sent[2]
    assert [m["role"] for m in second_round] == ["system", "user", "assistant", "user"]
    texts = {"i0-c00": FORWARD, "i0-c01": BACKWARD}
    assert second_round[2]["content"] == texts[preferred]
    feedback = second_round[3]["content"]
    assert "win rates:" in feedback and f"reward function of {preferred}" in feedback
    rejected = tour0["rejected"]
    assert rejected != preferred and texts[rejected].strip() in feedback
    # the reward that pays for running backwards disagrees with the held-out (oracle) labels: flagged, and said so
    back = result.hacking["i0-c01"]
    assert back["flagged"] and back["before"]["agreement"] < 0.5 and back["before"]["rank_correlation"] < 0
    assert result.hacking["i0-c00"]["before"]["agreement"] > 0.6
    assert "i0-c01" in result.iterations[0]["flagged"]
    assert any(line.startswith("  WARNING i0-c01") and "possible reward hacking" in line for line in lines)
    summary = json.load(open(os.path.join(result.run_dir, "summary.json")))
    assert summary["hacking"]["i0-c01"]["flagged"] and summary["warnings"]
    _report(result)
    out = capsys.readouterr().out
    assert "reward-hacking check" in out and "FLAGGED" in out and "WARNING i0-c01" in out and CANNED in out
