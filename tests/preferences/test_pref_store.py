"""The preference store's API: pairs and labels round trip, idempotence, empty sets, bad input, labelers."""

import json
import sqlite3

import numpy as np
import pytest

from pbrl.preferences import (
    SCHEMA_VERSION,
    EmptyPreferencesError,
    LabelConflictError,
    LabelError,
    Labels,
    PreferenceStore,
    Provenance,
    SegmentShapeError,
)
from pbrl.teachers import make_teacher
from store_support import PROV, assert_same, segments


def test_round_trip_of_pairs_and_labels(tmp_path):
    first, second = segments(20, seed=1), segments(20, seed=2)
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        qids = store.add_pairs(first, second, meta={"round": 0, "method": "uniform"})
        assert store.summary()["open"] == 20
        values = np.array([0.0, 1.0, 0.5, np.nan] * 5)
        labels = Labels.make(values, PROV, skipped=np.isnan(values))
        lids = store.add_labels(qids, labels)
        assert (lids > 0).all()
        s = store.summary()
        assert (s["labelled"], s["skipped"], s["open"], s["labels"], s["skips"]) == (15, 5, 0, 15, 5)
        data = store.labelled_pairs()
        keep = ~np.isnan(values)
        np.testing.assert_array_equal(data.labels, values[keep])
        np.testing.assert_array_equal(data.query_ids, qids[keep])
        assert_same(data.first, first[keep])
        assert_same(data.second, second[keep])
        np.testing.assert_array_equal(data.targets()[:3], [[1, 0], [0, 1], [0.5, 0.5]])
        a, b = store.get_pairs(qids[::-1])
        assert_same(a, first[::-1])
        assert json.loads(store.queries()["meta"][0]) == {"round": 0, "method": "uniform"}
        rows = store.labels()
        assert set(rows["teacher_kind"]) == {"scripted"} and set(rows["labeler"]) == {PROV.labeler}
        assert store.labelled_pairs(include_equal=False).labels.tolist() == [0.0, 1.0] * 5
    # and again after reopening the file
    with PreferenceStore(tmp_path / "p.sqlite", create=False) as store:
        assert_same(store.labelled_pairs().first, first[keep])
        assert store.schema_version == SCHEMA_VERSION  # the current schema (2 added ratings and rankings)


def test_label_submission_is_idempotent(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        qids = store.add_pairs(segments(3, seed=1), segments(3, seed=2))
        alice = Provenance("human", {}, "alice")
        first_id = store.add_label(int(qids[0]), 1.0, alice)
        assert store.add_label(int(qids[0]), 1.0, alice) == first_id  # same query + labeler + label
        assert store.summary()["labels"] == 1 and len(store.labels(include_retracted=True)["id"]) == 1
        with pytest.raises(LabelConflictError, match="already labelled query"):
            store.add_label(int(qids[0]), 0.0, alice)
        assert store.labels()["label"].tolist() == [1.0]  # unchanged
        # another labeler may answer the same query
        store.add_label(int(qids[0]), 0.0, Provenance("human", {}, "bob"))
        assert sorted(store.labelled_pairs().labels.tolist()) == [0.0, 1.0]
        # replace retracts the old answer; undo retracts the newest
        new_id = store.add_label(int(qids[0]), 0.5, alice, replace=True)
        assert new_id != first_id
        rows = store.labels(include_retracted=True, labeler="alice")
        assert rows["label"].tolist() == [1.0, 0.5] and np.isnan(rows["retracted"]).tolist() == [False, True]
        assert store.undo_last("alice") == qids[0]
        assert store.labels(labeler="alice")["id"].size == 0
        assert store.open_queries("alice").tolist() == qids.tolist()
        assert store.open_queries().tolist() == qids[1:].tolist()  # bob's label keeps query 0 labelled
        # a whole teacher batch resubmitted: same ids, nothing new
        labels = make_teacher("oracle").label(*store.get_pairs(qids))
        ids = store.add_labels(qids, labels)
        np.testing.assert_array_equal(store.add_labels(qids, labels), ids)
        assert store.summary()["labels"] == 4


def test_skip_only_queries_and_empty_sets_are_clear_errors(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        with pytest.raises(EmptyPreferencesError, match="no queries"):
            store.labelled_pairs()
        qids = store.add_pairs(segments(4, seed=1), segments(4, seed=2))
        with pytest.raises(EmptyPreferencesError, match="none of its 4 queries has been labelled"):
            store.labelled_pairs()
        store.add_labels(qids, Labels.make(np.full(4, np.nan), PROV, skipped=np.ones(4, bool)))
        assert store.queries("skipped")["id"].tolist() == qids.tolist()
        with pytest.raises(EmptyPreferencesError, match="all 4 answers .* were skips"):
            store.labelled_pairs()
        store.add_label(int(qids[1]), 1.0, Provenance("human", {}, "carol"))
        with pytest.raises(EmptyPreferencesError, match="filters left none"):
            store.labelled_pairs(kinds=["llm"])
        assert len(store.labelled_pairs(labelers=["carol"])) == 1


def test_bad_labels_and_shapes_store_nothing(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        qids = store.add_pairs(segments(3, seed=1), segments(3, seed=2))
        with pytest.raises(LabelError, match="0.7"):
            store.add_label(int(qids[0]), 0.7, PROV)
        with pytest.raises(LabelError, match="3 query ids but 2 labels"):
            store.add_labels(qids, Labels.make([0.0, 1.0], PROV))
        with pytest.raises(KeyError, match="query id 999"):
            store.add_labels([int(qids[0]), 999], Labels.make([0.0, 1.0], PROV))
        assert store.summary()["labels"] == 0  # the valid first label was rolled back too
        with pytest.raises(SegmentShapeError):
            store.add_pairs(segments(2, h=6), segments(2, h=5))
        a = store.add_segments(segments(1, h=6, seed=5))
        b = store.add_segments(segments(1, h=5, seed=6))
        with pytest.raises(SegmentShapeError, match="cannot be compared"):
            store.add_queries(a, b)
        with pytest.raises(KeyError, match="segment id 12345"):
            store.add_queries([12345], a)
        assert store.summary()["queries"] == 3
        # sqlite refuses an out-of-set label even when written behind pbrl's back
        con = sqlite3.connect(tmp_path / "p.sqlite")
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(
                "INSERT INTO labels (query_id, label, skipped, teacher_kind, teacher_params, labeler, created) "
                "VALUES (1, 0.3, 0, 'x', '{}', 'x', 0)"
            )
        con.close()


def test_labelers_tokens(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        token = store.add_labeler("alice")
        assert store.verify_token(token) == "alice"
        assert store.verify_token(token + "x") is None and store.verify_token("") is None
        with pytest.raises(ValueError, match="already exists"):
            store.add_labeler("alice")
        assert store.labelers() == ["alice"]
    assert token.encode() not in open(tmp_path / "p.sqlite", "rb").read()
