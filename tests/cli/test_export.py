"""``pbrl export RUN --format sb3`` and ``pbrl.load_policy(RUN)``: a run's policy outside pbrl.

Tiny real PPO and SAC runs are trained through the CLI, exported, and loaded by plain
Stable-Baselines3 in a Python that cannot import pbrl; its deterministic actions must equal
``pbrl.load_policy``'s and the agent's own on the same batch of observations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.main import app

runner = CliRunner()
OBS_DIM = 11  # pbrl/Hopper-v5

#: loads the exported files with pbrl blocked, and acts on obs.npy as an SB3 user would
_PLAIN_SB3 = """
import pickle, sys
sys.modules["pbrl"] = None  # any import of pbrl fails
import numpy as np
from stable_baselines3 import PPO, SAC
obs = np.load(sys.argv[1])
out = {}
for name, cls, model, stats in zip(sys.argv[2::4], sys.argv[3::4], sys.argv[4::4], sys.argv[5::4]):
    x = obs
    if stats != "-":
        with open(stats, "rb") as f:
            x = pickle.load(f).normalize_obs(obs)
    out[name] = {"PPO": PPO, "SAC": SAC}[cls].load(model, device="cpu").predict(x, deterministic=True)[0]
np.savez(sys.argv[1] + ".out.npz", **out)
"""


def _cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _train(runs, agent, steps, *hp):
    code, out = _cli("train", "--env", "pbrl/Hopper-v5", "--agent", agent, "--steps", steps, "--runs-dir", runs, "--name", "x",
                     "--seed", 1, "--eval-episodes", 1, "--quiet", *(a for h in hp for a in ("--hp", h)))  # fmt: skip
    assert code == 0, out
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A PPO run (observations and rewards normalised, linear learning rate) and a SAC run (no normalisation)."""
    root = str(tmp_path_factory.mktemp("runs"))
    ppo = _train(root, "ppo", 1024, "n_envs=8", "n_steps=64", "batch_size=128", "n_epochs=2", "net_arch=[32, 32]", "learning_rate=lin_3e-4")
    sac = _train(root, "sac", 300, "n_envs=2", "learning_starts=100", "buffer_size=2000", "batch_size=32", "gradient_steps=1", "net_arch=[32, 32]")
    return {"ppo": ppo, "sac": sac, "root": root}


def test_export_opens_in_plain_sb3_and_acts_as_the_run(runs, tmp_path):
    import pbrl
    from pbrl.runs.train import load_agent

    obs = np.random.default_rng(0).normal(size=(64, OBS_DIM)).astype(np.float32) * 2
    np.save(tmp_path / "obs.npy", obs)
    argv, exported = [], {}
    for algo in ("ppo", "sac"):
        out = tmp_path / algo / "model.zip"
        code, text = _cli("export", runs[algo], "--format", "sb3", "--out", out)
        assert code == 0, text
        assert text.strip().splitlines()[-1] == str(out) and out.is_file()
        stats = tmp_path / algo / "model_vecnormalize.pkl"
        assert stats.is_file() == (algo == "ppo")  # PPO normalises observations, SAC (by default) not
        assert not [f for f in os.listdir(out.parent) if f.endswith(".tmp")]
        argv += [algo, algo.upper(), str(out), str(stats) if algo == "ppo" else "-"]
        exported[algo] = out
    done = subprocess.run([sys.executable, "-c", _PLAIN_SB3, str(tmp_path / "obs.npy"), *argv], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plain = np.load(str(tmp_path / "obs.npy") + ".out.npz")
    for algo in ("ppo", "sac"):
        policy = pbrl.load_policy(runs[algo])
        agent, _ = load_agent(runs[algo], device="cpu")
        agent.close()
        ours = policy(obs)
        assert ours.shape == (64, 3) and ours.dtype == plain[algo].dtype
        np.testing.assert_allclose(plain[algo], ours, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ours, agent.predict(obs, deterministic=True))
        assert np.ptp(ours, axis=0).max() > 0  # not a constant policy: the comparison means something
        steps = json.load(open(os.path.join(runs[algo], "summary.json")))["num_timesteps"]
        from stable_baselines3 import PPO, SAC

        assert {"ppo": PPO, "sac": SAC}[algo].load(str(exported[algo]), device="cpu").num_timesteps == steps


def test_export_default_path_and_force(runs):
    import pbrl

    code, out = _cli("export", runs["ppo"])
    assert code == 0, out
    model = os.path.join(runs["ppo"], "sb3", "ppo.zip")
    assert out.strip().splitlines()[-1] == model and os.path.isfile(model)
    assert os.path.isfile(os.path.join(runs["ppo"], "sb3", "ppo_vecnormalize.pkl"))
    assert printed("VecNormalize.load(", out)
    # the README's way: the statistics wrap a Gymnasium env of the task (float32 observations, as trained)
    import gymnasium as gym
    from gymnasium.wrappers import DtypeObservation
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize.load(model[: -len(".zip")] + "_vecnormalize.pkl", DummyVecEnv([lambda: DtypeObservation(gym.make("pbrl/Hopper-v5"), np.float32)]))
    venv.training, venv.norm_reward = False, False
    sb3 = PPO.load(model, env=venv, device="cpu")
    obs = venv.reset()
    raw = venv.get_original_obs()
    np.testing.assert_allclose(sb3.predict(obs, deterministic=True)[0], pbrl.load_policy(runs["ppo"])(raw), rtol=0, atol=1e-6)
    venv.close()
    before = os.path.getmtime(model)
    code, out = _cli("export", runs["ppo"])
    assert code == 2 and printed(f"{model} exists; pass --force to overwrite it", out) and "Traceback" not in out
    assert os.path.getmtime(model) == before
    code, out = _cli("export", runs["ppo"], "--force")
    assert code == 0, out


def test_load_policy_on_an_offline_run_and_export_refuses_it(tmp_path):
    import pbrl
    from offline_support import datasets_root, make_hopper_dataset

    with datasets_root(tmp_path / "minari"):
        make_hopper_dataset("pbrl/hopper/export-v0", steps=500)
        code, out = _cli("train", "--agent", "bc", "--dataset", "pbrl/hopper/export-v0", "--steps", 20, "--eval-episodes", 1,
                         "--hp", "hidden_sizes=[32, 32]", "--name", "t", "--runs-dir", tmp_path / "runs", "--quiet")  # fmt: skip
    assert code == 0, out
    run = str(tmp_path / "runs" / "pbrl_Hopper-v5" / "bc" / "t-s0")

    obs = np.zeros((5, OBS_DIM), dtype=np.float32)
    policy = pbrl.load_policy(run)
    np.testing.assert_array_equal(policy(obs), policy.agent.act(obs))
    assert policy(obs).shape == (5, 3)
    code, out = _cli("export", run, "--format", "sb3")
    assert code == 2 and "Traceback" not in out
    assert printed("is an offline run", out) and printed("use pbrl.load_policy(run)", out)
    assert not os.path.exists(os.path.join(run, "sb3"))


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["/no/such/run"], "/no/such/run: no such run folder"),
        ("empty", [], "is not a pbrl run folder (no config.json)"),
        ("no_checkpoint", [], "no checkpoint in"),
        ("run", ["--format", "onnx"], "unknown format 'onnx'; formats: sb3"),
    ],
)
def test_bad_input_fails_clearly(runs, tmp_path, setup, args, message):
    import shutil

    run = tmp_path / "run"
    if setup == "empty":
        run.mkdir()
    elif setup == "no_checkpoint":
        shutil.copytree(runs["sac"], run, ignore=shutil.ignore_patterns("checkpoints", "sb3"))
    elif setup == "run":
        run = runs["sac"]
    target = args[0] if setup is None else run
    code, out = _cli("export", target, *(args[1:] if setup is None else args), "--out", tmp_path / "out.zip")
    assert code == 2, out
    assert "error:" in out and printed(message, out), out
    assert "Traceback" not in out
    assert not [f for f in os.listdir(tmp_path) if f.startswith(("out", ".out"))]  # nothing half-written


def test_import_pbrl_stays_torch_free():
    code = "import sys, pbrl; assert callable(pbrl.load_policy); assert 'torch' not in sys.modules, 'torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import pbrl

        pbrl.nope
