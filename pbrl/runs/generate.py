"""D4RL-style levels for any pbrl task: random, medium, expert, medium-replay, medium-expert.

One training run of a pbrl agent (SAC by default, or PPO) on the batched env
yields every level:

1. The agent trains for ``train_steps`` env steps. Every ``eval_every`` steps (and
   at step 0, the randomly initialised policy) its deterministic policy is
   evaluated on ``eval_episodes`` episodes with one fixed seed (the same episodes
   for every checkpoint), and its weights are kept in memory.
2. **expert** = the checkpoint with the best evaluation return, R_exp.
   **random** = the checkpoint at step 0 (D4RL's "randomly initialised policy"),
   R_rand. **medium** = the trained checkpoint whose return is *closest* to
   ``R_rand + medium_fraction · (R_exp - R_rand)`` (D4RL: "about a third of the
   expert"; ties go to the earlier one), among those up to the expert's: D4RL's
   medium is training stopped early, and medium-replay the run until then. The fraction it actually reached,
   ``(R_med - R_rand) / (R_exp - R_rand)``, is recorded.
   If training never beat the initial policy, generation fails (no levels exist).
   It also stops, with the numbers, when the levels would not mean what D4RL's mean:
   medium lies more than ``medium_tolerance`` from ``medium_fraction`` (checked when
   medium, medium-replay or medium-expert is asked for); the expert is
   not *clearly* better than random (its gain is below ``min_expert_gain`` of the
   task card's reference range ``ref_max_return - ref_min_return``, or within two
   standard errors of the evaluations' noise); or the reference scores are not
   ordered; or a level would hold fewer steps than asked. ``allow_weak`` turns
   these stops into warnings; the problems and ``weak`` are recorded in every
   dataset's provenance either way.
3. random, medium and expert data are ``size`` steps collected with the
   checkpoint's *stochastic* policy (as D4RL's) on ``num_envs`` sub-envs at once.
   **medium-expert** is the medium and the expert data concatenated (2 × size).
   **medium-replay** is every transition of the training run up to the medium
   checkpoint, recorded from the env as the agent stepped it — for SAC exactly
   what its replay buffer held at that point (including the ``learning_starts``
   uniform-random steps), for PPO its rollouts — with ``qpos``/``qvel`` and reward
   terms; its size is whatever the run produced (as D4RL's, smaller than 1M;
   ``replay_size`` asks for a minimum). Every reset of the training env is given
   a fresh seed, drawn from a generator seeded with ``seed`` and recorded per
   episode, so ``env.reset(seed=...)`` reproduces each episode's initial state
   (without it, autoreset would continue each sub-env's generator, and only a
   sub-env's first episode could be tied to a seed).
4. ``ref_min_score`` of every level is the mean return of the random policy as it
   made the random data (sampling), ``ref_max_score`` that of the expert policy
   acting deterministically (how agents are evaluated), each over ``ref_episodes``
   episodes.
   The random level alone trains nothing: the agent's initial policy makes its data,
   and its reference scores are the task card's ``ref_min_return`` / ``ref_max_return``
   (left out, with a message, where the card has none). Every dataset's provenance
   says where its scores came from (``ref_scores_source``).

The three policies, every evaluation, the reference scores and the recorded run up
to medium are kept in ``<datasets root>/.pbrl-policies/<task>/<algo>-s<seed>-<hash>/``
(agent checkpoints: torch state dicts loaded with ``weights_only``, JSON, HDF5), so a
level asked for later with the same settings is made without training again.

Each dataset is written atomically (see :mod:`pbrl.datasets.storage`), and only once
every check above has passed and every level's data is ready; a failed or
interrupted generation leaves no half-written dataset. Its provenance holds the
algorithm, the hyperparameters, training steps, the chosen checkpoints with their
evaluation returns, the seed, package versions and the command.

Imports the agents (torch) when called.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from pbrl.datasets.collect import StepRecorder, as_policy, collect, step_infos
from pbrl.datasets.errors import DatasetError, DatasetExistsError
from pbrl.datasets.storage import dataset_exists, dataset_path, default_dataset_id, make_provenance, write_dataset
from pbrl.datasets.trajectories import Trajectories
from pbrl.settings import ConfigError, Settings, boolean, integer, one_of, optional, setting, string, table

from . import estimate as E

__all__ = ["EXPERTS", "LEVELS", "GenerationConfig", "Selection", "TrainingRecorder", "generate", "level_problems", "select_checkpoints"]

LEVELS = ("random", "medium", "expert", "medium-replay", "medium-expert")
ALGORITHMS = ("sac", "ppo")
EXPERTS = ("trained", "scripted")

Log = Callable[[str], None]


def _levels(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"a list of levels ({', '.join(LEVELS)}, or 'all')")
    levels = list(LEVELS) if list(value) == ["all"] else list(dict.fromkeys(value))
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or not levels:
        raise TypeError(f"a non-empty list of levels ({', '.join(LEVELS)}, or 'all')")
    return levels


def _fraction(v: Any) -> float:
    if not _is_number(v) or not 0 < v < 1:
        raise TypeError("a number in (0, 1), strictly between the random and the expert return")
    return float(v)


def _finite_nonnegative(v: Any) -> float:
    if not _is_number(v) or not math.isfinite(v) or v < 0:
        raise TypeError("a finite number >= 0")
    return float(v)


_fraction.kind = "float in (0, 1)"  # type: ignore[attr-defined]
_finite_nonnegative.kind = "float >= 0"  # type: ignore[attr-defined]
_levels.kind = "list[str]"  # type: ignore[attr-defined]


@dataclass
class GenerationConfig(Settings):
    """What to generate and how: the settings below (``pbrl dataset generate`` maps its options
    onto them), each checked at construction (a :class:`~pbrl.settings.ConfigError` naming it)."""

    what: ClassVar[str] = ""  # messages name the key alone: "size must be an integer >= 1, got 0"

    task: str = field(metadata={"help": "pbrl task id, e.g. pbrl/HalfCheetah-v5", "check": string})
    levels: Sequence[str] = setting(("medium",), f"levels to write: {', '.join(LEVELS)} or all", check=_levels)
    size: int = setting(
        1_000_000, "steps of the random, medium and expert datasets (D4RL: 1M; medium-expert has twice as many, "
        "medium-replay see replay_size)", check=integer(1),
    )  # fmt: skip
    seed: int = setting(0, "seeds training, evaluation and collection", check=integer(0))
    algorithm: str = setting("sac", "agent that learns the policies: sac (D4RL's) or ppo", check=one_of(*ALGORITHMS))
    train_steps: int | None = setting(None, "training budget in env steps (default: the agent's n_timesteps)", check=optional(integer(1)))
    eval_every: int | None = setting(None, "env steps between checkpoints (default: the budget / 20)", check=optional(integer(1)))
    eval_episodes: int = setting(10, "episodes per checkpoint evaluation", check=integer(1))
    medium_fraction: float = setting(
        1.0 / 3.0, "medium is the checkpoint whose return is closest to this fraction of the way from the random to "
        "the expert return (D4RL: about 1/3)", check=_fraction, label="medium_fraction (--medium-fraction)",
    )  # fmt: skip
    medium_tolerance: float = setting(
        0.1, "stop if the chosen medium lies farther than this from medium_fraction (same units)",
        check=_finite_nonnegative, label="medium_tolerance (--medium-tolerance)",
    )  # fmt: skip
    min_expert_gain: float = setting(
        0.1, "stop unless the expert is clearly better than random: a gain of at least this fraction of the task "
        "card's reference range (0.1 = 10 normalized points), and more than two standard errors of evaluation noise",
        check=_finite_nonnegative, label="min_expert_gain (--min-expert-gain)",
    )  # fmt: skip
    replay_size: int | None = setting(
        None, "stop if medium-replay (the training run up to medium) would hold fewer steps (default: no minimum)",
        check=optional(integer(1)), label="replay_size (--replay-size)",
    )  # fmt: skip
    allow_weak: bool = setting(
        False, "warn and write anyway when a level check fails; the datasets are marked weak in their provenance", check=boolean
    )
    ref_episodes: int = setting(100, "episodes behind ref_min_score / ref_max_score", check=integer(1))
    num_envs: int = setting(64, "sub-envs stepped together while collecting", check=integer(1))
    hyperparams: Mapping[str, Any] = setting({}, "agent hyperparameter overrides", check=table)
    env_kwargs: Mapping[str, Any] = setting({}, "task keyword arguments", check=table)
    version: int = setting(0, "dataset version in the default ids pbrl/<task>/<level>-v<version>", check=integer(0))
    dataset_ids: Mapping[str, str] = setting({}, "level -> dataset id, instead of the default ids", check=table)
    force: bool = setting(False, "replace existing datasets", check=boolean)
    command: str | None = setting(None, "recorded in the provenance (default: this process's argv)", check=optional(string))
    reuse_policies: bool = setting(
        True, "use the policies of an earlier run with the same settings (kept in <datasets root>/.pbrl-policies/) "
        "instead of training again", check=boolean,
    )  # fmt: skip
    expert: str = setting(
        "trained", "where the expert level comes from: trained (the training run's best checkpoint, as D4RL's) or "
        "scripted (the task's scripted expert policy, as Meta-World ships them; random and expert levels only, no training)",
        check=one_of(*EXPERTS), label="expert (--expert)",
    )  # fmt: skip
    expert_noise: float = setting(
        0.0, "with expert=scripted: standard deviation of Gaussian noise added to the scripted actions (clipped to the "
        "action bounds); 0 collects the scripted policy as it is", check=_finite_nonnegative, label="expert_noise (--expert-noise)",
    )  # fmt: skip

    def __post_init__(self):
        self.check_fields()
        unknown_ids = set(self.dataset_ids) - set(LEVELS)
        if unknown_ids:
            raise ConfigError(f"dataset_ids has unknown level(s) {sorted(unknown_ids)}")
        trained_levels = sorted(set(self.levels) - {"random", "expert"})
        if self.expert == "scripted" and trained_levels:
            raise ConfigError(
                f"expert=scripted makes the random and expert levels; {', '.join(trained_levels)} come from a training "
                "run: generate them with expert=trained (--expert trained), separately"
            )
        if self.expert_noise and self.expert != "scripted":
            raise ConfigError("expert_noise is the noise on a scripted expert's actions: it goes with expert=scripted")

    def dataset_id(self, level: str) -> str:
        return self.dataset_ids.get(level) or default_dataset_id(self.task, level, self.version)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class _RecordingEngine:
    """Stands in for a batched env's engine and keeps the states around each step:
    ``pre`` (before the physics step) and ``post`` (after it, before any autoreset),
    so that recorded episodes end with their true final ``qpos``/``qvel``.

    Every reset (the first one and each autoreset) first gives the sub-envs it resets
    fresh generators from seeds drawn with ``seeds`` (``engine.seed``, what
    ``env.reset(seed=s)`` does) and keeps them in ``reset_seeds``, so each episode's
    initial state is that of a fresh env reset with its seed."""

    def __init__(self, engine: Any, seeds: np.random.Generator):
        self.__dict__["_engine"] = engine
        self.__dict__["_seeds"] = seeds
        self.__dict__["reset_seeds"] = np.full(engine.num_envs, -1, dtype=np.int64)
        self.__dict__["pre"] = None
        self.__dict__["post"] = None
        self.__dict__["reward"] = None

    def reset(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size:
            seeds = self._seeds.integers(0, 2**63 - 1, size=ids.size, dtype=np.int64)
            self._engine.seed([int(x) for x in seeds], ids)
            self.reset_seeds[ids] = seeds
        return self._engine.reset(ids)

    def step(self, *args: Any, **kwargs: Any):
        sim = self._engine.sim
        self.__dict__["pre"] = (sim.qpos.copy(), sim.qvel.copy())
        out = self._engine.step(*args, **kwargs)
        self.__dict__["post"] = (sim.qpos.copy(), sim.qvel.copy())
        self.__dict__["reward"] = np.array(out.reward, dtype=np.float64, copy=True)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._engine, name, value)


class TrainingRecorder:
    """Records every transition an online agent's env produces (for medium-replay).

    Installs itself on the agent's :class:`~pbrl.envs.BatchedMujocoEnv` (to see the
    states around each step) and as a transition hook of its reward wrapper; call
    :meth:`trajectories` for the episodes of the first ``steps`` env steps.

    Each episode's reset seed is recorded (see :class:`_RecordingEngine`); install the
    recorder before the agent's first ``learn`` (its first reset).

    Args:
        agent: a pbrl online agent (``agent.reward_env`` is its reward wrapper).
        capacity: env steps to preallocate for.
        seed: seeds the generator of the episodes' reset seeds.
    """

    def __init__(self, agent: Any, capacity: int, seed: int = 0):
        wrapper = agent.reward_env
        base = wrapper.venv.env
        self.base = base
        self.card = base.card
        self.engine = _RecordingEngine(base.engine, np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED])))
        base.engine = self.engine
        n = base.num_envs
        self.num_envs = n
        self.recorder = StepRecorder(
            n,
            int(np.prod(base.single_observation_space.shape)),
            int(np.prod(base.single_action_space.shape)),
            base.engine.model.nq,
            base.engine.model.nv,
            capacity=max(1, math.ceil(capacity / n)),
        )
        self._begun = False
        wrapper.add_transition_hook(self._hook)

    def _hook(self, t: Any) -> None:
        pre, post = self.engine.pre, self.engine.post
        rec = self.recorder
        # the observation and state this step was taken in (after any reset)
        if self._begun:
            rec.set_current(t.obs, pre[0], pre[1])
        else:
            rec.begin(t.obs, pre[0], pre[1], seeds=self.engine.reset_seeds.copy())
            self._begun = True
        done = np.asarray(t.done, dtype=bool)
        terminated = np.asarray(t.terminated, dtype=bool) & done
        truncated = done & ~terminated
        info = t.info
        final_q, final_v = post[0].copy(), post[1].copy()
        diverged = np.asarray(info.get("diverged", np.zeros(self.num_envs, bool)), dtype=bool)
        # the env's float64 reward (SB3's VecEnv hands the agent float32); 0 where diverged
        reward = np.where(diverged, 0.0, self.engine.reward) if self.engine.reward is not None else t.true_reward
        if diverged.any():
            final_q[diverged], final_v[diverged] = pre[0][diverged], pre[1][diverged]
        rec.add(
            t.action,
            reward,
            terminated,
            truncated,
            t.next_obs,
            step_infos(info, self.card),
            final_qpos=final_q,
            final_qvel=final_v,
            next_seeds=self.engine.reset_seeds,  # read where an episode ended: the seed its successor got
        )

    def trajectories(self, steps: int, source: str) -> Trajectories:
        """Episodes of the first ``steps`` env steps (running ones cut, truncated)."""
        vector_steps = min(self.recorder.steps, max(1, steps // self.num_envs))
        return self.recorder.finalize(vector_steps=vector_steps, source=source)


@dataclass
class Checkpoint:
    """A policy kept during training, with its evaluation."""

    step: int
    eval_return: float
    eval_returns: list[float]
    weights: Any = field(repr=False, default=None)
    normalizer: Any = field(repr=False, default=None)

    def summary(self) -> dict[str, Any]:
        return {"step": self.step, "eval_return": self.eval_return, "eval_return_std": float(np.std(self.eval_returns))}


@dataclass(frozen=True)
class Selection:
    """The random, medium and expert checkpoints of a run and where medium landed.

    ``fraction`` is the one asked for, ``target`` the return it stands for and
    ``fraction_reached`` where the chosen medium's return lies, as a fraction of the
    way from the random to the expert return.
    """

    random: Checkpoint
    medium: Checkpoint
    expert: Checkpoint
    fraction: float
    target: float

    @property
    def gain(self) -> float:
        """``R_exp - R_rand``."""
        return self.expert.eval_return - self.random.eval_return

    @property
    def fraction_reached(self) -> float:
        return (self.medium.eval_return - self.random.eval_return) / self.gain

    def chosen(self) -> dict[str, Checkpoint]:
        return {"random": self.random, "medium": self.medium, "expert": self.expert}


def select_checkpoints(checkpoints: Sequence[Checkpoint], fraction: float) -> Selection:
    """D4RL's levels from a run's checkpoints: random = step 0, expert = best (the
    earliest of equals), medium = the trained checkpoint up to the expert's whose
    return is closest to ``R_rand + fraction (R_exp - R_rand)`` (the earlier of two
    equally close).

    Whether the levels are good enough is :func:`level_problems`' question.

    Raises:
        DatasetError: no checkpoint beats the initial policy (no levels exist).
    """
    if not checkpoints or checkpoints[0].step != 0:
        raise ValueError("checkpoints must start with the initial policy (step 0)")
    random = checkpoints[0]
    expert = max(checkpoints, key=lambda c: (c.eval_return, -c.step))
    if expert.eval_return <= random.eval_return:
        raise DatasetError(
            f"training never beat the initial policy (eval return {random.eval_return:.1f}, best "
            f"{expert.eval_return:.1f}), so there are no levels (not even with --allow-weak); raise train_steps "
            f"(--train-steps) or change hyperparameters"
        )
    target = random.eval_return + fraction * (expert.eval_return - random.eval_return)
    # early stopping, as D4RL's medium: a checkpoint after the expert's (training got worse) is not one
    medium = min((c for c in checkpoints if 0 < c.step <= expert.step), key=lambda c: (abs(c.eval_return - target), c.step))
    return Selection(random=random, medium=medium, expert=expert, fraction=float(fraction), target=float(target))


def expert_noise(selection: Selection) -> float:
    """Standard error of ``R_exp - R_rand`` from the two evaluations' episode returns
    (0 where an evaluation has a single episode: no estimate)."""
    var = 0.0
    for ck in (selection.random, selection.expert):
        r = np.asarray(ck.eval_returns, dtype=np.float64)
        if r.size >= 2:
            var += float(r.var(ddof=1)) / r.size
    return math.sqrt(var)


def level_problems(
    selection: Selection, *, tolerance: float | None, min_expert_gain: float, reference_range: float | None
) -> list[str]:
    """Why the selected levels would not mean what D4RL's mean (empty: they do).

    Args:
        selection: from :func:`select_checkpoints`.
        tolerance: how far ``fraction_reached`` may lie from ``selection.fraction``
            (None: medium is not checked, as when no level made from it is asked for).
        min_expert_gain: the least ``R_exp - R_rand`` as a fraction of ``reference_range``.
        reference_range: the task card's ``ref_max_return - ref_min_return`` (None:
            only the noise test applies).
    """
    s = selection
    rand, med, exp = s.random, s.medium, s.expert
    problems = []
    if tolerance is not None and abs(s.fraction_reached - s.fraction) > tolerance:
        problems.append(
            f"no checkpoint lands near medium: the closest to the target return {s.target:.1f} "
            f"({s.fraction:.3f} of the way from random {rand.eval_return:.1f} to expert {exp.eval_return:.1f}) "
            f"is step {med.step} with {med.eval_return:.1f}, at {s.fraction_reached:.3f} of the way, more than "
            f"the tolerance {tolerance:g} from {s.fraction:.3f}; evaluate more often (--eval-every), change "
            f"--medium-fraction or widen --medium-tolerance"
        )
    noise = expert_noise(s)
    floor = None if reference_range is None else min_expert_gain * abs(reference_range)
    if (floor is not None and s.gain < floor) or s.gain <= 2 * noise:
        why = []
        if floor is not None and s.gain < floor:
            why.append(
                f"below {floor:.1f}, the {min_expert_gain:g} (--min-expert-gain) of the task's reference "
                f"range {abs(reference_range):.1f}"  # type: ignore[arg-type]
            )
        if s.gain <= 2 * noise:
            why.append(f"within two standard errors ({2 * noise:.1f}) of the evaluations' noise")
        problems.append(
            f"the expert (step {exp.step}, eval return {exp.eval_return:.1f}) is not clearly better than the random "
            f"policy ({rand.eval_return:.1f}): its gain {s.gain:.1f} is {' and '.join(why)}; train longer (--train-steps)"
        )
    return problems


def size_problems(asked: Mapping[str, int | None], written: Mapping[str, int]) -> list[str]:
    """Levels that would hold fewer steps than asked (``asked[level]`` None: no minimum)."""
    return [
        f"{level} would hold {written[level]} steps, fewer than the {want} asked"
        + (" (--replay-size; medium-replay holds the training run up to the medium checkpoint)" if level == "medium-replay" else " (--size)")
        for level, want in asked.items()
        if want is not None and written[level] < want
    ]


def _log(log: Log | None, text: str) -> None:
    if log is not None:
        log(text)


def _policy_cache_dir(cfg: GenerationConfig, hp: Mapping[str, Any], train_steps: int, eval_every: int):
    """Where the policies of a training run with these settings are kept."""
    import hashlib
    import json

    import pbrl

    from pbrl.datasets.storage import datasets_root, task_name

    key = {
        "format": 2,  # 2: medium = closest to the target, up to the expert; medium-replay keeps reset seeds
        "pbrl": pbrl.__version__,
        "task": cfg.task,
        "algorithm": cfg.algorithm,
        "seed": int(cfg.seed),
        "train_steps": int(train_steps),
        "eval_every": int(eval_every),
        "eval_episodes": int(cfg.eval_episodes),
        "medium_fraction": float(cfg.medium_fraction),
        "ref_episodes": int(cfg.ref_episodes),
        "hyperparams": dict(hp),
        "env_kwargs": dict(cfg.env_kwargs),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return datasets_root() / ".pbrl-policies" / task_name(cfg.task) / f"{cfg.algorithm}-s{cfg.seed}-{digest}", key


def _save_policies(folder, key, bundle, chosen, replay: Trajectories | None) -> None:
    """Keep the random, medium and expert policies (agent checkpoints: no pickle), the
    evaluations and the recorded run up to medium, written atomically."""
    import json
    import os
    import shutil

    from pbrl.agents.checkpoint import write_checkpoint

    from pbrl.datasets.storage import remove_stale_temp, save_trajectories, temp_folder

    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp()  # leftovers of killed writers
    with temp_folder(folder.parent, f".{os.getpid()}.") as tmp_path:
        tmp = str(tmp_path)
        for level in ("random", "medium", "expert"):
            ck = chosen[level]
            write_checkpoint(
                os.path.join(tmp, level), ck.step, ck.weights, {"normalizer": ck.normalizer, "checkpoint": ck.summary(), "eval_returns": ck.eval_returns}, {}, keep=1
            )
        if replay is not None:
            save_trajectories(os.path.join(tmp, "medium_replay.hdf5"), replay)
        with open(os.path.join(tmp, "bundle.json"), "w") as fh:
            json.dump({"key": key, **bundle, "has_medium_replay": replay is not None}, fh, indent=1, default=str)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)


def _load_policies(folder) -> tuple[dict[str, Any], dict[str, Checkpoint]] | None:
    import json

    from pbrl.agents.checkpoint import CheckpointError, latest_checkpoint, read_checkpoint

    try:
        bundle = json.loads((folder / "bundle.json").read_text())
        chosen = {}
        for level in ("random", "medium", "expert"):
            path = latest_checkpoint(str(folder / level))
            if path is None:
                return None
            weights, state, _ = read_checkpoint(path, load_arrays=False)
            info = state.get("extra", state)
            chosen[level] = Checkpoint(
                step=int(info["checkpoint"]["step"]),
                eval_return=float(info["checkpoint"]["eval_return"]),
                eval_returns=list(info["eval_returns"]),
                weights=weights,
                normalizer=info["normalizer"],
            )
    except (OSError, ValueError, KeyError, CheckpointError):
        return None
    return bundle, chosen


def estimate(cfg: GenerationConfig, train_steps: int | None) -> str:
    """One line saying roughly how long generation takes at these settings (``train_steps``
    None: no training), from recorded speeds on 2 cores; an estimate, not a promise."""
    collected = len(set(cfg.levels) & {"random", "medium", "expert"} | ({"medium", "expert"} if "medium-expert" in cfg.levels else set()))
    collect = collected * cfg.size
    parts = []
    if train_steps is None:
        parts.append("no training")
    else:
        rate = E.TRAIN_STEPS_PER_S[cfg.algorithm]
        parts.append(
            f"training {cfg.algorithm.upper()} for {train_steps:,} env steps (--train-steps) at ~{rate:,.0f} steps/s: "
            f"{E.duration(train_steps / rate)}"
        )
    if collect:
        seconds = collect / E.COLLECT_STEPS_PER_S
        parts.append(f"collecting {collect:,} steps (--size {cfg.size:,} per level): {E.duration(seconds)}" + (" or more" if seconds >= 60 else ""))
    return E.PREFIX + "; ".join(parts)


def scripted_expert(task: str) -> Callable[[np.ndarray], np.ndarray]:
    """The task's scripted expert policy (Meta-World's tasks have one), batched: observations (N, obs) -> actions."""
    from pbrl.envs.tasks.metaworld import expert_policy

    try:
        return expert_policy(task)
    except KeyError:
        raise DatasetError(
            f"{task} has no scripted expert policy (Meta-World's tasks have one); use --expert trained"
        ) from None


def _noisy(policy: Callable[[np.ndarray], np.ndarray], noise: float, seed: int, low: np.ndarray, high: np.ndarray):
    """``policy`` plus Gaussian noise of standard deviation ``noise``, clipped to [low, high] (seeded)."""
    if not noise:
        return policy
    rng = np.random.default_rng(seed)

    def noisy(obs: np.ndarray) -> np.ndarray:
        actions = np.asarray(policy(obs), dtype=np.float64)
        return np.clip(actions + rng.normal(scale=noise, size=actions.shape), low, high).astype(np.float32)

    return noisy


def _card_references(card: Any, task: str) -> tuple[float | None, float | None, str]:
    """The task card's reference returns and a note on them (None, None: the card has none)."""
    lo, hi = (getattr(card, k, None) for k in ("ref_min_return", "ref_max_return"))
    if _is_number(lo) and _is_number(hi) and math.isfinite(lo) and math.isfinite(hi) and hi > lo:
        return float(lo), float(hi), f"the task card of {task} (ref_min_return, ref_max_return)"
    return None, None, (
        f"none: the task card of {task} has no reference returns, so the dataset has no ref_min_score / "
        "ref_max_score; fill them in later by adding both to the dataset's data/metadata.json (or set "
        "ref_min_return / ref_max_return on the task card and generate again with --force)"
    )


def generate(config: GenerationConfig, log: Log | None = None) -> dict[str, str]:
    """Train once and write the requested levels (see the module docstring).

    The random level alone trains nothing: its data is the agent's initial policy (as the
    step-0 checkpoint of a training run) and its reference scores are the task card's,
    unless policies kept from an earlier run with the same settings exist (then theirs).

    The chosen policies, their evaluations, the reference scores and the recorded run
    up to medium are kept in ``<datasets root>/.pbrl-policies/`` (agent checkpoints,
    no pickle): another level generated later with the same settings reuses them
    instead of training again (``config.reuse_policies=False`` or ``--retrain``
    trains anew). They are kept before the level checks, so a generation stopped by
    a check can be rerun with other check settings or ``allow_weak`` without training.

    Args:
        config: what to generate.
        log: called with progress messages (and warnings, with ``allow_weak``).

    Returns:
        level -> dataset id, for every level written.

    Raises:
        DatasetExistsError: a target dataset exists and ``config.force`` is False
            (checked before any training).
        DatasetError: training did not improve on the initial policy; or, without
            ``config.allow_weak``, a level check failed (nothing is written).
    """
    import gymnasium as gym

    import pbrl.envs  # noqa: F401
    from pbrl.agents import make_agent, resolve
    from pbrl.evaluation import eval_seed as evaluation_seed
    from pbrl.evaluation import evaluate_policy

    from pbrl.datasets.storage import remove_stale_temp

    remove_stale_temp()  # what an earlier, killed generation left behind (never a running one's)
    cfg = config
    try:
        gym.spec(cfg.task)
    except gym.error.Error as exc:
        raise DatasetError(f"unknown task {cfg.task!r}: {exc}") from None
    ids = {level: cfg.dataset_id(level) for level in cfg.levels}
    if not cfg.force:
        for level, dataset_id in ids.items():
            if dataset_exists(dataset_id):
                raise DatasetExistsError(
                    f"dataset {dataset_id!r} ({level}) already exists at {dataset_path(dataset_id)}; pass --force to replace it"
                )
    hp = resolve(cfg.algorithm, cfg.task, dict(cfg.hyperparams))
    train_steps = int(cfg.train_steps or hp["n_timesteps"])
    eval_every = int(cfg.eval_every or max(hp["n_envs"], train_steps // 20))
    cache_dir, cache_key = _policy_cache_dir(cfg, hp, train_steps, eval_every)
    scripted = scripted_expert(cfg.task) if cfg.expert == "scripted" else None  # before any work: does the task have one
    cached = _load_policies(cache_dir) if cfg.reuse_policies and scripted is None else None
    if cached is not None and "medium-replay" in cfg.levels and not cached[0].get("has_medium_replay"):
        cached = None
    # the initial policy for random, a scripted expert for expert: no training
    untrained = cached is None and (set(cfg.levels) == {"random"} or scripted is not None)
    _log(log, estimate(cfg, None if untrained or cached is not None else train_steps))
    import torch  # after the estimate: the first line comes before seconds of imports

    torch.manual_seed(cfg.seed)
    agent = make_agent(cfg.algorithm, cfg.task, hp, seed=cfg.seed, env_kwargs=dict(cfg.env_kwargs))
    t0 = time.time()
    try:
        eval_seed = evaluation_seed(cfg.seed)

        def use(ckpt: Checkpoint, deterministic: bool = False):
            agent.load_torch_state(ckpt.weights)
            agent.load_normalizer_state(ckpt.normalizer)
            return as_policy(agent, deterministic=deterministic)

        replay: Trajectories | None = None
        selection: Selection | None = None
        if untrained and scripted is not None:
            initial = Checkpoint(0, math.nan, [], copy.deepcopy(agent.torch_state()), copy.deepcopy(agent.normalizer_state()))
            chosen = {"random": initial}
            _log(log, f"the scripted expert of {cfg.task} and the initial {cfg.algorithm.upper()} policy, no training: "
                      f"measuring their returns over {cfg.ref_episodes} episodes each")  # fmt: skip
            torch.manual_seed(cfg.seed + 1)
            ref_min = float(evaluate_policy(use(initial), cfg.task, episodes=cfg.ref_episodes, seed=eval_seed + 7919,
                                            env_kwargs=dict(cfg.env_kwargs)).return_mean)  # fmt: skip
            expert_eval = evaluate_policy(scripted, cfg.task, episodes=cfg.ref_episodes, seed=eval_seed + 2 * 7919,
                                          env_kwargs=dict(cfg.env_kwargs))  # fmt: skip
            ref_max = float(expert_eval.return_mean)
            ref_source = (f"measured: the initial policy's returns (sampling) and the scripted expert's (no noise), "
                          f"{cfg.ref_episodes} episodes each")  # fmt: skip
            bundle = {"ref_min": ref_min, "ref_max": ref_max, "train_steps": 0, "train_time_s": 0.0,
                      "expert_success_rate": expert_eval.success_rate}  # fmt: skip
            success = "" if expert_eval.success_rate is None else f", success rate {expert_eval.success_rate:.2f}"
            _log(log, f"reference scores: random {ref_min:.1f}, scripted expert {ref_max:.1f}{success}")
        elif untrained:
            initial = Checkpoint(0, math.nan, [], copy.deepcopy(agent.torch_state()), copy.deepcopy(agent.normalizer_state()))
            chosen = {"random": initial}
            ref_min, ref_max, ref_source = _card_references(agent.card, cfg.task)
            bundle = {"ref_min": ref_min, "ref_max": ref_max, "train_steps": 0, "train_time_s": 0.0}
            _log(log, f"random level only: the initial {cfg.algorithm.upper()} policy, no training; reference scores: {ref_source}")
        elif cached is not None:
            bundle, chosen = cached
            selection = Selection(**chosen, fraction=float(cfg.medium_fraction), target=float(bundle["target"]))
            _log(log, f"reusing the policies of an earlier run with the same settings ({cache_dir})")
            if "medium-replay" in cfg.levels:
                from pbrl.datasets.storage import read_trajectories_file

                replay = read_trajectories_file(cache_dir / "medium_replay.hdf5")
        else:
            recorder = TrainingRecorder(agent, capacity=train_steps + hp["n_envs"], seed=cfg.seed)

            def checkpoint() -> Checkpoint:
                result = agent.evaluate(episodes=cfg.eval_episodes, seed=eval_seed)
                return Checkpoint(
                    step=agent.num_timesteps,
                    eval_return=float(result.return_mean),
                    eval_returns=list(result.returns),
                    weights=copy.deepcopy(agent.torch_state()),
                    normalizer=copy.deepcopy(agent.normalizer_state()),
                )

            checkpoints = [checkpoint()]
            _log(log, f"step 0: eval return {checkpoints[0].eval_return:.1f} (initial policy)")
            while agent.num_timesteps < train_steps:
                agent.learn(min(train_steps, agent.num_timesteps + eval_every))
                checkpoints.append(checkpoint())
                _log(log, f"step {agent.num_timesteps}: eval return {checkpoints[-1].eval_return:.1f}")
            selection = select_checkpoints(checkpoints, cfg.medium_fraction)
            chosen = selection.chosen()
            replay = recorder.trajectories(chosen["medium"].step, source="medium-replay")
            train_time = time.time() - t0

            def ref_return(ckpt: Checkpoint, offset: int, deterministic: bool) -> float:
                torch.manual_seed(cfg.seed + offset)
                policy = use(ckpt, deterministic)
                result = evaluate_policy(policy, cfg.task, episodes=cfg.ref_episodes, seed=eval_seed + 7919 * offset, env_kwargs=dict(cfg.env_kwargs))
                return float(result.return_mean)

            bundle = {
                "ref_min": ref_return(chosen["random"], 1, deterministic=False),
                "ref_max": ref_return(chosen["expert"], 2, deterministic=True),
                "target": selection.target,
                "evaluations": [c.summary() for c in checkpoints],
                "train_steps": int(agent.num_timesteps),
                "train_time_s": round(train_time, 1),
            }
            _save_policies(cache_dir, cache_key, bundle, chosen, replay)
        if selection is not None:
            ref_source = (
                f"measured: the random policy's returns (sampling) and the expert's (deterministic), "
                f"{cfg.ref_episodes} episodes each"
            )
            _log(
                log,
                f"random (step 0, eval {chosen['random'].eval_return:.1f}), medium (step {chosen['medium'].step}, "
                f"{chosen['medium'].eval_return:.1f}, {selection.fraction_reached:.3f} of the way to expert), expert "
                f"(step {chosen['expert'].step}, {chosen['expert'].eval_return:.1f}); "
                f"reference scores: random {bundle['ref_min']:.1f}, expert {bundle['ref_max']:.1f}",
            )

        # the checks: all of them before any data is collected or written
        card = agent.card
        # medium's place matters to the levels made from it; the expert's gain to every level's scores
        tolerance = cfg.medium_tolerance if set(cfg.levels) & {"medium", "medium-replay", "medium-expert"} else None
        problems = [] if selection is None else level_problems(
            selection,
            tolerance=tolerance,
            min_expert_gain=cfg.min_expert_gain,
            reference_range=float(card.ref_max_return - card.ref_min_return) if card is not None else None,
        )  # fmt: skip
        if scripted is not None:
            span = float(card.ref_max_return - card.ref_min_return) if card is not None else 0.0
            gain = bundle["ref_max"] - bundle["ref_min"]
            if gain <= cfg.min_expert_gain * span:
                problems.append(
                    f"the scripted expert is not clearly better than the initial policy: returns {bundle['ref_max']:.1f} vs "
                    f"{bundle['ref_min']:.1f}, a gain below min_expert_gain {cfg.min_expert_gain:g} of the task card's "
                    f"reference range ({span:g})"
                )
        if selection is not None and bundle["ref_max"] <= bundle["ref_min"]:
            problems.append(
                f"the reference scores are not ordered: the expert's ref_max_score {bundle['ref_max']:.1f} is not above "
                f"the random policy's ref_min_score {bundle['ref_min']:.1f} (normalized scores would be meaningless)"
            )
        asked: dict[str, int | None] = {
            "random": cfg.size, "medium": cfg.size, "expert": cfg.size, "medium-expert": 2 * cfg.size, "medium-replay": cfg.replay_size,
        }  # fmt: skip
        if "medium-replay" in cfg.levels:
            assert replay is not None
            problems += size_problems({"medium-replay": asked["medium-replay"]}, {"medium-replay": replay.num_steps})
        if problems and not cfg.allow_weak:
            raise DatasetError(
                "the levels would not mean what D4RL's mean, so nothing was written:\n"
                + "\n".join(f"  - {p}" for p in problems)
                + f"\nthe trained policies are kept ({cache_dir}): rerun with other check settings, or with "
                "--allow-weak to write weak levels anyway (recorded as weak), without training again"
            )
        for p in problems:
            _log(log, f"warning (--allow-weak): {p}")

        common: dict[str, Any] = dict(
            algorithm=cfg.algorithm,
            hyperparams=hp,
            train_steps=int(bundle["train_steps"]),
            weak=bool(problems),
            warnings=list(problems),
            allow_weak=cfg.allow_weak,
            seed=cfg.seed,
            ref_scores_source=ref_source,
            train_time_s=bundle["train_time_s"],
            reused_policies=cached is not None,
            expert=cfg.expert,
        )
        if scripted is not None:
            common.update(expert_noise=cfg.expert_noise, expert_success_rate=bundle.get("expert_success_rate"),
                          ref_episodes=cfg.ref_episodes)  # fmt: skip
        if selection is not None:
            span = float(card.ref_max_return - card.ref_min_return) if card is not None else 0.0
            common.update(
                eval_every=eval_every,
                eval_episodes=cfg.eval_episodes,
                eval_seed=eval_seed,
                medium_fraction=cfg.medium_fraction,
                medium_fraction_reached=selection.fraction_reached,
                medium_tolerance=tolerance,  # None: not checked (no level made from medium was asked for)
                medium_target_return=bundle["target"],
                expert_gain={
                    "return": selection.gain,
                    "normalized": selection.gain / span if span else None,  # of the task card's reference range
                    "min_expert_gain": cfg.min_expert_gain,
                    "noise_standard_error": expert_noise(selection),
                },
                checkpoints={k: chosen[k].summary() for k in ("random", "medium", "expert")},
                evaluations=bundle["evaluations"],
                ref_episodes=cfg.ref_episodes,
                policy_cache=str(cache_dir),
            )
        collected: dict[str, Trajectories] = {}

        def data(level: str) -> Trajectories:
            if level not in collected:
                offset = {"random": 11, "medium": 12, "expert": 13}[level]
                torch.manual_seed(cfg.seed + offset)
                _log(log, f"collecting {cfg.size} steps of the {level} policy on {cfg.num_envs} sub-envs")
                if level == "expert" and scripted is not None:
                    env = gym.make(cfg.task, **dict(cfg.env_kwargs))
                    low, high = (np.asarray(b, dtype=np.float64) for b in (env.action_space.low, env.action_space.high))
                    env.close()
                    policy = _noisy(scripted, cfg.expert_noise, cfg.seed + 1000 * offset, low, high)
                else:
                    policy = use(chosen[level])
                collected[level] = collect(
                    cfg.task,
                    policy,
                    cfg.size,
                    num_envs=cfg.num_envs,
                    seed=cfg.seed + 1000 * offset,
                    env_kwargs=dict(cfg.env_kwargs),
                )
            return collected[level]

        # every level's data first, then the writes: a failure writes nothing
        ready: dict[str, tuple[Trajectories, dict[str, Any]]] = {}
        for level in cfg.levels:
            dataset_id = ids[level]
            if level == "expert" and scripted is not None:
                traj = data(level)
                policy_info = {
                    "scripted": f"the scripted expert policy of {cfg.task} (pbrl's port of Meta-World's)",
                    "actions": "the scripted policy's" + (f", plus Gaussian noise of std {cfg.expert_noise:g} (clipped)"
                                                          if cfg.expert_noise else ", as they are"),
                }  # fmt: skip
            elif level in ("random", "medium", "expert"):
                traj = data(level)
                policy_info = {
                    "checkpoint": chosen[level].summary() if selection is not None else {"step": 0, "trained": False},
                    "actions": "sampled from the stochastic policy",
                }
            elif level == "medium-expert":
                traj = Trajectories.concatenate([data("medium"), data("expert")], source=dataset_id)
                policy_info = {"parts": ["medium", "expert"], "actions": "sampled from the stochastic policies"}
            else:
                assert replay is not None
                traj = replay.replace(source=dataset_id)
                policy_info = {
                    "recorded": "every training transition up to the medium checkpoint",
                    "until_step": chosen["medium"].step,
                    "what": "SAC's replay buffer contents" if cfg.algorithm == "sac" else "PPO's rollouts",
                    "seeds": "every reset of the training env was seeded; each episode keeps its seed",
                }
            ready[level] = (traj, policy_info)
        # collected levels hold exactly what was asked; checked all the same (medium-replay was, above)
        short = size_problems(
            {lv: asked[lv] for lv in ready if lv != "medium-replay"}, {lv: t.num_steps for lv, (t, _) in ready.items()}
        )
        if short:
            if not cfg.allow_weak:
                raise DatasetError("nothing was written: " + "; ".join(short))
            for p in short:
                _log(log, f"warning (--allow-weak): {p}")
            common["weak"] = True
            common["warnings"] = list(problems) + short

        written: dict[str, str] = {}
        for level, (traj, policy_info) in ready.items():
            dataset_id = ids[level]
            provenance = make_provenance(
                command=cfg.command, task=cfg.task, level=level, size=traj.num_steps, asked_steps=asked[level],
                policy=policy_info, **common,
            )  # fmt: skip
            write_dataset(
                traj,
                dataset_id,
                cfg.task,
                ref_min_score=bundle["ref_min"],
                ref_max_score=bundle["ref_max"],
                num_episodes_average_score=cfg.ref_episodes if selection is not None or scripted is not None else None,
                algorithm_name=f"pbrl-{cfg.algorithm}",
                description=f"{cfg.task} {level}: D4RL-style level made by pbrl ({cfg.algorithm.upper()}, seed {cfg.seed})"
                + (" (weak levels: see the provenance's warnings)" if common["weak"] else ""),
                provenance=provenance,
                env_kwargs=dict(cfg.env_kwargs) or None,
                force=cfg.force,
            )
            _log(log, f"wrote {dataset_id}: {traj.num_episodes} episodes, {traj.num_steps} steps")
            written[level] = dataset_id
        return written
    finally:
        agent.close()


def config_from_dict(values: Mapping[str, Any]) -> GenerationConfig:
    """A :class:`GenerationConfig` from plain values (e.g. a parsed TOML table)."""
    return GenerationConfig(**dict(values))


def config_to_dict(cfg: GenerationConfig) -> dict[str, Any]:
    return asdict(cfg)
