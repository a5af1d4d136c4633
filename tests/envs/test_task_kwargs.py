"""Keyword arguments of the built-in tasks: Gymnasium's names and defaults, clear errors."""

import inspect

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.envs import make_task

GYM_CLASSES = {
    "pbrl/HalfCheetah-v5": "HalfCheetah-v5",
    "pbrl/Hopper-v5": "Hopper-v5",
    "pbrl/Walker2d-v5": "Walker2d-v5",
    "pbrl/Swimmer-v5": "Swimmer-v5",
    "pbrl/Reacher-v5": "Reacher-v5",
    "pbrl/InvertedPendulum-v5": "InvertedPendulum-v5",
    "pbrl/Pusher-v5": "Pusher-v5",
    "pbrl/InvertedDoublePendulum-v5": "InvertedDoublePendulum-v5",
    "pbrl/Ant-v5": "Ant-v5",
    "pbrl/Humanoid-v5": "Humanoid-v5",
    "pbrl/HumanoidStandup-v5": "HumanoidStandup-v5",
}
OURS = [
    "pbrl/HalfCheetah-v5", "pbrl/Hopper-v5", "pbrl/Walker2d-v5", "pbrl/Swimmer-v5", "pbrl/Reacher-v5",
    "pbrl/InvertedPendulum-v5", "pbrl/Ant-v5",
    "pbrl/Pusher-v5", "pbrl/InvertedDoublePendulum-v5", "pbrl/Humanoid-v5", "pbrl/HumanoidStandup-v5",
]


def _gym_defaults(gym_id):
    entry = gym.spec(gym_id).entry_point
    module, name = entry.split(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}


@pytest.mark.parametrize("pbrl_id", OURS)
def test_kwargs_are_gymnasiums(pbrl_id):
    params = inspect.signature(type(make_task(pbrl_id))).parameters.values()
    ours = {p.name: p.default for p in params if p.kind is not p.VAR_KEYWORD}
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params), "options are keyword-only"
    theirs = _gym_defaults(GYM_CLASSES[pbrl_id])
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert set(ours[key]) == set(value), key
        else:
            assert np.all(np.asarray(ours[key]) == np.asarray(value)), key


@pytest.mark.parametrize("pbrl_id", OURS)
def test_unknown_kwargs_name_the_accepted_ones(pbrl_id):
    params = inspect.signature(type(make_task(pbrl_id))).parameters.values()
    accepted = sorted(p.name for p in params if p.kind is p.KEYWORD_ONLY)
    with pytest.raises(TypeError) as info:
        make_task(pbrl_id, no_such_option=1)
    assert "['no_such_option']" in str(info.value) and str(accepted) in str(info.value)


BAD = [
    # (id, kwargs, exception, words the message must contain)
    ("pbrl/Hopper-v5", {"ctrl_cost_wieght": 0.1}, TypeError, ["ctrl_cost_wieght", "ctrl_cost_weight"]),
    ("pbrl/Walker2d-v5", {"healthy_state_range": (-1, 1)}, TypeError, ["healthy_state_range"]),
    ("pbrl/Swimmer-v5", {"healthy_reward": 1.0}, TypeError, ["healthy_reward"]),
    ("pbrl/Reacher-v5", {"reset_noise_scale": 0.1}, TypeError, ["reset_noise_scale"]),
    ("pbrl/InvertedPendulum-v5", {"ctrl_cost_weight": 0.1}, TypeError, ["ctrl_cost_weight"]),
    ("pbrl/Hopper-v5", {"ctrl_cost_weight": "high"}, ValueError, ["ctrl_cost_weight", "number"]),
    ("pbrl/Hopper-v5", {"forward_reward_weight": None}, ValueError, ["forward_reward_weight"]),
    ("pbrl/Walker2d-v5", {"healthy_reward": float("nan")}, ValueError, ["healthy_reward", "finite"]),
    ("pbrl/Swimmer-v5", {"ctrl_cost_weight": [1e-4]}, ValueError, ["ctrl_cost_weight"]),
    ("pbrl/Reacher-v5", {"reward_dist_weight": "1"}, ValueError, ["reward_dist_weight"]),
    ("pbrl/Reacher-v5", {"reward_control_weight": True}, ValueError, ["reward_control_weight"]),
    ("pbrl/InvertedPendulum-v5", {"reset_noise_scale": -0.1}, ValueError, ["reset_noise_scale", ">= 0"]),
    ("pbrl/Hopper-v5", {"healthy_z_range": (2.0, 0.7)}, ValueError, ["healthy_z_range", "low <= high"]),
    ("pbrl/Hopper-v5", {"healthy_state_range": (100.0, -100.0)}, ValueError, ["healthy_state_range"]),
    ("pbrl/Hopper-v5", {"healthy_angle_range": 0.2}, ValueError, ["healthy_angle_range", "pair"]),
    ("pbrl/Walker2d-v5", {"healthy_angle_range": (1.0, -1.0)}, ValueError, ["healthy_angle_range"]),
    ("pbrl/Walker2d-v5", {"healthy_z_range": ("low", "high")}, ValueError, ["healthy_z_range"]),
    ("pbrl/Hopper-v5", {"terminate_when_unhealthy": "no"}, ValueError, ["terminate_when_unhealthy"]),
    ("pbrl/Swimmer-v5", {"exclude_current_positions_from_observation": "yes"}, ValueError,
     ["exclude_current_positions_from_observation"]),
    ("pbrl/Walker2d-v5", {"frame_skip": 0}, ValueError, ["frame_skip"]),
    ("pbrl/Reacher-v5", {"xml_file": "no_such_reacher.xml"}, ValueError, ["xml_file", "no_such_reacher.xml"]),
    ("pbrl/InvertedPendulum-v5", {"default_camera_config": 3}, ValueError, ["default_camera_config"]),
    ("pbrl/Pusher-v5", {"reset_noise_scale": 0.1}, TypeError, ["reset_noise_scale", "reward_near_weight"]),
    ("pbrl/Pusher-v5", {"reward_near_weight": "0.5"}, ValueError, ["reward_near_weight", "number"]),
    ("pbrl/InvertedDoublePendulum-v5", {"ctrl_cost_weight": 0.1}, TypeError, ["ctrl_cost_weight", "healthy_reward"]),
    ("pbrl/InvertedDoublePendulum-v5", {"reset_noise_scale": -0.1}, ValueError, ["reset_noise_scale", ">= 0"]),
    ("pbrl/InvertedDoublePendulum-v5", {"healthy_reward": float("inf")}, ValueError, ["healthy_reward", "finite"]),
]


@pytest.mark.parametrize("pbrl_id,kwargs,exc,words", BAD)
@pytest.mark.parametrize("maker", ["make_vec", "make"])
def test_bad_kwargs_raise_clear_errors(pbrl_id, kwargs, exc, words, maker):
    with pytest.raises(exc) as info:
        if maker == "make_vec":
            gym.make_vec(pbrl_id, num_envs=2, **kwargs)
        else:
            gym.make(pbrl_id, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_good_kwargs_are_applied():
    envs = gym.make_vec(
        "pbrl/Hopper-v5", num_envs=2, exclude_current_positions_from_observation=False,
        terminate_when_unhealthy=False, healthy_z_range=[0.5, 2], ctrl_cost_weight=0,
    )
    assert envs.single_observation_space.shape == (12,)
    envs.reset(seed=0)
    _, _, _, _, info = envs.step(np.ones((2, 3), np.float32))
    assert np.all(info["reward_terms"]["ctrl"] == 0.0)
    envs.close()
    swimmer = gym.make_vec("pbrl/Swimmer-v5", num_envs=1, exclude_current_positions_from_observation=False)
    assert swimmer.single_observation_space.shape == (10,)
    swimmer.close()


@pytest.mark.parametrize(
    "pbrl_id, kwargs, expected",
    [
        ("pbrl/Hopper-v5", {"ctrl_cost_weight": 0.01, "healthy_reward": 2.0}, {"ctrl": -0.01, "healthy": 2.0, "forward": 1.0}),
        ("pbrl/Ant-v5", {"contact_cost_weight": 0.0, "forward_reward_weight": 3.0}, {"contact": -0.0, "forward": 3.0, "ctrl": -0.5}),
        ("pbrl/Reacher-v5", {"reward_control_weight": 0.5}, {"ctrl": -0.5, "dist": -1.0}),
        ("pbrl/HumanoidStandup-v5", {"impact_cost_weight": 1e-6}, {"impact": -1e-6, "linup": 1.0, "alive": 1.0}),
    ],
)
def test_the_card_reports_the_reward_weights_in_use(pbrl_id, kwargs, expected):
    default = {t.name: t.weight for t in pbrl.envs.cards()[pbrl_id].reward_terms}
    for env in (gym.make(pbrl_id, **kwargs).unwrapped, gym.make_vec(pbrl_id, num_envs=2, **kwargs)):
        weights = {t.name: t.weight for t in env.card.reward_terms}
        assert weights == {**default, **expected}
        assert env.card.to_dict()["reward_terms"][0]["weight"] == weights[env.card.reward_terms[0].name]
        env.close()
    assert {t.name: t.weight for t in make_task(pbrl_id).card.reward_terms} == default  # defaults untouched
