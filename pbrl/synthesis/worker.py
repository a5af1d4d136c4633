"""The sandboxed worker: ``python -m pbrl.synthesis.worker JOB.json`` (started by ``sandbox.py`` only).

This is the only process that ever runs a candidate reward program. It starts in
a fresh temporary directory (its cwd, which holds ``job.json``), with a scrubbed
environment, usually under ``unshare`` (see ``jail.py``), and does, in order:

1. the OS layer: in a PID namespace, where it is process 1, a cap on the tasks of
   the namespace (``jail.limit_tasks``); the parent's home and temporary
   directories hidden (``jail.hide_directories``); a read-only file system but for
   its cwd; no capabilities; and — still as process 1 — a fork, so that the work
   runs as an ordinary process while process 1 only reaps and reports its exit status;
2. rlimits (address space, CPU seconds, file size, open files, processes);
3. its own imports and the env (and, for training, the PPO agent), then lowers the
   address-space limit to what it uses plus the job's memory budget;
4. the runtime guard (``guard.py``), then loads the program with restricted
   builtins and runs the stage:

   * ``probe``: random actions on a small batch of envs for a few dozen steps,
     calling the program every step (catches runtime errors, wrong shapes and NaN
     in a second, before any training);
   * ``train``: PPO on the program's reward (or the task's own reward when the job
     has no program), recording every rollout's per-step means of the program's
     terms and of the task's terms, and the finished episodes' task metric.

5. writes ``result.json`` (metrics only) and, after training, ``weights.npz``.

Nothing here is trusted by the parent: it validates ``result.json`` against a
schema and recomputes fitness from ``weights.npz`` in a separate trusted process.
"""

from __future__ import annotations

import builtins
import io
import json
import linecache
import os
import signal
import sys
import time
import traceback
from typing import Any, Callable, Mapping

PROGRAM_FILE = "reward_program.py"
RESULT_FILE = "result.json"
WEIGHTS_FILE = "weights.npz"
FORMAT = "pbrl.synthesis.worker/1"

# Saved before the runtime guard replaces them for the rest of the process.
_open = io.open
_exec = builtins.exec
_compile = builtins.compile


# -- calling the program ---------------------------------------------------------------


def program_traceback(exc: BaseException, limit: int = 6000) -> str:
    """The traceback of ``exc`` restricted to the program's own frames (what the LLM can fix)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == PROGRAM_FILE]
    lines = ["Traceback (most recent call last):"] if frames else []
    for frame in frames:
        lines.append(f'  File "{PROGRAM_FILE}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    message = str(exc)
    lines.append(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 20] + "\n... (truncated)"


def call_program(thunk: Callable[[], Any]) -> Any:
    """Run program code, turning whatever it raises into a named failure."""
    from .errors import GuardViolation, OutOfMemory, OutputLimitExceeded, RuntimeFailure, SynthesisFailure

    try:
        return thunk()
    except GuardViolation as exc:
        raise GuardViolation(exc.message, program_traceback(exc)) from None
    except SynthesisFailure:
        raise
    except MemoryError as exc:
        raise OutOfMemory("the reward program ran out of memory (the sandbox's address-space limit)", program_traceback(exc)) from None
    except OSError as exc:
        if exc.errno == 27:  # EFBIG: RLIMIT_FSIZE
            raise OutputLimitExceeded("the reward program wrote more than the sandbox's file-size limit") from None
        raise RuntimeFailure(f"{type(exc).__name__}: {exc}", program_traceback(exc)) from None
    except BaseException as exc:  # noqa: BLE001 - SystemExit, RecursionError... from untrusted code
        raise RuntimeFailure(f"{type(exc).__name__}: {exc}"[:2000], program_traceback(exc)) from None


def load_program(source: str, guarded: bool) -> Callable[..., Any]:
    """Execute the program's module body in a fresh namespace and return its ``compute_reward``."""
    from .errors import ProgramSyntaxError, RuntimeFailure
    from .guard import safe_builtins

    try:
        code = _compile(source, PROGRAM_FILE, "exec")
    except (SyntaxError, ValueError) as exc:
        raise ProgramSyntaxError(f"the reward program does not compile: {exc}") from None
    linecache.cache[PROGRAM_FILE] = (len(source), None, source.splitlines(True), PROGRAM_FILE)
    namespace: dict[str, Any] = {"__name__": "reward_program", "__builtins__": safe_builtins() if guarded else builtins}
    call_program(lambda: _exec(code, namespace))
    fn = namespace.get("compute_reward")
    if not callable(fn):
        raise RuntimeFailure("the program does not define a callable compute_reward")
    return fn


def validate_output(out: Any, n: int) -> tuple[Any, dict[str, Any]]:
    """Check a program's ``(reward, terms)``: (N,) finite floats and a small dict of them."""
    import numpy as np

    from .errors import NonFiniteReward, WrongShape
    from .limits import MAX_TERMS, TERM_NAME

    terms: Any = {}
    if isinstance(out, tuple):
        if len(out) != 2:
            raise WrongShape(f"compute_reward must return (reward, terms); it returned a tuple of {len(out)} items")
        out, terms = out
    if terms is None:
        terms = {}
    if not isinstance(terms, Mapping):
        raise WrongShape(f"terms must be a dict of name -> (N,) array, got {type(terms).__name__}")
    if len(terms) > MAX_TERMS:
        raise WrongShape(f"compute_reward returned {len(terms)} terms; at most {MAX_TERMS} are allowed")
    try:
        reward = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WrongShape(f"the reward is not an array of numbers ({type(exc).__name__}: {str(exc)[:200]})") from None
    if reward.shape != (n,):
        raise WrongShape(f"the reward has shape {reward.shape}; it must be ({n},), one value per env of the batch")
    if not np.isfinite(reward).all():
        bad = np.flatnonzero(~np.isfinite(reward))[:5].tolist()
        raise NonFiniteReward(f"the reward is NaN or infinite (batch rows {bad})")
    checked: dict[str, Any] = {}
    for key, value in terms.items():
        if not isinstance(key, str) or not TERM_NAME.match(key):
            raise WrongShape(f"term name {str(key)[:50]!r} is not an identifier of at most 40 characters")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise WrongShape(f"term {key!r} is not an array of numbers") from None
        if arr.shape == ():
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise WrongShape(f"term {key!r} has shape {arr.shape}; it must be ({n},)")
        if not np.isfinite(arr).all():
            raise NonFiniteReward(f"term {key!r} is NaN or infinite")
        checked[key] = arr
    return reward, checked


def program_info(info: Mapping[str, Any], card: Any, view: str) -> dict[str, Any]:
    """What the program sees of a step's info: copies of the card's named quantities,
    plus the task's reward terms and success flag when ``view == "full"``."""
    import numpy as np

    out: dict[str, Any] = {}
    for key in card.quantities:
        if key in info:
            out[key] = np.array(info[key], copy=True)
    if view == "full":
        if "reward_terms" in info:
            out["reward_terms"] = {k: np.array(v, copy=True) for k, v in info["reward_terms"].items()}
        if "success" in info:
            out["success"] = np.array(info["success"], copy=True)
    return out


def make_program_source(fn: Callable[..., Any], card: Any, view: str):
    """A :class:`~pbrl.rewards.source.RewardSource` calling the untrusted function, validated."""
    from pbrl.rewards.source import RewardSource

    class ProgramSource(RewardSource):
        name = "program"

        def compute(self, obs, action, next_obs, info):
            n = len(obs)
            seen = program_info(info, card, view)
            out = call_program(lambda: fn(obs.copy(), action.copy(), next_obs.copy(), seen))
            reward, terms = validate_output(out, n)
            self.last_terms = terms
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


def _prepare(job: Mapping[str, Any]) -> tuple[Callable[..., Any] | None, dict[str, Any]]:
    """Lower the memory limit, install the guard, load the program (in that order)."""
    from . import jail
    from .guard import disable_dangerous_functions

    info: dict[str, Any] = {}
    if job["limits"].get("memory_mb"):
        info["address_space_mb"] = jail.tighten_address_space(int(job["limits"]["memory_mb"]))
    guarded = bool(job.get("runtime_guard", True))
    info["runtime_guard"] = guarded
    if guarded:
        import zipfile  # noqa: F401  (numpy's savez imports it lazily; import it before the guard)

        info["guard_disabled"] = len(disable_dangerous_functions())
    fn = None if job.get("program") is None else load_program(job["program"], guarded)
    return fn, info


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
    fn, prep = _prepare(job)
    reward_stats, term_stats, corr = Moments(), {}, Correlation()
    view = job.get("info_view", "quantities")
    for _ in range(steps):
        action = rng.uniform(low, high, size=(n, low.shape[0]))
        next_obs, true_reward, terminated, truncated, raw = env.step(action)
        info = transition_info(raw)
        if fn is None:
            reward, terms = np.asarray(true_reward, dtype=np.float64), {}
        else:
            seen = program_info(info, card, view)
            out = call_program(lambda: fn(obs.copy(), action.copy(), np.array(next_obs, copy=True), seen))
            reward, terms = validate_output(out, n)
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
    fn, prep = _prepare(job)
    source = TrueReward() if fn is None else make_program_source(fn, card, job.get("info_view", "quantities"))
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


def _reap(child: int) -> int:
    """Process 1 of the PID namespace: forward SIGTERM, reap everything, report the child's status."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:  # pragma: no cover
            continue
        if pid == child:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m pbrl.synthesis.worker JOB.json (run by pbrl's sandbox only)", file=sys.stderr)
        return 2
    workdir = os.getcwd()
    with _open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    from . import jail

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
            return _reap(child)
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
