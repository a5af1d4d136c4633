"""pbrl/Humanoid-v5 and pbrl/HumanoidStandup-v5 against Gymnasium's v5 classes,
contact forces, cinert, cvel and actuator forces included; their cards and options."""

import gymnasium as gym
import numpy as np
import pytest
from pbrl.envs.registry import make_task
from pbrl.envs.tasks._humanoid import observation_labels
from test_parity import _compare_single_info, _same_scalar, run_pair

import pbrl  # noqa: F401

IDS = [("pbrl/Humanoid-v5", "Humanoid-v5"), ("pbrl/HumanoidStandup-v5", "HumanoidStandup-v5")]
CONTACT_TERM = {"pbrl/Humanoid-v5": "contact", "pbrl/HumanoidStandup-v5": "impact"}


def own_run(task_id, kwargs=None, num_envs=3, steps=200, limit=100, seed=7):
    """pbrl alone, with run_pair's seeds and actions: what the comparison went through."""
    env = gym.make_vec(task_id, num_envs=num_envs, max_episode_steps=limit, **(kwargs or {}))
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.single_action_space.low, env.single_action_space.high
    stats = {"terminated": 0, "contact_steps": 0, "unhealthy": 0}
    for _ in range(steps):
        a = rng.uniform(low, high, size=(num_envs, low.size)).astype(np.float32)
        obs, reward, te, _tr, info = env.step(a)
        stats["terminated"] += int(te.sum())
        if "reward_terms" not in info:  # every sub-env reset at this step: only reset info
            continue
        stepped = info["_reward_terms"]
        stats["contact_steps"] += int((info["reward_terms"][CONTACT_TERM[task_id]][stepped] != 0).any())
        if "is_healthy" in info:
            stats["unhealthy"] += int((~info["is_healthy"] & info["_is_healthy"]).sum())
        total = sum(info["reward_terms"].values())
        np.testing.assert_allclose(total[stepped], reward[stepped], atol=1e-9)
    env.close()
    return stats, obs


def test_humanoid_parity_default():
    stats = {}
    ends = run_pair("pbrl/Humanoid-v5", "Humanoid-v5", num_envs=3, steps=200, limit=100, check_info=True, stats=stats)
    assert ends >= 3 and stats["terminated"] >= 3, stats
    own, obs = own_run("pbrl/Humanoid-v5")
    assert own["terminated"] == stats["terminated"]
    assert own["contact_steps"] >= 10, f"contact forces should be non-zero on some steps: {own}"
    assert obs.shape == (3, 348)


def test_standup_parity_default():
    stats = {}
    ends = run_pair(
        "pbrl/HumanoidStandup-v5", "HumanoidStandup-v5", num_envs=2, steps=90, limit=40, check_info=True, stats=stats
    )
    assert ends >= 2 and stats["terminated"] == 0
    own, obs = own_run("pbrl/HumanoidStandup-v5", num_envs=2, steps=90, limit=40)
    assert own["contact_steps"] >= 80, "the lying humanoid touches the floor on nearly every step"
    assert (obs[:, 270:] != 0).any()


KWARG_CASES = [
    pytest.param(
        "pbrl/Humanoid-v5",
        {"include_cfrc_ext_in_observation": False, "exclude_current_positions_from_observation": False},
        350 - 78, id="humanoid-no-cfrc-obs-with-xy",
    ),
    pytest.param(
        "pbrl/Humanoid-v5",
        {
            "terminate_when_unhealthy": False, "healthy_z_range": (1.2, 1.5), "healthy_reward": 2.0,
            "forward_reward_weight": 2.0, "ctrl_cost_weight": 0.05, "contact_cost_weight": 1e-5,
            "contact_cost_range": (-1.0, 0.5), "reset_noise_scale": 0.05,
        },
        348, id="humanoid-no-termination",
    ),
    pytest.param(
        "pbrl/Humanoid-v5",
        {
            "include_cinert_in_observation": False, "include_cvel_in_observation": False,
            "include_qfrc_actuator_in_observation": False, "include_cfrc_ext_in_observation": False,
            "contact_cost_weight": 0.0, "frame_skip": 3, "default_camera_config": {"distance": 3.0},
        },
        45, id="humanoid-lean",
    ),
    pytest.param(
        "pbrl/Humanoid-v5",
        {"healthy_reward": 5, "forward_reward_weight": 2, "ctrl_cost_weight": np.float32(0.1),
         "contact_cost_weight": np.float64(1e-6)},
        348, id="humanoid-int-and-numpy-weights",
    ),
    pytest.param(
        "pbrl/HumanoidStandup-v5",
        {"ctrl_cost_weight": 1, "impact_cost_weight": np.float32(1e-6), "uph_cost_weight": 3},
        348, id="standup-int-and-numpy-weights",
    ),
    pytest.param(
        "pbrl/HumanoidStandup-v5",
        {
            "include_cfrc_ext_in_observation": False, "exclude_current_positions_from_observation": False,
            "impact_cost_weight": 1e-5, "impact_cost_range": (-1.0, 2.0), "ctrl_cost_weight": 0.2,
            "uph_cost_weight": 2.0, "reset_noise_scale": 0.1, "include_cvel_in_observation": False,
        },
        350 - 78 - 78, id="standup-options",
    ),
]


@pytest.mark.parametrize("pbrl_id,kwargs,obs_dim", KWARG_CASES)
def test_parity_with_kwargs(request, pbrl_id, kwargs, obs_dim):
    gym_id = pbrl_id.split("/")[1]
    stats = {}
    steps, limit = (150, 60) if "Standup" not in pbrl_id else (60, 25)
    # float64 actions for the weight-type cases (Gymnasium's control cost reads MjData.ctrl either way)
    dtype = np.float64 if "weights" in request.node.callspec.id else np.float32
    ends = run_pair(
        pbrl_id, gym_id, num_envs=2, steps=steps, limit=limit, seed=3, kwargs=kwargs, check_info=True, stats=stats,
        action_dtype=dtype,
    )
    assert ends >= 2, "the comparison should cross episode resets"
    own, obs = own_run(pbrl_id, kwargs, num_envs=2, steps=steps, limit=limit, seed=3)
    assert obs.shape == (2, obs_dim)
    if kwargs.get("terminate_when_unhealthy") is False:
        assert stats["terminated"] == 0 and own["unhealthy"] > 0, own
    if kwargs.get("include_cfrc_ext_in_observation") is False and kwargs.get("contact_cost_weight", 1) != 0:
        assert own["contact_steps"] > 0, "the contact cost still counts when the forces are not observed"


@pytest.mark.parametrize(
    "pbrl_id,gym_id,kwargs",
    [
        ("pbrl/Humanoid-v5", "Humanoid-v5", {"healthy_reward": 5, "ctrl_cost_weight": np.float32(0.1)}),
        ("pbrl/HumanoidStandup-v5", "HumanoidStandup-v5", {"ctrl_cost_weight": 1, "impact_cost_weight": np.float32(1e-6)}),
    ],
)
def test_single_env_exact_with_int_and_numpy_weights(pbrl_id, gym_id, kwargs):
    """gym.make with weights whose types enter Gymnasium's arithmetic (an int healthy_reward
    makes reward_survive an int64): same bits and scalar types, float32 and float64 actions."""
    ours, theirs = gym.make(pbrl_id, **kwargs), gym.make(gym_id, **kwargs)
    o1, i1 = ours.reset(seed=4)
    o2, i2 = theirs.reset(seed=4)
    np.testing.assert_array_equal(o1, o2)
    _compare_single_info(i1, i2, "at reset", pbrl_id)
    rng = np.random.default_rng(0)
    ends, survive_types = 0, set()
    for t in range(60):
        a = rng.uniform(-0.4, 0.4, 17).astype(np.float64 if t % 2 else np.float32)
        o1, r1, te1, tr1, i1 = ours.step(a)
        o2, r2, te2, tr2, i2 = theirs.step(a)
        np.testing.assert_array_equal(o1, o2, err_msg=f"obs at step {t}")
        _same_scalar(r1, r2, f"reward at step {t}")
        assert te1 == te2 and tr1 == tr2, f"step {t}"
        _compare_single_info(i1, i2, f"at step {t}", pbrl_id)
        survive_types.add(type(i1.get("reward_survive")))
        if te1 or tr1:
            ends += 1
            o1, i1 = ours.reset(seed=t)
            o2, i2 = theirs.reset(seed=t)
            np.testing.assert_array_equal(o1, o2, err_msg=f"reset after step {t}")
            _compare_single_info(i1, i2, f"at reset after step {t}", pbrl_id)
    if pbrl_id == "pbrl/Humanoid-v5":
        assert ends >= 1 and survive_types == {np.int64}  # bool * int healthy_reward, as Gymnasium's
    ours.close()
    theirs.close()


@pytest.mark.parametrize("pbrl_id,gym_id", IDS)
def test_card_matches_env(pbrl_id, gym_id):
    envs = gym.make_vec(pbrl_id, num_envs=2)
    card = envs.unwrapped.card if hasattr(envs, "unwrapped") else envs.card
    reference = gym.make(gym_id)
    assert card.max_episode_steps == reference.spec.max_episode_steps == 1000
    assert card.obs_dim == envs.single_observation_space.shape[0] == reference.observation_space.shape[0] == 348
    assert envs.single_action_space == reference.action_space
    assert card.ref_min_return < card.ref_max_return
    # the labels follow Gymnasium's observation_structure
    structure = reference.unwrapped.observation_structure
    labels = card.observation_labels
    start = 0
    for part, prefix in [("qpos", "torso_z"), ("qvel", "torso_vx"), ("cinert", "torso_cinert_ixx"),
                         ("cvel", "torso_cvel_wx"), ("qfrc_actuator", "abdomen_z_actuator_force"),
                         ("cfrc_ext", "torso_cfrc_torque_x")]:
        assert labels[start] == prefix, part
        start += structure[part]
    assert start == len(labels) and len(set(labels)) == len(labels)
    envs.reset(seed=0)
    _, reward, _, _, info = envs.step(np.zeros(envs.action_space.shape, np.float32))
    assert set(info["reward_terms"]) == set(card.term_names)
    np.testing.assert_allclose(sum(info["reward_terms"].values()), reward, atol=1e-9)
    assert set(card.quantities) <= set(info)
    for key in card.quantities:
        assert info[key].shape == (2,), key
    assert "success" not in info and card.success is None
    envs.close()
    reference.close()


def test_labels_follow_options():
    for flags in [(False, True, False, True, False), (True, False, True, False, True)]:
        exclude, cinert, cvel, qfrc, cfrc = flags
        task = make_task(
            "pbrl/Humanoid-v5", exclude_current_positions_from_observation=exclude,
            include_cinert_in_observation=cinert, include_cvel_in_observation=cvel,
            include_qfrc_actuator_in_observation=qfrc, include_cfrc_ext_in_observation=cfrc,
        )
        assert task.observation_dim == len(observation_labels(*flags))


def test_contact_loop_only_when_needed():
    assert make_task("pbrl/Humanoid-v5").needs_cfrc_ext
    assert make_task("pbrl/Humanoid-v5", include_cfrc_ext_in_observation=False).needs_cfrc_ext
    assert not make_task("pbrl/Humanoid-v5", include_cfrc_ext_in_observation=False, contact_cost_weight=0).needs_cfrc_ext
    assert not make_task(
        "pbrl/HumanoidStandup-v5", include_cfrc_ext_in_observation=False, impact_cost_weight=0.0
    ).needs_cfrc_ext
    env = gym.make_vec("pbrl/Humanoid-v5", num_envs=2, include_cfrc_ext_in_observation=False, contact_cost_weight=0.0)
    assert not env.engine.batch.persistent
    env.close()


@pytest.mark.parametrize(
    "pbrl_id,kwargs,error,words",
    [
        ("pbrl/Humanoid-v5", {"contact_cost_wieght": 1.0}, TypeError, ["contact_cost_wieght", "contact_cost_weight"]),
        ("pbrl/HumanoidStandup-v5", {"healthy_reward": 1.0}, TypeError, ["healthy_reward", "impact_cost_weight"]),
        ("pbrl/Humanoid-v5", {"healthy_z_range": (2.0, 1.0)}, ValueError, ["healthy_z_range"]),
        ("pbrl/Humanoid-v5", {"contact_cost_range": "wide"}, ValueError, ["contact_cost_range"]),
        ("pbrl/HumanoidStandup-v5", {"impact_cost_range": (1.0, float("nan"))}, ValueError, ["impact_cost_range"]),
        ("pbrl/HumanoidStandup-v5", {"uph_cost_weight": "1"}, ValueError, ["uph_cost_weight"]),
        ("pbrl/Humanoid-v5", {"include_cvel_in_observation": "no"}, ValueError, ["include_cvel_in_observation"]),
        ("pbrl/Humanoid-v5", {"reset_noise_scale": -1.0}, ValueError, ["reset_noise_scale"]),
        ("pbrl/HumanoidStandup-v5", {"xml_file": "no_such_humanoid.xml"}, ValueError, ["no_such_humanoid.xml"]),
        ("pbrl/Humanoid-v5", {"xml_file": "hopper.xml"}, ValueError, ["hopper.xml", "free joint"]),
    ],
)
@pytest.mark.parametrize("maker", ["make_vec", "make"])
def test_bad_kwargs(pbrl_id, kwargs, error, words, maker):
    with pytest.raises(error) as info:
        if maker == "make_vec":
            gym.make_vec(pbrl_id, num_envs=2, **kwargs)
        else:
            gym.make(pbrl_id, **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
