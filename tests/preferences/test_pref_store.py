"""The SQLite preference store: round trips, idempotence, export/import, bad input, kills."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from pbrl.preferences import (
    EmptyPreferencesError,
    LabelConflictError,
    LabelError,
    Labels,
    NotAPbrlStoreError,
    PreferenceFormatError,
    PreferenceStore,
    Provenance,
    SegmentBatch,
    SegmentShapeError,
)
from pbrl.teachers import make_teacher
from store_support import segments


def assert_same(a: SegmentBatch, b: SegmentBatch):
    for name in ("obs", "actions", "rewards", "mask", "origin_kind", "source_id", "episode", "start"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert list(a.terms) == list(b.terms) and list(a.extras) == list(b.extras)
    for k in a.terms:
        np.testing.assert_array_equal(a.terms[k], b.terms[k])
    for k in a.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


PROV = Provenance("scripted", {"preset": "oracle"})


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
        assert store.schema_version == 1


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


def test_files_that_are_not_pbrl_stores_are_refused_untouched(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    before = sha(junk)
    with pytest.raises(NotAPbrlStoreError, match="not an SQLite database"):
        PreferenceStore(junk)
    assert sha(junk) == before

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('x')")
    con.commit()
    con.close()
    before = sha(other)
    with pytest.raises(NotAPbrlStoreError, match="without pbrl's marker table.*users"):
        PreferenceStore(other)
    assert sha(other) == before and not os.path.exists(str(other) + "-wal")

    with pytest.raises(NotAPbrlStoreError, match="directory"):
        PreferenceStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        PreferenceStore(tmp_path / "missing.sqlite", create=False)

    newer = tmp_path / "newer.sqlite"
    PreferenceStore(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE pbrl_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(NotAPbrlStoreError, match="schema version 99.*newer pbrl"):
        PreferenceStore(newer)


def test_export_import_round_trip(tmp_path):
    first, second = segments(12, seed=1), segments(12, seed=2)
    other_first, other_second = segments(3, h=4, obs_dim=5, seed=3, source="ds"), segments(3, h=4, obs_dim=5, seed=4, source="ds")
    src = PreferenceStore(tmp_path / "a.sqlite")
    src.set_info("task", "pbrl/HalfCheetah-v5")
    q = src.add_pairs(first, second)
    q2 = src.add_pairs(other_first, other_second)
    src.add_labels(q, make_teacher("oracle").label(first, second))
    src.add_labels(q[:4], Labels.make([np.nan, 1.0, 0.0, 0.5], Provenance("human", {}, "dana"), skipped=[True, False, False, False]))
    src.add_label(int(q2[0]), 0.0, Provenance("human", {}, "dana"))
    src.undo_last("dana")  # a retracted label travels too
    token = src.add_labeler("dana")
    counts = src.export_to(tmp_path / "prefs.npz")
    assert counts == {"segments": 30, "queries": 15, "labels": 17}
    raw = open(tmp_path / "prefs.npz", "rb").read()
    assert token.encode() not in raw and hashlib.sha256(token.encode()).hexdigest().encode() not in raw

    dst = PreferenceStore(tmp_path / "b.sqlite")
    assert dst.import_from(tmp_path / "prefs.npz") == {"segments": 30, "queries": 15, "labels": 17}
    assert dst.import_from(tmp_path / "prefs.npz") == {"segments": 0, "queries": 0, "labels": 0}  # idempotent
    assert dst.summary() == {**src.summary(), "labelers": 0}
    assert dst.info() == {"task": "pbrl/HalfCheetah-v5"}
    a, b = src.labelled_pairs(source_ids=["run-a"]), dst.labelled_pairs(source_ids=["run-a"])
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labelers, b.labelers)
    assert_same(a.first, b.first)
    assert_same(a.second, b.second)
    with pytest.raises(SegmentShapeError, match="different"):
        dst.get_segments(np.arange(1, 31))  # two tasks/horizons in one store
    ra, rb = src.labels(include_retracted=True), dst.labels(include_retracted=True)
    for key in ("label", "skipped", "labeler", "created", "retracted", "teacher_params"):
        np.testing.assert_array_equal(ra[key], rb[key])
    src.close()
    dst.close()


def test_bad_export_files_change_nothing(tmp_path):
    store = PreferenceStore(tmp_path / "p.sqlite")
    store.add_pairs(segments(2), segments(2, seed=9))
    before = store.summary()
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(PreferenceFormatError, match="junk.npz"):
        store.import_from(junk)
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(PreferenceFormatError, match="no 'meta' entry"):
        store.import_from(tmp_path / "plain.npz")
    # a real export with one label value corrupted to 0.3
    good = PreferenceStore(tmp_path / "g.sqlite")
    q = good.add_pairs(segments(2, seed=5), segments(2, seed=6))
    good.add_labels(q, Labels.make([0.0, 1.0], PROV))
    good.export_to(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["labels.label"] = np.array([0.0, 0.3])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(PreferenceFormatError, match="0.3"):
        store.import_from(tmp_path / "bad.npz")
    assert store.summary() == before
    # a label in the file that conflicts with the store: nothing at all is imported
    store.import_from(tmp_path / "good.npz")
    store.add_label(int(store.queries()["id"][-1]), 1.0, Provenance("human", {}, "erin"))
    other = PreferenceStore(tmp_path / "o.sqlite")
    other.import_from(tmp_path / "good.npz")
    qid = int(other.queries()["id"][-1])
    other.add_label(qid, 0.0, Provenance("human", {}, "erin"))
    other.export_to(tmp_path / "conflict.npz")
    before = store.summary()
    with pytest.raises(LabelConflictError):
        store.import_from(tmp_path / "conflict.npz")
    assert store.summary() == before
    for s in (store, good, other):
        s.close()


def _export_with(tmp_path, name, **changes):
    """A real export of a small store, with some of its arrays replaced."""
    good = tmp_path / "good.npz"
    if not good.exists():
        with PreferenceStore(tmp_path / "g.sqlite") as store:
            q = store.add_pairs(segments(3, seed=5), segments(3, seed=6))
            store.add_labels(q, Labels.make([0.0, 1.0, 0.5], PROV))
            store.export_to(good)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    for key, change in changes.items():
        arrays[key] = change(arrays[key].copy())
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _poke(index, value):
    def change(a):
        a[index] = value
        return a

    return change


BAD_EXPORTS = [
    ("all NaN observations", {"g0.obs": lambda a: np.full_like(a, np.nan)}, r"g0's observations: 108 of 108 values are NaN or infinite"),
    ("one NaN observation", {"g0.obs": _poke((1, 2, 0), np.nan)}, r"observations: 1 of 108 values are NaN or infinite"),
    ("infinite action", {"g0.actions": _poke((0, 0, 1), -np.inf)}, r"actions: 1 of 72 values are NaN or infinite"),
    ("NaN reward", {"g0.rewards": _poke((2, 3), np.nan)}, r"rewards: 1 of 36 values"),
    ("infinite reward term", {"g0.term0": _poke((0, 0), np.inf)}, r"reward term 'forward': 1 of 36 values"),
    ("NaN query time", {"queries.created": _poke(0, np.nan)}, r"queries.created: 1 of 3 values are NaN"),
    ("pickled observations", {"g0.obs": lambda a: a.astype(object)}, r"entry 'g0.obs' is a pickled \(object\) array; pbrl never unpickles"),
    ("pickled meta", {"meta": lambda a: np.array([{"format": "pbrl-preferences"}], dtype=object)},
     r"entry 'meta' is a pickled \(object\) array"),
    ("pickled labels", {"labels.labeler": lambda a: a.astype(object)}, r"entry 'labels.labeler' is a pickled"),
    ("string query ids", {"queries.id": lambda a: a.astype(str)}, r"queries.id holds <U\d+, not integers"),
]


@pytest.mark.parametrize("changes, message", [b[1:] for b in BAD_EXPORTS], ids=[b[0] for b in BAD_EXPORTS])
def test_exports_with_nan_or_pickled_arrays_are_refused_and_change_nothing(tmp_path, changes, message):
    path = _export_with(tmp_path, "bad", **changes)
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        store.add_pairs(segments(2), segments(2, seed=9))
        before = store.summary()
        with pytest.raises(PreferenceFormatError, match=r"bad.npz is not a valid pbrl preference export: .*" + message):
            store.import_from(path)
        assert store.summary() == before
        assert store.import_from(_export_with(tmp_path, "fine"))["labels"] == 3  # a whole export still imports


def test_labelers_tokens(tmp_path):
    with PreferenceStore(tmp_path / "p.sqlite") as store:
        token = store.add_labeler("alice")
        assert store.verify_token(token) == "alice"
        assert store.verify_token(token + "x") is None and store.verify_token("") is None
        with pytest.raises(ValueError, match="already exists"):
            store.add_labeler("alice")
        assert store.labelers() == ["alice"]
    assert token.encode() not in open(tmp_path / "p.sqlite", "rb").read()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "p.sqlite"
    with PreferenceStore(path) as store:
        qids = store.add_pairs(segments(40, seed=1), segments(40, seed=2))
    errors = []

    def work(name, shared):
        try:
            store = shared or PreferenceStore(path)
            prov = Provenance("human", {}, name)
            for q in qids.tolist():
                store.add_label(q, 1.0, prov)
                store.add_label(q, 1.0, prov)  # a double submit
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    shared = PreferenceStore(path)
    threads = [threading.Thread(target=work, args=(f"user{i}", shared if i % 2 else None)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert errors == []
    with PreferenceStore(path) as store:
        rows = store.labels()
        assert rows["id"].size == 160 and len(set(zip(rows["query_id"].tolist(), rows["labeler"].tolist()))) == 160


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pbrl.preferences import Labels, PreferenceStore, Provenance

    store = PreferenceStore(sys.argv[1])
    prov = Provenance("scripted", {"writer": int(sys.argv[2])})
    qids = store.open_queries()
    print("ready", flush=True)
    for i in range(0, len(qids) - 3, 4):
        batch = qids[i : i + 4]
        store.add_labels(batch, Labels.make([0.0, 1.0, 0.5, 1.0], prov))
        print(" ".join(map(str, batch)), flush=True)  # printed only after COMMIT returned
    """
)


def test_killing_a_writer_loses_no_committed_label(tmp_path):
    path = str(tmp_path / "p.sqlite")
    with PreferenceStore(path) as store:
        seg_ids = store.add_segments(segments(30, seed=1))
        rng = np.random.default_rng(0)
        store.add_queries(rng.choice(seg_ids, 4000), rng.choice(seg_ids, 4000))
    total_reported = 0
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, path, str(round_)], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout.readline().strip() == "ready"
        lines = [proc.stdout.readline() for _ in range(int(rng.integers(1, 40)))]
        proc.send_signal(signal.SIGKILL)  # at whatever point the writer is in
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        lines += proc.stdout.read().splitlines()  # commits reported just before the kill
        proc.stdout.close()
        reported = {int(q) for line in lines for q in line.split()}
        assert reported  # the writer committed something this round
        total_reported += len(reported)
        with PreferenceStore(path) as store:
            assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            labelled = set(store.labels()["query_id"].tolist())
            assert reported <= labelled  # no committed label lost
            assert store.summary()["labels"] % 4 == 0  # batches are all-or-nothing
            assert set(store.queries("labelled")["id"].tolist()) == labelled  # statuses committed with labels
    with PreferenceStore(path) as store:
        assert store.labels()["id"].size >= total_reported
        store.add_label(int(store.open_queries()[0]), 0.0, PROV)  # still writable
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
