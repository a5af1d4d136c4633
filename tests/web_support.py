"""Shared helpers of the labeling-app tests (tests/test_web_*.py): real stores with
real rendered segments, a real server on loopback, and a small HTTP client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np

try:  # the web extra
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - a clear failure, not a skip
    raise ImportError(
        f"the labeling-app tests need the web extra ({exc.name} is missing): pip install -e '.[test,web]'"
    ) from None

import gymnasium as gym

import pbrl  # noqa: F401
from pbrl.datasets.collect import qpos_qvel
from pbrl.preferences import PreferenceStore, SegmentSampler, TrajectoryBuffer
from repo_support import ROOT

TASK = "pbrl/HalfCheetah-v5"


def rollout_buffer(task: str = TASK, *, num_envs: int = 2, steps: int = 120, seed: int = 0, with_state: bool = True):
    """A TrajectoryBuffer of random-action episodes with pre-action qpos/qvel extras
    (the states the clips are drawn from); episodes end every ``steps // 2`` steps."""
    env = gym.make_vec(task, num_envs=num_envs, max_episode_steps=steps // 2)
    buffer = TrajectoryBuffer(source_id="test-run", extras=())
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps + 2):
        qpos, qvel = qpos_qvel(env)
        actions = rng.uniform(-1, 1, size=(num_envs,) + env.single_action_space.shape)
        next_obs, rewards, terminated, truncated, infos = env.step(actions)
        # every sub-env's step info: on a NEXT_STEP step where all sub-envs reset, the top-level
        # info holds reset keys only, as Gymnasium's SyncVectorEnv gives it
        step_info = env.unwrapped.last_step_info
        extras = {"qpos": qpos, "qvel": qvel} if with_state else {"x_velocity": step_info["x_velocity"]}
        buffer.add(obs, actions, rewards, terminated, truncated, infos, extras=extras)
        obs = next_obs
    env.close()
    return buffer


def make_store(path: str, *, pairs: int = 4, horizon: int = 20, seed: int = 0, with_state: bool = True, task: str = TASK) -> np.ndarray:
    """A store at ``path`` holding ``pairs`` open queries over real segments; returns their ids."""
    buffer = rollout_buffer(task, seed=seed, with_state=with_state)
    sampler = SegmentSampler(buffer, horizon=horizon, seed=seed)
    first, second = sampler.sample_pairs(pairs)
    with PreferenceStore(path) as store:
        store.set_info("task", task)
        return store.add_pairs(first, second)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A tiny JSON client for the app on loopback (urllib: no extra dependency)."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = "default", raw: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[int, Any]:
        h = dict(headers or {})
        tok = self.token if token == "default" else token
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                status, payload, ctype = res.status, res.read(), res.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            status, payload, ctype = exc.code, exc.read(), exc.headers.get("content-type", "")
        if "json" in ctype:
            return status, json.loads(payload or b"null")
        return status, payload

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw):
        return self.request("POST", path, body, **kw)


def start_server_process(store: str, port: int, *extra: str) -> subprocess.Popen:
    """``pbrl label serve`` in a child process on 127.0.0.1:port, up and answering."""
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbrl.cli.main", "label", "serve", "--store", store, "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"pbrl label serve exited with {proc.returncode}: {log.read().decode()[-2000:]}")
        try:
            if client.get("/api/health", timeout=2)[0] == 200:
                return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("pbrl label serve did not answer within 60 s")
        time.sleep(0.1)


def store_snapshot(path: str) -> dict[str, Any]:
    """Everything a write could change: every label row (retracted too) and the counts."""
    with PreferenceStore(path, create=False) as store:
        rows = store.labels(include_retracted=True)
        return {
            "labels": {k: [None if isinstance(x, float) and x != x else x for x in v.tolist()] for k, v in rows.items()},
            "summary": store.summary(),
            "queries": store.queries()["status"].tolist(),
        }
