"""Rendering a segment as a video clip: MuJoCo frames from its states, then H.264 MP4.

A segment holds observations, actions and rewards, which are not enough to draw the
robot: observations of most tasks leave out the x position, for instance. A clip
is therefore drawn from the **physical state of every step**, stored with the
segment as two extras:

* ``extras["qpos"]`` (H, nq) and ``extras["qvel"]`` (H, nv): the state *before*
  each step's action (the state the observation ``obs[t]`` was taken in).

Loops that want their segments shown to people must record them, e.g. with
:class:`pbrl.preferences.TrajectoryBuffer` (``qpos_qvel`` copies the env's state)::

    qpos, qvel = pbrl.datasets.collect.qpos_qvel(env)     # before env.step
    next_obs, rewards, terminated, truncated, infos = env.step(actions)
    buffer.add(obs, actions, rewards, terminated, truncated, infos,
               extras={"qpos": qpos, "qvel": qvel, **quantities})

Datasets made by ``pbrl dataset generate`` and D4RL imports that carry
``infos/qpos``/``infos/qvel`` already do. A segment without them cannot be
rendered: :class:`ClipError` says so.

Each frame is drawn by setting the state into one ``MjData`` of the task's model,
``mj_forward`` and MuJoCo's offscreen renderer (headless: ``MUJOCO_GL=egl``,
which ``import pbrl`` sets on Linux without a display). Steps past the end of a
short episode (``mask`` False, the absorbing padding) are drawn darkened.

Clips play at the task's real time (``1 / dt`` frames per second) up to
``max_fps``; faster tasks (Hopper: 125 steps/s) are slowed down to ``max_fps``,
and :attr:`ClipRenderer.speed` says by how much. Encoding is H.264 (yuv420p,
``+faststart``) in MP4 through imageio-ffmpeg's bundled ffmpeg, which every
current browser plays, Debian's Chromium included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["ClipError", "ClipRenderer", "ClipSettings", "clip_key", "encode_mp4", "segment_states"]

#: bump when the drawing or encoding changes, so cached clips are redrawn
RENDER_VERSION = 1


class ClipError(ValueError):
    """A segment cannot be drawn (no ``qpos``/``qvel`` extras, wrong sizes, unknown task)."""


@dataclass(frozen=True)
class ClipSettings:
    """How clips look.

    Args:
        width, height: frame size in pixels (rounded up to a multiple of 16 for H.264).
        max_fps: clips of faster tasks are slowed down to this frame rate.
        shadows: draw shadows (on a CPU renderer they cost about half the time).
        reflections: draw floor reflections (costly on a CPU renderer).
        crf: H.264 quality (lower is better and larger; 18–28 is sensible).
    """

    width: int = 384
    height: int = 384
    max_fps: float = 30.0
    shadows: bool = True
    reflections: bool = False
    crf: int = 23

    def __post_init__(self):
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 16 <= value <= 1920:
                raise ValueError(f"clip {name} must be an integer in [16, 1920], got {value!r}")
            object.__setattr__(self, name, int(-(-int(value) // 16) * 16))
        if not (isinstance(self.max_fps, (int, float)) and 1 <= float(self.max_fps) <= 240):
            raise ValueError(f"max_fps must be a number in [1, 240], got {self.max_fps!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, (int, np.integer)) or not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be an integer in [0, 51], got {self.crf!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment_states(segment: Any, *, nq: int | None = None, nv: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qpos (H, nq), qvel (H, nv), mask (H,)) of a segment, checked.

    Raises:
        ClipError: the segment has no ``qpos``/``qvel`` extras, or they do not fit
            the task's model (``nq``, ``nv`` when given) or the segment's length.
    """
    extras: Mapping[str, np.ndarray] = getattr(segment, "extras", {}) or {}
    missing = [k for k in ("qpos", "qvel") if k not in extras]
    if missing:
        have = ", ".join(sorted(extras)) or "none"
        raise ClipError(
            f"segment cannot be rendered: it has no {' / '.join(missing)} extras (it has: {have}). "
            "Clips are drawn from the physical state of every step: the loop or dataset that made the "
            "segments must record the pre-action qpos/qvel as extras (see pbrl.web.render)."
        )
    qpos = np.asarray(extras["qpos"], dtype=np.float64)
    qvel = np.asarray(extras["qvel"], dtype=np.float64)
    mask = np.asarray(getattr(segment, "mask", np.ones(len(qpos), bool)), dtype=bool).reshape(-1)
    if qpos.ndim != 2 or qvel.ndim != 2 or len(qpos) != len(qvel) or len(qpos) != len(mask) or len(qpos) == 0:
        raise ClipError(
            f"segment cannot be rendered: qpos {qpos.shape} and qvel {qvel.shape} must be (H, nq) and (H, nv) "
            f"with H = {len(mask)} steps"
        )
    if nq is not None and qpos.shape[1] != nq:
        raise ClipError(f"segment cannot be rendered: its qpos has {qpos.shape[1]} values per step, the task's model has nq = {nq}")
    if nv is not None and qvel.shape[1] != nv:
        raise ClipError(f"segment cannot be rendered: its qvel has {qvel.shape[1]} values per step, the task's model has nv = {nv}")
    if not (np.isfinite(qpos).all() and np.isfinite(qvel).all()):
        raise ClipError("segment cannot be rendered: its qpos/qvel contain NaN or inf")
    return qpos, qvel, mask


def clip_key(task_id: str, segment: Any, settings: ClipSettings) -> str:
    """Content hash of a clip: task, states, mask and settings (a cache key)."""
    qpos, qvel, mask = segment_states(segment)
    h = hashlib.sha256()
    h.update(json.dumps([RENDER_VERSION, task_id, settings.to_dict()], sort_keys=True).encode())
    for arr in (qpos, qvel, mask.astype(np.uint8)):
        arr = np.ascontiguousarray(arr)
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class ClipRenderer:
    """Draws segments of one task. Not thread-safe: use it from one thread only
    (an OpenGL context belongs to the thread that uses it).

    Args:
        task_id: a registered pbrl task (``"pbrl/HalfCheetah-v5"``).
        settings: frame size, speed limit and quality.
        task_kwargs: options of the task, when they change its model.
    """

    def __init__(self, task_id: str, settings: ClipSettings | None = None, task_kwargs: Mapping[str, Any] | None = None):
        import mujoco

        import pbrl.envs  # noqa: F401  (registers the tasks)
        from pbrl.envs import make_task
        from pbrl.envs.rendering import make_camera

        self.task_id = str(task_id)
        self.settings = settings or ClipSettings()
        try:
            self.task = make_task(self.task_id, **dict(task_kwargs or {}))
        except Exception as exc:
            raise ClipError(f"cannot render clips of task {self.task_id!r}: {exc}") from None
        self._mujoco = mujoco
        model = self.task.build_model()
        s = self.settings
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, s.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, s.height)
        model.vis.quality.offsamples = 0
        model.vis.quality.shadowsize = min(int(model.vis.quality.shadowsize), 1024)
        self.model = model
        self.data = mujoco.MjData(model)
        self.dt = float(model.opt.timestep) * int(getattr(self.task, "frame_skip", 1))
        real_fps = 1.0 / self.dt
        self.fps = float(min(real_fps, s.max_fps))
        #: playback speed relative to real time (1.0, or < 1 when slowed down)
        self.speed = self.fps / real_fps
        self._camera_config = dict(getattr(self.task, "default_camera", {}) or {})
        self._make_camera = make_camera
        self._renderer = None
        self._track, self._auto_track = self._tracking(model)

    def _tracking(self, model) -> tuple[int | None, bool]:
        """(body to follow, whether it is pbrl's own x/y following).

        The task's ``trackbodyid`` is followed as the env's own ``render`` does; a
        task without one whose root body moves (a slide or free joint, e.g. the
        half-cheetah) has its root followed in x/y, so it stays in the picture.
        """
        track = self._camera_config.get("trackbodyid")
        if track is not None:
            return (int(track) if int(track) > 0 else None), False
        if model.nbody > 1:
            root_joints = [model.jnt_type[j] for j in range(model.njnt) if model.jnt_bodyid[j] == 1]
            mj = self._mujoco.mjtJoint
            if any(t in (mj.mjJNT_FREE, mj.mjJNT_SLIDE) for t in root_joints):
                return 1, True
        return None, False

    def _ensure_renderer(self):
        if self._renderer is None:
            try:
                self._renderer = self._mujoco.Renderer(self.model, self.settings.height, self.settings.width)
            except Exception as exc:  # no OpenGL context
                raise RuntimeError(
                    f"cannot render clips ({exc}); on a machine without a display start the server with "
                    "MUJOCO_GL=egl (or osmesa) in the environment"
                ) from None
        return self._renderer

    def frames(self, segment: Any) -> np.ndarray:
        """(H, height, width, 3) uint8 frames of a segment (padding steps darkened).

        Raises:
            ClipError: the segment has no usable ``qpos``/``qvel`` extras.
        """
        mujoco = self._mujoco
        qpos, qvel, mask = segment_states(segment, nq=self.model.nq, nv=self.model.nv)
        renderer = self._ensure_renderer()
        camera = self._make_camera(self.model, self._camera_config)
        base = np.array(camera.lookat, dtype=np.float64)
        option = mujoco.MjvOption()
        data = self.data
        out = np.empty((len(qpos), self.settings.height, self.settings.width, 3), dtype=np.uint8)
        for t in range(len(qpos)):
            data.qpos[:] = qpos[t]
            data.qvel[:] = qvel[t]
            mujoco.mj_forward(self.model, data)
            if self._track is not None:
                if self._auto_track:
                    camera.lookat[:2] = data.xpos[self._track][:2]
                    camera.lookat[2] = base[2]
                else:
                    camera.lookat[:] = data.xpos[self._track]
            renderer.update_scene(data, camera, option)
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.settings.shadows
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.settings.reflections
            frame = renderer.render()
            if not mask[t]:
                frame = (frame.astype(np.uint16) * 2 // 5).astype(np.uint8)
            out[t] = frame
        return out

    def close(self) -> None:
        if self._renderer is not None:
            with contextlib.suppress(Exception):
                self._renderer.close()
            self._renderer = None

    def __enter__(self) -> "ClipRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode_mp4(frames: np.ndarray, path: str | os.PathLike, *, fps: float, crf: int = 23) -> int:
    """Write frames (T, H, W, 3) uint8 as an H.264 MP4 at ``path``; returns its size.

    Written to a temporary file in the same folder and renamed, so ``path`` is
    never a half-written video (the clip cache relies on it).
    """
    import imageio.v2 as imageio

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 with T >= 1, got {frames.shape} {frames.dtype}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".clip-", suffix=".mp4", dir=folder)
    os.close(fd)
    try:
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=float(fps),
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=16,
            ffmpeg_log_level="error",
            output_params=["-preset", "veryfast", "-crf", str(int(crf)), "-movflags", "+faststart"],
        )
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)
