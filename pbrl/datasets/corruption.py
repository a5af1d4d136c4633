"""Data corruption for robustness studies, always into a new dataset or store.

Follows "Towards Robust Offline Reinforcement Learning under Diverse Data
Corruption" (Yang et al., 2023; RIQL). A fraction ``c`` of the steps is chosen
uniformly without replacement (``seed``), per target, and corrupted with scale ``ε``:

random (the paper's random attacks)
    * observations / next_observations / actions: ``x + λ ⊙ std(x)``, ``λ ~ U[-ε, ε]^d``,
      ``std`` the per-dimension standard deviation over the clean dataset; actions are
      clipped to the action box afterwards.
    * rewards: ``r ~ U[-30ε, 30ε]``.

adversarial
    * rewards: ``r -> -ε · r`` (the paper's adversarial reward attack; no model needed).
    * observations / actions / next_observations: the point of the box
      ``|x̂ - x| ≤ ε · std(x)`` that minimises a value estimate. The paper minimises a
      pre-trained EDAC Q ensemble by projected gradient descent; pbrl keeps this
      module free of torch and implements two gradient-free adversaries:

      - default, no model given: a *linear Monte-Carlo Q* fitted on the clean
        dataset — ridge regression of the discounted return-to-go (γ = 0.99, per
        episode) on ``[s, a]`` (and a linear ``V`` on ``s`` for next observations).
        Minimising a linear function over a box has a closed form: the corner
        ``x - ε · std ⊙ sign(w)``.
      - ``q_function(obs, actions) -> (B,)`` given (a learned Q, a reward model, a
        reward program…): batched random search in the box — 16 candidates per step
        and round (box corners and uniform points, then shrinking around the best),
        4 rounds, keeping the minimum. For next observations the action is the
        dataset's next action (the behaviour policy's; the paper uses π(s')).

Datasets keep observations once per row (the observation of step ``t`` is the next
observation of step ``t - 1``), so corrupting ``observations`` of step ``t``
changes row ``t`` of its episode and ``next_observations`` of step ``t`` changes
row ``t + 1``: both transitions that share the row see the corrupted value. For the
paper's independent corruption of ``s`` and ``s'`` use :func:`corrupt_transitions`
on a transitions dict (``Trajectories.transitions()`` or ``qlearning_dataset``).

A corrupted dataset records which rows/steps were corrupted in its infos
(``corrupted/<target>``, step infos on the row after the step, like every step
info) and the recipe in its provenance. Preference labels are corrupted by
:func:`flip_labels`: a fraction of the answered labels ``y -> 1 - y`` (0.5 stays
0.5), written with the rest into a new store.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import DatasetError
from .trajectories import Trajectories
from .value import discounted_returns_to_go

__all__ = [
    "MODES",
    "TARGETS",
    "Corruption",
    "LinearValueAdversary",
    "corrupt_dataset",
    "corrupt_trajectories",
    "corrupt_transitions",
    "flip_labels",
]

TARGETS = ("observations", "actions", "rewards", "next_observations")
MODES = ("random", "adversarial")
QFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """One corruption: ``fraction`` of the steps' ``target`` corrupted with ``scale``.

    Args:
        target: ``observations``, ``actions``, ``rewards`` or ``next_observations``.
        fraction: c, the share of steps corrupted, in (0, 1].
        scale: ε > 0.
        mode: ``random`` or ``adversarial``.
    """

    target: str
    fraction: float = 0.3
    scale: float = 1.0
    mode: str = "random"

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"corruption target must be one of {TARGETS}, got {self.target!r}")
        if self.mode not in MODES:
            raise ValueError(f"corruption mode must be one of {MODES}, got {self.mode!r}")
        if not (isinstance(self.fraction, (int, float)) and 0 < self.fraction <= 1):
            raise ValueError(f"corruption fraction must be in (0, 1], got {self.fraction!r}")
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"corruption scale must be a finite number > 0, got {self.scale!r}")


def _choose(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    k = int(round(fraction * n))
    return np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)


def _std(x: np.ndarray) -> np.ndarray:
    std = np.asarray(x, dtype=np.float64).std(axis=0)
    return np.where(std > 0, std, 1e-6)


class LinearValueAdversary:
    """The default adversary: linear Monte-Carlo value estimates of the clean data.

    ``Q(s, a) ≈ w_s·s + w_a·a + b`` and ``V(s) ≈ v·s + c`` by ridge regression of the
    discounted return-to-go. The worst point of a box for a linear function is the
    corner against its weights, so :meth:`worst` is exact for the fitted model.

    Args:
        traj: the clean dataset.
        gamma: discount of the return-to-go.
        ridge: L2 penalty (on standardised features).
    """

    def __init__(self, traj: Trajectories, gamma: float = 0.99, ridge: float = 1e-3):
        g = discounted_returns_to_go(traj, gamma)
        rows = traj.step_rows()
        s = traj.observations[rows].astype(np.float64)
        a = traj.actions.astype(np.float64)
        self.w_obs, self.w_act = _ridge(np.concatenate([s, a], axis=1), g, ridge, split=s.shape[1])
        self.v_obs, _ = _ridge(s, g, ridge, split=s.shape[1])

    def worst(self, x: np.ndarray, radius: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``x - radius ⊙ sign(weights)``: the minimiser of ``weights·x̂`` over the box."""
        return x - radius * np.sign(weights)


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float, split: int) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = x.mean(axis=0), _std(x)
    z = (x - mu) / sd
    z1 = np.concatenate([z, np.ones((z.shape[0], 1))], axis=1)
    reg = ridge * z.shape[0] * np.eye(z1.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(z1.T @ z1 + reg, z1.T @ (y - y.mean()))
    w = w[:-1] / sd  # back to raw units (only signs and ratios matter)
    return w[:split], w[split:]


def _random_search(
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    radius: np.ndarray,
    partner: np.ndarray,
    rng: np.random.Generator,
    candidates: int = 16,
    rounds: int = 4,
    chunk: int = 2048,
) -> np.ndarray:
    """Per row ``i``, the point of the box ``|x̂ - x_i| ≤ radius`` with the lowest
    ``score(x̂, partner_i)`` found by batched random search (corners and uniform
    points first, then shrinking boxes around the best so far).

    ``score`` takes (B, d) candidates and their (B, p) partners and returns (B,).
    """
    out = x.copy()
    d = x.shape[1]
    for lo in range(0, x.shape[0], chunk):
        xs = x[lo : lo + chunk]
        n = xs.shape[0]
        ps = partner[lo : lo + chunk]
        tiled = np.tile(ps, (candidates, 1))  # candidate-major: candidate j of row i at j * n + i
        rad = np.broadcast_to(radius, xs.shape)
        best = xs.copy()
        best_v = np.asarray(score(best, ps), dtype=np.float64).reshape(n)
        width = 1.0
        for r in range(rounds):
            if r == 0:
                half = candidates // 2
                corners = rng.choice([-1.0, 1.0], size=(half, n, d))
                uniform = rng.uniform(-1.0, 1.0, size=(candidates - half, n, d))
                cand = xs[None] + np.concatenate([corners, uniform]) * rad[None]
            else:
                cand = best[None] + rng.uniform(-width, width, size=(candidates, n, d)) * rad[None]
                cand = np.clip(cand, xs[None] - rad[None], xs[None] + rad[None])
            values = np.asarray(score(cand.reshape(-1, d), tiled), dtype=np.float64).reshape(candidates, n)
            k = values.argmin(axis=0)
            v = values[k, np.arange(n)]
            better = v < best_v
            best[better] = cand[k, np.arange(n)][better]
            best_v = np.where(better, v, best_v)
            width *= 0.5
        out[lo : lo + n] = best
    return out


def _bounds_clip(actions: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    return actions if bounds is None else np.clip(actions, bounds[0], bounds[1])


def corrupt_trajectories(
    traj: Trajectories,
    corruptions: Sequence[Corruption],
    *,
    seed: int = 0,
    q_function: QFunction | None = None,
    action_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    gamma: float = 0.99,
) -> tuple[Trajectories, dict[str, Any]]:
    """Apply corruptions to a copy of ``traj`` (the input is not modified).

    Args:
        traj: the clean episodes.
        corruptions: what to corrupt (applied in order, each choosing its own steps).
        seed: seeds the choice of steps and the noise.
        q_function: ``q(obs, actions) -> (B,)`` for adversarial observations, actions
            and next observations; default: :class:`LinearValueAdversary`.
        action_bounds: (low, high) to clip corrupted actions to.
        gamma: discount of the default adversary.

    Returns:
        The corrupted copy (with ``corrupted/<target>`` infos) and a report: per
        corruption its settings and the number of steps changed.
    """
    rng = np.random.default_rng(seed)
    obs = traj.observations.copy()
    act = traj.actions.copy()
    rew = traj.rewards.copy()
    rows = traj.step_rows()
    t = traj.num_steps
    infos = dict(traj.infos)
    total_rows = obs.shape[0]
    adversary: LinearValueAdversary | None = None
    obs_std, act_std = _std(traj.observations), _std(traj.actions)
    # the dataset's next action (behaviour policy) for each step; the last step keeps its own
    next_act = act.copy()
    same_ep = np.ones(t, dtype=bool)
    same_ep[np.cumsum(traj.lengths) - 1] = False
    next_act[:-1][same_ep[:-1]] = act[1:][same_ep[:-1]]
    report: list[dict[str, Any]] = []
    for c in corruptions:
        idx = _choose(t, c.fraction, rng)
        if c.target == "rewards":
            if c.mode == "random":
                rew[idx] = rng.uniform(-30 * c.scale, 30 * c.scale, size=idx.size)
            else:
                rew[idx] = -c.scale * rew[idx]
            mask_rows = rows[idx] + 1
        elif c.target == "actions":
            radius = c.scale * act_std
            x = act[idx].astype(np.float64)
            if c.mode == "random":
                new = x + rng.uniform(-c.scale, c.scale, size=x.shape) * act_std
            elif q_function is None:
                adversary = adversary or LinearValueAdversary(traj, gamma)
                new = adversary.worst(x, radius, adversary.w_act)
            else:
                new = _random_search(lambda cand, s: q_function(s, cand), x, radius, obs[rows[idx]], rng)
            act[idx] = _bounds_clip(new, action_bounds)
            mask_rows = rows[idx] + 1
        else:
            target_rows = rows[idx] if c.target == "observations" else rows[idx] + 1
            radius = c.scale * obs_std
            x = obs[target_rows].astype(np.float64)
            if c.mode == "random":
                new = x + rng.uniform(-c.scale, c.scale, size=x.shape) * obs_std
            elif q_function is None:
                adversary = adversary or LinearValueAdversary(traj, gamma)
                weights = adversary.w_obs if c.target == "observations" else adversary.v_obs
                new = adversary.worst(x, radius, weights)
            else:
                partner = act[idx] if c.target == "observations" else next_act[idx]
                new = _random_search(lambda cand, a: q_function(cand, a), x, radius, partner.astype(np.float64), rng)
            obs[target_rows] = new
            mask_rows = target_rows
        mask = infos.get(f"corrupted/{c.target}")
        mask = np.zeros(total_rows, dtype=bool) if mask is None else mask.copy()
        mask[mask_rows] = True
        infos[f"corrupted/{c.target}"] = mask
        report.append(dict(asdict(c), steps=int(idx.size)))
    adversary_name = "linear Monte-Carlo Q (ridge, gamma=%g)" % gamma if q_function is None else getattr(q_function, "__name__", "q_function")
    out = traj.replace(observations=obs, actions=act, rewards=rew, infos=infos)
    return out, {"corruptions": report, "seed": int(seed), "adversary": adversary_name}




def corrupt_transitions(
    data: Mapping[str, np.ndarray],
    corruptions: Sequence[Corruption],
    *,
    seed: int = 0,
    q_function: QFunction | None = None,
    action_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The paper's corruption on a transitions dict (``observations``, ``actions``,
    ``rewards``, ``next_observations``, …), where ``s`` and ``s'`` are separate arrays
    and are corrupted independently. Returns a new dict (plus ``corrupted/<target>``
    (N,) masks) and a report; the input is not modified.

    Adversarial observations, actions and next observations need ``q_function``
    (a dict has no episodes to fit the default linear Monte-Carlo Q on; use
    :func:`corrupt_trajectories` for that).
    """
    out = {k: np.array(v, copy=True) for k, v in data.items()}
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key not in out:
            raise DatasetError(f"corrupt_transitions: the dict has no {key!r}")
    n = out["rewards"].shape[0]
    rng = np.random.default_rng(seed)
    stds = {k: _std(data[k]) for k in ("observations", "actions", "next_observations")}
    report = []
    for c in corruptions:
        idx = _choose(n, c.fraction, rng)
        if c.target == "rewards":
            r = out["rewards"]
            r[idx] = rng.uniform(-30 * c.scale, 30 * c.scale, size=idx.size) if c.mode == "random" else -c.scale * r[idx]
        else:
            key = c.target
            x = out[key][idx].astype(np.float64)
            radius = c.scale * stds[key]
            if c.mode == "random":
                new = x + rng.uniform(-c.scale, c.scale, size=x.shape) * stds[key]
            elif q_function is None:
                raise DatasetError(
                    f"adversarial {key} on a transitions dict needs a q_function; "
                    "corrupt a dataset (Trajectories) to use the default linear Monte-Carlo Q"
                )
            elif key == "actions":
                new = _random_search(lambda cand, s: q_function(s, cand), x, radius, out["observations"][idx].astype(np.float64), rng)
            else:
                new = _random_search(lambda cand, a: q_function(cand, a), x, radius, out["actions"][idx].astype(np.float64), rng)
            if key == "actions":
                new = _bounds_clip(new, action_bounds)
            out[key][idx] = new.astype(out[key].dtype, copy=False)
        mask = out.get(f"corrupted/{c.target}")
        mask = np.zeros(n, dtype=bool) if mask is None else mask
        mask[idx] = True
        out[f"corrupted/{c.target}"] = mask
        report.append(dict(asdict(c), steps=int(idx.size)))
    return out, {"corruptions": report, "seed": int(seed)}


def corrupt_dataset(
    source_id: str,
    new_id: str,
    corruptions: Sequence[Corruption],
    *,
    seed: int = 0,
    q_function: QFunction | None = None,
    force: bool = False,
    command: str | None = None,
) -> str:
    """Write a corrupted copy of dataset ``source_id`` as the new dataset ``new_id``.

    The source is only read. The copy keeps the source's task and reference scores;
    its provenance names the source (``parent``), the corruptions, the seed and the
    adversary. ``new_id`` must differ from ``source_id``; an existing ``new_id`` is
    replaced only with ``force``.

    Returns:
        ``new_id``.
    """
    import gymnasium as gym

    from .storage import PBRL_METADATA_KEY, check_dataset_id, load_trajectories, make_provenance, read_metadata, task_of, write_dataset

    check_dataset_id(new_id)
    if new_id == source_id:
        raise DatasetError(f"corruption writes a new dataset: pick an id other than the source {source_id!r}")
    if not corruptions:
        raise DatasetError("no corruption given (choose a target: observations, actions, rewards, next_observations)")
    meta = read_metadata(source_id)
    task = task_of(source_id, meta)
    traj = load_trajectories(source_id)
    env = gym.make(task)
    try:
        bounds = (np.asarray(env.action_space.low, dtype=np.float64), np.asarray(env.action_space.high, dtype=np.float64))
    finally:
        env.close()
    corrupted, report = corrupt_trajectories(traj, corruptions, seed=seed, q_function=q_function, action_bounds=bounds)
    corrupted.source = new_id
    parent = dict(meta.get(PBRL_METADATA_KEY) or {})
    provenance = make_provenance(
        command=command,
        task=task,
        level=parent.get("level"),
        algorithm=parent.get("algorithm"),
        parent=source_id,
        parent_provenance=parent,
        corruption=report,
    )
    write_dataset(
        corrupted,
        new_id,
        task,
        ref_min_score=meta.get("ref_min_score"),
        ref_max_score=meta.get("ref_max_score"),
        num_episodes_average_score=meta.get("num_episodes_average_score"),
        algorithm_name=str(meta.get("algorithm_name", "pbrl")),
        description=f"{source_id} corrupted: " + ", ".join(f"{c.mode} {c.target} (c={c.fraction:g}, eps={c.scale:g})" for c in corruptions),
        provenance=provenance,
        env_kwargs=(parent.get("env_kwargs") or None),
        force=force,
    )
    return new_id


def flip_labels(
    source: str | os.PathLike,
    target: str | os.PathLike,
    fraction: float,
    *,
    seed: int = 0,
    force: bool = False,
) -> dict[str, Any]:
    """Copy a preference store into a new one with a fraction of its labels flipped.

    Every query (with its segments and meta) and every active label is copied, in the
    original order (label and query ids keep their order); of the answered
    (non-skipped) labels, ``round(fraction · n)`` chosen with ``seed`` become
    ``1 - y`` (so 0 <-> 1, and 0.5 stays 0.5). A flipped label keeps its labeler and
    teacher kind; its teacher parameters gain ``label_flip`` (fraction, seed,
    source), so the corruption stays visible. The new store's info ``label_flip``
    lists the flipped query ids. Retracted labels and labeler accounts are not copied.

    Args:
        source: the store to read (left untouched).
        target: the new store's path (must differ from ``source``).
        fraction: share of answered labels to flip, in [0, 1].
        seed: seeds the choice.
        force: replace an existing ``target``.

    Returns:
        Counts: queries, labels, flipped, changed (flips that changed a 0/1 label).
    """
    from pbrl.preferences import Labels, PreferenceStore, Provenance

    src_path, dst_path = os.fspath(source), os.fspath(target)
    if os.path.abspath(src_path) == os.path.abspath(dst_path):
        raise DatasetError("label flipping writes a new store: give a target path other than the source")
    if not (0.0 <= float(fraction) <= 1.0):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    if not os.path.exists(src_path):
        raise DatasetError(f"{src_path}: no such preference store")
    if os.path.exists(dst_path):
        if not force:
            raise DatasetError(f"{dst_path} already exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(dst_path + suffix):
                os.remove(dst_path + suffix)
    tmp_path = f"{dst_path}.tmp-{os.getpid()}"
    rng = np.random.default_rng(seed)
    with PreferenceStore(src_path, create=False) as src:
        queries = src.queries()
        labels = src.labels()
        info = src.info()
        first, second = src.get_pairs(queries["id"]) if queries["id"].size else (None, None)
    try:
        with PreferenceStore(tmp_path) as dst:
            for key, value in info.items():
                dst.set_info(key, value)
            if first is None:
                new_qids = np.zeros(0, dtype=np.int64)
            else:
                new_qids = np.empty(queries["id"].size, dtype=np.int64)
                metas = queries["meta"]
                for sel in _runs(list(metas)):  # queries keep their order and meta
                    meta = None if metas[sel[0]] == "" else _json_loads(metas[sel[0]])
                    new_qids[sel] = dst.add_pairs(first[sel], second[sel], meta=meta)  # type: ignore[index]
            qmap = dict(zip(queries["id"].tolist(), new_qids.tolist()))
            answered = np.flatnonzero(~labels["skipped"])
            chosen = answered[_choose(answered.size, float(fraction), rng)] if answered.size else np.zeros(0, np.int64)
            flip = np.zeros(labels["id"].size, dtype=bool)
            flip[chosen] = True
            values = labels["label"].copy()
            values[flip] = 1.0 - values[flip]
            recipe = {"fraction": float(fraction), "seed": int(seed), "source": os.path.abspath(src_path)}
            keys = [
                (labels["teacher_kind"][i], labels["teacher_params"][i], labels["labeler"][i], bool(flip[i]))
                for i in range(labels["id"].size)
            ]
            for idx in _runs(keys):  # runs of one provenance, in the original order
                kind, params_text, labeler, flipped = keys[idx[0]]
                params = _json_loads(params_text) or {}
                if flipped:
                    params = dict(params, label_flip=recipe)
                prov = Provenance(str(kind), params, str(labeler))
                batch = Labels.make(
                    np.where(labels["skipped"][idx], 0.0, values[idx]),
                    prov,
                    skipped=labels["skipped"][idx],
                    timestamp=labels["created"][idx],
                )
                dst.add_labels([qmap[int(q)] for q in labels["query_id"][idx]], batch)
            flipped_q = sorted({qmap[int(q)] for q in labels["query_id"][flip]})
            changed = int(np.sum(flip & (labels["label"] != 0.5)))
            dst.set_info("label_flip", dict(recipe, flipped=int(flip.sum()), changed=changed, flipped_query_ids=flipped_q))
        os.replace(tmp_path, dst_path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(tmp_path + suffix):
                os.remove(tmp_path + suffix)
    return {"queries": int(queries["id"].size), "labels": int(labels["id"].size), "flipped": int(flip.sum()), "changed": changed}


def _runs(keys: list) -> list[np.ndarray]:
    """Index arrays of the runs of equal consecutive keys."""
    out, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append(np.arange(start, i))
            start = i
    return out


def _json_loads(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None
