"""P-IQL — IQL on the reward of a reward model trained from preferences.

The two-stage recipe of offline preference-based RL (Preference Transformer's
"IQL with a learned reward", CPL's P-IQL baseline):

1. fit a reward model ``r̂(s, a)`` on the store's labelled pairs with the
   Bradley–Terry loss — pbrl's MLP ensemble (``reward_model = "ensemble"``) or the
   Preference Transformer (``"transformer"``), from :mod:`pbrl.rewards`;
   ``rm_holdout`` of the pairs are held out to measure its label accuracy
   (``reward_model/accuracy``);
2. relabel every transition of the dataset with ``r̂`` (the ensemble's mean, or
   ``rm_aggregate``), in chunks of ``relabel_chunk`` transitions — the transformer with
   its trajectory relabelling (each step's reward from the window of the segment
   length ending at it, as the PT code does);
3. run IQL (:mod:`pbrl.agents.offline.iql`) on the relabelled data, with the same
   locomotion reward scaling computed from the relabelled returns.

How close the learned reward is to the true one is logged once, at the first log step:
``reward_model/correlation`` (Pearson over every transition of the dataset) and
``reward_model/epic_distance`` (EPIC, :func:`pbrl.rewards.epic_distance`, over
``rm_epic_transitions`` of them). EPIC evaluates both rewards on transitions that are
not in the dataset (``(s, A, S')`` with ``A``, ``S'`` drawn independently), where the
dataset has no true reward, and pbrl's tasks compute theirs from simulator state
(Δx / dt) rather than from ``(s, a, s')``. So the true reward is extended by least
squares over the features ``(1, s, s', a, a²)`` fitted on the dataset
(:func:`true_reward_extension`): exact for control costs and constant alive bonuses,
about the mean of the start and end velocities for Δx / dt. Its R² on the dataset is
kept in the checkpoint's ``reward_model`` info, with a warning below 0.8 (contacts and
the alive bonus lost on a falling step are what it misses). The extension is linear on
purpose: EPIC evaluates it at ``(s, S')`` pairs far from the data (``S'`` independent of
``s``), where quadratic terms fitted on ``s' ≈ s`` are unidentified. The distance
depends on this extension; compare it between reward models on the same dataset, not
across datasets.
The ensemble's reward ``r̂(s, a)`` is compared as is; the
transformer's reward depends on the steps before it, not on one transition, so it gets
no EPIC distance.

Preferences between segments of equal length say nothing about a constant added to
every step's reward, so ``r̂`` is only known up to such an offset — and on tasks that
end when the agent falls (Hopper, Walker2d) the offset decides whether living longer
pays. So by default (``rm_reward_range = "unit"``) ``r̂`` is rescaled to [0, 1] over the
dataset: every step then pays something, as the true alive bonus does. ``"none"`` uses
``r̂`` as the model gives it (what that does on Hopper: BENCHMARKS.md).

Instead of training, ``reward_model_dir`` loads a saved model
(:func:`pbrl.rewards.load_reward_model`). The fitted model is saved in the agent's
checkpoints, so a resume relabels with the very same model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .iql import IQL, IQLConfig
from ._config import hp
from ._data import OfflineData, OfflineDataError, unit_range
from ._preferences import PreferencePairs


@dataclass
class PIQLConfig(IQLConfig):
    agent = "piql"

    max_pairs: int = hp(0, "use the first N labelled pairs of the store (0: all)", min=0)
    reward_model: str = hp("ensemble", "reward model: MLP ensemble (B-Pref) or Preference Transformer", choices=("ensemble", "transformer"))
    reward_scaling: str = hp("always", "as IQL's; default always: the Preference Transformer's IQL code (train_offline.py) scales "
                             "every learned reward by max_episode_steps / (max - min episode return)",
                             choices=("corl", "locomotion", "always", "none"))
    rm_preference_attention: bool = hp(False, "transformer: the paper's preference attention layer (PT code's use_weighted_sum); "
                                       "false as in PT's published commands: an MLP head per step")
    reward_model_dir: str = hp("", "load this saved reward model instead of training one")
    rm_members: int = hp(3, "ensemble members", min=1)
    rm_hidden_sizes: list = hp([256, 256, 256], "hidden sizes of each ensemble member")
    rm_lr: float = hp(3e-4, "reward model learning rate (ensemble Adam; transformer AdamW uses 1e-4 by default)", min=0.0)
    rm_batch_size: int = hp(128, "pairs per reward-model gradient step", min=1)
    rm_max_epochs: int = hp(100, "reward-model epoch cap", min=1)
    rm_target_accuracy: float = hp(0.97, "stop fitting at this train accuracy", min=0.0, max=1.0)
    rm_normalize_inputs: bool = hp(True, "standardise the reward model's (s, a) inputs")
    rm_holdout: float = hp(0.1, "fraction of pairs held out for reward_model/accuracy", min=0.0, max=0.5)
    rm_aggregate: str = hp("mean", "how ensemble members are combined", choices=("mean", "mean_minus_std", "min"))
    relabel_chunk: int = hp(65536, "transitions relabelled per reward-model call", min=1)
    rm_epic_transitions: int = hp(1000, "dataset transitions behind reward_model/epic_distance (0: not computed)", min=0)
    rm_epic_samples: int = hp(128, "coverage draws per expectation of EPIC's canonicalisation", min=1)
    rm_reward_range: str = hp("unit", "unit: rescale the learned reward to [0, 1] over the dataset before IQL; none: as learned", choices=("none", "unit"))


def true_reward_extension(data: OfflineData) -> tuple[Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], float]:
    """The dataset's true reward as a function of ``(s, a, s')``, for EPIC: least squares
    over the features ``(1, s, s', a, a²)``; returns ``(fn, R² on the dataset)``."""

    def features(o, a, o2):
        o, a, o2 = (np.asarray(x, dtype=np.float64) for x in (o, a, o2))
        return np.concatenate([np.ones((len(o), 1)), o, o2, a, a * a], axis=1)

    x = features(data.observations, data.actions, data.next_observations)
    y = data.rewards.astype(np.float64)
    scale = np.maximum(x.std(0), 1e-8)
    scale[0] = 1.0
    w, *_ = np.linalg.lstsq(x / scale, y, rcond=None)
    w = w / scale
    residual = y - x @ w
    r2 = 1.0 - float(residual.var() / y.var()) if y.var() > 0 else float("nan")

    def fn(o, a, o2):
        return features(o, a, o2) @ w

    return fn, r2


class PIQL(IQL):
    name = "piql"
    Config = PIQLConfig
    uses_preferences = "optional"  # required unless reward_model_dir is given

    def build(self) -> None:
        super().build()
        self.reward_model = None
        self.reward_model_info: dict[str, Any] = {}

    # -- the reward model -----------------------------------------------------------

    def make_reward_model(self, horizon: int):
        c = self.config
        common = dict(normalize_inputs=c.rm_normalize_inputs, device=str(self.device), seed=self.seed,
                      max_epochs=c.rm_max_epochs, target_accuracy=c.rm_target_accuracy, batch_size=c.rm_batch_size)  # fmt: skip
        if c.reward_model == "ensemble":
            from pbrl.rewards.ensemble import RewardEnsemble

            return RewardEnsemble(self.obs_dim, self.act_dim, n_members=c.rm_members, hidden_sizes=c.rm_hidden_sizes, lr=c.rm_lr, **common)
        from pbrl.rewards.transformer import PreferenceTransformer

        return PreferenceTransformer(self.obs_dim, self.act_dim, max_len=max(horizon, 1),
                                     preference_attention=c.rm_preference_attention, **common)  # fmt: skip

    def fit_reward_model(self, data: OfflineData, pairs: PreferencePairs) -> None:
        train, held = pairs.split(self.config.rm_holdout, self.seed)
        model = self.make_reward_model(pairs.horizon)
        obs, act, mask = train.arrays(data)
        fit = model.fit(obs, act, train.labels, mask=mask)
        info: dict[str, Any] = {"fit": fit.to_dict(), "pairs": len(pairs), "train_pairs": len(train)}
        metrics = {"feedback/labels": float(len(pairs)), "reward_model/train_accuracy": fit.train_accuracy}
        if held is not None:
            o, a, m = held.arrays(data)
            result = model.evaluate(o, a, held.labels, mask=m)
            info["holdout"] = {k: v for k, v in result.items() if k != "member_accuracy"}
            metrics["reward_model/accuracy"] = result["accuracy"]
        self.reward_model, self.reward_model_info = model, info
        self.pending_metrics.update({k: float(v) for k, v in metrics.items() if v == v})

    def relabel(self, data: OfflineData) -> np.ndarray:
        """The reward model's reward of every transition, computed in chunks."""
        model, c = self.reward_model, self.config
        if model.kind == "transformer":
            window = int(self.reward_model_info.get("horizon") or model.max_len)
            window = min(window, model.max_len)
            parts = [model.trajectory_rewards(data.observations[s : s + n], data.actions[s : s + n], window)
                     for s, n in zip(data.starts, data.lengths)]  # fmt: skip
            rewards = np.concatenate(parts)
        else:
            rewards = np.concatenate([
                model.reward(data.observations[i : i + c.relabel_chunk], data.actions[i : i + c.relabel_chunk], aggregate=c.rm_aggregate)
                for i in range(0, len(data), c.relabel_chunk)
            ])  # fmt: skip
        if not np.isfinite(rewards).all():
            raise OfflineDataError(f"the reward model gave NaN/inf rewards for {int((~np.isfinite(rewards)).sum())} transitions of {data.source!r}")
        true = data.rewards.astype(np.float64)
        if true.std() > 0 and rewards.std() > 0:
            corr = float(np.corrcoef(rewards, true)[0, 1])
            self.reward_model_info["correlation"] = corr
            self.pending_metrics["reward_model/correlation"] = corr
        if model.kind == "ensemble" and c.rm_epic_transitions and true.std() > 0:
            self.epic(data)
        return rewards.astype(np.float32)

    def epic(self, data: OfflineData) -> float:
        """``reward_model/epic_distance``: EPIC between the ensemble's ``r̂(s, a)`` and the
        least-squares extension of the dataset's true reward (see the module docstring)."""
        from pbrl.rewards import epic_distance

        c, model = self.config, self.reward_model
        true_fn, r2 = true_reward_extension(data)
        if not r2 >= 0.8:
            warnings.warn(f"reward_model/epic_distance of {data.source!r}: the true reward's extension over (s, a, s') fits with "
                          f"R² = {r2:.3f} only, so the distance is to an approximation of the true reward")  # fmt: skip
        rng = np.random.default_rng(self.seed)
        rows = rng.choice(len(data), size=min(c.rm_epic_transitions, len(data)), replace=False)
        distance = epic_distance(
            lambda o, a, o2: model.reward(o, a, aggregate=c.rm_aggregate), true_fn,
            data.observations[rows], data.actions[rows], data.next_observations[rows],
            gamma=c.gamma, n_samples=c.rm_epic_samples, seed=rng, chunk=c.relabel_chunk,
        )  # fmt: skip
        self.reward_model_info["epic_distance"] = distance
        self.reward_model_info["epic_reference_r2"] = r2
        if distance == distance:
            self.pending_metrics["reward_model/epic_distance"] = distance
        return distance

    def setup(self, data: OfflineData, preferences: PreferencePairs | None = None) -> None:
        if preferences is None and self.reward_model is None and not self.config.reward_model_dir:
            raise ValueError(
                f"piql learns its reward from preferences: give a preference store labelled on {data.source!r} "
                f"(pbrl train --preferences STORE; make one with `pbrl dataset label {data.source}`), or --hp reward_model_dir=DIR"
            )
        super().setup(data, preferences)

    def training_rewards(self, data: OfflineData) -> np.ndarray:
        c = self.config
        if self.reward_model is None:
            if c.reward_model_dir:
                from pbrl.rewards import load_reward_model

                self.reward_model = load_reward_model(c.reward_model_dir, device=str(self.device))
                self.reward_model_info = {"loaded_from": c.reward_model_dir}
            else:
                pairs = self.preferences  # the first max_pairs of the store's (see OfflineAgent.setup)
                self.fit_reward_model(data, pairs)
                self.reward_model_info["horizon"] = pairs.horizon
        rewards = self.relabel(data)
        if c.rm_reward_range == "unit":  # see the module docstring: termination needs a sign
            rewards = unit_range(rewards)
        return rewards

    # -- checkpoints: the fitted reward model travels with the agent ------------------

    def extra_state(self) -> dict[str, Any]:
        out = super().extra_state()
        if self.reward_model is not None:
            out["reward_model"] = {"kind": self.reward_model.kind, "config": self.reward_model.config(), "info": self.reward_model_info}
        return out

    def extra_weights(self) -> dict[str, Any]:
        if self.reward_model is None:
            return {}
        return {"reward_model": self.reward_model.state_dicts()}

    def load_extra_state(self, state: Mapping[str, Any], weights: Mapping[str, Any]) -> None:
        super().load_extra_state(state, weights)
        saved = state.get("reward_model")
        if not saved:
            return
        config = dict(saved["config"], device=str(self.device))
        if saved["kind"] == "ensemble":
            from pbrl.rewards.ensemble import RewardEnsemble as cls
        else:
            from pbrl.rewards.transformer import PreferenceTransformer as cls

            config = cls.upgrade_config(config)
        model = cls(**config)
        model.load_state_dicts(weights["reward_model"])
        self.reward_model, self.reward_model_info = model, dict(saved.get("info", {}))

    def save_reward_model(self, path: str) -> str:
        """Save the fitted reward model on its own (loadable with :func:`pbrl.rewards.load_reward_model`)."""
        if self.reward_model is None:
            raise RuntimeError("no reward model yet: set the agent up on data first")
        return self.reward_model.save(path)


__all__ = ["PIQL", "PIQLConfig", "true_reward_extension"]
