"""Evaluate a policy on a batched env: all episodes in parallel, fresh seeds.

``evaluate_policy(policy, "pbrl/Hopper-v5", episodes=10, seed=...)`` makes a
separate :class:`~pbrl.envs.BatchedMujocoEnv` with one sub-env per episode, resets
it with seeds ``seed + i``, and steps all episodes together until every one has
ended (an ended sub-env's later steps are ignored). Returns, lengths, the task
card's normalized score and, where the card defines success, the success rate
(an episode succeeds when ``info["success"]`` holds at its last step, as SB3's
``is_success``) come back in an :class:`EvalResult`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import gymnasium as gym
import numpy as np

from pbrl import phases

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class EvalResult:
    """What an evaluation measured (per-episode arrays and their summaries)."""

    task: str
    episodes: int
    seed: int
    returns: list[float]
    lengths: list[int]
    return_mean: float
    return_std: float
    normalized_score: float
    success_rate: float | None
    term_means: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The ``eval/*`` TensorBoard tags of pbrl's design."""
        out = {
            "eval/return": self.return_mean,
            "eval/return_std": self.return_std,
            "eval/normalized_score": self.normalized_score,
            "eval/episode_length": float(np.mean(self.lengths)),
        }
        if self.success_rate is not None:
            out["eval/success_rate"] = self.success_rate
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fresh_seed() -> int:
    """A seed from the OS's entropy, for evaluations that must not reuse training seeds."""
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


#: one stream of evaluation seeds per kind of run; the values only keep the seeds that
#: recorded runs were evaluated on (online and offline agents had their own before)
EVAL_STREAMS = {"online": 0xE7A1, "offline": 0x0FF1}


def eval_seed(seed: int, index: int | None = None, stream: str = "online") -> int:
    """The seed of the ``index``-th evaluation of a run seeded ``seed`` (``None``: a run's only
    one): derived from the run's seed, so reproducible, and never one of its training seeds."""
    key = [int(seed), EVAL_STREAMS[stream]] if index is None else [int(seed), int(index), EVAL_STREAMS[stream]]
    return int(np.random.SeedSequence(key).generate_state(1)[0] & 0x7FFFFFFF)


def _make_env(task: str, episodes: int, env_kwargs: Mapping[str, Any] | None, env_threads: int | None, render: bool):
    kwargs = dict(env_kwargs or {})
    if env_threads is not None:
        kwargs["nthread"] = env_threads
    if render:
        kwargs.update(render_mode="rgb_array", width=kwargs.pop("width", 480), height=kwargs.pop("height", 480))
    return gym.make_vec(task, num_envs=episodes, vectorization_mode="vector_entry_point", **kwargs)


def evaluate_policy(
    policy: Policy,
    task: str,
    episodes: int = 10,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    env_threads: int | None = 1,
    max_steps: int | None = None,
) -> EvalResult:
    """Run ``episodes`` episodes of ``policy`` on ``task`` at once.

    Args:
        policy: maps a batch of raw observations (N, obs_dim) to actions (N, act_dim);
            deterministic for a proper evaluation, and it should use any observation
            normaliser frozen (no statistics updates).
        task: a pbrl task id.
        episodes: number of episodes, run as that many sub-envs in one batch.
        seed: sub-env i is reset with ``seed + i``; None draws a fresh seed.
        env_kwargs: task keyword arguments (as for ``gym.make_vec``).
        env_threads: native threads stepping the batch.
        max_steps: step cap (default: the task's episode limit).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    seed = fresh_seed() if seed is None else int(seed)
    env = _make_env(task, int(episodes), env_kwargs, env_threads, render=False)
    try:
        card = env.unwrapped.card
        obs, _ = env.reset(seed=seed)
        n = env.num_envs
        alive = np.ones(n, dtype=bool)
        returns = np.zeros(n)
        lengths = np.zeros(n, dtype=np.int64)
        terms: dict[str, np.ndarray] = {}
        success = np.zeros(n, dtype=bool)
        limit = int(max_steps or env.unwrapped.max_episode_steps or card.max_episode_steps)
        shown = phases.active()  # nobody listens during training's evaluations: no per-step report then
        for step in range(limit):
            if shown:
                phases.report("evaluation steps", step, limit, f"{int((~alive).sum())}/{n} episodes ended")
            actions = np.asarray(policy(obs))
            obs, reward, terminated, truncated, info = env.step(actions)
            returns += np.where(alive, reward, 0.0)
            lengths += alive
            for key, value in info.get("reward_terms", {}).items():
                terms.setdefault(key, np.zeros(n))
                terms[key] += np.where(alive, value, 0.0)
            ended = alive & (terminated | truncated)
            if "success" in info:
                success[ended] = np.asarray(info["success"])[ended]
            alive &= ~ended
            if not alive.any():
                break
        if "success" in info and alive.any():  # cut by max_steps
            success[alive] = np.asarray(info["success"])[alive]
    finally:
        env.close()
    return EvalResult(
        task=task,
        episodes=n,
        seed=seed,
        returns=returns.tolist(),
        lengths=lengths.tolist(),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        normalized_score=float(np.mean(card.normalized_score(returns))),
        success_rate=float(success.mean()) if card.success is not None else None,
        term_means={k: float(v.mean()) for k, v in terms.items()},
    )


def record_video(
    policy: Policy,
    task: str,
    path: str,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    width: int = 480,
    height: int = 480,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Render one episode of ``policy`` to ``path`` (``.mp4`` or ``.gif``).

    Needs an OpenGL context: on a headless machine set ``MUJOCO_GL=egl`` (pbrl's
    CLI does) and the ``imageio`` / ``imageio-ffmpeg`` packages (pbrl's
    dependencies) for MP4. Returns the episode's return, length and frame count.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import imageio.v2 as imageio
    except ImportError:  # pragma: no cover - imageio is a dependency
        raise RuntimeError("recording a video needs the imageio package: pip install imageio imageio-ffmpeg") from None
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path!r}")
    if ext == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise RuntimeError("MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); or record a .gif") from None
    seed = fresh_seed() if seed is None else int(seed)
    kwargs = dict(env_kwargs or {}, width=width, height=height)
    env = _make_env(task, 1, kwargs, 1, render=True)
    frames = []
    total, steps = 0.0, 0
    try:
        obs, _ = env.reset(seed=seed)
        try:
            frames.append(env.render())
        except Exception as exc:  # mujoco.FatalError without an OpenGL context
            raise RuntimeError(
                f"cannot render ({exc}); on a headless machine start Python with MUJOCO_GL=egl "
                "(or osmesa) set in the environment"
            ) from None
        limit = int(max_steps or env.unwrapped.max_episode_steps or env.unwrapped.card.max_episode_steps)
        shown = phases.active()
        for step in range(limit):
            if shown:
                phases.report("video steps rendered", step, limit)
            obs, reward, terminated, truncated, _ = env.step(np.asarray(policy(obs)))
            total += float(reward[0])
            steps += 1
            frames.append(env.render())
            if terminated[0] or truncated[0]:
                break
        fps = env.metadata.get("render_fps", 30)
    finally:
        env.close()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if ext == ".mp4":
        imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimwrite(path, frames, duration=1000.0 / fps, loop=0)
    return {"path": os.path.abspath(path), "return": total, "length": steps, "frames": len(frames), "seed": seed}
