"""Ratings and rankings inside the online preference loop (``--pref feedback_kind=...``): what each
round stores, what the budget counts, what the model trains on; bad combinations fail before any
work; SURF's unlabelled pool survives a checkpoint."""

from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

import pbrl  # noqa: F401
from pbrl.agents import make_preference_agent, resolve
from pbrl.agents.preference.loop import split_arrays
from pbrl.agents.preference.options import PreferenceOptionError, check_feedback_options, resolve_preference_options
from pbrl.cli.main import app
from pbrl.rewards.ratings import RatingRewardEnsemble

PENDULUM = "pbrl/InvertedPendulum-v5"
SMALL = {"reward_hidden": [32, 32], "reward_epochs": 30, "segment_length": 15, "unsup_steps": 600, "interval": 500,
         "queries_per_round": 20, "heldout_pairs": 128}  # fmt: skip


def _agent(tmp_path, pref: dict, feedback: int, teacher: str = "oracle", name: str = "p"):
    hp = resolve("sac", PENDULUM, {"learning_starts": 200, "batch_size": 64, "net_arch": [32, 32], "n_envs": 4})
    opt = resolve_preference_options("sac", {**SMALL, **pref}, feedback)
    return make_preference_agent("sac", PENDULUM, hp, preference=opt, teacher=teacher, feedback=feedback,
                                 store_path=str(tmp_path / f"{name}.sqlite"), seed=0)  # fmt: skip


def test_ratings_rounds_store_queries_and_ratings_and_the_rating_model_learns(tmp_path):
    agent = _agent(tmp_path, {"feedback_kind": "ratings", "rating_classes": 4}, 60, teacher="noisy")
    try:
        loop = agent.preference_loop
        assert isinstance(loop.reward_model, RatingRewardEnsemble)
        agent.learn(2200)
        store = loop.store
        q, r = store.rating_queries(), store.ratings()
        assert q["id"].size == 60 and (q["n_classes"] == 4).all()  # the budget: one per rated segment
        assert store.summary()["queries"] == 0  # no pair was asked
        assert r["id"].size == 60 and set(np.unique(r["rating"])) <= {0.0, 1.0, 2.0, 3.0}
        assert len(np.unique(r["rating"])) >= 3  # calibrated classes: the ratings spread over the scale
        assert loop.rounds == 3 and loop.labels_fitted == 60 and loop.model_ready
        s = loop.summary()
        assert s["feedback_kind"] == "ratings" and s["queries"] == 60 and s["labels"] == 60
        # the rating model ranks held-out pairs by their true return well above chance
        assert loop.last_metrics["reward_model/accuracy"] > 0.7, loop.last_metrics
        assert loop.state_dict()["feedback"]["rating_bounds"] is not None  # the scale is kept for a resume
    finally:
        agent.close()


def test_rankings_rounds_store_lists_and_implied_pairs_and_count_comparisons(tmp_path):
    budget = 6
    agent = _agent(tmp_path, {"feedback_kind": "rankings", "ranking_budget": budget}, 50)
    try:
        loop = agent.preference_loop
        agent.learn(2200)
        store = loop.store
        lists = store.rankings(status="done")
        comparisons = [int(x["comparisons"]) for x in lists]
        assert all(1 <= c <= budget for c in comparisons), comparisons
        assert sum(comparisons) == 50  # the label budget counts comparisons, exactly
        assert loop.counts()["queries"] == 50 and loop.rounds == 3
        # every list's implied pairs are stored as labelled queries and are what the model trained on
        n_pairs = sum(len(x["groups"]) * (len(x["groups"]) - 1) // 2 for x in lists)  # the oracle: no equal groups
        assert store.summary()["labels"] == n_pairs == loop.labels_fitted
        assert n_pairs > 50  # lists give more pairs than comparisons
        truth = store.labelled_pairs()
        assert np.all(truth.second.returns >= truth.first.returns - 1e-9)  # the oracle's order (ties broken either way)
        assert (truth.second.returns > truth.first.returns).mean() > 0.5
        assert loop.last_metrics["reward_model/accuracy"] > 0.7, loop.last_metrics
        assert loop.last_metrics["feedback/implied_pairs"] == n_pairs
    finally:
        agent.close()


@pytest.mark.parametrize("teacher, pref, message", [
    ("oracle", {"feedback_kind": "ratings", "method": "surf"}, "method 'surf' needs its own pairwise reward model"),
    ("oracle", {"feedback_kind": "ratings", "method": "rime"}, "method 'rime' needs its own pairwise reward model"),
    ("oracle", {"feedback_kind": "ratings", "rating_classes": 11}, "'rating_classes' must be 2..10"),
    ("oracle", {"rating_classes": 3}, "'rating_classes' applies to feedback_kind=ratings"),
    ("oracle", {"feedback_kind": "ratings", "ranking_budget": 5}, "'ranking_budget' applies to feedback_kind=rankings"),
    ("equal", {"feedback_kind": "ratings"}, "no meaning for ratings"),
    ("boltzmann", {"feedback_kind": "ratings"}, "'boltzmann' compares pairs only"),
    ("human", {"feedback_kind": "rankings"}, "needs an immediate answer per comparison"),
])  # fmt: skip
def test_combinations_that_cannot_work_are_refused(teacher, pref, message):
    with pytest.raises(PreferenceOptionError, match=message):
        values = resolve_preference_options("sac", pref, 100)
        check_feedback_options("sac", teacher, values)


def test_rankings_work_with_every_pair_method():
    for method in ("surf", "qpa", "rime", "rune"):
        check_feedback_options("sac", "noisy", resolve_preference_options("sac", {"feedback_kind": "rankings", "method": method}, 100))


def test_bad_combination_fails_before_any_work_through_pbrl_train(tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, ["train", "--env", PENDULUM, "--agent", "sac", "--reward", "learned", "--teacher", "oracle",
                                      "--pref", "feedback_kind=ratings", "--pref", "method=qpa", "--runs-dir", runs, "--quiet"],
                                env={"COLUMNS": "10000"})  # fmt: skip
    assert result.exit_code == 2 and "method 'qpa' needs its own pairwise reward model" in " ".join(result.output.split()), result.output
    assert not os.path.exists(runs)


def test_surf_pool_survives_a_checkpoint_round_trip(tmp_path):
    pref = {"method": "surf", "surf_window": 3, "surf_crop_range": 3, "surf_mu": 2, "reward_epochs": 5, "heldout_pairs": 0,
            "queries_per_round": 10, "unsup_steps": 400}  # fmt: skip
    agent = _agent(tmp_path, pref, 20, name="a")
    other = _agent(tmp_path, pref, 20, name="b")
    try:
        agent.learn(1000)
        pool = agent.preference_loop.unlabelled
        assert len(pool) == 2
        arrays = {**{"own/x": np.zeros(3)}, **agent.preference_loop.array_state()}
        own, mine = split_arrays(arrays)
        assert list(own) == ["own/x"] and any(k.startswith("surf/") for k in mine)
        other.preference_loop.load_array_state(mine)
        restored = other.preference_loop.unlabelled
        assert len(restored) == len(pool)
        for a, b in zip(pool, restored):
            for x, y in zip(a, b):
                assert x.dtype == y.dtype and np.array_equal(x, y)
    finally:
        agent.close()
        other.close()



def test_a_resumed_ratings_run_replays_what_a_killed_run_asked_and_keeps_its_scale(tmp_path):
    """A run checkpointed after round 0 that rated round 1 before it died: the resumed run replays round 1
    from the store (no segment is rated twice) with the same class bounds."""
    pref = {"feedback_kind": "ratings", "reward_epochs": 5, "heldout_pairs": 0, "queries_per_round": 10, "unsup_steps": 400,
            "interval": 300}  # fmt: skip
    first = _agent(tmp_path, pref, 30)
    try:
        first.learn(500)
        folder = first.save(str(tmp_path / "checkpoints"))
        first.learn(900)  # round 1 rated and committed after the checkpoint, then the run "dies"
        assert first.preference_loop.rounds == 2
        bounds = first.preference_loop.teacher.bounds.copy()
    finally:
        first.close()
    resumed = _agent(tmp_path, pref, 30)
    try:
        resumed.load(folder)
        resumed.learn(900)
        loop = resumed.preference_loop
        assert loop.rounds == 2 and loop.store.rating_queries()["id"].size == 20  # replayed, not asked again
        assert loop.labels_fitted == 20 and loop.counts()["queries"] == 20
        np.testing.assert_array_equal(loop.teacher.bounds, bounds)
    finally:
        resumed.close()


def test_people_rate_through_the_store_and_the_loop_trains_on_their_ratings(tmp_path):
    """--teacher human with ratings: the loop stores rating queries and waits for nobody (min_labels 0);
    ratings given later (as the labeling page stores them) are trained on at the next check."""
    from pbrl.preferences.labels import Provenance

    pref = {"feedback_kind": "ratings", "reward_epochs": 5, "heldout_pairs": 64, "queries_per_round": 10, "unsup_steps": 400,
            "interval": 300, "human_min_labels": 0, "human_serve": False}  # fmt: skip
    agent = _agent(tmp_path, pref, 10, teacher="human")
    try:
        agent.learn(500)
        loop = agent.preference_loop
        q = loop.store.rating_queries()
        assert q["id"].size == 10 and (q["status"] == "open").all() and not loop.model_ready
        segs = loop.store.get_segments(q["segment_id"])
        order = np.argsort(np.argsort(segs.returns))  # a person who rates by the true return
        for qid, rank in zip(q["id"].tolist(), order.tolist()):
            loop.store.add_rating(qid, int(rank * 5 // 10), Provenance("human", {}, "ann"))
        assert loop.refresh() and loop.model_ready and loop.labels_fitted == 10
        assert loop.counts()["open"] == 0 and loop.counts()["labels"] == 10
    finally:
        agent.close()


def test_a_rankings_round_ranks_a_window_drawn_twice_once(tmp_path):
    """Windows are drawn with replacement: a round that draws one twice ranks it once (the store keeps one row
    per window, and a list holding a segment twice is refused)."""
    from pbrl.agents.preference.feedback_rounds import distinct
    from pbrl.preferences import PreferenceStore, Provenance
    from store_support import segments

    batch = segments(5, seed=3)
    drawn = batch[[0, 1, 1, 2, 0, 3, 4]]  # windows 0 and 1 drawn twice
    unique = distinct(drawn)
    assert len(unique) == 5
    np.testing.assert_array_equal(unique.start, batch.start)  # first occurrences, in order
    store = PreferenceStore(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="appears twice"):
        store.add_ranked_segments(drawn, [[0, 1], [2]], Provenance("scripted", {}, "oracle"))
    store.add_ranked_segments(unique, [[0, 1], [2, 3, 4]], Provenance("scripted", {}, "oracle"))
    assert len(store.rankings()) == 1
    store.close()
