"""Options of the online preference loops (PrefPPO, PEBBLE): schema, defaults, checks.

A small typed table beside the agents' hyperparameters: ``pbrl train --pref key=value``
or a config file's ``[pref]`` table overrides the defaults below. Like
``hyperparams.py`` it needs only the standard library (no torch), so configs are
checked before any work starts.

Defaults follow B-Pref / PEBBLE (reference §4): segments of 50 steps, an ensemble of
3 reward models (3 × 256, LeakyReLU, tanh), Adam 3e-4, batch 128, retrained until 97%
train accuracy or ``reward_epochs`` epochs, candidate pool = 10 × the queries of a
round, the first round uniform, then disagreement; a feedback round every 20k env
steps with ``feedback / 10`` queries; PEBBLE pre-trains for 10k env steps (SAC's
random ``learning_starts`` steps, then the k-NN state-entropy bonus, k = 5).
"""

from __future__ import annotations

from typing import Any, Mapping

from .hyperparams import HyperparameterError, _bool, _choice, _float, _int, _int_list, _suggest

#: Query-selection methods (``pbrl.preferences.queries.METHODS``; repeated here to stay numpy-free).
SELECTION_METHODS = ("uniform", "disagreement", "entropy", "kcenter", "kcenter_disagreement", "kcenter_entropy")
#: How the ensemble's members are combined into the training reward.
AGGREGATES = ("mean", "mean_minus_std", "min")
#: Query-size schedules over training.
SCHEDULES = ("constant", "linear_decay")


def _int_or_auto(min_value: int):
    check_int = _int(min_value)

    def check(v):
        if v in ("auto", None):
            return "auto"
        return check_int(v)

    check.kind = f"int >= {min_value}|auto"  # type: ignore[attr-defined]
    return check


#: key -> (checker, meaning)
SCHEMA: dict[str, tuple[Any, str]] = {
    "queries_per_round": (_int_or_auto(1), "queries asked per feedback round ('auto': feedback / 10, B-Pref's mb_size)"),
    "interval": (_int(1), "env steps between feedback rounds (B-Pref's num_interact)"),
    "schedule": (_choice(*SCHEDULES), "queries per round constant, or decaying linearly with training progress (B-Pref's reward_schedule=1)"),
    "segment_length": (_int(1), "H, steps per segment"),
    "selection": (_choice(*SELECTION_METHODS), "query selection (the first round is always uniform)"),
    "large_batch": (_int(1), "candidate pool = large_batch x queries of the round"),
    "ensemble_size": (_int(1), "reward models in the ensemble"),
    "reward_hidden": (_int_list, "hidden layer sizes of each reward model"),
    "reward_lr": (_float(0.0), "Adam learning rate of the reward models"),
    "reward_batch_size": (_int(1), "labelled pairs per reward-model gradient step"),
    "reward_epochs": (_int(1), "epoch cap of each reward-model update"),
    "target_accuracy": (_float(0.0, 1.0), "stop a reward-model update at this train accuracy"),
    "segment_score": (_choice("sum", "mean"), "segment score: sum of per-step rewards (B-Pref) or mean (PT's code)"),
    "aggregate": (_choice(*AGGREGATES), "training reward from the ensemble: mean, mean - k*std, or min (worst case)"),
    "aggregate_k": (_float(0.0), "k of mean_minus_std"),
    "unsup_steps": (_int(0), "env steps before the first feedback round; PEBBLE trains on the state-entropy bonus until then"),
    "knn_k": (_int(1), "k of the k-NN state-entropy estimate (PEBBLE)"),
    "reset_critic": (_bool, "re-initialise SAC's critics after the unsupervised phase (PEBBLE)"),
    "buffer_steps": (_int(1), "steps of recent episodes kept to cut query segments from"),
    "record_states": (_bool, "record qpos/qvel with every step so segments can be rendered for people"),
    "heldout_pairs": (_int(0), "fresh pairs labelled by the true reward to measure reward_model/accuracy (0: off)"),
}

#: Per-agent defaults (agent: ``ppo`` -> PrefPPO, ``sac`` -> PEBBLE).
_BASE: dict[str, Any] = {
    "queries_per_round": "auto",
    "interval": 20_000,
    "schedule": "constant",
    "segment_length": 50,
    "selection": "disagreement",
    "large_batch": 10,
    "ensemble_size": 3,
    "reward_hidden": [256, 256, 256],
    "reward_lr": 3e-4,
    "reward_batch_size": 128,
    "reward_epochs": 200,
    "target_accuracy": 0.97,
    "segment_score": "sum",
    "aggregate": "mean",
    "aggregate_k": 1.0,
    "knn_k": 5,
    "buffer_steps": 100_000,
    "record_states": True,
    "heldout_pairs": 256,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {**_BASE, "unsup_steps": 0, "reset_critic": False},
    "sac": {**_BASE, "unsup_steps": 10_000, "reset_critic": True},
}

DEFAULT_FEEDBACK = 1000


class PreferenceOptionError(HyperparameterError):
    """An unknown preference option or a badly typed value."""


def resolve_preference_options(agent: str, overrides: Mapping[str, Any] | None = None, feedback: int = DEFAULT_FEEDBACK) -> dict[str, Any]:
    """The preference-loop options of ``agent`` (``ppo`` or ``sac``): defaults < overrides, checked.

    Args:
        agent: ``ppo`` (PrefPPO) or ``sac`` (PEBBLE).
        overrides: user values (``--pref key=value`` or a config file's ``[pref]`` table).
        feedback: the label budget; resolves ``queries_per_round = "auto"`` to
            ``max(1, feedback // 10)`` and bounds it.

    Returns:
        Every option with a concrete value.

    Raises:
        PreferenceOptionError: unknown key (with a suggestion), wrong type, or values
            that do not fit together.
    """
    if agent not in DEFAULTS:
        raise PreferenceOptionError(f"preference learning needs agent ppo (PrefPPO) or sac (PEBBLE), got {agent!r}")
    if not isinstance(overrides, Mapping) and overrides is not None:
        raise PreferenceOptionError(f"preference options must be a table/mapping, got {overrides!r}")
    values = dict(DEFAULTS[agent])
    for key, value in dict(overrides or {}).items():
        if key not in SCHEMA:
            raise PreferenceOptionError(
                f"unknown preference option {key!r}{_suggest(key, SCHEMA)}; valid options: {', '.join(sorted(SCHEMA))}"
            )
        checker, _ = SCHEMA[key]
        try:
            values[key] = checker(value)
        except TypeError as exc:
            raise PreferenceOptionError(f"preference option {key!r} must be {exc}, got {value!r}") from None
    if isinstance(feedback, bool) or not isinstance(feedback, int) or feedback < 1:
        raise PreferenceOptionError(f"feedback (the label budget) must be an integer >= 1, got {feedback!r}")
    if values["queries_per_round"] == "auto":
        values["queries_per_round"] = max(1, feedback // 10)
    if values["queries_per_round"] > feedback:
        raise PreferenceOptionError(
            f"preference option 'queries_per_round' ({values['queries_per_round']}) exceeds the feedback budget ({feedback})"
        )
    if agent == "ppo" and values["unsup_steps"] > 0:
        raise PreferenceOptionError(
            "preference option 'unsup_steps' > 0 (state-entropy pre-training) is implemented for sac (PEBBLE) only; "
            "PrefPPO starts asking after the first finished episodes"
        )
    if agent == "ppo" and values["reset_critic"]:
        raise PreferenceOptionError("preference option 'reset_critic' applies to sac (PEBBLE) only")
    return values


def describe() -> list[tuple[str, str, str, str]]:
    """(key, type, "PrefPPO default / PEBBLE default", meaning) rows for help texts."""
    return [
        (k, getattr(c, "kind", ""), f"{DEFAULTS['ppo'][k]} / {DEFAULTS['sac'][k]}", h)  # type: ignore[misc]
        for k, (c, h) in sorted(SCHEMA.items())
    ]


__all__ = [
    "AGGREGATES",
    "DEFAULTS",
    "DEFAULT_FEEDBACK",
    "PreferenceOptionError",
    "SCHEDULES",
    "SCHEMA",
    "SELECTION_METHODS",
    "describe",
    "resolve_preference_options",
]
