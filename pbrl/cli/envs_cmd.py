"""``pbrl envs``: list the registered tasks; ``pbrl envs --verify``: the parity certificate.

``--verify`` steps every pbrl task that has a Gymnasium counterpart (``pbrl/X-v5`` ↔
Gymnasium's ``X-v5``) side by side with Gymnasium's own class, vectorized by
Gymnasium's ``SyncVectorEnv``: the same seeds, the same random float32 actions, long
rollouts through time limits, terminations and autoresets, with the default keyword
arguments and with a perturbed set, for every batch size and every thread count asked
for. Each rollout is hashed the same way on both sides (SHA-256 of the bytes, in a fixed
order, of observations, rewards, terminated/truncated flags and the values of every info
key Gymnasium gives, where Gymnasium's mask says it gives them), and each quantity is
classed as bit-identical, within 1e-6, or different (with its max absolute difference).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

#: keyword arguments that are not part of the dynamics or the reward (never perturbed)
_UNPERTURBED = {"xml_file", "default_camera_config", "render_mode", "width", "height", "camera_id", "camera_name",
                "visual_options", "max_geom", "main_body"}  # fmt: skip
QUANTITIES = ("observations", "rewards", "flags", "info")
NEAR = 1e-6


def envs(
    as_json: bool = typer.Option(False, "--json", help="Print the task cards as JSON."),
    verify: bool = typer.Option(
        False, "--verify", help="Step every task against Gymnasium's own v5 class and print a parity certificate."
    ),
    tasks: list[str] = typer.Option(None, "--task", help="--verify: only these pbrl task ids (repeatable; default all)."),
    steps: int = typer.Option(1000, "--steps", min=1, help="--verify: vector steps per rollout."),
    seeds: str = typer.Option("0", "--seeds", help="--verify: comma-separated reset seeds (one rollout set each)."),
    batch_sizes: str = typer.Option("1,8", "--batch-sizes", help="--verify: comma-separated numbers of sub-envs."),
    threads: str = typer.Option("1,2", "--threads", help="--verify: comma-separated native thread counts for pbrl."),
    episode_limit: int = typer.Option(
        200, "--episode-limit", min=1, help="--verify: time limit per episode (the task's own when shorter), so rollouts cross resets."
    ),
    perturbed: bool = typer.Option(
        True, "--perturbed/--defaults-only",
        help="--verify: also run with non-default keyword arguments (weights and noise x1.5, frame_skip+1, observation switches flipped).",
    ),
    atol: float = typer.Option(
        0.0, "--atol", min=0.0, help="--verify: exit 0 when every difference is at most this (default 0: bit-identical)."
    ),
) -> None:
    """List registered tasks: id, observation/action dims, episode limit, reward terms, success.

    With --verify: the parity certificate against Gymnasium (exit code 1 when a task does not match)."""
    if verify:
        ok = run_verify(
            tasks=tasks or None,
            steps=steps,
            seeds=_ints(seeds, "--seeds", minimum=0),
            batch_sizes=_ints(batch_sizes, "--batch-sizes", minimum=1),
            threads=_ints(threads, "--threads", minimum=1),
            episode_limit=episode_limit,
            perturbed=perturbed,
            atol=atol,
        )
        raise typer.Exit(0 if ok else 1)
    _list(as_json)


#: the suites of pbrl's built-in tasks, by id prefix, in the order `pbrl envs` shows them
SUITES = (
    ("pbrl/dmc-", "DeepMind Control (dm_control.suite's models and rewards; 1,000 control steps)"),
    ("pbrl/metaworld-", "Meta-World v3 (Sawyer arm, 500 steps; success in info)"),
    ("pbrl/", "Gymnasium MuJoCo v5"),
    ("", "registered with pbrl.envs.register_task"),
)


def suite_of(task_id: str) -> str:
    """The suite a task id belongs to (:data:`SUITES`)."""
    return next(name for prefix, name in SUITES if task_id.startswith(prefix))


def _list(as_json: bool) -> None:
    import gymnasium as gym

    from pbrl.envs import cards

    rows = []
    for task_id, card in cards().items():
        spec = gym.spec(task_id)
        env = gym.make(task_id)
        obs_dim = env.observation_space.shape[0]
        act_dim = env.action_space.shape[0]
        env.close()
        rows.append((card, obs_dim, act_dim, spec.max_episode_steps))
    if as_json:
        out = [dict(c.to_dict(), obs_dim=o, act_dim=a, suite=suite_of(c.id)) for c, o, a, _ in rows]
        typer.echo(json.dumps(out, indent=2))
        return
    console = Console(width=160)
    for _, suite in SUITES:
        chosen = [row for row in rows if suite_of(row[0].id) == suite]
        if not chosen:
            continue
        console.print(f"\n{suite}: {len(chosen)} task(s)", markup=False, soft_wrap=True)
        table = Table()
        for col in ("id", "obs", "act", "limit", "reward terms", "success"):
            table.add_column(col)
        for card, obs_dim, act_dim, limit in chosen:
            terms = ", ".join(f"{t.name} ({t.weight:g})" for t in card.reward_terms)
            table.add_row(card.id, str(obs_dim), str(act_dim), str(limit), terms, card.success or "-")
        console.print(table)


def _ints(text: str, name: str, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name} takes comma-separated integers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise typer.BadParameter(f"{name} takes comma-separated integers >= {minimum}, got {text!r}")
    return list(dict.fromkeys(values))


# -- the certificate ----------------------------------------------------------------


@dataclass
class Agreement:
    """How one quantity of pbrl's rollouts compares with Gymnasium's."""

    identical: bool = True
    max_diff: float = 0.0
    mismatches: int = 0  # boolean quantities: how many values differ
    notes: list[str] = field(default_factory=list)

    def add(self, ours: np.ndarray, theirs: np.ndarray) -> None:
        if ours.shape != theirs.shape:
            self.identical = False
            self.max_diff = float("inf")
            note = f"shape {ours.shape} vs {theirs.shape}"
            if note not in self.notes:
                self.notes.append(note)
            return
        if ours.tobytes() != theirs.tobytes():
            self.identical = False
            if ours.dtype == bool:
                self.mismatches += int(np.count_nonzero(ours != theirs))
                self.max_diff = max(self.max_diff, 1.0)
            elif ours.size:
                diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
                diff[np.isnan(diff) & (np.isnan(ours) == np.isnan(theirs))] = 0.0  # NaN in both places
                self.max_diff = max(self.max_diff, float(np.nan_to_num(diff, nan=np.inf).max()))

    def note(self, text: str) -> None:
        self.identical = False
        self.max_diff = float("inf")
        if text not in self.notes:
            self.notes.append(text)

    def verdict(self) -> str:
        if self.identical:
            return "bit-identical"
        if self.max_diff <= NEAR:
            return "within 1e-6"
        return "differs"

    def describe(self) -> str:
        text = self.verdict()
        if self.mismatches:
            text += f" ({self.mismatches} flags differ)"
        elif not self.identical and np.isfinite(self.max_diff):
            text += f" (max |diff| {self.max_diff:.3g})"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text


def gymnasium_counterpart(task_id: str) -> str | None:
    """Gymnasium's id for a pbrl task (``pbrl/Hopper-v5`` -> ``Hopper-v5``) when Gymnasium registers it."""
    import gymnasium as gym

    name = task_id.split("/", 1)[-1]
    spec = gym.registry.get(name)
    if spec is None or not isinstance(spec.entry_point, str) or not spec.entry_point.startswith("gymnasium.envs.mujoco"):
        return None
    return name


def perturbed_kwargs(gym_id: str) -> dict[str, Any]:
    """Non-default keyword arguments for Gymnasium's class, by its own naming conventions:
    ``*_weight``, ``*_reward``, ``*_scale`` x1.5, ``frame_skip`` + 1, ``include_*`` /
    ``exclude_*`` observation switches flipped."""
    import gymnasium as gym

    module, name = gym.spec(gym_id).entry_point.split(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    out: dict[str, Any] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        default = p.default
        if p.name in _UNPERTURBED or p.default is inspect.Parameter.empty:
            continue
        if p.name == "frame_skip":
            out[p.name] = int(default) + 1
        elif isinstance(default, bool):
            if p.name.startswith(("include_", "exclude_")):
                out[p.name] = not default
        elif isinstance(default, (int, float)) and p.name.endswith(("_weight", "_reward", "_scale")):
            out[p.name] = float(default) * 1.5 if default else 0.1
    return out


def _flat_info(info: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Vector info -> {name: (values, mask)} (nested dicts as ``a/b``)."""
    out: dict[str, tuple[Any, Any]] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out.update(_flat_info(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = (value, info.get("_" + key))
    return out


def _as_array(value: Any) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        return np.frombuffer(repr(value).encode(), dtype=np.uint8)


def _canonical(obs, reward, terminated, truncated, info, keys: list[str], n: int) -> dict[str, Any]:
    """One step's quantities as the arrays that are hashed and compared."""
    flat = _flat_info(info)
    infos: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for key in keys:
        if key not in flat:
            infos[key] = None
            continue
        value, mask = flat[key]
        mask = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        arr = _as_array(value)
        infos[key] = (mask, arr[mask] if arr.ndim and arr.shape[0] == n and mask.shape == (n,) else arr)
    return {
        "observations": _as_array(obs),
        "rewards": _as_array(reward),
        "flags": np.ascontiguousarray(np.stack([np.asarray(terminated, bool), np.asarray(truncated, bool)])),
        "info": infos,
    }


def _hash_step(h, step: dict[str, Any]) -> None:
    for name in ("observations", "rewards", "flags"):
        h.update(step[name].tobytes())
    for key, item in step["info"].items():
        h.update(key.encode())
        if item is None:
            h.update(b"<missing>")
        else:
            h.update(item[0].tobytes())
            h.update(item[1].tobytes())


@dataclass
class TaskReport:
    task: str
    gym_id: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    rollouts: int = 0
    env_steps: int = 0
    terminations: int = 0
    truncations: int = 0
    ours: Any = field(default_factory=hashlib.sha256)
    theirs: Any = field(default_factory=hashlib.sha256)
    agreement: dict[str, Agreement] = field(default_factory=lambda: {q: Agreement() for q in QUANTITIES})
    error: str | None = None
    seconds: float = 0.0
    info_keys: set[str] = field(default_factory=set)

    @property
    def match(self) -> bool:
        return self.error is None and self.ours.hexdigest() == self.theirs.hexdigest()

    def within(self, atol: float) -> bool:
        if self.error is not None:
            return False
        return all(a.identical or (not a.notes and a.max_diff <= atol) for a in self.agreement.values())


def _compare_step(report: TaskReport, h_theirs, ref: dict[str, Any], h_ours: list, mine: list[dict[str, Any]]) -> None:
    """Hash one step on both sides and compare each of pbrl's variants with Gymnasium's."""
    _hash_step(h_theirs, ref)
    for h, step in zip(h_ours, mine):
        _hash_step(h, step)
        for q in ("observations", "rewards", "flags"):
            report.agreement[q].add(step[q], ref[q])
        for key, item in step["info"].items():
            if item is None:
                report.agreement["info"].note(f"no info[{key!r}]")
                continue
            ref_mask, ref_values = ref["info"][key]
            if not np.array_equal(item[0], ref_mask):
                report.agreement["info"].note(f"info[{key!r}] given for other sub-envs")
            else:
                report.agreement["info"].add(item[1], ref_values)


def _single_rollout(report: TaskReport, gym_id: str, kwargs: dict[str, Any], seed: int, steps: int, limit: int) -> None:
    """``gym.make`` on both sides: one env, reset by hand (unseeded after the first reset)."""
    import gymnasium as gym

    theirs = gym.make(gym_id, max_episode_steps=limit, **kwargs)
    ours = None
    try:
        ours = gym.make(report.task, max_episode_steps=limit, **kwargs)
        h_theirs, h_ours = hashlib.sha256(), hashlib.sha256()

        def one(obs, reward, terminated, truncated, info, keys):
            return _canonical(np.asarray(obs)[None], [reward], [terminated], [truncated], info, keys, 1)

        o2, i2 = theirs.reset(seed=seed)
        o1, i1 = ours.reset(seed=seed)
        keys = sorted(_flat_info(i2))
        _compare_step(report, h_theirs, one(o2, 0.0, False, False, i2, keys), [h_ours], [one(o1, 0.0, False, False, i1, keys)])
        rng = np.random.default_rng(seed)
        low, high = np.asarray(theirs.action_space.low, np.float64), np.asarray(theirs.action_space.high, np.float64)
        for _ in range(steps):
            action = rng.uniform(low, high).astype(np.float32)
            o2, r2, te2, tr2, i2 = theirs.step(action)
            o1, r1, te1, tr1, i1 = ours.step(action)
            types = [tuple(type(v).__name__ for v in out) for out in ((r2, te2, tr2), (r1, te1, tr1))]
            h_theirs.update(repr(types[0]).encode())
            h_ours.update(repr(types[1]).encode())
            if types[0] != types[1]:
                report.agreement["rewards" if types[0][0] != types[1][0] else "flags"].note(
                    f"gym.make returns (reward, terminated, truncated) as {'/'.join(types[1])} where Gymnasium's are {'/'.join(types[0])}"
                )
            keys = sorted(_flat_info(i2))
            report.info_keys.update(keys)
            _compare_step(report, h_theirs, one(o2, r2, te2, tr2, i2, keys), [h_ours], [one(o1, r1, te1, tr1, i1, keys)])
            report.terminations += int(te2)
            report.truncations += int(tr2 and not te2)
            if te2 or tr2 or te1 or tr1:
                o2, i2 = theirs.reset()
                o1, i1 = ours.reset()
                keys = sorted(_flat_info(i2))
                _compare_step(report, h_theirs, one(o2, 0.0, False, False, i2, keys), [h_ours], [one(o1, 0.0, False, False, i1, keys)])
        report.ours.update(h_ours.digest())
        report.theirs.update(h_theirs.digest())
        report.rollouts += 1
        report.env_steps += steps
    finally:
        theirs.close()
        if ours is not None:
            ours.close()


def _rollout(report: TaskReport, gym_id: str, kwargs: dict[str, Any], seed: int, n: int, threads: list[int], steps: int, limit: int) -> None:
    """One Gymnasium rollout and pbrl's at every thread count, in lockstep."""
    import gymnasium as gym

    theirs = gym.make_vec(gym_id, num_envs=n, vectorization_mode="sync", max_episode_steps=limit, **kwargs)
    ours = []
    try:
        for t in threads:
            ours.append(
                gym.make_vec(report.task, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=limit, nthread=t, **kwargs)
            )
        h_theirs = hashlib.sha256()
        h_ours = [hashlib.sha256() for _ in ours]

        def compare(ref: dict[str, Any], mine: list[dict[str, Any]]) -> None:
            _compare_step(report, h_theirs, ref, h_ours, mine)

        o2, i2 = theirs.reset(seed=seed)
        keys = sorted(_flat_info(i2))
        report.info_keys.update(keys)
        ref = _canonical(o2, np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), i2, keys, n)
        mine = []
        for env in ours:
            o1, i1 = env.reset(seed=seed)
            mine.append(_canonical(o1, np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), i1, keys, n))
        compare(ref, mine)
        rng = np.random.default_rng(seed)
        space = theirs.single_action_space
        low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        for _ in range(steps):
            actions = rng.uniform(low, high, size=(n, low.size)).astype(np.float32)
            o2, r2, te2, tr2, i2 = theirs.step(actions)
            step_keys = sorted(_flat_info(i2))
            report.info_keys.update(step_keys)
            ref = _canonical(o2, r2, te2, tr2, i2, step_keys, n)
            mine = [_canonical(*env.step(actions), step_keys, n) for env in ours]
            compare(ref, mine)
            report.terminations += int(np.sum(te2))
            report.truncations += int(np.sum(tr2 & ~te2))
        for h in h_ours:
            report.ours.update(h.digest())
            report.theirs.update(h_theirs.digest())
        report.rollouts += len(ours)
        report.env_steps += len(ours) * n * steps
    finally:
        theirs.close()
        for env in ours:
            env.close()


def verify_task(task: str, *, steps: int, seeds: list[int], batch_sizes: list[int], threads: list[int],
                episode_limit: int, perturbed: bool) -> TaskReport:  # fmt: skip
    """Compare ``task`` with its Gymnasium class over every setting; never raises for a mismatch."""
    import gymnasium as gym

    gym_id = gymnasium_counterpart(task)
    report = TaskReport(task, gym_id)
    if gym_id is None:
        return report
    start = time.perf_counter()
    limit = min(int(episode_limit), gym.spec(gym_id).max_episode_steps or episode_limit)
    cases: list[dict[str, Any]] = [{}]
    if perturbed:
        report.kwargs = perturbed_kwargs(gym_id)
        cases.append(report.kwargs)
    try:
        for kwargs in cases:
            for seed in seeds:
                _single_rollout(report, gym_id, kwargs, seed, steps, limit)
                for n in batch_sizes:
                    _rollout(report, gym_id, kwargs, seed, n, threads, steps, limit)
    except Exception as exc:  # noqa: BLE001  (a task that cannot run a setting fails the certificate, with the reason)
        report.error = f"{type(exc).__name__}: {exc}"
    report.seconds = time.perf_counter() - start
    return report


def versions() -> dict[str, str]:
    import gymnasium
    import mujoco

    import pbrl

    return {
        "pbrl": pbrl.__version__,
        "mujoco": mujoco.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_verify(*, tasks: list[str] | None, steps: int, seeds: list[int], batch_sizes: list[int], threads: list[int],
               episode_limit: int, perturbed: bool, atol: float = 0.0, echo=typer.echo) -> bool:  # fmt: skip
    """Print the certificate; True when every compared task matches (within ``atol``)."""
    from pbrl.envs import TASKS

    known = sorted(TASKS)
    chosen = list(tasks) if tasks else known
    unknown = [t for t in chosen if t not in TASKS]
    if unknown:
        raise typer.BadParameter(f"unknown task(s) {unknown}; registered: {', '.join(known)}")
    echo("pbrl parity certificate: pbrl's batched tasks vs Gymnasium's MuJoCo v5 classes (SyncVectorEnv)")
    echo("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    echo(
        f"settings: steps {steps} per rollout, seeds {seeds}, batch sizes {batch_sizes}, pbrl threads {threads}, "
        f"episode limit {episode_limit}, kwargs {'default + perturbed' if perturbed else 'default'}; "
        "each vector rollout (gym.make_vec) also as one gym.make env per kwargs set and seed"
    )
    echo("")
    reports = []
    for task in chosen:
        r = verify_task(task, steps=steps, seeds=seeds, batch_sizes=batch_sizes, threads=threads,
                        episode_limit=episode_limit, perturbed=perturbed)  # fmt: skip
        reports.append(r)
        if r.gym_id is None:
            echo(f"{task}: skipped (Gymnasium registers no {task.split('/', 1)[-1]} MuJoCo class)")
            echo("")
            continue
        echo(f"{task} vs {r.gym_id}")
        if r.kwargs:
            echo("  perturbed kwargs: " + ", ".join(f"{k}={v!r}" for k, v in r.kwargs.items()))
        echo(f"  rollouts: {r.rollouts}, env-steps: {r.env_steps}, Gymnasium episode ends: {r.terminations} terminated, {r.truncations} truncated ({r.seconds:.0f} s)")
        if r.error:
            echo(f"  error: {r.error}")
        echo(f"  sha256 pbrl      {r.ours.hexdigest()}")
        echo(f"  sha256 gymnasium {r.theirs.hexdigest()}  {'MATCH' if r.match else 'DIFFER'}")
        for q in QUANTITIES:
            echo(f"  {q:<13}{r.agreement[q].describe()}")
        echo("")
    compared = [r for r in reports if r.gym_id is not None]
    passed = [r for r in compared if r.match or (atol > 0 and r.within(atol))]
    echo("summary: " + " | ".join(f"{r.task.split('/', 1)[-1]} " + ("MATCH" if r.match else "within atol" if r in passed else "DIFFER")
                                   for r in compared))  # fmt: skip
    skipped = [r.task for r in reports if r.gym_id is None]
    echo(
        f"{sum(r.match for r in compared)} of {len(compared)} tasks bit-identical to Gymnasium"
        + (f" ({len(passed)} within --atol {atol:g})" if atol > 0 else "")
        + (f"; skipped (no Gymnasium class): {', '.join(skipped)}" if skipped else "")
    )
    sys.stdout.flush()
    return len(passed) == len(compared)
