"""Ratings and rankings in the preference store: schema 2, the migration of version-1 stores, export v2."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import numpy as np
import pytest

from store_support import PROV, assert_same, segments

from pbrl.preferences import (
    SCHEMA_VERSION,
    EmptyPreferencesError,
    Labels,
    NotAPbrlStoreError,
    PreferenceFormatError,
    PreferenceStore,
    Provenance,
)
from pbrl.preferences.feedback import RatingConflictError
from pbrl.preferences.ranking import RankingError
from pbrl.preferences.ratings import RatingError, Ratings

DATA = os.path.join(os.path.dirname(__file__), "data")
RATER = Provenance("scripted", {"n_classes": 4})


def _copy_v1(tmp_path):
    path = str(tmp_path / "v1.sqlite")
    shutil.copy(os.path.join(DATA, "store_v1.sqlite"), path)
    return path


def _rows(path, table):
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        con.close()


def test_a_version_1_store_migrates_keeping_every_row(tmp_path):
    """store_v1.sqlite was written by pbrl's schema-1 code (6 pairs, 7 labels one retracted, a labeler)."""
    path = _copy_v1(tmp_path)
    before = {t: _rows(path, t) for t in ("pbrl_meta", "segments", "queries", "labels", "labelers")}
    assert dict((k, v) for k, v in before["pbrl_meta"])["schema_version"] == "1"
    with PreferenceStore(path, create=False) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert store.summary() == {
            "segments": 12, "queries": 6, "open": 1, "labelled": 4, "skipped": 1, "labels": 5, "skips": 1,
            "labelers": 1, "rating_queries": 0, "ratings": 0, "rankings": 0,
        }  # fmt: skip
        data = store.labelled_pairs()
        assert len(data) == 5 and store.verify_token("wrong") is None and store.labelers() == ["dana"]
        # the new tables work in the migrated file
        q = store.add_rating_queries(store.get_segments([1, 2]), 4)
        store.add_ratings(q, Ratings.make([3, 0], 4, RATER))
    for table in ("segments", "queries", "labels", "labelers"):
        assert _rows(path, table) == before[table], table  # every old row kept, unchanged
    meta = dict(_rows(path, "pbrl_meta"))
    assert meta["schema_version"] == "2" and "migrated.1-2" in meta
    assert _rows(path, "ratings")[0][2] == 3
    with PreferenceStore(path, create=False) as store:  # opening again migrates nothing
        assert store.summary()["ratings"] == 2


def test_a_newer_schema_is_refused_untouched(tmp_path):
    path = _copy_v1(tmp_path)
    con = sqlite3.connect(path)
    con.execute("UPDATE pbrl_meta SET value = '3' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    raw = open(path, "rb").read()
    with pytest.raises(NotAPbrlStoreError, match="schema version 3, made by a newer pbrl"):
        PreferenceStore(path)
    assert open(path, "rb").read() == raw


def test_a_version_1_export_still_reads(tmp_path):
    with PreferenceStore(tmp_path / "new.sqlite") as store:
        assert store.import_from(os.path.join(DATA, "export_v1.npz")) == {"segments": 12, "queries": 6, "labels": 7}
        assert store.summary()["labels"] == 5 and store.info() == {"task": "pbrl/HalfCheetah-v5"}
        with pytest.raises(EmptyPreferencesError, match="no ratings"):
            store.rated_segments()


def test_ratings_round_trip_with_skips_conflicts_and_undo(tmp_path):
    batch = segments(6, seed=1)
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        qids = store.add_rating_queries(batch, 4, meta={"round": 1})
        assert store.rating_queries("open")["id"].tolist() == qids.tolist()
        store.add_ratings(qids, Ratings.make([0, 1, 2, 3, 0, np.nan], 4, RATER, skipped=[0, 0, 0, 0, 0, 1]))
        again = store.add_ratings(qids[:1], Ratings.make([0], 4, RATER))  # the same rating: stored once
        assert again[0] == store.ratings()["id"][0] and store.summary()["ratings"] == 5
        data = store.rated_segments()
        assert data.n_classes == 4 and data.ratings.tolist() == [0, 1, 2, 3, 0]
        assert_same(data.segments, batch[:5])
        assert store.rating_queries()["status"].tolist() == ["labelled"] * 5 + ["skipped"]
        with pytest.raises(RatingConflictError, match="already rated"):
            store.add_rating(int(qids[0]), 2, RATER)
        store.add_rating(int(qids[0]), 2, RATER, replace=True)
        assert store.rated_segments().ratings.tolist() == [1, 2, 3, 0, 2]
        human = Provenance("human", {}, "dana")
        store.add_rating(int(qids[1]), 3, human)
        assert store.undo_last_rating("dana") == int(qids[1])
        assert store.open_rating_queries("dana").tolist() == qids.tolist()
        assert len(store.ratings(include_retracted=True)["id"]) == 8


def test_bad_ratings_are_refused_without_losing_data(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        qids = store.add_rating_queries(segments(3), 3)
        store.add_ratings(qids[:1], Ratings.make([2], 3, RATER))
        before = store.ratings(include_retracted=True)
        with pytest.raises(RatingError, match="0..2"):
            Ratings.make([3], 3, RATER)
        with pytest.raises(RatingError, match="0..2"):
            store.add_rating(int(qids[1]), 5, RATER)
        with pytest.raises(RatingError, match="3-class scale, the ratings on 5"):
            store.add_ratings(qids[1:], Ratings.make([1, 4], 5, RATER))
        with pytest.raises(KeyError, match="rating query 99"):
            store.add_ratings([int(qids[1]), 99], Ratings.make([1, 1], 3, RATER))  # all or nothing
        with pytest.raises(RatingError, match="2 to 10 classes"):
            store.add_rating_queries(segments(1), 11)
        after = store.ratings(include_retracted=True)
        assert after["id"].tolist() == before["id"].tolist()


def test_a_ranking_is_stored_as_its_list_and_implied_pairs(tmp_path):
    batch = segments(4, seed=3)
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        q = store.add_pairs(segments(2, seed=9), segments(2, seed=8))
        store.add_labels(q, Labels.make([1.0, 0.0], PROV))
        rid = store.add_ranked_segments(batch, [[2], [0, 3], [1]], PROV, comparisons=5, meta={"list": 0})
        ranking = store.rankings()[0]
        assert ranking["id"] == rid and ranking["status"] == "done" and ranking["comparisons"] == 5
        seg = store.get_segments(np.concatenate([g for g in ranking["groups"]]))
        assert_same(seg, batch[[2, 0, 3, 1]])
        data = store.labelled_pairs()
        assert len(data) == 2 + 6  # the pairs before, and the ranking's 4·3/2 implied pairs
        implied = [json.loads(m) for m in store.queries()["meta"][2:]]
        assert all(m == {"ranking": rid} for m in implied)
        # every implied label orders by the list: σ² never ranks below σ¹
        rank = {0: 1, 3: 1, 2: 0, 1: 2}
        for f, s, y in zip(data.first[2:].obs, data.second[2:].obs, data.labels[2:]):
            i = next(k for k in range(4) if np.array_equal(batch.obs[k], f))
            j = next(k for k in range(4) if np.array_equal(batch.obs[k], s))
            assert y == (0.5 if rank[i] == rank[j] else 1.0) and rank[j] >= rank[i]


def test_malformed_rankings_store_nothing(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        ids = store.add_segments(segments(3)).tolist()
        other = store.add_segments(segments(1, h=4)).tolist()
        before = store.summary()
        for groups, match in (([[ids[0]], [ids[0]]], "twice"), ([[ids[0]], []], "empty"), ([[ids[0], "x"]], "positive"), ([], "at least one")):
            with pytest.raises(RankingError, match=match):
                store.add_ranking(groups, PROV)
        with pytest.raises(RankingError, match="share"):
            store.add_ranking([[ids[0]], other], PROV)
        with pytest.raises(KeyError, match="segment id 999"):
            store.add_ranking([[ids[0]], [999]], PROV)
        assert store.summary() == before and store.rankings() == []


def test_a_person_builds_a_ranking_step_by_step(tmp_path):
    batch = segments(3, seed=4)
    person = Provenance("human", {}, "dana")
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        rid = store.start_ranking(batch)
        assert store.open_ranking("dana") == rid
        builder = store.ranking(rid)["builder"]
        assert builder.probe() is not None
        assert store.answer_ranking(rid, 0, 1.0, person) == {"placed": True, "done": False, "pairs": 0}
        with pytest.raises(RankingError, match="at answer 1, the answer was for 0"):
            store.answer_ranking(rid, 0, 1.0, person)  # a double submit is not applied twice
        with pytest.raises(RankingError, match="being built by 'dana'"):
            store.answer_ranking(rid, 1, 1.0, Provenance("human", {}, "eve"))
        assert store.undo_ranking(rid, "dana") and store.ranking(rid)["builder"].steps == 0
        store.answer_ranking(rid, 0, 0.0, person)
        while not (out := store.answer_ranking(rid, store.ranking(rid)["builder"].steps, 1.0, person))["done"]:
            pass
        assert out["pairs"] == 3 and store.ranking(rid)["status"] == "done"
        assert set(store.labels()["labeler"]) == {"dana"} and store.summary()["rankings"] == 1
        with pytest.raises(RankingError, match="finished"):
            store.answer_ranking(rid, 9, 1.0, person)


def test_export_v2_round_trip_of_ratings_and_rankings(tmp_path):
    batch = segments(5, seed=5)
    src = PreferenceStore(tmp_path / "a.sqlite")
    qids = src.add_rating_queries(batch, 5)
    src.add_ratings(qids, Ratings.make([4, 3, np.nan, 0, 1], 5, RATER, skipped=[0, 0, 1, 0, 0]))
    src.add_rating(int(qids[0]), 2, Provenance("human", {}, "dana"))
    src.undo_last_rating("dana")
    src.add_ranked_segments(batch, [[4], [0, 1], [3]], PROV, comparisons=4)
    src.start_ranking(batch[:3])
    counts = src.export_to(tmp_path / "x.npz")
    assert counts == {"segments": 5, "queries": 6, "labels": 6, "rating_queries": 5, "ratings": 6, "rankings": 2}
    dst = PreferenceStore(tmp_path / "b.sqlite")
    added = dst.import_from(tmp_path / "x.npz")
    assert added == {"segments": 5, "queries": 6, "labels": 6, "rating_queries": 5, "ratings": 6, "rankings": 2}
    assert dst.import_from(tmp_path / "x.npz") == {"segments": 0, "queries": 0, "labels": 0}  # idempotent
    assert dst.summary() == src.summary()
    a, b = src.rated_segments(), dst.rated_segments()
    np.testing.assert_array_equal(a.ratings, b.ratings)
    assert_same(a.segments, b.segments)
    assert [r["groups"] for r in src.rankings()] == [r["groups"] for r in dst.rankings()]
    assert dst.rankings()[1]["status"] == "open" and dst.rankings()[1]["builder"].probe() is not None
    src.close(), dst.close()


def test_exports_with_bad_ratings_or_rankings_are_refused(tmp_path):
    with PreferenceStore(tmp_path / "a.sqlite") as src:
        qids = src.add_rating_queries(segments(2), 3)
        src.add_ratings(qids, Ratings.make([0, 2], 3, RATER))
        src.add_ranked_segments(segments(2, seed=2), [[0], [1]], PROV)
        src.export_to(tmp_path / "x.npz")
    z = dict(np.load(tmp_path / "x.npz", allow_pickle=False))

    def broken(**changes):
        path = tmp_path / f"bad{len(list(tmp_path.glob('bad*')))}.npz"
        np.savez(path, **dict(z, **changes))
        return path

    cases = [
        (broken(**{"ratings.rating": np.array([0.0, 7.0])}), "0..2"),
        (broken(**{"rating_queries.n_classes": np.array([1, 1])}), "2 to 10 classes"),
        (broken(**{"rating_queries.segment_id": np.array([1, 999])}), "segment ids \\[999\\]"),
        (broken(**{"rankings.state": np.array(["{oops"])}), "not a saved ranking state"),
        (broken(**{"ranking_items.ranking_id": np.array([5, 5])}), "ranking ids \\[5\\]"),
        (broken(**{"ratings.created": np.array([1.0])}), "different lengths"),
    ]
    with PreferenceStore(tmp_path / "b.sqlite") as dst:
        for path, match in cases:
            with pytest.raises(PreferenceFormatError, match=match):
                dst.import_from(path)
        assert dst.summary()["segments"] == 0  # nothing imported
