"""``pbrl train`` / ``pbrl evaluate``: clear errors before any work, the run folder, TensorBoard, checkpoints."""

from __future__ import annotations

import glob
import json
import os
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.main import app

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output  # stdout and stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "pbrl/HalfCheeta-v5"], "unknown env 'pbrl/HalfCheeta-v5' (did you mean 'pbrl/HalfCheetah-v5'?); registered pbrl tasks:"),
        (["--env", "HalfCheetah-v5"], "registered pbrl tasks: "),
        (["--env", "pbrl/Hopper-v5", "--agent", "dqn"], "unknown agent 'dqn'; online agents: ppo, sac"),
        (["--env", "pbrl/Hopper-v5", "--hp", "learning_rat=1e-3"], "unknown hyperparameter 'learning_rat' for ppo (did you mean 'learning_rate'?); valid keys:"),
        (["--env", "pbrl/Hopper-v5", "--agent", "sac", "--hp", "n_epochs=3"], "unknown hyperparameter 'n_epochs' for sac"),
        (["--env", "pbrl/Hopper-v5", "--hp", "batch_size=big"], "'batch_size' for ppo must be an integer, got 'big'"),
        (["--env", "pbrl/Hopper-v5", "--hp", "gamma"], "must look like key=value"),
        (["--env", "pbrl/Hopper-v5", "--reward", "learned"], "reward 'learned' needs a teacher"),
        (["--env", "pbrl/Hopper-v5", "--reward", "lerned"], "unknown reward 'lerned'"),
        (["--env", "pbrl/Hopper-v5", "--reward", "program:/no/such/file.py"], "no such file"),
        (["--env", "pbrl/Hopper-v5", "--steps", "0"], "steps must be an integer >= 1"),
        (["--env", "pbrl/Hopper-v5", "--name", "a/b"], "run name 'a/b'"),
        (["--env", "pbrl/Hopper-v5", "--device", "cuda"], "CUDA is not available"),
        (["--env", "pbrl/Hopper-v5", "--device", "tpu"], "use auto, cpu, cuda or cuda:N"),
        (["--env", "pbrl/Hopper-v5", "--env-kwargs", "ctrl_cost_wieght=1"], "unknown keyword argument(s) ['ctrl_cost_wieght']"),
        (["--agent", "ppo"], "--env is required"),
        (["--resume", "/no/such/run"], "not a pbrl run folder"),
    ],
)
def test_bad_input_fails_clearly_before_any_work(tmp_path, args, message):
    code, out = _run("train", "--runs-dir", str(tmp_path / "runs"), "--quiet", *args)
    assert code == 2, out
    assert "error:" in out and printed(message, out), out
    assert "Traceback" not in out
    assert not os.path.exists(tmp_path / "runs")  # nothing was created


def test_train_then_evaluate_from_the_cli(tmp_path):
    runs = str(tmp_path / "runs")
    code, out = _run("train", "--env", "pbrl/Hopper-v5", "--agent", "ppo", "--steps", "2048", "--num-envs", "8",
                     "--hp", "n_steps=128", "--hp", "net_arch=[32, 32]", "--eval-episodes", "3", "--eval-freq", "1024",
                     "--runs-dir", runs, "--name", "cli", "--seed", "3")
    assert code == 0, out
    run = os.path.join(runs, "pbrl_Hopper-v5", "ppo", "cli-s3")
    assert out.strip().splitlines()[-1] == run  # the run folder is printed at the end
    # not a terminal: progress as whole lines (one per tenth of the run), with the latest returns, never cut
    progress = [line for line in out.splitlines() if line.startswith("training ")]
    assert 2 <= len(progress) <= 12 and progress[-1].startswith("training 2,048/2,048 (100%)")
    assert "eval return" in progress[-1] and "left" in progress[-1]
    for name in ("config.json", "metrics.jsonl", "summary.json", "checkpoints/latest.json"):
        assert os.path.exists(os.path.join(run, name)), name
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["config"]["num_envs"] == 8 and config["hyperparams"]["net_arch"] == [32, 32]
    assert config["hyperparams"]["n_steps"] == 128 and config["task_card"]["id"] == "pbrl/Hopper-v5"
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert summary["status"] == "complete" and summary["num_timesteps"] == 2048

    # TensorBoard: the design's tags at env-step x positions, and the HPARAMS summary
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(run)
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in ("eval/return", "eval/normalized_score", "time/fps", "train/value_loss"):
        assert tag in scalars, (tag, scalars)
    assert [e.step for e in events.Scalars("eval/return")] == [1024, 2048]
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins

    # the same run folder cannot be started twice
    code, out = _run("train", "--env", "pbrl/Hopper-v5", "--steps", "2048", "--runs-dir", runs, "--name", "cli", "--seed", "3", "--quiet")
    assert code == 2 and printed("already exists", out) and "--resume" in out

    evaluated = runner.invoke(app, ["evaluate", run, "--episodes", "4", "--seed", "11", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout)  # stdout is the JSON alone; what is going on goes to stderr
    assert evaluated.stderr.startswith(f"evaluating {run}: 4 episode(s)")
    assert "\nevaluation steps: 0/1,000, 0/4 episodes ended\n" in evaluated.stderr  # then how far it is, as it goes
    assert result["episodes"] == 4 and result["seed"] == 11 and result["num_timesteps"] == 2048
    assert len(glob.glob(os.path.join(run, "evaluations", "*.json"))) == 1

    # resuming the finished run says it is finished (no crash, nothing trained or rewritten)
    with open(os.path.join(run, "summary.json")) as f:
        summary = f.read()
    code, out = _run("train", "--resume", run)
    assert code == 0 and printed(f"{run} is finished: it ran 2,048 of its 2,048 steps", out) and "--steps" in out, out
    assert "Traceback" not in out
    with open(os.path.join(run, "summary.json")) as f:
        assert f.read() == summary


class _Payload:
    """Unpickling this would create a marker file: it must never happen."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_refuse_pickled_or_tampered_files(tmp_path):
    import hashlib

    import torch

    import pbrl  # noqa: F401
    from pbrl.agents import make_agent, resolve
    from pbrl.agents.checkpoint import CheckpointError

    agent = make_agent("ppo", "pbrl/InvertedPendulum-v5", resolve("ppo", "pbrl/InvertedPendulum-v5", {"n_envs": 2}), seed=0)
    folder = agent.save(str(tmp_path / "ckpt"))
    agent.load(folder)  # a genuine checkpoint loads

    # a pickled object in place of the weights, with the manifest "fixed" to match: still refused
    marker = tmp_path / "pwned"
    weights = os.path.join(folder, "weights.pt")
    with open(weights, "wb") as f:
        pickle.dump({"policy": _Payload(str(marker))}, f)
    manifest_path = os.path.join(folder, "manifest.json")
    manifest = json.load(open(manifest_path))
    manifest["sha256"]["weights.pt"] = hashlib.sha256(open(weights, "rb").read()).hexdigest()
    json.dump(manifest, open(manifest_path, "w"))
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        agent.load(folder)
    assert not marker.exists()

    # a modified file without a matching manifest: refused by its hash
    folder = agent.save(str(tmp_path / "ckpt2"))
    state_path = os.path.join(folder, "state.json")
    state = json.load(open(state_path))
    state["num_timesteps"] = 10**9
    json.dump(state, open(state_path, "w"))
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        agent.load(folder)

    # a replay buffer holding pickled objects is refused too (np.load without pickle)
    from pbrl.agents.checkpoint import read_checkpoint, write_checkpoint

    folder = write_checkpoint(str(tmp_path / "ckpt3"), 1, {"x": torch.zeros(1)}, {"a": 1}, {"obs": np.array([_Payload(str(marker))], dtype=object)})
    with pytest.raises(CheckpointError, match="replay_buffer.npz"):
        read_checkpoint(folder)
    assert not marker.exists()
    agent.close()


def test_video_of_an_episode(tmp_path):
    import pbrl  # noqa: F401
    from pbrl.evaluation import record_video

    out = record_video(lambda o: np.zeros((len(o), 6)), "pbrl/HalfCheetah-v5", str(tmp_path / "v.gif"), seed=0, width=64, height=48, max_steps=10)
    assert out["frames"] == 11 and os.path.getsize(out["path"]) > 0
    out = record_video(lambda o: np.zeros((len(o), 6)), "pbrl/HalfCheetah-v5", str(tmp_path / "v.mp4"), seed=0, width=64, height=48, max_steps=10)
    assert os.path.getsize(out["path"]) > 0
    import imageio.v2 as imageio

    frames = imageio.mimread(str(tmp_path / "v.gif"))
    assert len(frames) == 11 and frames[0].shape[:2] == (48, 64)


def test_env_kwargs_and_device_auto_reach_the_run(tmp_path):
    import torch

    runs = str(tmp_path / "runs")
    code, out = _run("train", "--env", "pbrl/Hopper-v5", "--steps", "1024", "--num-envs", "8", "--hp", "n_steps=64",
                     "--hp", "batch_size=64", "--hp", "net_arch=[16]", "--env-kwargs", "ctrl_cost_weight=0.01",
                     "--env-kwargs", "terminate_when_unhealthy=false", "--device", "auto", "--runs-dir", runs, "--name", "kw", "--quiet")
    assert code == 0, out
    with open(os.path.join(runs, "pbrl_Hopper-v5", "ppo", "kw-s0", "config.json")) as f:
        config = json.load(f)["config"]
    assert config["env_kwargs"] == {"ctrl_cost_weight": 0.01, "terminate_when_unhealthy": False}
    assert config["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # as SB3's "auto"


def test_version_completion_and_python_dash_m():
    import subprocess
    import sys

    import pbrl

    code, out = _run("--version")
    assert code == 0 and out.strip() == f"pbrl {pbrl.__version__}"
    code, out = _run("--help")
    assert code == 0 and "--install-completion" in out and "--version" in out
    done = subprocess.run([sys.executable, "-m", "pbrl", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"pbrl {pbrl.__version__}", done.stderr


def test_default_run_names_say_what_the_run_is_and_stay_unique(tmp_path):
    from pbrl.runs.config import TrainConfig
    from pbrl.runs.train import prepare

    runs = str(tmp_path / "runs")
    tiny = {"n_envs": 8, "n_steps": 64, "batch_size": 64, "net_arch": [16]}
    _, path = prepare(TrainConfig(env="pbrl/Hopper-v5", steps=512, hp=tiny, runs_dir=runs))
    assert path.endswith(os.path.join("pbrl_Hopper-v5", "ppo", "ppo-true-s0"))
    _, path = prepare(TrainConfig(env="pbrl/Hopper-v5", steps=512, hp=tiny, runs_dir=runs, seed=2, reward="learned",
                                  teacher="noisy", feedback=30))
    assert path.endswith(os.path.join("ppo", "prefppo-learned-noisy-30-s2"))
    code, out = _run("train", "--env", "pbrl/Hopper-v5", "--steps", "512", "--num-envs", "8", "--hp", "n_steps=64",
                     "--hp", "batch_size=64", "--hp", "net_arch=[16]", "--runs-dir", runs, "--quiet")
    assert code == 0, out
    _, path = prepare(TrainConfig(env="pbrl/Hopper-v5", steps=512, hp=tiny, runs_dir=runs))
    assert path.endswith(os.path.join("ppo", "ppo-true-2-s0"))  # the first name is taken now
    from pbrl.runs.config import algorithm_of  # HPARAMS' agent column: the algorithm trained

    assert [algorithm_of("ppo"), algorithm_of("ppo", {"algorithm": "PrefPPO"}), algorithm_of("piql")] == ["PPO", "PrefPPO", "P-IQL"]
    learned = TrainConfig(env="pbrl/Hopper-v5", agent="sac", reward="learned", teacher="oracle", feedback=30).resolve()
    assert algorithm_of("sac", learned["reward"]) == "PEBBLE"  # the reward table's name, as papers write it
    surf = TrainConfig(env="pbrl/Hopper-v5", agent="sac", reward="learned", teacher="oracle", feedback=30,
                       pref={"method": "surf"}).resolve()
    rime_ppo = TrainConfig(env="pbrl/Hopper-v5", agent="ppo", reward="learned", teacher="oracle", feedback=30,
                           pref={"method": "rime"}).resolve()
    assert [algorithm_of("sac", surf["reward"]), algorithm_of("ppo", rime_ppo["reward"])] == ["SURF", "PrefPPO-RIME"]
