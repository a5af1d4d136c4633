"""The portable export file: round trip, bad files, NaN and pickled arrays refused with nothing imported."""

import hashlib

import numpy as np
import pytest

from pbrl.preferences import (
    LabelConflictError,
    Labels,
    PreferenceFormatError,
    PreferenceStore,
    Provenance,
    SegmentShapeError,
)
from pbrl.teachers import make_teacher
from store_support import PROV, assert_same, segments


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


def test_a_pair_asked_twice_in_one_batch_keeps_both_queries_and_labels(tmp_path):
    """Two queries of the same pair with the same time (drawn twice in one batch) are two queries after an
    import, each with its label; importing again adds nothing. Also for a segment rated twice."""
    first, second = segments(3, seed=1), segments(3, seed=2)
    both_first, both_second = first[[0, 0, 1, 2]], second[[0, 0, 1, 2]]  # pair 0 twice
    src = PreferenceStore(tmp_path / "a.sqlite")
    q = src.add_pairs(both_first, both_second)
    src.add_labels(q, Labels.make([1.0, 0.0, 1.0, 0.5], PROV))  # a teacher may answer a repeated pair differently
    rated = first[[0, 0, 1]]
    from pbrl.preferences.ratings import Ratings

    rq = src.add_rating_queries(rated, 5)
    src.add_ratings(rq, Ratings.make([4, 2, 1], 5, PROV))
    src.export_to(tmp_path / "prefs.npz")
    dst = PreferenceStore(tmp_path / "b.sqlite")
    added = dst.import_from(tmp_path / "prefs.npz")
    assert (added["queries"], added["labels"], added["rating_queries"], added["ratings"]) == (4, 4, 3, 3)
    assert dst.import_from(tmp_path / "prefs.npz") == {"segments": 0, "queries": 0, "labels": 0}
    np.testing.assert_array_equal(np.sort(dst.labels()["label"]), np.sort(src.labels()["label"]))
    np.testing.assert_array_equal(np.sort(dst.ratings()["rating"]), [1, 2, 4])
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
