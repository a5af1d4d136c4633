"""Registering tasks with Gymnasium: built-in ones and your own.

Every task gets two Gymnasium entry points from one :class:`~pbrl.envs.task.Task`:
``gym.make(id)`` (a single env) and ``gym.make_vec(id, num_envs)`` (the batched
vector env). :func:`register_task` builds a task from an MJCF model and plain
numpy functions, checks it on a small batch, and registers both.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import gymnasium as gym
import mujoco
import numpy as np

from .card import TaskCard
from .single import SingleTaskEnv
from .task import Sim, StepOutcome, Task
from .vector import BatchedMujocoEnv

#: id -> task factory (a Task subclass or a callable taking the task's kwargs)
TASKS: dict[str, Callable[..., Task]] = {}


def make_task(task_id: str, **kwargs: Any) -> Task:
    """Build the task registered as ``task_id`` with its keyword arguments."""
    try:
        factory = TASKS[task_id]
    except KeyError:
        known = ", ".join(sorted(TASKS)) or "none"
        raise gym.error.NameNotFound(f"no pbrl task {task_id!r}; registered: {known}") from None
    task = factory(**kwargs)
    task.card = task.card.for_options(kwargs)  # the reward weights this task uses, not the defaults
    return task


#: Keyword arguments of the envs' renderer (MujocoEnv's, and pbrl's tracking camera), not the task's.
RENDER_KWARGS = ("camera_id", "camera_name", "max_geom", "visual_options", "tracking_camera")


def _render_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs.pop(key) for key in RENDER_KWARGS if key in kwargs}


def _option_limit(task_id: str, task: Task) -> int | None:
    """The task's episode limit where its options made it shorter than the one registered with its id
    (a DeepMind Control task's ``action_repeat=k``: 1000 // k agent steps), else None. Gymnasium applies
    the registered limit; the envs made here also stop at this one, which nothing lifts."""
    spec = gym.registry.get(task_id)
    registered = spec.max_episode_steps if spec is not None else None
    limit = task.card.max_episode_steps
    return limit if registered is not None and limit is not None and limit < registered else None


def make_env(task_id: str, render_mode: str | None = None, width: int = 480, height: int = 480, **kwargs) -> gym.Env:
    """Gymnasium ``entry_point`` of every pbrl task (a ``SingleTaskEnv``, in a ``TimeLimit`` at the
    task's own limit where its options shortened the episode)."""
    render = _render_kwargs(kwargs)
    task = make_task(task_id, **kwargs)
    env = SingleTaskEnv(task, render_mode=render_mode, width=width, height=height, **render)
    limit = _option_limit(task_id, task)
    return env if limit is None else gym.wrappers.TimeLimit(env, limit)


def make_vec_env(
    task_id: str,
    num_envs: int = 1,
    max_episode_steps: int | None = None,
    autoreset_mode: Any = "NextStep",
    nthread: int | None = None,
    render_mode: str | None = None,
    width: int = 480,
    height: int = 480,
    render_env: int = 0,
    **kwargs,
) -> BatchedMujocoEnv:
    """Gymnasium ``vector_entry_point`` of every pbrl task."""
    render = _render_kwargs(kwargs)
    task = make_task(task_id, **kwargs)
    limit = _option_limit(task_id, task)
    if limit is not None and (
        max_episode_steps is None or max_episode_steps == -1
        or (isinstance(max_episode_steps, (int, np.integer)) and not isinstance(max_episode_steps, bool) and max_episode_steps > limit)
    ):
        max_episode_steps = limit  # gymnasium passes the registered limit: the task's is shorter
    return BatchedMujocoEnv(
        task,
        num_envs=num_envs,
        max_episode_steps=max_episode_steps,
        autoreset_mode=autoreset_mode,
        nthread=nthread,
        render_mode=render_mode,
        width=width,
        height=height,
        render_env=render_env,
        **render,
    )


def _register(card: TaskCard, factory: Callable[..., Task], override: bool) -> None:
    if card.id in TASKS and not override:
        raise ValueError(f"task id {card.id!r} is already registered (pass override=True to replace it)")
    TASKS[card.id] = factory
    if card.id in gym.registry:
        del gym.registry[card.id]
    gym.register(
        id=card.id,
        entry_point=f"{__name__}:make_env/{card.id}",
        vector_entry_point=f"{__name__}:make_vec_env/{card.id}",
        max_episode_steps=card.max_episode_steps,
    )


def __getattr__(name: str) -> Any:
    """Entry points by name, ``make_env/<task id>`` and ``make_vec_env/<task id>`` (PEP 562).

    The registered specs name their entry points as strings, as Gymnasium's own tasks
    do, so ``env.spec.to_json()`` works (Minari stores it) and ``env.spec.kwargs``
    holds only the user's keyword arguments: ``gym.make(spec.id, **spec.kwargs)``
    makes the same env again. A ``task_id`` keyword naming the same task is accepted
    (datasets written before stored it in their spec's kwargs).
    """
    entry, _, task_id = name.partition("/")
    if task_id in TASKS and entry in ("make_env", "make_vec_env"):
        factory = make_env if entry == "make_env" else make_vec_env

        def entry_point(**kwargs: Any):
            named = kwargs.pop("task_id", task_id)
            if named != task_id:
                raise TypeError(f"{task_id} got task_id={named!r}; make that task by its own id")
            return factory(task_id, **kwargs)

        return entry_point
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_builtin(task_cls: type[Task]) -> type[Task]:
    """Class decorator for pbrl's own tasks."""
    _register(task_cls.card, task_cls, override=True)
    return task_cls


def cards() -> dict[str, TaskCard]:
    """Task cards of every registered pbrl task, by id."""
    out = {}
    for task_id, factory in sorted(TASKS.items()):
        card = getattr(factory, "card", None)
        out[task_id] = card if card is not None else factory().card
    return out


# -- user tasks -------------------------------------------------------------------


class FunctionTask(Task):
    """A task assembled from an MJCF model and plain numpy functions."""

    def __init__(self, card, model_xml, observe, reward_terms, terminated, success, quantities, before_step, reset, frame_skip, camera):
        self.card = card
        self._xml = model_xml
        self._observe = observe
        self._reward_terms = reward_terms
        self._terminated = terminated
        self._success = success
        self._quantities = quantities
        self._before = before_step
        self._reset = reset
        self.frame_skip = frame_skip
        self.data_fields = ("xpos",)
        self.default_camera = dict(camera or {})

    def build_model(self) -> mujoco.MjModel:
        return _compile(self._xml)

    def reset_state(self, rng, init_qpos, init_qvel):
        state = self._reset(rng, init_qpos.copy(), init_qvel.copy())
        try:
            qpos, qvel = (np.asarray(x, dtype=np.float64) for x in state)
        except (TypeError, ValueError):
            raise TypeError(f"reset must return a (qpos, qvel) pair of arrays, got {state!r}") from None
        if qpos.shape != init_qpos.shape or qvel.shape != init_qvel.shape:
            raise ValueError(
                f"reset returned qpos {qpos.shape} and qvel {qvel.shape}, expected {init_qpos.shape} and {init_qvel.shape}"
            )
        return qpos, qvel

    def before_step(self, sim):
        return dict(self._before(sim)) if self._before else {}

    def observe(self, sim):
        # A copy: user functions may return live views of the batch (e.g. sim.qvel).
        return np.array(self._observe(sim), dtype=np.float64)

    def evaluate(self, sim, before, action):
        n = sim.num_envs
        returned = self._reward_terms(sim, before, action)
        if not isinstance(returned, Mapping):
            raise TypeError(f"reward_terms must return a dict of term name -> (N,) array, got {type(returned).__name__}")
        terms = {k: np.asarray(v, dtype=np.float64) for k, v in returned.items()}
        for name, value in terms.items():
            if value.shape != (n,):
                raise ValueError(f"reward term {name!r} has shape {value.shape}, expected (N,) = ({n},)")
        terminated = np.zeros(n, bool) if self._terminated is None else np.asarray(self._terminated(sim), dtype=bool)
        success = None if self._success is None else np.asarray(self._success(sim), dtype=bool)
        quantities = {} if self._quantities is None else dict(self._quantities(sim, before, action))
        return StepOutcome(reward_terms=terms, terminated=terminated, success=success, quantities=quantities)


def uniform_reset(scale: float) -> Callable:
    """A reset distribution: init state plus U(±scale) noise on qpos and qvel."""

    def reset(rng, init_qpos, init_qvel):
        qpos = init_qpos + rng.uniform(-scale, scale, size=init_qpos.shape)
        qvel = init_qvel + rng.uniform(-scale, scale, size=init_qvel.shape)
        return qpos, qvel

    return reset


def _compile(model: str | os.PathLike) -> mujoco.MjModel:
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be an MJCF file path or XML string, got {type(model).__name__}")
    text = os.fspath(model)
    try:
        if text.lstrip().startswith("<"):
            return mujoco.MjModel.from_xml_string(text)
        if not os.path.isfile(text):
            raise ValueError(f"MJCF file {text!r} does not exist (pass a path or an XML string)")
        return mujoco.MjModel.from_xml_path(text)
    except ValueError as exc:
        raise ValueError(f"invalid MJCF model: {exc}") from None


def register_task(
    card: TaskCard,
    model: str | os.PathLike,
    observe: Callable[[Sim], np.ndarray],
    reward_terms: Callable[[Sim, Mapping[str, np.ndarray], np.ndarray], Mapping[str, np.ndarray]],
    *,
    terminated: Callable[[Sim], np.ndarray] | None = None,
    success: Callable[[Sim], np.ndarray] | None = None,
    quantities: Callable[[Sim, Mapping[str, np.ndarray], np.ndarray], Mapping[str, np.ndarray]] | None = None,
    before_step: Callable[[Sim], Mapping[str, np.ndarray]] | None = None,
    reset: Callable[[np.random.Generator, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    frame_skip: int = 1,
    camera: Mapping[str, Any] | None = None,
    override: bool = False,
) -> None:
    """Register a new batched task under ``card.id`` for ``gym.make`` and ``gym.make_vec``.

    All functions work on the whole batch (N sub-envs) with numpy; ``sim`` is a
    :class:`~pbrl.envs.task.Sim` (``sim.qpos`` (N, nq), ``sim.qvel``,
    ``sim.body_xpos(name)`` (N, 3), ``sim.dt``, ...).

    Args:
        card: the task card; its ``id`` (e.g. ``"mylab/Slider-v0"``) is registered, its
            ``observation_labels`` fix the observation size, its ``reward_terms`` the
            term names, its ``max_episode_steps`` the time limit.
        model: an MJCF file path or XML string.
        observe: ``observe(sim) -> (N, obs_dim)``.
        reward_terms: ``reward_terms(sim, before, action) -> {term: (N,)}``, weighted;
            the reward is their sum. ``before`` is what ``before_step`` returned.
        terminated: ``terminated(sim) -> (N,) bool``; default never.
        success: ``success(sim) -> (N,) bool``; required iff ``card.success`` is set.
        quantities: ``quantities(sim, before, action) -> {name: (N,)}``, the card's
            named quantities, reported in ``info``.
        before_step: ``before_step(sim) -> {name: (N, ...)}``, copies of values taken
            before the physics step (e.g. positions, to compute velocities).
        reset: ``reset(rng, init_qpos, init_qvel) -> (qpos, qvel)`` for one sub-env,
            drawing from its generator; default U(±0.1) noise.
        frame_skip: MuJoCo steps per env step.
        camera: default camera, as Gymnasium's ``default_camera_config``.
        override: replace an already registered id.

    Raises:
        ValueError / TypeError: the model does not compile, or a function returns the
        wrong keys, shapes or non-finite values on a trial batch of two sub-envs.
    """
    if not isinstance(card, TaskCard):
        raise TypeError(f"card must be a pbrl.envs.TaskCard, got {type(card).__name__}")
    if "/" not in card.id or not card.id.split("/")[-1]:
        raise ValueError(f"task id {card.id!r} should look like 'namespace/Name-v0'")
    for name, fn in (("observe", observe), ("reward_terms", reward_terms)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {fn!r}")
    for name, fn in (("terminated", terminated), ("success", success), ("quantities", quantities), ("before_step", before_step), ("reset", reset)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {fn!r}")
    if (success is None) != (card.success is None):
        raise ValueError("pass a success function exactly when the card defines success (card.success)")
    if isinstance(frame_skip, bool) or not isinstance(frame_skip, int) or frame_skip < 1:
        raise ValueError(f"frame_skip must be a positive integer, got {frame_skip!r}")
    compiled = _compile(model)  # fail early on bad MJCF
    if compiled.nu == 0:  # a function task's action is its controls (Task.action_bounds' default)
        raise ValueError("the MJCF model has no actuators, so the task would have no actions")
    if not card.reward_terms:
        raise ValueError("the card must name at least one reward term")

    def factory(**kwargs):
        if kwargs:
            raise TypeError(f"{card.id} takes no keyword arguments, got {sorted(kwargs)}")
        return FunctionTask(card, model, observe, reward_terms, terminated, success, quantities, before_step, reset or uniform_reset(0.1), frame_skip, camera)

    factory.card = card  # type: ignore[attr-defined]
    _check_task(factory())
    _register(card, factory, override)


def _check_task(task: FunctionTask) -> None:
    """Run the task's functions on two sub-envs and name whatever is inconsistent."""
    from .engine import TaskEngine

    card = task.card
    engine = TaskEngine(task, 2, nthread=1)
    engine.seed([0, 1], np.arange(2))
    try:
        engine.reset(np.arange(2))
    except Exception as exc:
        raise ValueError(f"{card.id}: reset failed: {exc}") from exc
    try:
        obs = engine.observe()
    except RuntimeError as exc:
        raise ValueError(f"{card.id}: {exc}; the card has {card.obs_dim} observation labels") from None
    except Exception as exc:
        raise ValueError(f"{card.id}: observe failed: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(obs).all():
        raise ValueError(f"{card.id}: observe returned non-finite values after a reset")
    action = np.zeros((2, engine.act_dim))
    try:
        out = engine.step(action)
    except Exception as exc:
        raise ValueError(f"{card.id}: a trial step failed: {type(exc).__name__}: {exc}") from exc
    o = out.outcome
    if set(o.reward_terms) != set(card.term_names):
        raise ValueError(f"{card.id}: reward_terms returned {sorted(o.reward_terms)}, the card names {sorted(card.term_names)}")
    for name, value in o.reward_terms.items():
        if np.shape(value) != (2,):
            raise ValueError(f"{card.id}: reward term {name!r} has shape {np.shape(value)}, expected (N,)")
    if np.shape(o.terminated) != (2,):
        raise ValueError(f"{card.id}: terminated returned shape {np.shape(o.terminated)}, expected (N,)")
    if o.success is not None and np.shape(o.success) != (2,):
        raise ValueError(f"{card.id}: success returned shape {np.shape(o.success)}, expected (N,)")
    missing = set(card.quantities) - set(o.quantities)
    if missing:
        raise ValueError(f"{card.id}: quantities lacks {sorted(missing)} named on the card")
    for name, value in o.quantities.items():
        if np.shape(value) != (2,):
            raise ValueError(f"{card.id}: quantity {name!r} has shape {np.shape(value)}, expected (N,)")
    if not np.isfinite(out.reward).all():
        raise ValueError(f"{card.id}: the reward is not finite on a trial step")
