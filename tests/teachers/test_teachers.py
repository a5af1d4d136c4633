"""Scripted (B-Pref), Boltzmann (imitation) and hierarchical (HERON) teachers."""

import math

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.preferences import LabelError, Labels, Provenance, SegmentBatch, SegmentSampler, SegmentShapeError, TrajectoryBuffer
from pbrl.teachers import (
    PRESETS,
    TEACHERS,
    BoltzmannTeacher,
    HierarchicalTeacher,
    ScriptedTeacher,
    Teacher,
    make_teacher,
    myopic_weights,
    register_teacher,
)


def batch(rewards, terms=None):
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim == 1:
        r = r[None]
    b, h = r.shape
    return SegmentBatch(np.zeros((b, h, 2)), np.zeros((b, h, 1)), r, terms=terms)


def pairs_with_sums(s1, s2, h=10):
    """Pairs whose rewards are spread evenly, with these segment sums."""
    s1, s2 = np.asarray(s1, float), np.asarray(s2, float)
    return batch(np.repeat(s1[:, None] / h, h, 1)), batch(np.repeat(s2[:, None] / h, h, 1))


def test_oracle_and_myopic_weights_by_hand():
    first, second = batch([[1.0, 0.0, 0.0]]), batch([[0.0, 0.0, 0.5]])
    assert ScriptedTeacher().label(first, second).values.tolist() == [0.0]  # 1 > 0.5: first preferred
    np.testing.assert_allclose(myopic_weights(3, 0.5), [0.25, 0.5, 1.0])
    # myopic γ=0.5: R¹ = 0.25·1 = 0.25, R² = 1·0.5 = 0.5 -> second preferred
    assert ScriptedTeacher(gamma=0.5).label(first, second).values.tolist() == [1.0]
    # exact tie with β=∞: B-Pref's 1[R¹ < R²] gives 0
    assert ScriptedTeacher().label(first, first).values.tolist() == [0.0]


def test_skip_threshold_is_eps_times_m_not_eps_squared():
    # m = mean(last 10 returns) · H / max_episode_steps = 100 · 10 / 100 = 10; θ_skip = 0.1 · 10 = 1
    teacher = ScriptedTeacher.from_preset("skip", max_episode_steps=100)
    teacher.set_recent_returns([50.0] * 5 + [100.0] * 10)  # only the last 10 count
    assert teacher.thresholds(10) == pytest.approx((1.0, 0.0))
    first, second = pairs_with_sums([0.5, 1.0, 1.1, -3.0], [0.9, 0.2, 0.0, 2.0])
    labels = teacher.label(first, second)
    # max(Σr¹, Σr²) > θ keeps the query: 0.9 and 1.0 skip (ε²·m = 0.1 would keep both), 1.1 and 2.0 stay
    assert labels.skipped.tolist() == [True, True, False, False]
    assert np.isnan(labels.values[:2]).all() and labels.values[2:].tolist() == [0.0, 1.0]


def test_equal_threshold_and_equal_survives_mistakes():
    teacher = ScriptedTeacher(eps_equal=0.1, eps_mistake=1.0, max_episode_steps=100, seed=0)
    teacher.set_recent_returns([100.0] * 10)  # θ_equal = 1
    first, second = pairs_with_sums([0.0, 0.0, 0.0, 5.0], [0.99, -0.99, 1.0, 3.0])
    labels = teacher.label(first, second)
    # |diff| < 1 -> 0.5 (no mistake applied); others are flipped with ε_mistake = 1
    assert labels.values.tolist() == [0.5, 0.5, 0.0, 1.0]
    assert not labels.skipped.any()


def test_thresholds_need_recent_returns():
    teacher = make_teacher("equal", card=gym.make_vec("pbrl/HalfCheetah-v5", num_envs=1).card)
    assert teacher.max_episode_steps == 1000
    with pytest.raises(ValueError, match="set_recent_returns"):
        teacher.label(*pairs_with_sums([1.0], [2.0]))
    with pytest.raises(ValueError, match="max_episode_steps"):
        ScriptedTeacher(eps_skip=0.1)


def test_mistake_rate_within_binomial_bounds():
    rng = np.random.default_rng(0)
    n = 20000
    s1, s2 = rng.normal(size=n), rng.normal(size=n)
    first, second = pairs_with_sums(s1, s2)
    truth = (s1 < s2).astype(float)
    labels = make_teacher("mistake", seed=1).label(first, second)
    flipped = np.mean(labels.values != truth)
    assert abs(flipped - 0.1) < 4.5 * math.sqrt(0.1 * 0.9 / n)
    # same seed, same labels
    again = make_teacher("mistake", seed=1).label(first, second)
    np.testing.assert_array_equal(labels.values, again.values)


def test_finite_beta_is_bernoulli_with_the_right_mean():
    n = 20000
    first, second = pairs_with_sums(np.zeros(n), np.full(n, 0.5))
    labels = ScriptedTeacher(beta=2.0, seed=0).label(first, second)
    p = 1 / (1 + math.exp(-2.0 * 0.5))  # σ(β(R² − R¹)) = σ(1) ≈ 0.731
    assert set(np.unique(labels.values)) == {0.0, 1.0}
    assert abs(labels.values.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / n)
    noisy = make_teacher("noisy", seed=0)
    assert noisy.beta == 1.0 and noisy.gamma == 1.0


def test_boltzmann_temperature_form():
    first, second = pairs_with_sums([0.0, 0.0, 1.0], [1.0, 0.0, 0.0])
    det = BoltzmannTeacher(temperature=0.0).label(first, second)
    assert det.values.tolist() == [1.0, 0.5, 0.0]  # τ = 0: deterministic, 0.5 on a tie
    n = 20000
    f, s = pairs_with_sums(np.zeros(n), np.full(n, 1.0))
    p = 1 / (1 + math.exp(-1.0 / 0.5))  # σ((R² − R¹)/τ) with τ = 0.5
    mean = BoltzmannTeacher(temperature=0.5, seed=0).label(f, s).values.mean()
    assert abs(mean - p) < 4.5 * math.sqrt(p * (1 - p) / n)
    # imitation's discount weighs the first steps most: γ^0 r_0 + γ^1 r_1
    a, b = batch([[1.0, 0.0]]), batch([[0.0, 1.5]])
    np.testing.assert_allclose(BoltzmannTeacher(0.0, discount=0.5).probabilities(a, b), [0.0])  # 1 vs 0.75
    np.testing.assert_allclose(BoltzmannTeacher(0.0, discount=1.0).probabilities(a, b), [1.0])


def test_presets_and_registry():
    assert set(PRESETS) == {"oracle", "noisy", "mistake", "skip", "myopic", "equal"}
    knobs = {name: make_teacher(name, card=None, max_episode_steps=1000).params for name in PRESETS}
    assert knobs["oracle"]["beta"] == "inf" and knobs["oracle"]["eps_mistake"] == 0.0
    assert knobs["myopic"]["gamma"] == 0.9 and knobs["skip"]["eps_skip"] == 0.1 and knobs["equal"]["eps_equal"] == 0.1
    assert knobs["mistake"]["eps_mistake"] == 0.1 and knobs["noisy"]["beta"] == 1.0
    labelers = {make_teacher(name, max_episode_steps=1000).provenance.labeler for name in PRESETS}
    assert len(labelers) == 6  # differently-parameterised teachers are different labelers
    with pytest.raises(ValueError, match="unknown teacher 'nope'"):
        make_teacher("nope")
    with pytest.raises(ValueError, match="beta must be > 0"):
        ScriptedTeacher(beta=0.0)

    class Coin(Teacher):
        kind = "coin"

        @property
        def params(self):
            return {}

        def label(self, first, second, *, query_ids=None):
            return Labels.make(np.full(len(first), 0.5), self.provenance)

    register_teacher("coin-test", lambda card=None, seed=None: Coin())
    try:
        assert make_teacher("coin-test").label(*pairs_with_sums([1.0], [2.0])).values.tolist() == [0.5]
    finally:
        TEACHERS.pop("coin-test")


def test_labels_carry_provenance():
    labels = make_teacher("noisy", seed=3).label(*pairs_with_sums([0.0, 1.0], [1.0, 0.0]))
    assert labels.provenance.kind == "scripted"
    assert labels.provenance.params["preset"] == "noisy" and labels.provenance.params["seed"] == 3
    assert labels.provenance.labeler.startswith("scripted:")
    assert np.isfinite(labels.times).all() and labels.times.min() > 1.6e9
    assert not labels.pending.any()


def test_heron_falls_through_ranked_terms():
    def terms(a, b, c):
        return {"a": np.array(a)[:, None] * np.ones((1, 4)) / 4, "b": np.array(b)[:, None] * np.ones((1, 4)) / 4,
                "c": np.array(c)[:, None] * np.ones((1, 4)) / 4}

    first = batch(np.zeros((4, 4)), terms([0, 0, 0, 0], [0, 0, 0, 5], [0, 0, 0, 0]))
    second = batch(np.zeros((4, 4)), terms([2, 0.5, 0.5, 0.5], [-9, -3, 0.2, 0], [0, 0, -2, 0]))
    teacher = HierarchicalTeacher(["a", "b", "c"], margins=1.0)
    labels = teacher.label(first, second)
    # pair 0: a decides (2 > 1) although b is much worse; pair 1: a within margin, b decides (-3);
    # pair 2: a, b within margin, c decides (-2); pair 3: a within margin, b decides (−5)
    assert labels.values.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert teacher.deciding_term(first, second).tolist() == [0, 1, 2, 1]
    # everything within margin -> equal
    wide = HierarchicalTeacher(["a", "b", "c"], margins={"a": 3, "b": 10, "c": 3})
    assert wide.label(first, second).values.tolist() == [0.5, 0.5, 0.5, 0.5]
    # a different user order changes the decision of pair 0
    assert HierarchicalTeacher(["b", "a", "c"], margins=1.0).label(first, second).values[0] == 0.0
    assert labels.provenance.kind == "hierarchical" and labels.provenance.params["terms"] == ["a", "b", "c"]


def test_heron_uses_card_order_on_real_segments():
    env = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=2, max_episode_steps=30)
    buffer = TrajectoryBuffer.from_env(env)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(31):
        act = rng.uniform(-1, 1, (2, 6))
        nobs, r, te, tr, info = env.step(act)
        buffer.add(obs, act, r, te, tr, info)
        obs = nobs
    first, second = SegmentSampler(buffer, horizon=10, seed=0).sample_pairs(50)
    heron = make_teacher("heron", card=env.card)
    assert heron.terms == ("forward", "ctrl")
    fwd = second.term_returns()["forward"] - first.term_returns()["forward"]
    np.testing.assert_array_equal(heron.label(first, second).values, (fwd > 0).astype(float))  # margin 0
    oracle = make_teacher("oracle").label(first, second)
    np.testing.assert_array_equal(oracle.values, (first.returns < second.returns).astype(float))
    with pytest.raises(ValueError, match="not reward terms"):
        HierarchicalTeacher(["speed"], card=env.card)
    env.close()


def test_bad_pairs_and_labels():
    with pytest.raises(SegmentShapeError, match="same"):
        ScriptedTeacher().label(batch(np.zeros((2, 5))), batch(np.zeros((2, 4))))
    with pytest.raises(SegmentShapeError, match="as many"):
        ScriptedTeacher().label(batch(np.zeros((2, 5))), batch(np.zeros((3, 5))))
    with pytest.raises(SegmentShapeError, match="no reward term"):
        HierarchicalTeacher(["a"]).label(batch(np.zeros((1, 5))), batch(np.zeros((1, 5))))
    with pytest.raises(LabelError, match=r"\[1\]=0.3"):
        Labels.make([1.0, 0.3], Provenance("x"))
    with pytest.raises(LabelError):
        Labels.make([2.0], Provenance("x"))
    ok = Labels.make([np.nan, 1.0], Provenance("x"), skipped=[True, False])
    assert ok.answered.tolist() == [False, True]
    with pytest.raises(ValueError, match="JSON"):
        Provenance("x", {"beta": float("inf")})
