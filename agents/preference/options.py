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
random ``learning_starts`` steps, then B-Pref's k-NN state-entropy bonus against the
whole replay buffer, k = 5), then resets the critics and runs 100 gradient steps at once
(B-Pref's ``reset_update``).

The ``human_*`` options configure ``--teacher human`` (people in the labeling web
app): how long each round waits for answers, and whether the run serves the page.
They are rejected with any other teacher (:func:`check_teacher_options`).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..online.hyperparams import HyperparameterError, _bool, _choice, _float, _int, _int_list, _suggest

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


def _min_labels(v):
    """``all`` | an int >= 0 (0: do not wait) | a fraction in (0, 1) of each round's queries."""
    if v in ("all", None):
        return "all"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("'all', an integer >= 0 or a fraction in (0, 1)")
    if isinstance(v, float) and not v.is_integer():
        if not 0.0 < v < 1.0:
            raise TypeError("'all', an integer >= 0 or a fraction in (0, 1)")
        return v
    if v < 0:
        raise TypeError("'all', an integer >= 0 or a fraction in (0, 1)")
    return int(v)


_min_labels.kind = "all|int >= 0|fraction"  # type: ignore[attr-defined]


def _timeout(v):
    if v in ("none", "off", None):
        return "none"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or v == float("inf"):
        raise TypeError("a number of seconds >= 0 or 'none' (no limit)")
    return float(v)


_timeout.kind = "float >= 0|none"  # type: ignore[attr-defined]


def _host(v):
    if not isinstance(v, str) or not v.strip() or any(c.isspace() for c in v.strip()):
        raise TypeError("an address to bind, e.g. '127.0.0.1'")
    return v.strip().removeprefix("[").removesuffix("]")  # [::1] -> ::1


_host.kind = "str"  # type: ignore[attr-defined]


def _port(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
        raise TypeError("a port number in 0..65535 (0: any free port)")
    return v


_port.kind = "int 0..65535"  # type: ignore[attr-defined]


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
    "state_entropy": (
        _choice("buffer", "batch"),
        (
            "PEBBLE's state-entropy bonus: buffer = B-Pref's compute_state_entropy (distance of each sampled state s to its "
            "k-th nearest neighbour among all replay-buffer states, over B-Pref's running std); batch = k-th nearest among "
            "the minibatch's next-states (cheaper; pbrl's earlier estimate)"
        ),
    ),
    "reset_critic": (_bool, "re-initialise SAC's critics after the unsupervised phase (PEBBLE)"),
    "reset_update": (_int(0), "SAC gradient steps run at once right after the critic reset (B-Pref's reset_update; PEBBLE)"),
    "buffer_steps": (_int(1), "steps of recent episodes kept to cut query segments from"),
    "record_states": (_bool, "record qpos/qvel with every step so segments can be rendered for people"),
    "heldout_pairs": (_int(0), "fresh pairs labelled by the true reward to measure reward_model/accuracy (0: off)"),
    # --teacher human only (people answering in the labeling web app; pbrl.teachers.human.HumanTeacher)
    "human_min_labels": (_min_labels, "--teacher human: answers each round waits for: all, a number (0: do not wait), or a fraction of the round"),
    "human_timeout": (_timeout, "--teacher human: seconds a round waits at most, then goes on with the rest pending (none: no limit)"),
    "human_serve": (_bool, "--teacher human: serve the labeling page from the run, on the run's store"),
    "human_host": (_host, "--teacher human: address the page binds (anything but loopback is reachable from the network)"),
    "human_port": (_port, "--teacher human: port of the page (0: any free port, printed)"),
}

#: options that only apply to ``--teacher human``
HUMAN_OPTIONS = ("human_min_labels", "human_timeout", "human_serve", "human_host", "human_port")

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
    "human_min_labels": "all",
    "human_timeout": "none",
    "human_serve": False,
    "human_host": "127.0.0.1",
    "human_port": 8000,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {**_BASE, "unsup_steps": 0, "reset_critic": False, "state_entropy": "buffer", "reset_update": 0},
    "sac": {**_BASE, "unsup_steps": 10_000, "reset_critic": True, "state_entropy": "buffer", "reset_update": 100},
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
    if agent == "ppo" and values["reset_update"]:
        raise PreferenceOptionError("preference option 'reset_update' applies to sac (PEBBLE) only")
    return values


def check_teacher_options(teacher: str | None, overrides: Mapping[str, Any] | None, values: Mapping[str, Any]) -> None:
    """The ``human_*`` options are for ``--teacher human`` only; serving needs the web extra and a free port.

    Args:
        teacher: the run's teacher name.
        overrides: the options the user gave (not the defaults).
        values: the resolved options (:func:`resolve_preference_options`).

    Raises:
        PreferenceOptionError: a ``human_*`` option with another teacher, the web extra
            missing, or the port taken / the address unusable.
    """
    given = [k for k in (overrides or {}) if k in HUMAN_OPTIONS]
    if teacher != "human":
        if given:
            raise PreferenceOptionError(
                f"preference option{'s' if len(given) > 1 else ''} {', '.join(repr(k) for k in given)} "
                f"appl{'y' if len(given) > 1 else 'ies'} to --teacher human only (the teacher here is {teacher!r})"
            )
        return
    if not values.get("human_serve"):
        for key in ("human_host", "human_port"):
            if key in given:
                raise PreferenceOptionError(f"preference option {key!r} needs human_serve=true (the run serves the labeling page)")
        return
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise PreferenceOptionError(
            f"human_serve=true needs the web extra ({', '.join(missing)} missing): pip install 'pbrl[web]'"
        )
    host, port = values["human_host"], int(values["human_port"])
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PreferenceOptionError(f"preference option 'human_host': cannot use address {host!r}: {exc}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(addr)
        except OSError as exc:
            if port == 0:
                raise PreferenceOptionError(f"preference option 'human_host': cannot listen on {host!r} ({exc.strerror or exc})") from None
            raise PreferenceOptionError(
                f"the labeling page cannot listen on {host}:{port} ({exc.strerror or exc}): is another server using the port? "
                "Pick another with --pref human_port=N (0: any free port)"
            ) from None


def human_teacher_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """``pbrl.teachers.human.HumanTeacher`` keyword arguments from resolved options (defaults for
    missing keys); with ``human_serve``, ``serve`` starts the labeling app (``pbrl.web``) on the store."""
    get = lambda key: values.get(key, _BASE[key])  # noqa: E731  (options saved before these keys existed)
    min_labels = get("human_min_labels")
    timeout = get("human_timeout")
    return {
        "min_labels": None if min_labels == "all" else min_labels,
        "timeout": None if timeout == "none" else float(timeout),
        "serve": _label_server(str(get("human_host")), int(get("human_port"))) if get("human_serve") else None,
    }


def _label_server(host: str, port: int):
    def serve(store):
        from pbrl.web.server import LabelServer  # the web extra (FastAPI, uvicorn): loaded when the run starts serving

        return LabelServer(store, host=host, port=port).start()

    return serve


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
    "HUMAN_OPTIONS",
    "PreferenceOptionError",
    "SCHEDULES",
    "SCHEMA",
    "SELECTION_METHODS",
    "check_teacher_options",
    "describe",
    "human_teacher_kwargs",
    "resolve_preference_options",
]
