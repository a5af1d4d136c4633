"""Frames of one simulation, as Gymnasium's MuJoCo v5 envs draw them.

By default a frame comes from Gymnasium's own ``MujocoRenderer``, set up as
``MujocoEnv`` sets it up (``default_camera_config``, ``camera_id`` / ``camera_name``,
``max_geom``, ``visual_options``), so a pbrl env and Gymnasium's env show the same
picture of the same state. ``tracking_camera=True`` gives pbrl's own camera instead:
a free camera (:func:`make_camera`) whose look-at point follows a body, so that a
running task stays in the frame (Gymnasium's free camera stays where it started).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np

#: ``render_mode`` values pbrl's envs accept ("human" needs a window: not offered).
RENDER_MODES = ("rgb_array", "depth_array", "rgbd_tuple")


def check_render_mode(render_mode: str | None) -> str | None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be None or 'rgb_array' (or 'depth_array', 'rgbd_tuple'), got {render_mode!r}"
        )
    return render_mode


def make_camera(model: mujoco.MjModel, config: Mapping[str, Any]) -> mujoco.MjvCamera:
    """pbrl's tracking camera: MuJoCo's default free camera with ``config`` applied.

    ``config`` is a ``default_camera_config`` (``trackbodyid`` is not a camera field
    here: :class:`FrameRenderer` follows that body itself).
    """
    cam = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(model, cam)
    for key, value in dict(config).items():
        if key == "trackbodyid":
            continue
        if key == "lookat":
            cam.lookat[:] = value
        else:
            setattr(cam, key, value)
    return cam


class FrameRenderer:
    """Renders ``data`` (an MjData the caller keeps up to date) of ``model``.

    Args:
        model, data: the simulation to draw; ``data`` must hold the state to show
            (its kinematics computed) whenever :meth:`render` is called.
        camera_config: the task's ``default_camera_config``.
        width, height: frame size (the model's offscreen buffer is grown to fit).
        camera_id, camera_name: a camera of the model, as in ``MujocoEnv`` (not both).
        max_geom: the scene's geometry budget.
        visual_options: ``{mjtVisFlag: bool}`` render flags.
        tracking_camera: use pbrl's tracking camera instead of Gymnasium's.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        camera_config: Mapping[str, Any] | None,
        width: int,
        height: int,
        camera_id: int | None = None,
        camera_name: str | None = None,
        max_geom: int = 1000,
        visual_options: Mapping[int, bool] | None = None,
        tracking_camera: bool = False,
    ):
        from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

        if camera_id is not None and camera_name is not None:  # Gymnasium's check and message
            raise ValueError("Both `camera_id` and `camera_name` cannot be specified at the same time.")
        if tracking_camera and (camera_id is not None or camera_name is not None):
            raise ValueError("tracking_camera=True is a camera of its own: pass no camera_id or camera_name with it")
        # MujocoEnv grows the offscreen buffer (never shrinks it) before its MjrContext exists.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.model, self.data = model, data
        self.width, self.height = width, height
        self.camera_config = dict(camera_config or {})
        self.tracking_camera = bool(tracking_camera)
        self._max_geom = max_geom
        self._visual_options = dict(visual_options or {})
        self._viewer = None  # the tracking camera's OffScreenViewer
        self._lookats: dict[int, np.ndarray] = {}  # each sim's camera look-at point
        self._renderer = None if self.tracking_camera else MujocoRenderer(
            model, data, self.camera_config or None, width, height, max_geom, camera_id, camera_name,
            self._visual_options,
        )
        track = self.camera_config.get("trackbodyid", 1 if model.nbody > 1 else -1)
        self._track = int(track) if track is not None and int(track) >= 0 else None

    def render(self, render_mode: str, sim: int = 0):
        """A frame of ``data`` now: (H, W, 3) uint8, (H, W) float32 depth, or both.

        ``sim`` names the simulation ``data`` holds (a batched env's sub-env): each
        gets the look-at point Gymnasium's free camera of its own env would start
        with, the median of its geoms when it is first drawn.
        """
        if self._renderer is not None:
            viewer = self._renderer.viewer
            if viewer is not None:
                # MujocoRenderer makes its context current only when it has several:
                # do it always, so that envs rendering in turn draw into their own.
                viewer.make_context_current()
                if sim not in self._lookats:
                    self._lookats[sim] = np.median(self.data.geom_xpos, axis=0)
                    if "lookat" in self.camera_config:
                        self._lookats[sim][:] = self.camera_config["lookat"]
                viewer.cam.lookat[:] = self._lookats[sim]
            frame = self._renderer.render(render_mode)
            if viewer is None:  # the first frame set the camera up
                self._lookats[sim] = self._renderer.viewer.cam.lookat.copy()
            return frame
        if self._viewer is None:
            from gymnasium.envs.mujoco.mujoco_rendering import OffScreenViewer

            self._viewer = OffScreenViewer(
                self.model, self.data, self.width, self.height, self._max_geom, self._visual_options
            )
            cam = make_camera(self.model, self.camera_config)
            viewer_cam = self._viewer.cam
            viewer_cam.type, viewer_cam.fixedcamid = cam.type, cam.fixedcamid
            viewer_cam.lookat[:] = cam.lookat
            viewer_cam.distance, viewer_cam.azimuth, viewer_cam.elevation = cam.distance, cam.azimuth, cam.elevation
        else:
            self._viewer.make_context_current()
        if self._track is not None:
            self._viewer.cam.lookat[:] = self.data.xpos[self._track]
        return self._viewer.render(render_mode)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

