"""Segments and segment batches: shapes, indexing, stacking."""

import numpy as np
import pytest

from pbrl.preferences import Segment, SegmentBatch, SegmentShapeError


def test_segment_batch_indexing_and_stacking():
    rng = np.random.default_rng(0)
    batch = SegmentBatch(
        rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 5)),
        terms={"a": np.ones((4, 5))}, source_id="x", episode=[0, 1, 2, 3], start=[5, 6, 7, 8],
    )
    one = batch[2]
    assert isinstance(one, Segment) and one.origin.episode == 2 and one.origin.start == 7 and one.origin.source_id == "x"
    sub = batch[np.array([3, 1])]
    np.testing.assert_array_equal(sub.obs, batch.obs[[3, 1]])
    again = SegmentBatch.from_segments(list(batch))
    np.testing.assert_array_equal(again.obs, batch.obs)
    np.testing.assert_array_equal(again.start, batch.start)
    cat = SegmentBatch.concatenate([batch, sub])
    assert len(cat) == 6 and cat.episode.tolist() == [0, 1, 2, 3, 3, 1]
    with pytest.raises(SegmentShapeError, match=r"\(H, obs_dim, act_dim\)"):
        SegmentBatch.concatenate([batch, SegmentBatch(np.zeros((1, 4, 3)), np.zeros((1, 4, 2)), np.zeros((1, 4)))])


def test_mismatched_shapes_name_the_problem():
    with pytest.raises(SegmentShapeError, match="actions must be"):
        SegmentBatch(np.zeros((2, 5, 3)), np.zeros((2, 4, 1)), np.zeros((2, 5)))
    with pytest.raises(SegmentShapeError, match="rewards must be"):
        SegmentBatch(np.zeros((2, 5, 3)), np.zeros((2, 5, 1)), np.zeros((2, 4)))
    with pytest.raises(SegmentShapeError, match="reward term 'a'"):
        SegmentBatch(np.zeros((2, 5, 3)), np.zeros((2, 5, 1)), np.zeros((2, 5)), terms={"a": np.zeros(5)})
    with pytest.raises(SegmentShapeError, match="segments have different obs shapes"):
        SegmentBatch.from_segments([Segment(np.zeros((5, 3)), np.zeros((5, 1)), np.zeros(5)),
                                    Segment(np.zeros((5, 4)), np.zeros((5, 1)), np.zeros(5))])
