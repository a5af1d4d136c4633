"""benchmarks/pbrl_online.py's ICPL row: reward synthesis with preferences (and with fitness) next to
PPO on the true reward, normalised and compared like the PrefPPO rows.

The smoke test runs the icpl-quick profile for real (PPO, the sandboxed synthesis with the offline
proposer, the oracle teacher, SQLite); its budgets are tiny, so it checks the bookkeeping — rows,
labels, normalisation, comparisons, the proposer said plainly, reuse of finished runs — not which
reward is better. The offline proposer is a search procedure, never reported as an LLM.
"""

import json
import os

import pytest

from repo_support import load_benchmark

ICPL, EUREKA, TRUE = "ICPL (offline proposer) oracle", "Eureka (offline proposer)", "PPO (true reward)"


def test_icpl_quick_profile_rows_labels_normalisation_and_comparisons(tmp_path):
    bench = load_benchmark("pbrl_online")
    out, root = tmp_path / "icpl.json", tmp_path / "root"
    argv = ["--profile", "icpl-quick", "--workers", "2", "--reps", "200", "--root", str(root), "--json", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert not report["failed"] and len(report["results"]) == 3  # PPO on the true reward, ICPL (oracle), Eureka-style
    rows = {bench.config_name(bench.config_key(r)): r for r in report["results"]}
    assert set(rows) == {TRUE, ICPL, EUREKA}
    stats = report["statistics"]

    # normalised against PPO on the true reward for the same env steps, as the PrefPPO rows are
    true, icpl, random = rows[TRUE], rows[ICPL], report["random_returns"]["Hopper"]
    assert true["steps"] == icpl["steps"] == rows[EUREKA]["steps"] == bench.PROFILES["icpl-quick"]["steps"]["ppo"]
    assert stats[TRUE]["iqm"][0] == pytest.approx(100.0)
    expected = 100 * (icpl["return_mean"] - random) / (true["return_mean"] - random)
    assert stats[ICPL]["iqm"][0] == pytest.approx(expected) and stats[ICPL]["mean_return"]["Hopper"] == pytest.approx(icpl["return_mean"])

    # ICPL's labels are the teacher's answers, as in the run's preference store; Eureka asks no one
    with_store = os.path.join(icpl["run_dir"], "preferences.sqlite")
    from pbrl.preferences import PreferenceStore

    with PreferenceStore(with_store, create=False) as store:
        stored = len(store.labelled_pairs().labels)
    search = bench.PROFILES["icpl-quick"]["synthesis"]
    assert icpl["labels"] == stored == search["comparisons"]  # 2 candidates: one pair of them, `comparisons` segment pairs
    assert stats[ICPL]["labels_mean"] == stored and stats[EUREKA]["labels_mean"] is None
    assert icpl["final_seeds"] == 1 and icpl["candidates"] == search["samples"] * search["iterations"]
    assert icpl["preferred"][0] is not None and rows[EUREKA]["preferred"] == [None]

    # the comparisons: each synthesized reward vs PPO on the true reward, ICPL vs the Eureka-style search
    pairs = {(c["x"], c["y"]) for c in report["comparisons"]}
    assert pairs == {(ICPL, TRUE), (EUREKA, TRUE), (ICPL, EUREKA)}
    assert all("interval_method" in c and c["claim"] for c in report["comparisons"])

    # the proposer is said plainly: a search procedure, not an LLM
    table = (tmp_path / "icpl.md").read_text()
    assert "not an LLM" in table and "one final seed per synthesis seed" in table
    assert all("not an LLM" in rows[n]["proposer"] for n in (ICPL, EUREKA))
    summary = json.load(open(os.path.join(icpl["run_dir"], "summary.json")))
    assert summary["feedback"] == "preferences" and summary["teacher"] == "oracle" and summary["proposer"] == "offline-search"

    # a second invocation on the same root reuses every finished run, the syntheses included
    report_again = tmp_path / "again.json"
    assert bench.main(argv[:-1] + [str(report_again)]) == 0
    again = {bench.config_name(bench.config_key(r)): r for r in json.loads(report_again.read_text())["results"]}
    assert {n: r["return_mean"] for n, r in again.items()} == {n: r["return_mean"] for n, r in rows.items()}


def test_icpl_claims_profile_seeds_estimate_and_existing_names(tmp_path, capsys):
    """The icpl profile: ≥ 5 seeds, jobs as the estimate counts them, about an hour on 2 cores (no runs);
    and the names and comparisons of the existing rows unchanged by the synthesis rows."""
    bench = load_benchmark("pbrl_online")
    spec = bench.PROFILES["icpl"]
    assert spec["seeds"] >= 5
    jobs = bench.make_jobs(spec, 1, spec["agents"], str(tmp_path / "runs"))
    assert [(j["reward"], j["method"]) for j in jobs] == [("true", "none"), ("synthesized", "icpl"), ("synthesized", "eureka")]
    assert bench.main(["--profile", "icpl", "--estimate", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    estimate = json.loads(out[out.index("{") :])
    assert estimate["runs"] == len(jobs) * spec["seeds"] and 0.5 <= estimate["wall_clock_hours"] <= 1.5
    assert estimate["per_run_hours"]["ppo/icpl/oracle"] > estimate["per_run_hours"]["ppo/true"]

    # a synthesis job's id carries its search settings; a PrefPPO row's id is as before
    true = {k: jobs[0].get(k) for k in bench.JOB_FIELDS}
    assert bench.job_id(true) == json.dumps([true[k] for k in bench.JOB_FIELDS])
    assert bench.job_id(jobs[1]) != bench.job_id({**jobs[1], "search": {**jobs[1]["search"], "steps": 1}})
    assert bench.config_name(("ppo", "true", "none", "pairs", "", 0)) == TRUE
    assert bench.config_name(("ppo", "learned", "none", "pairs", "oracle", 200)) == "PrefPPO oracle/200"
    assert bench.config_name(("sac", "learned", "rime", "pairs", "mistake", 100)) == "RIME mistake/100"
    keys = [("ppo", "true", "none", "pairs", "", 0), ("ppo", "learned", "none", "pairs", "oracle", 200),
            ("ppo", "synthesized", "icpl", "pairs", "oracle", 0), ("ppo", "synthesized", "icpl", "pairs", "mistake", 0),
            ("ppo", "synthesized", "eureka", "pairs", "", 0)]  # fmt: skip
    named = {(bench.config_name(x), bench.config_name(y)) for x, y in bench._pairs(keys)}
    assert named == {("PrefPPO oracle/200", TRUE), (ICPL, TRUE), ("ICPL (offline proposer) mistake", TRUE), (EUREKA, TRUE),
                     (ICPL, EUREKA), ("ICPL (offline proposer) mistake", EUREKA), (ICPL, "ICPL (offline proposer) mistake")}  # fmt: skip


def test_methods_dmc_profile_carries_the_task_kwargs(tmp_path):
    """The DeepMind Control half of issue 21's table: cartpole-swingup's runs and its random policy
    both get action repeat 8 (a 125-step episode), and the profile has the issue's methods at 5 seeds."""
    bench = load_benchmark("pbrl_online")
    spec = bench.PROFILES["methods-dmc"]
    assert spec["seeds"] >= 5 and set(spec["methods"]) >= {"none", "surf", "rune", "qpa", "rime"}
    assert spec["teachers"] == ["oracle", "mistake"]
    jobs = bench.make_jobs(spec, 1, spec["agents"], str(tmp_path / "runs"))
    config = bench.job_config(jobs[1])
    assert config.env == "pbrl/dmc-cartpole-swingup-v0" and config.env_kwargs == {"action_repeat": 8}
    assert bench.job_config({**jobs[1], "task_name": "drawer-close"}).env_kwargs == {}
    import gymnasium as gym

    env = gym.make(config.env, **config.env_kwargs)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps, done = steps + 1, terminated or truncated
    env.close()
    assert steps == 125
    assert bench.random_returns(["cartpole-swingup"], episodes=2)["cartpole-swingup"] < 200
