"""The PEBBLE-family methods the preference loop can add (``--pref method=NAME``): what each changes.

| method | reward model (``pbrl.rewards``) | queries | the agent's training |
|---|---|---|---|
| none | :class:`RewardEnsemble` (B-Pref) | the loop's selection | PEBBLE / PrefPPO |
| surf | :class:`~pbrl.rewards.surf.SURFEnsemble`: crops, pseudo-labels | cut H + 2w long, the teacher judges the central H; a pool of unlabelled pairs grows each round | unchanged |
| rune | :class:`RewardEnsemble` | unchanged | reward + β_t · std of the members (``rune.py``) |
| qpa | :class:`~pbrl.rewards.qpa.QPAEnsemble`: crops | from the last N episodes only (``qpa.py``) | SAC: hybrid replay while feedback is collected |
| rime | :class:`~pbrl.rewards.rime.RIMEEnsemble`: trusted / flipped labels | unchanged | SAC: reward model warm-started on the entropy bonus, no critic reset |
| mrn | :class:`RewardEnsemble`, also stepped by the bi-level update | unchanged | SAC only: every ``mrn_meta_steps`` env steps while feedback is collected, the reward model learns from a one-step-updated critic's preference loss (``mrn.py``) |

The options (``surf_*``, ``rune_*``, ``qpa_*``, ``rime_*``, ``mrn_*``) and their checks are in ``options.py``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from pbrl.rewards.ensemble import RewardEnsemble


def reward_model(opt: Mapping[str, Any], obs_dim: int, act_dim: int, device: Any, seed: int) -> RewardEnsemble:
    """The loop's reward model for ``opt["method"]``, from the resolved options."""
    common = dict(
        n_members=int(opt["ensemble_size"]), hidden_sizes=tuple(opt["reward_hidden"]), segment_score=opt["segment_score"],
        lr=float(opt["reward_lr"]), batch_size=int(opt["reward_batch_size"]), max_epochs=int(opt["reward_epochs"]),
        target_accuracy=float(opt["target_accuracy"]), device=device, seed=seed,
    )  # fmt: skip
    method = opt.get("method", "none")
    if method == "surf":
        from pbrl.rewards.surf import SURFEnsemble

        common["target_accuracy"] = math.inf  # SURF trains its iterations without stopping early
        return SURFEnsemble(
            obs_dim, act_dim, threshold=opt["surf_threshold"], mu=opt["surf_mu"], lam=opt["surf_lambda"],
            window=opt["surf_window"], crop_range=opt["surf_crop_range"], **common,
        )  # fmt: skip
    if method == "qpa":
        from pbrl.rewards.qpa import QPAEnsemble

        return QPAEnsemble(obs_dim, act_dim, aug_ratio=opt["qpa_aug_ratio"], crop_min=opt["qpa_crop_min"], crop_max=opt["qpa_crop_max"], **common)
    if method == "rime":
        from pbrl.rewards.rime import RIMEEnsemble

        return RIMEEnsemble(
            obs_dim, act_dim, alpha=opt["rime_alpha"], beta_init=opt["rime_beta_init"], beta_min=opt["rime_beta_min"],
            beta_k=opt["rime_beta_k"], flip_tau=opt["rime_flip_tau"], min_epochs=opt["rime_min_epochs"],
            warmup=int(opt["rime_warmup"]), **common,
        )  # fmt: skip
    return RewardEnsemble(obs_dim, act_dim, **common)


def query_horizon(opt: Mapping[str, Any]) -> int:
    """Steps of a stored query segment: H, or H + 2w with SURF (the teacher judges the central H)."""
    extra = 2 * int(opt["surf_window"]) if opt.get("method") == "surf" else 0
    return int(opt["segment_length"]) + extra


__all__ = ["query_horizon", "reward_model"]
