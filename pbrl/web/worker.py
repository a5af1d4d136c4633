"""The clip service: one rendering thread, clips on demand, and rendering ahead.

All drawing happens on one background thread (an OpenGL context belongs to one
thread, and a 2-core machine gains nothing from more). Requests for a clip that
is not cached are queued with priority and shared (two requests for one clip
render it once); when no request waits, the thread renders ahead the clips of
the queries labelers will see next (a *plan* the app provides), so in steady
state every clip the page asks for is already on disk.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Mapping

from .cache import ClipCache, default_clip_dir
from .render import ClipError, ClipRenderer, ClipSettings, clip_key, encode_mp4

__all__ = ["ClipBusyError", "ClipService"]

log = logging.getLogger(__name__)


class ClipBusyError(RuntimeError):
    """Too many clips are waiting to be rendered; try again shortly."""


class ClipService:
    """Clips of a preference store's segments, rendered on one thread and cached.

    Args:
        store: an open :class:`~pbrl.preferences.PreferenceStore`.
        task: the task the segments come from; default the store's ``task`` info
            (``store.set_info("task", "pbrl/Hopper-v5")``, which pbrl's loops and
            ``pbrl dataset label`` write), read again until it is set.
        task_kwargs: the task's options when they change its model; default the
            store's ``task_kwargs`` info when the task comes from the store (a live
            PrefPPO/PEBBLE run records its ``env_kwargs`` there).
        clip_dir: the cache folder (default ``<store>.clips/``).
        settings: frame size, speed limit, quality.
        max_cache_bytes: cache budget (least recently used clips are removed).
        max_queue: at most this many clips waiting; beyond, :class:`ClipBusyError`.
        idle: seconds between looks at the render-ahead plan when nothing happens.
    """

    def __init__(
        self,
        store: Any,
        *,
        task: str | None = None,
        clip_dir: str | os.PathLike | None = None,
        settings: ClipSettings | None = None,
        task_kwargs: Mapping[str, Any] | None = None,
        max_cache_bytes: int = 2 * 1024**3,
        max_queue: int = 64,
        idle: float = 1.0,
    ):
        self.store = store
        self._task = task
        self.settings = settings or ClipSettings()
        self.task_kwargs = dict(task_kwargs or {})
        self._kwargs_given = task_kwargs is not None
        self.cache = ClipCache(clip_dir or default_clip_dir(store.path), max_bytes=max_cache_bytes)
        self.max_queue = int(max_queue)
        self.idle = float(idle)
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._inflight: dict[str, Future] = {}
        self._keys: dict[tuple[str, int], str] = {}
        self._errors: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._plan: Callable[[], Iterable[int]] | None = None
        self._thread: threading.Thread | None = None
        self._renderer: ClipRenderer | None = None
        self._playback: dict[str, dict[str, float]] = {}
        #: counters: clips rendered, by request and ahead, and seconds spent
        self.stats = {"rendered": 0, "rendered_ahead": 0, "render_seconds": 0.0, "failed": 0}

    # -- task and keys --------------------------------------------------------

    def task_id(self) -> str | None:
        """The task of the store's segments, or None if nobody said."""
        if self._task is None:
            info = self.store.info()
            task = info.get("task")
            if isinstance(task, str) and task:
                self._task = task
                kwargs = info.get("task_kwargs")
                if not self._kwargs_given and isinstance(kwargs, dict):
                    self.task_kwargs = dict(kwargs)  # a live run's env options (pbrl's preference loop records them)
        return self._task

    def _require_task(self) -> str:
        task = self.task_id()
        if task is None:
            raise ClipError(
                f"the store {self.store.path} does not say which task its segments come from: "
                "start the server with --task ID, or record it with store.set_info('task', ID)"
            )
        return task

    def key(self, segment_id: int) -> str:
        """The cache key of a segment's clip.

        Raises:
            KeyError: no such segment.
            ClipError: the segment cannot be rendered (the message says why).
        """
        task = self._require_task()
        k = (task, int(segment_id))
        if k in self._keys:
            return self._keys[k]
        if k in self._errors:
            raise ClipError(self._errors[k])
        segment = self.store.get_segments([int(segment_id)])[0]
        try:
            key = clip_key(task, segment, self.settings)
        except ClipError as exc:
            self._errors[k] = str(exc)
            raise
        self._keys[k] = key
        return key

    def problem(self, segment_id: int) -> str | None:
        """Why a segment's clip cannot be made, or None if it can."""
        try:
            self.key(segment_id)
        except (ClipError, KeyError) as exc:
            return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        return None

    def cached(self, segment_id: int) -> bool:
        try:
            return self.key(segment_id) in self.cache
        except (ClipError, KeyError):
            return False

    # -- requests -------------------------------------------------------------

    def request(self, segment_id: int) -> Future:
        """A future of the clip's path; rendered with priority if not cached."""
        key = self.key(segment_id)
        path = self.cache.get(key)
        if path is not None:
            done: Future = Future()
            done.set_result(path)
            return done
        with self._lock:
            fut = self._inflight.get(key)
            if fut is not None:
                return fut
            if self._queue.qsize() >= self.max_queue:
                raise ClipBusyError(f"{self._queue.qsize()} clips are waiting to be rendered; try again shortly")
            fut = Future()
            self._inflight[key] = fut
            self._queue.put((0, next(self._seq), int(segment_id), key))
        if self._thread is None:
            self.start()
        self._wake.set()
        return fut

    def clip(self, segment_id: int, timeout: float | None = 120.0) -> str:
        """The path of a segment's clip, rendering it first if needed (blocks)."""
        return self.request(segment_id).result(timeout=timeout)

    def set_plan(self, plan: Callable[[], Iterable[int]] | None) -> None:
        """What to render ahead: a callable giving segment ids, most urgent first."""
        self._plan = plan
        self._wake.set()

    def wake(self) -> None:
        """Look at the plan now (e.g. a labeler just asked for the next query)."""
        self._wake.set()

    # -- the thread -------------------------------------------------------------

    def start(self) -> "ClipService":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pbrl-clip-renderer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self._close_renderer()
        with self._lock:
            pending, self._inflight = self._inflight, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError("the clip service stopped"))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._drain():
                    continue
                if self._render_ahead_one():
                    continue
                self._wake.wait(self.idle)
                self._wake.clear()
        finally:
            self._close_renderer()

    def _drain(self) -> bool:
        """Render every queued request; True if there was one."""
        did = False
        while not self._stop.is_set():
            try:
                _, _, segment_id, key = self._queue.get_nowait()
            except queue.Empty:
                return did
            did = True
            with self._lock:
                fut = self._inflight.get(key)
            try:
                path = self.cache.get(key) or self._render(segment_id, key)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
            else:
                if fut is not None and not fut.done():
                    fut.set_result(path)
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
        return did

    def _render_ahead_one(self) -> bool:
        """Render the first uncached clip of the plan; True if one was rendered."""
        plan = self._plan
        if plan is None:
            return False
        try:
            wanted = list(plan())
        except Exception as exc:  # noqa: BLE001 - a plan failing must not kill the thread
            log.warning("render-ahead plan failed: %s", exc)
            return False
        for segment_id in wanted:
            if self._stop.is_set() or not self._queue.empty():
                return True
            try:
                key = self.key(segment_id)
            except (ClipError, KeyError):
                continue
            if key in self.cache:
                continue
            try:
                self._render(segment_id, key)
                self.stats["rendered_ahead"] += 1
            except Exception as exc:  # noqa: BLE001
                log.warning("rendering segment %s ahead failed: %s", segment_id, exc)
                self._errors[(self._require_task(), int(segment_id))] = str(exc)
                self._keys.pop((self._require_task(), int(segment_id)), None)
            return True
        return False

    def _render(self, segment_id: int, key: str) -> str:
        task = self._require_task()
        if self._renderer is None or self._renderer.task_id != task:
            self._close_renderer()
            self._renderer = ClipRenderer(task, self.settings, self.task_kwargs)
        start = time.perf_counter()
        segment = self.store.get_segments([int(segment_id)])[0]
        try:
            frames = self._renderer.frames(segment)
            path = self.cache.path(key)
            encode_mp4(frames, path, fps=self._renderer.fps, crf=self.settings.crf)
        except Exception:
            self.stats["failed"] += 1
            raise
        self.cache.added(key)
        self.stats["rendered"] += 1
        self.stats["render_seconds"] += time.perf_counter() - start
        return path

    def playback(self) -> dict[str, float] | None:
        """``fps`` of the clips, ``speed`` relative to real time and ``dt``, if the task is known."""
        task = self.task_id()
        if task is None:
            return None
        if task in self._playback:
            return self._playback[task]
        import pbrl.envs  # noqa: F401
        from pbrl.envs import make_task

        try:
            t = make_task(task, **self.task_kwargs)
        except Exception:  # noqa: BLE001
            return None
        model = t.build_model()
        dt = float(model.opt.timestep) * int(getattr(t, "frame_skip", 1))
        fps = min(1.0 / dt, float(self.settings.max_fps))
        self._playback[task] = {"fps": fps, "speed": fps * dt, "dt": dt}
        return self._playback[task]

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
