"""Clips: frames drawn from segments' qpos/qvel, H.264 encoding, the disk cache and
the render-ahead worker."""

from __future__ import annotations

import os
import time

import imageio.v2 as imageio
import numpy as np
import pytest

from web_support import TASK, rollout_buffer

from pbrl.preferences import PreferenceStore, SegmentBatch, SegmentSampler
from pbrl.web.cache import ClipCache
from pbrl.web.render import ClipError, ClipRenderer, ClipSettings, clip_key, encode_mp4
from pbrl.web.worker import ClipService

SMALL = ClipSettings(width=96, height=96)


@pytest.fixture(scope="module")
def segments():
    return SegmentSampler(rollout_buffer(steps=60), horizon=12, seed=3).sample(4)


def _with_mask(batch: SegmentBatch, mask: np.ndarray) -> SegmentBatch:
    return SegmentBatch(
        obs=batch.obs, actions=batch.actions, rewards=batch.rewards, terms=batch.terms,
        mask=np.broadcast_to(mask, batch.mask.shape).copy(), extras=batch.extras,
        origin_kind=batch.origin_kind, source_id=batch.source_id, episode=batch.episode, start=batch.start,
    )


def test_frames_follow_the_states_and_padding_is_darkened(segments):
    mask = np.ones(12, bool)
    mask[-3:] = False
    padded = _with_mask(segments, mask)
    with ClipRenderer(TASK, SMALL) as renderer:
        frames = renderer.frames(padded[0])
        again = renderer.frames(padded[0])
        other = renderer.frames(padded[1])
    assert frames.shape == (12, 96, 96, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, again)  # drawn from the state alone
    assert not np.array_equal(frames, other)
    assert not np.array_equal(frames[0], frames[8])  # the cheetah moves
    assert frames[-1].mean() < 0.6 * frames[-4].mean()  # past the episode's end: darkened
    assert renderer.fps == pytest.approx(20.0) and renderer.speed == pytest.approx(1.0)


def test_fast_tasks_are_slowed_to_max_fps():
    with ClipRenderer("pbrl/Hopper-v5", ClipSettings(width=64, height=64, max_fps=25)) as r:
        assert r.fps == pytest.approx(25.0)
        assert r.speed == pytest.approx(25.0 * 0.008)


def test_segments_without_state_fail_clearly(segments):
    no_state = SegmentBatch(
        obs=segments.obs, actions=segments.actions, rewards=segments.rewards, mask=segments.mask,
        extras={"x_velocity": segments.obs[..., 8]},
    )
    with ClipRenderer(TASK, SMALL) as renderer:
        with pytest.raises(ClipError, match=r"no qpos / qvel extras.*pre-action qpos/qvel"):
            renderer.frames(no_state[0])
        wrong = SegmentBatch(
            obs=segments.obs, actions=segments.actions, rewards=segments.rewards, mask=segments.mask,
            extras={"qpos": segments.extras["qpos"][..., :5], "qvel": segments.extras["qvel"]},
        )
        with pytest.raises(ClipError, match="nq = 9"):
            renderer.frames(wrong[0])
    with pytest.raises(ClipError, match="cannot render clips of task"):
        ClipRenderer("pbrl/NoSuchTask-v0")


def test_mp4_is_h264_and_decodes_to_the_frames(tmp_path, segments):
    with ClipRenderer(TASK, SMALL) as renderer:
        frames = renderer.frames(segments[0])
    path = tmp_path / "clip.mp4"
    size = encode_mp4(frames, path, fps=20)
    data = path.read_bytes()
    assert size == len(data) and data[4:8] == b"ftyp" and b"avc1" in data[:4096]
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: playable while downloading
    back = np.stack(imageio.mimread(str(path), format="FFMPEG"))
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 12  # lossy, but the same picture
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary left
    with pytest.raises(ValueError):
        encode_mp4(frames[..., 0], tmp_path / "bad.mp4", fps=20)


def test_clip_service_caches_and_renders_ahead(tmp_path, segments):
    with PreferenceStore(tmp_path / "prefs.sqlite") as store:
        store.set_info("task", TASK)
        ids = store.add_segments(segments).tolist()
        service = ClipService(store, clip_dir=tmp_path / "clips", settings=SMALL, idle=0.05)
        try:
            path = service.clip(ids[0])
            assert os.path.getsize(path) > 0
            assert service.clip(ids[0]) == path and service.stats["rendered"] == 1  # cached
            service.set_plan(lambda: ids)
            deadline = time.monotonic() + 60
            while not all(service.cached(i) for i in ids):
                assert time.monotonic() < deadline, "render-ahead did not render the plan"
                time.sleep(0.05)
            assert service.stats["rendered_ahead"] == len(ids) - 1
            assert service.key(ids[1]) == clip_key(TASK, store.get_segments([ids[1]])[0], SMALL)
        finally:
            service.stop()
        # a new service (e.g. after a restart) finds the clips on disk
        again = ClipService(store, clip_dir=tmp_path / "clips", settings=SMALL)
        try:
            assert again.clip(ids[2]) and again.stats["rendered"] == 0
        finally:
            again.stop()


def test_cache_evicts_least_recently_used(tmp_path):
    cache = ClipCache(tmp_path, max_bytes=2500)
    keys = [f"{i:064x}" for i in range(4)]
    for age, key in zip((400, 300, 200, 100), keys):
        with open(cache.path(key), "wb") as f:
            f.write(b"x" * 1000)
        os.utime(cache.path(key), (time.time() - age, time.time() - age))
    cache.get(keys[0])  # served just now: most recently used
    (tmp_path / ".clip-partial.mp4").write_bytes(b"half")  # left by a crash
    cache = ClipCache(tmp_path, max_bytes=2500)
    assert not (tmp_path / ".clip-partial.mp4").exists()
    cache.evict()
    left = sorted(k for k in keys if k in cache)
    assert keys[0] in left and keys[1] not in left and len(left) == 2
    with pytest.raises(ValueError):
        cache.path("../../etc/passwd")
