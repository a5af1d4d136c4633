"""Env-steps per second: pbrl's batched envs against their references and the physics.

    python benchmarks/throughput.py [--quick] [--json PATH] [--tasks HalfCheetah,Ant]
    python benchmarks/throughput.py --tasks dmc-walker-walk,dmc-quadruped-walk,metaworld-door-open
    pbrl bench throughput [--quick] [-- --json PATH]

Tasks (``--tasks``; a pbrl id that is not registered is skipped with a note):

* Gymnasium's locomotion tasks by name (default HalfCheetah, Hopper, Ant):
  ``pbrl/<Name>-v5`` against Gymnasium's ``<Name>-v5``;
* DeepMind Control tasks as ``dmc-<domain>-<task>`` (``dmc-walker-walk``,
  ``dmc-quadruped-walk``): ``pbrl/dmc-<domain>-<task>-v0`` against dm_control through
  Shimmy's Gymnasium conversion, ``dm_control/<domain>-<task>-v0``, with its dict
  observation flattened by ``gymnasium.wrappers.FlattenObservation``: an agent needs
  the vector (B-Pref's dmc2gym flattens it too), so the flattening counts in the
  reference's cost;
* Meta-World tasks as ``metaworld-<task>`` (``metaworld-door-open``):
  ``pbrl/metaworld-<task>-v3`` against Meta-World's own ``<task>-v3`` env class
  (``metaworld.env_dict.ALL_V3_ENVIRONMENTS``), set up as pbrl's default task is: goal
  observable (MT1), a fresh object/goal vector from the env's own seeded generator at
  every reset, its own 500-step truncation, none of MT1's other wrappers (which would
  only slow it). Meta-World 3.1.1 pins mujoco 3.3.0; on MuJoCo 4 its only failure is
  ``SawyerMocapBase.reset_mocap_welds`` (11 values into an ``eq_data`` row of 12), so
  while its envs are built that one method is replaced by the one of
  tests/envs/test_metaworld_parity.py (the 11 values into the first 11 entries) and put
  back after; everything it steps is Meta-World's code.

A dm_control or Meta-World task whose reference package (Shimmy with dm_control;
metaworld) is missing is still measured against raw and the physics limit, its sync
and async cells empty and a note saying why.

For each task and each number of sub-envs N (1, 16, 64, 256) it measures env-steps/s of

* ``pbrl``: ``gym.make_vec(<pbrl id>, N)``, mujoco.batch on one native thread per core;
* ``sync``: Gymnasium's ``SyncVectorEnv`` of the reference env;
* ``async``: Gymnasium's ``AsyncVectorEnv`` (one process per sub-env), only up to
  ``--async-max`` sub-envs (default 16): beyond that, on a 2-core machine, it is
  N processes fighting over two cores and mostly measures the scheduler;
* ``envpool``: EnvPool's ``<Name>-v5`` (gymnasium API, one thread per core), if
  ``import envpool`` works; Gymnasium tasks only;
* ``raw`` ("raw Batch.step"): the bare ``mujoco.batch.Batch`` under pbrl's env, built
  as ``TaskEngine`` builds it (the task's own model, ``set_models``, the same
  ``nthread`` and ``persistent``), stepping ``frame_skip`` substeps per env step with
  the same random actions written into its ``ctrl`` array, and nothing else: no
  observations, rewards, checks or resets. So that it steps the same physics, each step
  starts from a state pbrl's env was in: up to 16 integration-state rows recorded
  from pbrl's env after 50 random steps (resets and falls included), cycled and written
  into the batch's state before each step (a copy of N × nstate doubles, ≤ 0.5 % of a
  step; without it a raw batch drifts into fallen or tangled states that pbrl's env
  would have reset, and steps a different workload). The physics of a step is the
  task's: for dm_control tasks ``action_repeat`` × ``Batch.step(stage=mjSTAGE_VEL)``,
  as pbrl's engine steps them (positions, velocities and sensors current after the
  step, as dm_control's step leaves them); for Meta-World tasks the action moves the
  hand's mocap target and sets the finger controls (as the task's ``apply_action``),
  and the step is ``Batch.step(stage=mjSTAGE_ACC)``, which ends with the ``mj_forward``
  Meta-World's step runs (in the same native call, as pbrl's engine does; a persistent
  batch continues the next step from it). pbrl's rate is shown as a percentage of it;
* the physics limit: the single-core rate of the same physics in a tight loop on one
  ``MjData``, measured in the same run, × cores. For Gymnasium tasks, Gymnasium's model:
  ``mj_step(model, data, nstep=frame_skip)`` with the same random actions, resetting
  whenever Gymnasium's env would end the episode. For dm_control and Meta-World tasks,
  pbrl's own model (``task.build_model()``): ``mj_step(nstep=frame_skip ×
  action_repeat)`` (walker 10, quadruped 4, door-open 5) after the action is written
  as above, plus Meta-World's ``mj_forward`` (the JSON also gives the limit without
  it); episodes start from reset states of pbrl's env and last the task's
  ``max_episode_steps``. dm_control's own step does the same work: it runs ``mj_step2``,
  n − 1 ``mj_step`` and ``mj_step1``, which is n steps; the mjSTAGE_VEL stages pbrl
  computes after a step are what the persistent batch's next step starts from, so they
  cost nothing extra. Only the MuJoCo calls are timed. No vector env can beat it.

Every backend steps the same pre-generated uniform random actions (a bank of 64
batched actions, cycled), autoresets as it does by default, and is timed in
``--repeat`` windows of ``--seconds`` after ``--warmup`` steps; the best window
counts (the least disturbed by other processes; the physics limit is the best
window too). Windows of a few hundred batched steps seldom reach the end of a
500- or 1,000-step episode, so for the dm_control and Meta-World tasks neither side's
resets are timed (Meta-World's own reset simulates 2 × 250 hand-reset substeps,
which pbrl simulates once per model). The table shows env-steps/s with the ratios
pbrl/sync and pbrl/physics-limit, and "others' CPU": the largest share of the
machine's CPU time that other processes used while a row was measured (from
/proc/stat; over the pbrl, sync and EnvPool measurements, since AsyncVectorEnv's own
workers are other processes). The JSON (default ``benchmarks/results/throughput.json``)
has every number plus the machine, the versions, what each reference is
(``references``) and the load average before and after. Other processes on a 2-core
machine change these figures a lot, the 2-thread backends (pbrl, EnvPool) more
than the 1-thread ones: trust rows whose others' CPU is a few percent.

Resident memory per sub-env (``--memory-n``, default 4096; ``--no-memory`` skips it):
for pbrl's ``gym.make_vec(<pbrl id>, num_envs=N)`` and for the raw batch of the
same model and N, each in a fresh subprocess: its RSS after construction, a reset and
a few steps minus its RSS just before (after the imports and a throwaway N = 1 env,
identical in both), divided by N, in KB; and the ratio pbrl/raw (target: within 1.5x).
Each is read twice, in separate subprocesses: plain, and with glibc's free memory
returned to the system before each reading (``malloc_trim``). The plain reading
under-counts whatever lands on pages the imports and the warm-up env freed (already
resident before) and counts freed temporaries the allocator keeps; the trimmed one is
the memory the N sub-envs hold.

It also measures what Ant's contact forces cost: the per-env ``mj_rnePostConstraint``
loop (in place in the persistent batch, ``envs/_native.py``; and, side by side, the
portable ``get_data`` copy + ``mj_rnePostConstraint``) against the batched physics step, and
the persistent batch (needed for that loop) against a non-persistent one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from pbrl.envs.engine import usable_cores

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, cpu_model, write_report  # noqa: E402

TASKS = ("HalfCheetah", "Hopper", "Ant")
SIZES = (1, 16, 64, 256)
DEFAULT_JSON = os.path.join(RESULTS, "throughput.json")
ACTION_BANK = 64
MEMORY_N = 4096
MEMORY_STEPS = 5
BACKENDS = ("pbrl", "raw", "sync", "async", "envpool")

warnings.filterwarnings("ignore", message=".*settotalmass.*")


# -- tasks and their references -----------------------------------------------------


@dataclass(frozen=True)
class TaskIds:
    """What a ``--tasks`` name stands for: pbrl's id and the reference it is compared with."""

    name: str
    #: "gymnasium" (``HalfCheetah``), "dm_control" (``dmc-walker-walk``) or "metaworld" (``metaworld-door-open``)
    suite: str
    pbrl: str
    #: Gymnasium's id, Shimmy's ``dm_control/<domain>-<task>-v0``, or Meta-World's env name
    reference: str


def task_ids(name: str) -> TaskIds:
    """``HalfCheetah`` -> ``pbrl/HalfCheetah-v5`` vs ``HalfCheetah-v5``; ``dmc-walker-walk`` ->
    ``pbrl/dmc-walker-walk-v0`` vs Shimmy's ``dm_control/walker-walk-v0``; ``metaworld-door-open``
    -> ``pbrl/metaworld-door-open-v3`` vs Meta-World's ``door-open-v3``."""
    if name.startswith("dmc-"):
        return TaskIds(name, "dm_control", f"pbrl/{name}-v0", f"dm_control/{name[len('dmc-'):]}-v0")
    if name.startswith("metaworld-"):
        return TaskIds(name, "metaworld", f"pbrl/{name}-v3", f"{name[len('metaworld-'):]}-v3")
    return TaskIds(name, "gymnasium", f"pbrl/{name}-v5", f"{name}-v5")


def reference_missing(ids: TaskIds) -> str | None:
    """Why the reference of a dm_control or Meta-World task cannot be made here, or None."""
    import gymnasium as gym

    if ids.suite == "dm_control":
        try:
            with warnings.catch_warnings():  # dm_control looks for an OpenGL backend on import
                warnings.simplefilter("ignore")
                import shimmy  # noqa: F401  (registers the dm_control/ ids)
        except Exception as exc:
            return f"Shimmy/dm_control not available ({type(exc).__name__}: {exc}); `pip install shimmy[dm-control]`"
        if ids.reference not in gym.registry:
            return f"Shimmy {shimmy.__version__} has no {ids.reference}"
        return None
    if ids.suite == "metaworld":
        try:
            from metaworld.env_dict import ALL_V3_ENVIRONMENTS
        except Exception as exc:
            return f"Meta-World not available ({type(exc).__name__}: {exc}); `pip install metaworld --no-deps`"
        if ids.reference not in ALL_V3_ENVIRONMENTS:
            return f"Meta-World has no {ids.reference}"
        return None
    return None if ids.reference in gym.registry else f"Gymnasium has no {ids.reference}"


def _reset_mocap_welds(self) -> None:
    """Meta-World 3.1.1's ``SawyerMocapBase.reset_mocap_welds`` for MuJoCo 4, whose weld rows of
    ``eq_data`` have 12 entries: its 11 values into the first 11, the 12th kept as compiled (the
    shim of tests/envs/test_metaworld_parity.py, and what pbrl's ``build_model`` writes)."""
    import mujoco

    if self.model.nmocap > 0 and self.model.eq_data is not None:
        for i in range(self.model.eq_data.shape[0]):
            if self.model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                self.model.eq_data[i, :11] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0]


@contextlib.contextmanager
def _mujoco4_welds():
    """Meta-World's class with :func:`_reset_mocap_welds` while envs are built (its only caller is
    ``SawyerMocapBase.__init__``); put back after, so nothing else in the process sees it."""
    from metaworld import sawyer_xyz_env

    base = sawyer_xyz_env.SawyerMocapBase
    original = base.__dict__["reset_mocap_welds"]
    base.reset_mocap_welds = _reset_mocap_welds
    try:
        yield
    finally:
        base.reset_mocap_welds = original


def make_metaworld(env_name: str, seed: int):
    """Meta-World's own ``<env_name>`` as pbrl's default task is: goal observable (MT1), a fresh
    object/goal vector from the env's own seeded generator at every reset (unfrozen,
    ``seeded_rand_vec``), its own 500-step truncation; built under :func:`_mujoco4_welds`."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    with _mujoco4_welds():
        env = ALL_V3_ENVIRONMENTS[env_name]()
    env._partially_observable = False
    env.__dict__.pop("sawyer_observation_space", None)  # cached with the goal hidden
    env.observation_space = env.sawyer_observation_space
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    env._set_task_called = True
    env.seed(seed)
    return env


def make_dm_control(gym_id: str):
    """Shimmy's Gymnasium conversion of a dm_control task, its dict observation flattened (an
    agent needs a vector: B-Pref's dmc2gym flattens it too)."""
    import gymnasium as gym

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shimmy  # noqa: F401

        return gym.wrappers.FlattenObservation(gym.make(gym_id))


def reference_vector(ids: TaskIds, n: int, kind: str, seed: int = 0):
    """The reference env of ``ids`` in Gymnasium's Sync- or AsyncVectorEnv, ``n`` sub-envs."""
    import functools

    import gymnasium as gym

    if ids.suite == "gymnasium":
        return gym.make_vec(ids.reference, num_envs=n, vectorization_mode=kind)
    if ids.suite == "dm_control":
        fns = [functools.partial(make_dm_control, ids.reference)] * n
    else:
        fns = [functools.partial(make_metaworld, ids.reference, seed + i) for i in range(n)]
    return gym.vector.SyncVectorEnv(fns) if kind == "sync" else gym.vector.AsyncVectorEnv(fns)


def action_bounds(ids: TaskIds) -> tuple[np.ndarray, np.ndarray]:
    """The single env's action bounds: Gymnasium's env's, else pbrl's (dm_control's and Meta-World's
    are [-1, 1], the same in pbrl's tasks)."""
    import gymnasium as gym

    probe = gym.make(ids.reference if ids.suite == "gymnasium" else ids.pbrl)
    low, high = probe.action_space.low, probe.action_space.high
    probe.close()
    return low, high


#: what ``sync``/``async`` step for each suite (``report["references"]``)
REFERENCES = {
    "gymnasium": "Gymnasium's {ref} (gym.make_vec)",
    "dm_control": (
        "dm_control through Shimmy's {ref}, its dict observation flattened by gymnasium.wrappers.FlattenObservation"
    ),
    "metaworld": (
        "Meta-World's own {ref} env (goal observable, a fresh seeded vector each reset, its 500-step truncation; "
        "reset_mocap_welds shimmed for MuJoCo 4's 12-entry eq_data while it is built)"
    ),
}


# -- machine ------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "unknown")


def machine_info() -> dict[str, Any]:
    return {
        "nproc": usable_cores(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mujoco": _version("mujoco"),
        "gymnasium": _version("gymnasium"),
        "pbrl": _version("pbrl"),
        "envpool": _version("envpool"),
        "dm_control": _package_version("dm_control"),
        "shimmy": _package_version("shimmy"),
        "metaworld": _package_version("metaworld"),
    }


def _package_version(dist: str) -> str | None:
    """An installed distribution's version without importing it (metaworld has no __version__)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# -- timing -------------------------------------------------------------------------


class OtherLoad:
    """Share of the machine's CPU time that other processes used, over a span.

    From /proc/stat (all CPUs) minus this process's own CPU time, so it says how
    disturbed a measurement was; None where /proc/stat is missing. AsyncVectorEnv's
    worker processes count as "other".
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        t = os.times()
        return sum(values), values[3] + values[4], t.user + t.system

    def share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        total = (end[0] - self.start[0]) / hz
        busy = total - (end[1] - self.start[1]) / hz
        own = end[2] - self.start[2]
        if total <= 0:
            return None
        return min(1.0, max(0.0, (busy - own) / total))


def time_steps(
    step: Callable[[np.ndarray], Any], actions: np.ndarray, seconds: float, warmup: int, min_steps: int, repeat: int = 1
) -> tuple[float, int, float]:
    """Call ``step`` on the cycled action bank in ``repeat`` timed windows.

    Returns the best window's batched steps/s (the least disturbed by other
    processes), and the steps and seconds of all windows together.
    """
    bank = len(actions)
    for k in range(warmup):
        step(actions[k % bank])
    best = total = 0.0
    k = warmup
    for _ in range(repeat):
        n = 0
        start = time.perf_counter()
        while True:
            step(actions[k % bank])
            n += 1
            k += 1
            elapsed = time.perf_counter() - start
            if n >= min_steps and elapsed >= seconds:
                break
        best = max(best, n / elapsed)
        total += elapsed
    return best, k - warmup, total


def physics_rate(gym_id: str, actions: np.ndarray, seconds: float, repeat: int = 1, max_episode_steps: int = 1000) -> dict[str, Any]:
    """Single-core mj_step/s of Gymnasium's model, with the env's episode ends (best of ``repeat``)."""
    import gymnasium as gym
    import mujoco

    env = gym.make(gym_id).unwrapped
    env.reset(seed=0)
    model, data, frame_skip = env.model, env.data, env.frame_skip
    healthy = (lambda: env.is_healthy) if hasattr(env, "is_healthy") else (lambda: True)
    mj_step = mujoco.mj_step
    clock = time.perf_counter
    bank = len(actions)
    for k in range(20):  # warm up
        data.ctrl[:] = actions[k % bank]
        mj_step(model, data, nstep=frame_skip)
    env.reset(seed=0)
    rate = 0.0
    k = t_in_episode = 0
    for _ in range(repeat):
        stepping = 0.0
        calls = 0
        wall = clock()
        while stepping < seconds or calls < 50:
            data.ctrl[:] = actions[k % bank]
            t0 = clock()
            mj_step(model, data, nstep=frame_skip)
            stepping += clock() - t0
            calls += 1
            k += 1
            t_in_episode += 1
            if t_in_episode >= max_episode_steps or not healthy():
                env.reset()
                t_in_episode = 0
            if clock() - wall > 10 * seconds + 5:
                break
        rate = max(rate, calls * frame_skip / stepping)
    env.close()
    cores = usable_cores()
    return {
        "mj_step_per_s_1core": rate,
        "frame_skip": frame_skip,
        "cores": cores,
        "limit_env_steps_per_s": rate * cores / frame_skip,
    }


def mocap_driver(task, model) -> Callable[..., None]:
    """A Meta-World task's action on (n, ...) arrays, as its ``apply_action`` does it: the hand's
    mocap moves by ``clip(action[:3], -1, 1) * action_scale`` inside ``[hand_low, hand_high]``,
    its quaternion is set and the fingers get ``(grip, -grip)``."""
    from pbrl.envs.tasks.metaworld.base import MOCAP_QUAT

    hand = int(model.body_mocapid[model.body("mocap").id])
    low, high, scale = task.hand_low, task.hand_high, task.action_scale

    def drive(mocap_pos: np.ndarray, mocap_quat: np.ndarray, ctrl: np.ndarray, action: np.ndarray) -> None:
        mocap_pos[:, hand] = np.clip(mocap_pos[:, hand] + np.clip(action[:, :3], -1, 1) * scale, low, high)
        mocap_quat[:, hand] = MOCAP_QUAT
        ctrl[:, 0] = action[:, 3]
        ctrl[:, 1] = -action[:, 3]

    return drive


#: reset states of pbrl's env that the physics loop of a dm_control or Meta-World task starts its episodes from
LIMIT_STARTS = 16


def task_physics_rate(ids: TaskIds, actions: np.ndarray, seconds: float, repeat: int = 1) -> dict[str, Any]:
    """Single-core physics rate of pbrl's own model of a dm_control or Meta-World task, driven as
    its step drives it (best of ``repeat``).

    The model is ``task.build_model()``; one env step is ``mj_step(nstep=frame_skip ×
    action_repeat)`` after writing the action (ctrl = action for dm_control; the hand's mocap
    target and the finger controls for Meta-World, :func:`mocap_driver`), plus, for Meta-World,
    the ``mj_forward`` its step runs after the physics (timed, and also reported without it).
    Episodes start from one of ``LIMIT_STARTS`` reset states of pbrl's env (the integration
    state, mocap bodies included) and last the task's ``max_episode_steps``. Only the MuJoCo
    calls are timed.
    """
    import gymnasium as gym
    import mujoco

    from pbrl.envs.registry import make_task

    task = make_task(ids.pbrl)
    model = task.build_model()
    data = mujoco.MjData(model)
    env = gym.make_vec(ids.pbrl, num_envs=LIMIT_STARTS)
    env.reset(seed=0)
    starts = np.array(env.unwrapped.engine.batch.state)
    env.close()
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    assert starts.shape[1] == mujoco.mj_stateSize(model, spec), "Batch rows are not mjSTATE_INTEGRATION states"
    substeps = task.frame_skip * getattr(task, "action_repeat", 1)
    horizon = task.card.max_episode_steps or 1000
    metaworld = ids.suite == "metaworld"
    if metaworld:
        drive = mocap_driver(task, model)
        views = (data.mocap_pos[None], data.mocap_quat[None], data.ctrl[None])
        act = lambda a: drive(*views, a[None])  # noqa: E731
    else:
        act = lambda a: data.ctrl.__setitem__(slice(None), a)  # noqa: E731
    mj_step, mj_forward, clock = mujoco.mj_step, mujoco.mj_forward, time.perf_counter
    episodes = [0]

    def restart():
        mujoco.mj_setState(model, data, starts[episodes[0] % len(starts)], spec)
        mujoco.mj_forward(model, data)
        episodes[0] += 1

    bank = len(actions)
    restart()
    for k in range(20):  # warm up
        act(actions[k % bank])
        mj_step(model, data, nstep=substeps)
    restart()
    best = best_step_only = 0.0
    k = t_in_episode = 0
    for _ in range(repeat):
        stepping = forwarding = 0.0
        calls = 0
        wall = clock()
        while stepping + forwarding < seconds or calls < 50:
            act(actions[k % bank])
            t0 = clock()
            mj_step(model, data, nstep=substeps)
            t1 = clock()
            if metaworld:
                mj_forward(model, data)
                forwarding += clock() - t1
            stepping += t1 - t0
            calls += 1
            k += 1
            t_in_episode += 1
            if t_in_episode >= horizon:
                restart()
                t_in_episode = 0
            if clock() - wall > 10 * seconds + 5:
                break
        if calls / (stepping + forwarding) > best:
            best, best_step_only = calls / (stepping + forwarding), calls / stepping
    cores = usable_cores()
    out = {
        "mj_step_per_s_1core": best_step_only * substeps,
        "frame_skip": substeps,
        "cores": cores,
        "limit_env_steps_per_s": best * cores,
        "per_env_step": f"mj_step(nstep={substeps})" + (" + mj_forward" if metaworld else ""),
        "model": f"{ids.pbrl}'s task.build_model()",
    }
    if metaworld:
        out["limit_without_forward_env_steps_per_s"] = best_step_only * cores
    return out


# -- backends -----------------------------------------------------------------------


def raw_batch(name: str, n: int):
    """The bare ``mujoco.batch.Batch`` of pbrl's ``name`` task, as ``TaskEngine`` builds it.

    Returns (batch, task, settings): the task's own model, ``set_models`` (the sims read it
    live), the engine's default ``nthread`` and its ``persistent`` choice.
    """
    import mujoco.batch

    task, settings = raw_settings(name, n)
    model = task.build_model()
    batch = mujoco.batch.Batch(model, n, nthread=settings["nthread"], persistent=settings["persistent"])
    batch.set_models(model)
    batch.reset()
    batch._pbrl_model = model  # keep the model alive as long as the batch reads it
    return batch, task, settings


def raw_settings(name: str, n: int):
    """(task, the raw batch's settings): pbrl's task and TaskEngine's defaults for N = ``n``.

    ``frame_skip`` substeps per ``Batch.step``; for the tasks that need them, the ``stage``
    computed after it (dm_control's mjSTAGE_VEL; Meta-World's mjSTAGE_ACC, its mj_forward), ``action_repeat``
    steps per env step, the Meta-World ``mocap`` action (and a separate ``forward`` for a task whose stage does not run it).
    """
    import mujoco

    from pbrl.envs.engine import default_threads
    from pbrl.envs.registry import make_task

    ids = task_ids(name)
    task = make_task(ids.pbrl)
    stage = int(getattr(task, "step_stage", 0))
    settings = {
        "nthread": default_threads(n),
        "persistent": bool(task.needs_cfrc_ext or stage),  # as TaskEngine decides it
        "frame_skip": task.frame_skip,
    }
    if stage:
        settings["stage"] = stage
    if getattr(task, "action_repeat", 1) != 1:
        settings["action_repeat"] = task.action_repeat
    if ids.suite == "metaworld":
        settings["mocap"] = True
        if stage < int(mujoco.mjtStage.mjSTAGE_ACC):  # the mj_forward after Meta-World's step, unless the stage runs it
            settings["forward"] = True
    return task, settings


def raw_stepper(batch, task, settings) -> Callable[[np.ndarray], None]:
    """One env step's physics on the raw batch: the action written (ctrl, or Meta-World's hand mocap
    and fingers), ``action_repeat`` × ``Batch.step(nstep=frame_skip, stage=...)``, then Meta-World's
    ``Batch.forward()``."""
    frame_skip, stage, repeat = settings["frame_skip"], settings.get("stage", 0), settings.get("action_repeat", 1)
    ctrl, batch_step = batch.ctrl, batch.step
    if settings.get("mocap"):
        drive = mocap_driver(task, batch._pbrl_model)
        mocap_pos, mocap_quat = batch.bind("mocap_pos"), batch.bind("mocap_quat")

        def write(action):
            drive(mocap_pos, mocap_quat, ctrl, action)
    else:

        def write(action):
            ctrl[:] = action

    forward = batch.forward if settings.get("forward") else None
    if not stage and repeat == 1 and forward is None:

        def step(action):  # the Gymnasium tasks' path, as before
            ctrl[:] = action
            batch_step(nstep=frame_skip)

        return step

    def step(action):
        write(action)
        for _ in range(repeat):
            batch_step(nstep=frame_skip, stage=stage)
        if forward is not None:
            forward()

    return step


#: env steps pbrl's env takes before the raw batch's states are recorded, and how many
#: (at most; fewer where they would take more than RAW_STATE_BYTES)
RAW_WARMUP, RAW_STATES, RAW_STATE_BYTES = 50, 16, 256 << 20


def record_states(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Integration-state rows of pbrl's ``name`` env over a few random steps: what the
    raw batch replays, so that both step the same physics (the same contacts, falls and
    fresh resets), not a raw batch drifting into states pbrl's env would have reset."""
    import gymnasium as gym

    env = gym.make_vec(task_ids(name).pbrl, num_envs=n)
    try:
        env.reset(seed=seed)
        low, high = env.single_action_space.low, env.single_action_space.high
        rng = np.random.default_rng(seed + 1)
        draw = lambda: rng.uniform(low, high, size=(n, low.size)).astype(np.float32)  # noqa: E731
        for _ in range(RAW_WARMUP):
            env.step(draw())
        rows = env.unwrapped.engine.batch.state
        count = int(max(1, min(RAW_STATES, RAW_STATE_BYTES // max(1, rows.nbytes))))
        out = np.empty((count,) + rows.shape)
        for j in range(count):
            out[j] = rows
            env.step(draw())
        return out
    finally:
        env.close()


def make_backend(kind: str, name: str, n: int, seed: int = 0):
    """(step function, close function, action dtype) for one backend."""
    import gymnasium as gym

    ids = task_ids(name)
    if kind == "raw":
        states = record_states(name, n, seed=seed)
        batch, task, settings = raw_batch(name, n)
        raw_step, rows = raw_stepper(batch, task, settings), batch.state
        count = [0]

        def step(action):
            # each step starts from a state pbrl's env was in (resets and falls included)
            rows[:] = states[count[0] % len(states)]
            count[0] += 1
            raw_step(action)

        return step, (lambda: None), np.float32
    if kind == "pbrl":
        env = gym.make_vec(ids.pbrl, num_envs=n)
        env.reset(seed=seed)
        return env.step, env.close, np.float32
    if kind in ("sync", "async"):
        env = reference_vector(ids, n, kind, seed=seed)
        env.reset(seed=seed)
        return env.step, env.close, np.float32
    if kind == "envpool":
        import envpool

        env = envpool.make(f"{name}-v5", env_type="gymnasium", num_envs=n, batch_size=n, num_threads=min(usable_cores(), n), seed=seed)
        env.reset()
        return env.step, env.close, np.float64
    raise ValueError(kind)


def envpool_status(names: list[str]) -> tuple[bool, str]:
    try:
        import envpool
    except Exception as exc:  # not installed, or a broken build
        return False, f"EnvPool not available ({type(exc).__name__}: {exc}); `pip install envpool` to include it"
    try:
        have = set(envpool.list_all_envs())
    except Exception as exc:
        return False, f"EnvPool {getattr(envpool, '__version__', '?')} imported but could not list its envs: {exc}"
    missing = [f"{n}-v5" for n in names if f"{n}-v5" not in have]
    if len(missing) == len(names):
        return False, f"EnvPool {envpool.__version__} has no MuJoCo v5 tasks ({', '.join(missing)})"
    note = f"EnvPool {envpool.__version__}: gymnasium API, num_threads = min(cores, N)"
    if missing:
        note += f"; lacks {', '.join(missing)}"
    return True, note


# -- resident memory ----------------------------------------------------------------


def rss_kb() -> int | None:
    """This process's resident set size now (VmRSS), in KB; None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def malloc_trim() -> bool:
    """Return the C allocator's free memory to the system (glibc's ``malloc_trim(0)``).

    Without it, a reading counts whatever freed memory the allocator happens to keep or
    to reuse: the imports' and the warm-up env's freed blocks make the new allocations
    look smaller than they are (they land on pages already resident), and freed step
    temporaries look like held memory. False where there is no glibc.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def memory_probe(kind: str, name: str, n: int, steps: int = MEMORY_STEPS, trim: bool = False) -> dict[str, Any]:
    """RSS that ``n`` sub-envs of ``kind`` ("pbrl" or "raw") add to this process.

    Meant for a fresh process (:func:`measure_memory` runs it in one): the imports and
    a throwaway N = 1 env of the same kind come first, so that lazy imports and
    one-off caches are not counted; then RSS before, construction, a reset and
    ``steps`` random steps, RSS after. With ``trim``, the allocator's free memory is
    returned to the system before each reading (:func:`malloc_trim`), so the difference
    is the memory the N sub-envs hold.
    """
    import gymnasium as gym

    import pbrl  # noqa: F401  (registers the pbrl/ ids)

    ids = task_ids(name)

    def build(count: int):
        if kind == "pbrl":
            env = gym.make_vec(ids.pbrl, num_envs=count)
            env.reset(seed=0)
            return env, env.step, env.action_space.shape[1]
        if kind == "raw":
            batch, task, settings = raw_batch(name, count)
            return batch, raw_stepper(batch, task, settings), batch.ctrl.shape[1]
        raise ValueError(kind)

    env, step, act_dim = build(1)
    step(np.zeros((1, act_dim), np.float32))
    if kind == "pbrl":
        env.close()
    del env, step
    low, high = action_bounds(ids)
    actions = np.random.default_rng(0).uniform(low, high, size=(steps, n, len(low))).astype(np.float32)
    gc.collect()
    trimmed = trim and malloc_trim()
    before = rss_kb()
    built = build(n)  # kept alive until RSS is read
    step = built[1]
    for k in range(steps):
        step(actions[k])
    gc.collect()
    if trimmed:
        malloc_trim()
    after = rss_kb()
    if before is None or after is None or (trim and not trimmed):
        return {"kind": kind, "task": name, "num_envs": n, "rss_before_kb": None, "rss_after_kb": None, "kb_per_env": None}
    return {
        "kind": kind,
        "task": name,
        "num_envs": n,
        "steps": steps,
        "trimmed": bool(trimmed),
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_env": (after - before) / n,
    }


def measure_memory(name: str, n: int, timeout: float = 900.0) -> dict[str, Any]:
    """KB per sub-env of pbrl's env and of the raw batch, each in a fresh subprocess.

    Two readings each: plain RSS differences (``pbrl``, ``raw``) and with the allocator's
    free memory returned before each reading (``pbrl_live``, ``raw_live``, glibc only).
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out: dict[str, Any] = {"num_envs": n}
    for key in ("pbrl", "raw", "pbrl_live", "raw_live"):
        kind = key.split("_")[0]
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-probe", kind, name, str(n)]
        if key.endswith("_live"):
            cmd.append("trim")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root, env=env, check=False)
        except subprocess.TimeoutExpired:
            out[key] = {"error": f"timed out after {timeout:.0f} s"}
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            out[key] = {"error": f"exit {done.returncode}: {' / '.join(tail)}"}
            continue
        out[key] = json.loads(lines[-1])
    for suffix in ("", "_live"):
        pbrl_kb, raw_kb = (out[kind + suffix].get("kb_per_env") for kind in ("pbrl", "raw"))
        out[f"pbrl{suffix}_kb_per_env"] = pbrl_kb
        out[f"raw{suffix}_kb_per_env"] = raw_kb
        out[f"pbrl_over_raw{suffix}"] = _ratio(pbrl_kb, raw_kb)
    return out


def render_memory_table(report: dict[str, Any]) -> str:
    head = [
        "task", "N", "pbrl KB/env", "raw Batch KB/env", "pbrl/raw",
        "pbrl KB/env, trimmed", "raw KB/env, trimmed", "pbrl/raw, trimmed",
    ]
    rows = []
    kb = lambda x: f"{x:,.2f}" if x is not None else "–"
    ratio = lambda r: f"{r:.2f}×" if r is not None else "–"
    for task, m in report.get("memory", {}).items():
        rows.append([
            task, m["num_envs"], kb(m.get("pbrl_kb_per_env")), kb(m.get("raw_kb_per_env")), ratio(m.get("pbrl_over_raw")),
            kb(m.get("pbrl_live_kb_per_env")), kb(m.get("raw_live_kb_per_env")), ratio(m.get("pbrl_over_raw_live")),
        ])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


# -- Ant's contact forces -----------------------------------------------------------


def cfrc_cost(sizes: tuple[int, ...], steps: int, seed: int = 0) -> dict[str, Any]:
    """Time Ant's per-env cfrc_ext loop against the batched physics it follows."""
    import gymnasium as gym
    import mujoco
    import mujoco.batch

    out: dict[str, Any] = {}
    for n in sizes:
        env = gym.make_vec("pbrl/Ant-v5", num_envs=n)
        env.reset(seed=seed)
        engine = env.unwrapped.engine
        sim, batch = engine.sim, engine.batch
        lean = mujoco.batch.Batch(engine.model, n, nthread=engine.nthread, persistent=False)
        lean.reset()
        rng = np.random.default_rng(seed)
        actions = rng.uniform(-1, 1, size=(ACTION_BANK, n, engine.act_dim)).astype(np.float32)
        t_step = t_loop = t_lean = t_copy = 0.0
        scratch = mujoco.MjData(engine.model)
        for k in range(steps + 5):
            a = actions[k % ACTION_BANK]
            if k % 100 == 99:  # keep the ants on their feet, as episodes would
                env.reset()
            lean.state[:] = batch.state  # same states for the non-persistent batch
            lean.ctrl[:] = a
            t0 = time.perf_counter()
            lean.step(nstep=engine.task.frame_skip)
            t1 = time.perf_counter()
            sim.ctrl[:] = a
            batch.step(nstep=engine.task.frame_skip)
            t2 = time.perf_counter()
            sim._invalidate()
            sim.cfrc_ext
            t3 = time.perf_counter()
            for i in range(n):  # the portable path: a whole-MjData copy, then rne on it
                batch.get_data(i, scratch)
                mujoco.mj_rnePostConstraint(engine.model, scratch)
            t4 = time.perf_counter()
            if k >= 5:
                t_lean += t1 - t0
                t_step += t2 - t1
                t_loop += t3 - t2
                t_copy += t4 - t3
        env.close()
        out[str(n)] = {
            "num_envs": n,
            "threads": engine.nthread,
            "physics_step_ms": 1e3 * t_step / steps,
            "cfrc_loop_ms": 1e3 * t_loop / steps,
            "cfrc_loop_us_per_env": 1e6 * t_loop / steps / n,
            "loop_over_step": t_loop / t_step,
            "in_place": sim._native is not None,
            "copy_loop_us_per_env": 1e6 * t_copy / steps / n,
            "copy_over_step": t_copy / t_step,
            "nonpersistent_step_ms": 1e3 * t_lean / steps,
            "persistent_over_nonpersistent": t_step / t_lean,
        }
    return out


# -- main ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: short timings, N in {1, 16}, memory at N = 16")
    p.add_argument("--json", default=DEFAULT_JSON, help=f"where to write the results (default {DEFAULT_JSON})")
    p.add_argument(
        "--tasks", default=",".join(TASKS),
        help="comma-separated task names: Gymnasium's (HalfCheetah), dmc-<domain>-<task> (dmc-walker-walk), "
        "metaworld-<task> (metaworld-door-open) (default: %(default)s)",
    )
    p.add_argument("--sizes", default=None, help="comma-separated numbers of sub-envs (default 1,16,64,256; quick 1,16)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per timed window (default 1; quick 0.1)")
    p.add_argument("--repeat", type=int, default=None, help="timed windows per measurement, best kept (default 3; quick 1)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 20; quick 3)")
    p.add_argument("--async-max", type=int, default=16, help="largest N for AsyncVectorEnv (default 16)")
    p.add_argument(
        "--backends", default="pbrl,raw,sync,async,envpool",
        help="which backends (default: %(default)s; raw = the bare mujoco.batch Batch.step)",
    )
    p.add_argument("--no-cfrc", action="store_true", help="skip the Ant contact-force cost measurement")
    p.add_argument(
        "--memory-n", type=int, default=None,
        help=f"sub-envs for the resident-memory measurement (default {MEMORY_N}; quick 16)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the resident-memory measurement")
    p.add_argument("--memory-only", action="store_true", help="only the resident-memory measurement (no timings)")
    args = p.parse_args(argv)
    if args.memory_only and args.no_memory:
        p.error("--memory-only and --no-memory exclude each other")
    args.memory_n = args.memory_n if args.memory_n is not None else (16 if args.quick else MEMORY_N)
    if args.memory_n < 1:
        p.error("--memory-n must be a positive integer")
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.sizes is None:
        args.sizes = "1,16" if args.quick else ",".join(map(str, SIZES))
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if any(s < 1 for s in args.sizes):
        p.error("--sizes must be positive integers")
    args.seconds = args.seconds if args.seconds is not None else (0.1 if args.quick else 1.0)
    args.repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if args.repeat < 1 or args.seconds <= 0:
        p.error("--repeat must be >= 1 and --seconds > 0")
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 20)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        p.error(f"unknown backend(s) {sorted(unknown)}")
    return args


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}"


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def render_table(report: dict[str, Any]) -> str:
    backends = report["config"]["backends"]
    raw = "raw" in backends
    envpool = "envpool" in backends
    columns = [b for b in backends if b != "raw"]
    head = ["task", "N"] + columns + ["physics limit"] + (["raw Batch.step"] if raw else [])
    sync = "sync" in backends
    head += (["pbrl/sync"] if sync else []) + ["pbrl/limit"] + (["pbrl/raw"] if raw else []) + (["pbrl/envpool"] if envpool else [])
    head += ["others' CPU"]
    times = lambda x: f"{x:.2f}×" if x is not None else "–"
    percent = lambda x: f"{100 * x:.0f} %" if x is not None else "–"
    rows = []
    for task, per_n in report["results"].items():
        for n, row in per_n.items():
            cells = [task, n] + [_fmt(row.get(b)) for b in columns] + [_fmt(row.get("physics_limit"))]
            if raw:
                cells.append(_fmt(row.get("raw")))
            if sync:
                cells.append(times(row.get("pbrl_over_sync")))
            cells.append(percent(row.get("pbrl_over_limit")))
            if raw:
                cells.append(percent(row.get("pbrl_over_raw")))
            if envpool:
                cells.append(times(row.get("pbrl_over_envpool")))
            other = row.get("other_cpu_max")
            cells.append(f"≤ {100 * other:.0f} %" if other is not None else "–")
            rows.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


def _task_error(ids: TaskIds) -> str | None:
    """Why pbrl's task cannot be made (e.g. dm_control, whose MJCF files it loads, not installed), or None."""
    from pbrl.envs.registry import make_task

    try:
        make_task(ids.pbrl)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import gymnasium as gym

    import pbrl  # noqa: F401  (registers the pbrl/ ids)

    report: dict[str, Any] = {
        "machine": machine_info(),
        "load": {"before": list(os.getloadavg())},
        "config": {
            "quick": args.quick,
            "sizes": args.sizes,
            "seconds": args.seconds,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "async_max": args.async_max,
            "backends": [],
            "memory_n": None if args.no_memory else args.memory_n,
            "memory_only": args.memory_only,
            "actions": f"uniform random in the action space, a bank of {ACTION_BANK} batched actions cycled, seed 0",
        },
        "notes": [],
        "physics": {},
        "raw_batch": {},
        "results": {},
        "memory": {},
    }
    notes = report["notes"]
    tasks = []
    no_reference: dict[str, str] = {}  # dm_control / Meta-World tasks measured without their reference
    for name in args.tasks:
        ids = task_ids(name)
        if ids.pbrl not in gym.registry:
            notes.append(f"{ids.pbrl} is not registered: skipped")
        elif ids.suite == "gymnasium":
            if ids.reference not in gym.registry:
                notes.append(f"Gymnasium has no {ids.reference}: skipped")
            else:
                tasks.append(name)
        elif (unusable := _task_error(ids)) is not None:
            notes.append(f"{ids.pbrl} cannot be made here ({unusable}): skipped")
        else:
            missing = reference_missing(ids) if {"sync", "async"} & set(args.backends) else None
            if missing:
                no_reference[name] = missing
                notes.append(f"{name}: no sync/async reference ({missing})")
            tasks.append(name)
    report["references"] = {name: REFERENCES[task_ids(name).suite].format(ref=task_ids(name).reference) for name in tasks}

    backends = [] if args.memory_only else [b for b in args.backends]
    if "envpool" in backends:
        gym_tasks = [name for name in tasks if task_ids(name).suite == "gymnasium"]
        if len(gym_tasks) < len(tasks):
            notes.append("EnvPool is compared on the Gymnasium tasks only (not on dm_control or Meta-World)")
        ok, note = envpool_status(gym_tasks) if gym_tasks else (False, "EnvPool: no Gymnasium task selected")
        notes.append(note)
        if not ok:
            backends.remove("envpool")
    if "async" in backends:
        notes.append(f"AsyncVectorEnv measured only for N <= {args.async_max} (one process per sub-env on {usable_cores()} cores)")
    report["config"]["backends"] = backends
    if "raw" in backends:
        notes.append(
            "raw Batch.step: pbrl's own model and Batch settings (nthread, persistent, set_models), "
            "frame_skip substeps, ctrl written each step; no observations, rewards, checks or resets; "
            f"each step from one of up to {RAW_STATES} states recorded from pbrl's env after {RAW_WARMUP} random steps"
        )
        if any(task_ids(name).suite != "gymnasium" for name in tasks):
            notes.append(
                "raw Batch.step of dm_control tasks: Batch.step(stage=mjSTAGE_VEL) as pbrl's engine steps them; "
                "of Meta-World tasks: the hand's mocap target and finger controls written, then "
                "Batch.step(stage=mjSTAGE_ACC), which ends with the mj_forward Meta-World's step runs, as pbrl's engine does"
            )
    min_steps = 3 if args.quick else 10
    cores = usable_cores()

    print(f"pbrl throughput: {cores} cores ({cpu_model()}), load average {os.getloadavg()[0]:.2f}", flush=True)
    for name in [] if args.memory_only else tasks:
        ids = task_ids(name)
        rng = np.random.default_rng(0)
        low, high = action_bounds(ids)
        act_dim = low.size
        single = rng.uniform(low, high, size=(ACTION_BANK, act_dim)).astype(np.float32)
        if ids.suite == "gymnasium":
            physics = physics_rate(ids.reference, single, args.seconds, args.repeat)
        else:
            physics = task_physics_rate(ids, single, args.seconds, args.repeat)
        report["physics"][name] = physics
        print(
            f"{name}: physics {physics['mj_step_per_s_1core']:,.0f} mj_step/s on one core, "
            f"limit {physics['limit_env_steps_per_s']:,.0f} env-steps/s on {cores} cores"
            + (f" ({physics['per_env_step']} per env step)" if "per_env_step" in physics else ""),
            flush=True,
        )
        per_n: dict[str, Any] = {}
        if "raw" in backends:
            report["raw_batch"][name] = {str(n): raw_settings(name, n)[1] for n in args.sizes}
        for n in args.sizes:
            actions = np.random.default_rng(n).uniform(low, high, size=(ACTION_BANK, n, act_dim)).astype(np.float32)
            row: dict[str, Any] = {"physics_limit": physics["limit_env_steps_per_s"]}
            for kind in backends:
                if (kind == "async" and n > args.async_max) or (kind in ("sync", "async") and name in no_reference):
                    row[kind] = None
                    continue
                if kind == "envpool" and f"{name}-v5" not in _envpool_names():
                    row[kind] = None
                    continue
                step, close, dtype = make_backend(kind, name, n)
                try:
                    bank = actions.astype(dtype)
                    others = OtherLoad()
                    rate, steps, seconds = time_steps(step, bank, args.seconds, args.warmup, min_steps, args.repeat)
                    row[f"{kind}_other_cpu"] = others.share()
                finally:
                    close()
                row[kind] = rate * n
                row[f"{kind}_timed_steps"] = steps
                print(f"  N={n:4d} {kind:8s} {rate * n:12,.0f} env-steps/s  ({steps} steps, {seconds:.2f} s)", flush=True)
            row["pbrl_over_sync"] = _ratio(row.get("pbrl"), row.get("sync"))
            row["pbrl_over_limit"] = _ratio(row.get("pbrl"), row["physics_limit"])
            row["pbrl_over_raw"] = _ratio(row.get("pbrl"), row.get("raw"))
            row["pbrl_over_envpool"] = _ratio(row.get("pbrl"), row.get("envpool"))
            row["load"] = os.getloadavg()[0]
            shares = [row.get(f"{b}_other_cpu") for b in backends if b != "async"]  # async's workers are "others"
            shares = [x for x in shares if x is not None]
            row["other_cpu_max"] = max(shares) if shares else None
            per_n[str(n)] = row
        report["results"][name] = per_n

    if "Ant" in tasks and not args.no_cfrc and not args.memory_only and "pbrl" in backends:
        sizes = tuple(s for s in (16, 64) if s in args.sizes) or (args.sizes[-1],)
        report["ant_cfrc_ext"] = cfrc_cost(sizes, steps=20 if args.quick else 200)
        for n, c in report["ant_cfrc_ext"].items():
            print(
                f"Ant cfrc_ext loop, N={n}: {c['cfrc_loop_us_per_env']:.1f} µs/env "
                f"({'in place' if c['in_place'] else 'get_data copies'}), "
                f"{100 * c['loop_over_step']:.1f} % of the physics step ({c['physics_step_ms']:.2f} ms); "
                f"get_data copies {c['copy_loop_us_per_env']:.1f} µs/env, {100 * c['copy_over_step']:.1f} %; "
                f"persistent/non-persistent step {c['persistent_over_nonpersistent']:.2f}",
                flush=True,
            )

    if not args.no_memory:
        for name in tasks:
            m = measure_memory(name, args.memory_n)
            report["memory"][name] = m
            for key in ("pbrl", "raw", "pbrl_live", "raw_live"):
                if "error" in m[key]:
                    notes.append(f"memory of {key} {name} at N={args.memory_n}: {m[key]['error']}")
            kb = lambda x: "–" if x is None else f"{x:,.2f}"
            ratio = lambda r: "" if r is None else f", pbrl/raw {r:.2f}x"
            print(
                f"{name} memory, N={args.memory_n}: pbrl {kb(m['pbrl_kb_per_env'])} KB/env, "
                f"raw Batch {kb(m['raw_kb_per_env'])} KB/env{ratio(m['pbrl_over_raw'])}; allocator trimmed: "
                f"pbrl {kb(m['pbrl_live_kb_per_env'])}, raw {kb(m['raw_live_kb_per_env'])}{ratio(m['pbrl_over_raw_live'])}",
                flush=True,
            )

    report["load"]["after"] = list(os.getloadavg())
    table = render_table(report) if report["results"] else ""
    if table:
        print()
        print(table)
        print()
    if report["memory"]:
        memory_table = render_memory_table(report)
        report["memory_table"] = memory_table
        print(f"Resident memory per sub-env at N = {args.memory_n} (fresh subprocess each; target pbrl/raw <= 1.5x):")
        print()
        print(memory_table)
        print()
    for note in notes:
        print(f"note: {note}")
    print(
        f"load average before {report['load']['before'][0]:.2f}, after {report['load']['after'][0]:.2f} "
        f"on {cores} cores: other processes lower these figures"
    )
    report["table"] = table
    if args.json:
        write_report(args.json, report)
    return 0


_ENVPOOL_NAMES: set[str] | None = None


def _envpool_names() -> set[str]:
    global _ENVPOOL_NAMES
    if _ENVPOOL_NAMES is None:
        try:
            import envpool

            _ENVPOOL_NAMES = set(envpool.list_all_envs())
        except Exception:
            _ENVPOOL_NAMES = set()
    return _ENVPOOL_NAMES


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--memory-probe":  # one fresh-process measurement (measure_memory)
        trim = sys.argv[5:] == ["trim"]
        print(json.dumps(memory_probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), trim=trim)))
        sys.exit(0)
    sys.exit(main())
