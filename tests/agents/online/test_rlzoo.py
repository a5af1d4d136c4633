"""``pbrl train --hp-file`` reads rl-baselines3-zoo's hyperparameter YAML: its keys, ``normalize``,
``policy_kwargs`` strings (parsed, never evaluated) and ``lin_`` schedules; what pbrl cannot
take is named before any work."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from console_support import printed
from pbrl.agents.online.hyperparams import HyperparameterError
from pbrl.agents.online.rlzoo import convert, read_rlzoo
from pbrl.cli.main import app

# rl-zoo's hyperparams/ppo.yml entry for HalfCheetah (v3), as the zoo writes it
ZOO = """
HalfCheetah-v3:
  normalize: true
  n_envs: 1
  policy: 'MlpPolicy'
  n_timesteps: !!float 1e6
  batch_size: 64
  n_steps: 512
  gamma: 0.98
  learning_rate: 2.0633e-05
  ent_coef: 0.000401762
  clip_range: 0.1
  n_epochs: 20
  gae_lambda: 0.92
  max_grad_norm: 0.8
  vf_coef: 0.58096
  policy_kwargs: "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]))"
Hopper-v3:
  normalize: "{'norm_obs': True, 'norm_reward': False}"
  n_envs: 8
  n_steps: 64
  batch_size: 64
  learning_rate: lin_3e-4
  policy_kwargs: "dict(net_arch=[16])"
Walker2d-v3:
  frame_stack: 4
  env_wrapper: sb3_contrib.common.wrappers.TimeFeatureWrapper
"""


@pytest.fixture
def zoo(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text(ZOO)
    return str(path)


def test_the_zoos_keys_map_onto_pbrls(zoo):
    hp = read_rlzoo(zoo, "ppo", "pbrl/HalfCheetah-v5")  # v3 in the zoo, v5 here: matched by name
    assert hp == {
        "normalize_obs": True, "normalize_reward": True, "n_envs": 1, "n_timesteps": 1_000_000, "batch_size": 64, "n_steps": 512,
        "gamma": 0.98, "learning_rate": 2.0633e-05, "ent_coef": 0.000401762, "clip_range": 0.1, "n_epochs": 20, "gae_lambda": 0.92,
        "max_grad_norm": 0.8, "vf_coef": 0.58096, "log_std_init": -2.0, "ortho_init": False, "activation": "relu", "net_arch": [256, 256],
    }  # fmt: skip
    hopper = read_rlzoo(zoo + ":Hopper-v3", "ppo", "pbrl/Ant-v5")  # FILE:KEY picks a table by name
    assert hopper["normalize_obs"] is True and hopper["normalize_reward"] is False and hopper["learning_rate"] == "lin_0.0003"


@pytest.mark.parametrize(
    "table, message",
    [
        ({"frame_stack": 4, "env_wrapper": "x"}, "no counterpart for 'frame_stack', 'env_wrapper'"),
        ({"policy_kwargs": "dict(net_arch=dict(pi=[64], vf=[256]))"}, "different actor and critic sizes"),
        ({"policy_kwargs": "dict(features_extractor_class=X)"}, "'features_extractor_class' has no pbrl counterpart"),
        ({"policy_kwargs": "dict(activation_fn=nn.GELU)"}, "activation_fn nn.GELU is not one of"),
        ({"policy_kwargs": "[1, 2]"}, "must look like dict(key=value, ...)"),
        ({"normalize": "{'norm_obs': True, 'clip_obs': 5}"}, "normalize must be true/false or a dict of norm_obs/norm_reward"),
        ({"gamma": "high"}, "'gamma' for ppo must be a number"),
    ],
)
def test_what_pbrl_cannot_take_is_named(table, message):
    with pytest.raises(HyperparameterError) as info:
        convert(table, "ppo", "zoo")
    assert printed(message, str(info.value)), str(info.value)


def test_policy_kwargs_are_parsed_never_evaluated(tmp_path):
    marker = tmp_path / "ran"
    hostile = f"dict(log_std_init=__import__('pathlib').Path({str(marker)!r}).touch())"
    with pytest.raises(HyperparameterError, match="is not a plain value"):
        convert({"policy_kwargs": hostile}, "ppo", "zoo")
    assert not marker.exists()


def test_train_takes_the_file_and_hp_wins(zoo, tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, ["train", "--env", "pbrl/Hopper-v5", "--hp-file", zoo, "--hp", "gamma=0.95", "--steps", "1024",
                                      "--runs-dir", runs, "--name", "zoo", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(os.path.join(runs, "pbrl_Hopper-v5", "ppo", "zoo-s0", "config.json")) as f:
        hp = json.load(f)["hyperparams"]
    assert hp["net_arch"] == [16] and hp["n_envs"] == 8 and hp["normalize_reward"] is False  # from the file
    assert hp["lr_schedule"] == "linear" and hp["learning_rate"] == pytest.approx(3e-4)  # the zoo's lin_ schedule
    assert hp["gamma"] == 0.95  # --hp wins over the file
    bad = CliRunner().invoke(app, ["train", "--env", "pbrl/Walker2d-v5", "--hp-file", zoo, "--runs-dir", runs, "--quiet"])
    assert bad.exit_code == 2 and printed("no counterpart for 'frame_stack'", bad.output) and "Traceback" not in bad.output
    assert not os.path.exists(os.path.join(runs, "pbrl_Walker2d-v5"))  # refused before any work
