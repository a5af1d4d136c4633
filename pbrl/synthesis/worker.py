"""The training worker of reward synthesis: ``python -m pbrl.synthesis.worker JOB.json``
(started by ``sandbox.py`` only).

It runs a candidate's probe or PPO training. The candidate's reward program does not
run here: the sandbox's parent loaded it into a reward worker (``pbrl.sandbox``: an
empty read-only root, seccomp, namespaces, limits) and handed this process the
pipe to it; every step's batch goes there and the answer is checked here. So the
curves, the task's terms and everything else this worker records come from code the
program never touched. The worker is contained all the same (defence in depth): it
starts in a fresh temporary directory (its cwd, which holds ``job.json``), with a
scrubbed environment, usually under ``unshare``, and does, in order:

1. the OS layer: in a PID namespace, where it is process 1, a cap on the tasks of
   the namespace (``jail.limit_tasks``); the parent's home and temporary
   directories hidden (``jail.hide_directories``); a read-only file system but for
   its cwd; no capabilities; and — still as process 1 — a fork, so that the work
   runs as an ordinary process while process 1 only reaps and reports its exit status;
2. rlimits (address space, CPU seconds, file size, open files, processes);
3. its own imports and the env (and, for training, the PPO agent), then lowers the
   address-space limit to what it uses plus the job's memory budget, and attaches
   to the reward worker; then the stage:

   * ``probe``: random actions on a small batch of envs for a few dozen steps,
     asking the program every step (catches runtime errors, wrong shapes and NaN
     in a second, before any training);
   * ``train``: PPO on the program's reward (or the task's own reward when the job
     has no program), recording every rollout's per-step means of the program's
     terms and of the task's terms, and the finished episodes' task metric.

4. writes ``result.json`` (metrics only) and, after training, ``weights.npz``.

The parent still validates ``result.json`` against a schema and recomputes fitness
from ``weights.npz`` in a separate trusted process.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
from typing import Any, Mapping

RESULT_FILE = "result.json"
WEIGHTS_FILE = "weights.npz"
FORMAT = "pbrl.synthesis.worker/1"

# Saved at import (the worker writes its result with it).
_open = io.open


# -- the reward program, in its own worker ------------------------------------------------


def program_info(info: Mapping[str, Any], card: Any, view: str) -> dict[str, Any]:
    """What the program sees of a step's info: the card's named quantities, plus the task's
    reward terms and success flag when ``view == "full"`` (the reward worker gets read-only
    copies of these arrays)."""
    out: dict[str, Any] = {key: info[key] for key in card.quantities if key in info}
    if view == "full":
        if "reward_terms" in info:
            out["reward_terms"] = dict(info["reward_terms"])
        if "success" in info:
            out["success"] = info["success"]
    return out


def program_client(job: Mapping[str, Any]):
    """The reward worker the sandbox's parent started and loaded for this job, or None (the
    task's own reward). The program never runs in this process."""
    from pbrl.sandbox.client import RewardWorker

    spec = job.get("reward_worker")
    if not spec:
        return None
    return RewardWorker.attach(int(spec["read_fd"]), int(spec["write_fd"]), name="the reward program",
                               limits=dict(spec.get("limits") or {}))


def make_program_source(client: Any, card: Any, view: str):
    """A :class:`~pbrl.rewards.source.RewardSource` that asks the reward worker."""
    from pbrl.rewards.source import RewardSource

    class ProgramSource(RewardSource):
        name = "program"

        def compute(self, obs, action, next_obs, info):
            reward, self.last_terms = client(obs, action, next_obs, program_info(info, card, view))
            return reward

    return ProgramSource()


# -- statistics ------------------------------------------------------------------------


class Moments:
    """Streaming count / sum / sum of squares / min / max of a scalar series."""

    def __init__(self) -> None:
        self.n = 0
        self.s = 0.0
        self.ss = 0.0
        self.lo = float("inf")
        self.hi = float("-inf")

    def add(self, values) -> None:
        import numpy as np

        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size:
            self.n += int(v.size)
            self.s += float(v.sum())
            self.ss += float(np.square(v).sum())
            self.lo = min(self.lo, float(v.min()))
            self.hi = max(self.hi, float(v.max()))

    def summary(self) -> dict[str, float | int | None]:
        if not self.n:
            return {"count": 0, "mean": None, "std": None, "min": None, "max": None}
        mean = self.s / self.n
        var = max(self.ss / self.n - mean * mean, 0.0)
        return {"count": self.n, "mean": mean, "std": var**0.5, "min": self.lo, "max": self.hi}


class Correlation:
    """Streaming Pearson correlation of two series."""

    def __init__(self) -> None:
        self.n = 0
        self.sx = self.sy = self.sxx = self.syy = self.sxy = 0.0

    def add(self, x, y) -> None:
        import numpy as np

        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        self.n += int(x.size)
        self.sx += float(x.sum())
        self.sy += float(y.sum())
        self.sxx += float(x @ x)
        self.syy += float(y @ y)
        self.sxy += float(x @ y)

    def value(self) -> float | None:
        if self.n < 2:
            return None
        cov = self.sxy / self.n - (self.sx / self.n) * (self.sy / self.n)
        vx = self.sxx / self.n - (self.sx / self.n) ** 2
        vy = self.syy / self.n - (self.sy / self.n) ** 2
        if vx <= 1e-12 * max(1.0, abs(self.sxx / self.n)) or vy <= 1e-12 * max(1.0, abs(self.syy / self.n)):
            return None
        return float(max(-1.0, min(1.0, cov / (vx * vy) ** 0.5)))


# -- stages ------------------------------------------------------------------------------


def _prepare(job: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Lower the memory limit; attach to the reward worker."""
    from pbrl.sandbox import jail

    info: dict[str, Any] = {}
    if job["limits"].get("memory_mb"):
        info["address_space_mb"] = jail.tighten_address_space(int(job["limits"]["memory_mb"]))
    return program_client(job), info


def run_probe(job: Mapping[str, Any]) -> dict[str, Any]:
    """Call the program on random-action steps of a small batch of envs."""
    import gymnasium as gym
    import numpy as np

    import pbrl.envs  # noqa: F401
    from pbrl.rewards.source import transition_info

    probe = job.get("probe", {})
    n, steps, seed = int(probe.get("num_envs", 8)), int(probe.get("steps", 64)), int(job.get("seed", 0))
    env = gym.make_vec(job["task"], num_envs=n, vectorization_mode="vector_entry_point", **dict(job.get("env_kwargs") or {}))
    card = env.unwrapped.card
    low, high = env.single_action_space.low, env.single_action_space.high
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    client, prep = _prepare(job)
    reward_stats, term_stats, corr = Moments(), {}, Correlation()
    view = job.get("info_view", "quantities")
    for _ in range(steps):
        action = rng.uniform(low, high, size=(n, low.shape[0]))
        next_obs, true_reward, terminated, truncated, raw = env.step(action)
        # every sub-env's step info (a NEXT_STEP reset step's top-level info has only reset keys)
        info = transition_info(getattr(env.unwrapped, "last_step_info", None) or raw)
        if client is None:
            reward, terms = np.asarray(true_reward, dtype=np.float64), {}
        else:
            reward, terms = client(obs, action, next_obs, program_info(info, card, view))
        reward_stats.add(reward)
        corr.add(reward, true_reward)
        for key, value in terms.items():
            term_stats.setdefault(key, Moments()).add(value)
        obs = next_obs
    env.close()
    return {
        "probe": {
            "steps": steps,
            "num_envs": n,
            "reward": reward_stats.summary(),
            "terms": {k: v.summary() for k, v in term_stats.items()},
        },
        "correlation": corr.value(),
        "prepare": prep,
    }


def run_train(job: Mapping[str, Any], workdir: str) -> dict[str, Any]:
    """Train PPO on the program's reward; record the curves; write the weights."""
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from pbrl.agents import make_agent
    from pbrl.rewards.source import TrueReward

    from .fitness import EpisodeScores, task_metric
    from .limits import MAX_CURVE_POINTS
    from .weights import save_weights

    train = job["train"]
    hp = dict(train["hyperparams"])
    torch.set_num_threads(int(hp.get("torch_threads", 1)))
    agent = make_agent("ppo", job["task"], hp, seed=int(job.get("seed", 0)), env_kwargs=dict(job.get("env_kwargs") or {}))
    card = agent.card
    wrapper = agent.reward_env
    dt = wrapper.venv.env.engine.dt
    n = wrapper.num_envs
    metric = task_metric(card)
    client, prep = _prepare(job)
    source = TrueReward() if client is None else make_program_source(client, card, job.get("info_view", "quantities"))
    agent.set_reward_source(source)

    scores = EpisodeScores(metric, n, dt)
    corr = Correlation()
    window: dict[str, Any] = {"steps": 0, "reward": 0.0, "terms": {}, "task_terms": {}, "episodes": []}
    curves: dict[str, Any] = {
        "steps": [], "program_reward": [], "program_terms": {}, "task_terms": {},
        "task_score": [], "true_return": [], "episode_length": [],
    }

    def hook(tr) -> None:
        window["steps"] += n
        window["reward"] += float(np.sum(tr.reward))
        for key, value in source.last_terms.items():
            window["terms"][key] = window["terms"].get(key, 0.0) + float(np.sum(value))
        for key, value in tr.info.get("reward_terms", {}).items():
            window["task_terms"][key] = window["task_terms"].get(key, 0.0) + float(np.sum(value))
        corr.add(tr.reward, tr.true_reward)
        scores.step(tr.info, tr.true_reward)
        ended = np.flatnonzero(tr.done)
        if ended.size:
            for i, s in zip(ended, scores.scores(ended)):
                window["episodes"].append((float(s), float(scores.ret[i]), int(scores.length[i])))
            scores.reset(ended)

    wrapper.add_transition_hook(hook)

    class Recorder(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            steps = window["steps"]
            if not steps:
                return
            curves["steps"].append(int(self.num_timesteps))
            curves["program_reward"].append(window["reward"] / steps)
            for key, total in window["terms"].items():
                curves["program_terms"].setdefault(key, []).append(total / steps)
            for key, total in window["task_terms"].items():
                curves["task_terms"].setdefault(key, []).append(total / steps)
            eps = window["episodes"]
            curves["task_score"].append(float(np.mean([e[0] for e in eps])) if eps else None)
            curves["true_return"].append(float(np.mean([e[1] for e in eps])) if eps else None)
            curves["episode_length"].append(float(np.mean([e[2] for e in eps])) if eps else None)
            window.update(steps=0, reward=0.0, terms={}, task_terms={}, episodes=[])

    t0 = time.time()
    agent.learn(int(train["steps"]), callback=Recorder())
    wall = time.time() - t0
    # Keep at most MAX_CURVE_POINTS points, evenly spaced.
    total = len(curves["steps"])
    if total > MAX_CURVE_POINTS:
        keep = np.linspace(0, total - 1, MAX_CURVE_POINTS).round().astype(int)
        for key in ("steps", "program_reward", "task_score", "true_return", "episode_length"):
            curves[key] = [curves[key][i] for i in keep]
        for group in ("program_terms", "task_terms"):
            curves[group] = {k: [v[i] for i in keep if i < len(v)] for k, v in curves[group].items()}
    result = {
        "curves": curves,
        "correlation": corr.value(),
        "num_timesteps": int(agent.num_timesteps),
        "train_seconds": wall,
        "prepare": prep,
    }
    _only_the_worker()
    _write_json(os.path.join(workdir, RESULT_FILE), {"format": FORMAT, "stage": "train", "ok": True, "failure": None, **result, "layers": _LAYERS})
    save_weights(agent, os.path.join(workdir, WEIGHTS_FILE))
    return result


# -- process plumbing ----------------------------------------------------------------------

_LAYERS: dict[str, Any] = {}
#: the worker's own pid (copies forked by a program must not write results)
_WORKER_PID: list[int] = []


def _only_the_worker() -> None:
    """In a copy of the worker forked by the program, exit without writing anything: only
    the worker reports (a fork bomb's copies would otherwise interleave their results)."""
    if _WORKER_PID and os.getpid() != _WORKER_PID[0]:
        os._exit(1)


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    with _open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, allow_nan=False, default=_json_default)


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _failure_record(exc: BaseException) -> dict[str, Any]:
    from .errors import OutOfMemory, SynthesisFailure, WorkerCrashed
    from .limits import MAX_DETAIL_CHARS, MAX_MESSAGE_CHARS

    if isinstance(exc, SynthesisFailure):
        failure = exc
    elif isinstance(exc, MemoryError):
        failure = OutOfMemory("the worker ran out of memory (the sandbox's address-space limit)")
    else:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        failure = WorkerCrashed(f"the worker failed: {type(exc).__name__}: {str(exc)[:500]}", text)
    record = failure.to_record()
    record["message"] = record["message"][:MAX_MESSAGE_CHARS]
    record["detail"] = record["detail"][:MAX_DETAIL_CHARS]
    return record


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m pbrl.synthesis.worker JOB.json (run by pbrl's sandbox only)", file=sys.stderr)
        return 2
    workdir = os.getcwd()
    with _open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    from pbrl.sandbox import jail

    namespaces = os.environ.get("PBRL_SANDBOX_NS") == "1" and os.getpid() == 1
    limits = job.get("limits", {})
    tasks = jail.limit_tasks(int(limits["max_tasks"])) if namespaces and limits.get("max_tasks") else None
    places = job.get("jail") or {}
    hidden = None
    if namespaces:
        try:
            hidden = jail.hide_directories(list(places.get("hide", [])), list(places.get("keep", [])) + [workdir])
        except Exception as exc:  # noqa: BLE001 - reported with the layers; the other layers still apply
            hidden = {"hidden": [], "kept": [], "failed": {"*": f"{type(exc).__name__}: {exc}"}}
    filesystem = jail.readonly_filesystem(workdir) if namespaces else None
    if namespaces:
        os.chdir(workdir)  # the cwd must be on the new (writable) bind mount, not the read-only one below it
    capabilities = jail.drop_capabilities()
    if namespaces:
        child = os.fork()
        if child:
            return jail.reap_namespace(child)
    rlimits = jail.set_rlimits(limits)
    _LAYERS.update(jail.describe_layers(namespaces, filesystem, capabilities, rlimits, tasks))
    if filesystem is not None:
        _LAYERS["filesystem_detail"] = filesystem
    if hidden is not None:
        _LAYERS["hidden"] = hidden["hidden"]
        _LAYERS["hidden_detail"] = hidden
    stage = job.get("stage")
    result_path = os.path.join(workdir, RESULT_FILE)
    _WORKER_PID.append(os.getpid())
    try:
        if stage == "probe":
            result = run_probe(job)
            _only_the_worker()
            _write_json(result_path, {"format": FORMAT, "stage": stage, "ok": True, "failure": None, **result, "layers": _LAYERS})
        elif stage == "train":
            run_train(job, workdir)
        else:
            raise ValueError(f"unknown stage {stage!r}")
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
        _only_the_worker()
        try:
            _write_json(result_path, {"format": FORMAT, "stage": stage, "ok": False, "failure": _failure_record(exc), "layers": _LAYERS})
        except BaseException:  # noqa: BLE001 - e.g. the file-size limit: the parent classifies the exit
            return 3
        return 0
    return 0


if __name__ == "__main__":
    # os._exit: no interpreter teardown (atexit hooks, thread joins) after untrusted code ran.
    sys.stdout.flush()
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
