"""Options of the online preference loops (PrefPPO, PEBBLE): schema, defaults, checks.

A small typed table beside the agents' hyperparameters: ``pbrl train --pref key=value``
or a config file's ``[pref]`` table overrides the defaults below. Like
``hyperparams.py`` it needs only the standard library (no torch), so configs are
checked before any work starts.

Per-task defaults live in ``tasks.toml`` beside this file, resolved like the agents'
hyperparameters: declared defaults < the task's ``[<agent>."<task id>"]`` table < the
user's options; a table's ``feedback`` is the task's label budget when none is given.
It holds B-Pref's PEBBLE settings for the DeepMind Control and Meta-World tasks.

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

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from pbrl.settings import ConfigError, Settings, boolean, int_list, integer, number, one_of, redeclared, setting

from ..online.hyperparams import HyperparameterError

#: Query-selection methods (``pbrl.preferences.queries.METHODS``; repeated here to stay numpy-free).
SELECTION_METHODS = ("uniform", "disagreement", "entropy", "kcenter", "kcenter_disagreement", "kcenter_entropy")
#: How the ensemble's members are combined into the training reward.
AGGREGATES = ("mean", "mean_minus_std", "min")
#: Query-size schedules over training.
SCHEDULES = ("constant", "linear_decay")
#: The PEBBLE-family methods the loop can add (``none``: PEBBLE / PrefPPO as they are).
METHODS = ("none", "surf", "rune", "qpa", "rime", "mrn")
#: What a feedback round asks the teacher (``pbrl.preferences.feedback``): pairs, ratings of single segments, or rankings.
FEEDBACK_KINDS = ("pairs", "ratings", "rankings")
#: Options a method sets unless the user does (its reference code's values that differ from PEBBLE's).
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "qpa": {"ensemble_size": 1, "selection": "uniform", "target_accuracy": 0.98},  # QPA: one network, uniform queries
    "rime": {"reset_critic": False, "target_accuracy": 0.98},  # RIME keeps the critic (its reward model was warm-started)
}


def _int_or_auto(min_value: int):
    check_int = integer(min_value)

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


def _unit(include_one: bool):
    """A number in (0, 1), or (0, 1] with ``include_one`` (probabilities, confidence thresholds)."""
    name = "(0, 1]" if include_one else "(0, 1)"

    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 < v <= 1.0 if include_one else 0.0 < v < 1.0):
            raise TypeError(f"a number in {name}")
        return float(v)

    check.kind = f"float in {name}"  # type: ignore[attr-defined]
    return check


class PreferenceOptionError(HyperparameterError):
    """An unknown preference option or a badly typed value."""


@dataclass
class PreferenceOptions(Settings):
    """The options of the online preference loop (defaults: B-Pref's; PrefPPO's, without PEBBLE's phases)."""

    what: ClassVar[str] = "preference option"
    plural: ClassVar[str] = "options"
    error: ClassVar[type[ConfigError]] = PreferenceOptionError

    queries_per_round: Any = setting("auto", "queries asked per feedback round ('auto': feedback / budget_rounds, B-Pref's mb_size)", check=_int_or_auto(1))
    budget_rounds: int = setting(
        10, "with queries_per_round 'auto': the budget is asked over this many rounds, feedback // budget_rounds queries each "
        "(B-Pref's scripts: 10 on DeepMind Control, 200 on Meta-World)", check=integer(1),
    )  # fmt: skip
    interval: int = setting(20_000, "env steps between feedback rounds (B-Pref's num_interact)", check=integer(1))
    schedule: str = setting("constant", "queries per round constant, or decaying linearly with training progress (B-Pref's reward_schedule=1)", check=one_of(*SCHEDULES))
    segment_length: int = setting(50, "H, steps per segment", check=integer(1))
    selection: str = setting("disagreement", "query selection (the first round is always uniform)", check=one_of(*SELECTION_METHODS))
    large_batch: int = setting(10, "candidate pool = large_batch x queries of the round", check=integer(1))
    ensemble_size: int = setting(3, "reward models in the ensemble", check=integer(1))
    reward_hidden: list = setting([256, 256, 256], "hidden layer sizes of each reward model", check=int_list)
    reward_lr: float = setting(3e-4, "Adam learning rate of the reward models", check=number(0.0))
    reward_batch_size: int = setting(128, "labelled pairs per reward-model gradient step", check=integer(1))
    reward_epochs: int = setting(200, "epoch cap of each reward-model update", check=integer(1))
    target_accuracy: float = setting(0.97, "stop a reward-model update at this train accuracy", check=number(0.0, 1.0))
    segment_score: str = setting("sum", "segment score: sum of per-step rewards (B-Pref) or mean (PT's code)", check=one_of("sum", "mean"))
    aggregate: str = setting("mean", "training reward from the ensemble: mean, mean - k*std, or min (worst case)", check=one_of(*AGGREGATES))
    aggregate_k: float = setting(1.0, "k of mean_minus_std", check=number(0.0))
    unsup_steps: int = setting(0, "env steps before the first feedback round; PEBBLE trains on the state-entropy bonus until then", check=integer(0))
    knn_k: int = setting(5, "k of the k-NN state-entropy estimate (PEBBLE)", check=integer(1))
    state_entropy: str = setting(
        "buffer",
        "PEBBLE's state-entropy bonus: buffer = B-Pref's compute_state_entropy (distance of each sampled state s to its "
        "k-th nearest neighbour among all replay-buffer states, over B-Pref's running std); batch = k-th nearest among "
        "the minibatch's next-states (cheaper; pbrl's earlier estimate)",
        check=one_of("buffer", "batch"),
    )
    reset_critic: bool = setting(False, "re-initialise SAC's critics after the unsupervised phase (PEBBLE)", check=boolean)
    reset_update: int = setting(0, "SAC gradient steps run at once right after the critic reset (B-Pref's reset_update; PEBBLE)", check=integer(0))
    buffer_steps: int = setting(100_000, "steps of recent episodes kept to cut query segments from", check=integer(1))
    record_states: bool = setting(True, "record qpos/qvel with every step so segments can be rendered for people", check=boolean)
    heldout_pairs: int = setting(256, "fresh pairs labelled by the true reward to measure reward_model/accuracy (0: off)", check=integer(0))
    hacking_min_agreement: float = setting(0.6, "reward-hacking check: a reward model agreeing with fewer held-out true-reward "
                                           "labels than this is flagged (hacking/flagged; heldout_pairs=0: no check)", check=number(0.0, 1.0))
    # the PEBBLE-family method on top of the loop (agents/preference/methods.py); each method's knobs carry its prefix
    method: str = setting("none", "what the loop adds to PEBBLE / PrefPPO: none, surf, rune, qpa, rime or mrn (README: Methods)", check=one_of(*METHODS))
    surf_threshold: float = setting(0.99, "surf: confidence max(P, 1-P) an unlabelled pair needs for a pseudo-label (tau; SURF's scripts)", check=_unit(True))
    surf_mu: int = setting(4, "surf: unlabelled pairs per labelled pair in each reward-model step", check=integer(1))
    surf_lambda: float = setting(1.0, "surf: weight of the pseudo-label loss", check=number(0.0))
    surf_inv_label_ratio: int = setting(10, "surf: unlabelled pairs added to the pool per query asked", check=integer(1))
    surf_window: int = setting(5, "surf: steps cut beyond each end of a segment (queries are H + 2 w long; the teacher judges the central H)", check=integer(0))
    surf_crop_range: int = setting(5, "surf: training crops are H - c ... H + c steps long", check=integer(0))
    rune_beta_init: float = setting(0.05, "rune: beta_0 of the exploration bonus beta_t * std of the ensemble's rewards", check=number(0.0))
    rune_beta_decay: float = setting(1e-5, "rune: rho, beta_t = beta_0 (1 - rho)^t with t the env step", check=number(0.0, 1.0))
    qpa_recent_episodes: int = setting(10, "qpa: queries are cut from the last N finished episodes only (policy-aligned; 10 DMC, 30-60 Meta-World)", check=integer(1))
    qpa_hybrid_ratio: float = setting(0.5, "qpa (sac): share of each SAC batch drawn from the last N episodes' transitions while feedback is collected", check=number(0.0, 1.0))
    qpa_aug_ratio: int = setting(20, "qpa: passes with fresh temporal crops per reward-model epoch (1: one crop per pair)", check=integer(1))
    qpa_crop_min: int = setting(5, "qpa: a crop leaves out at least this many steps", check=integer(0))
    qpa_crop_max: int = setting(15, "qpa: a crop leaves out at most this many steps", check=integer(0))
    rime_alpha: float = setting(0.5, "rime: alpha of the KL lower bound -ln(x_max) + alpha x_max", check=number(0.0))
    rime_beta_init: float = setting(3.0, "rime: initial weight of the uncertainty term min(beta_t var, 3)", check=number(0.0))
    rime_beta_min: float = setting(1.0, "rime: final weight of the uncertainty term", check=number(0.0))
    rime_beta_k: int = setting(60, "rime: reward-model epochs over which beta decays (60 DMC, 600 Meta-World)", check=integer(1))
    rime_flip_tau: float = setting(0.001, "rime: labels whose loss exceeds -ln(tau) are flipped", check=_unit(False))
    rime_min_epochs: int = setting(15, "rime: epochs before a reward-model update may stop early (least_reward_update: 15 DMC, 5 Meta-World)", check=integer(0))
    rime_warmup: Any = setting("auto", "rime: epochs of learning-rate warm-up ('auto': round(feedback / queries_per_round * min_epochs / 3))", check=_int_or_auto(0))
    rime_warm_start: int = setting(5, "rime (sac): reward-model steps regressing the state-entropy bonus per unsupervised SAC update (0: off)", check=integer(0))
    mrn_meta_steps: int = setting(1000, "mrn (sac): env steps between bi-level updates (num_meta_steps: 1000 in MRN's walker and RIME's scripts, 10000 door-open)", check=integer(1))
    mrn_outer_weight: float = setting(0.1, "mrn (sac): weight of the outer loss (the updated critic's preference loss) on the reward model", check=number(0.0))
    # what each round asks (pbrl.preferences.feedback); the label budget counts the teacher's answers: one per pair, rated segment or comparison
    feedback_kind: str = setting(
        "pairs", "what a feedback round asks: pairs (which of two segments is better), ratings (each segment on rating_classes levels, "
        "RbRL) or rankings (segments inserted into a list by binary search, LiRE)", check=one_of(*FEEDBACK_KINDS),
    )  # fmt: skip
    rating_classes: int = setting(5, "feedback_kind ratings: levels of the rating scale (2..10)", check=integer(2))
    ranking_budget: int = setting(20, "feedback_kind rankings: comparisons per list (LiRE's q_budget) before a new list is started", check=integer(1))
    # --teacher human only (people answering in the labeling web app; pbrl.teachers.human.HumanTeacher)
    human_min_labels: Any = setting("all", "--teacher human: answers each round waits for: all, a number (0: do not wait), or a fraction of the round", check=_min_labels)
    human_timeout: Any = setting("none", "--teacher human: seconds a round waits at most, then goes on with the rest pending (none: no limit)", check=_timeout)
    human_serve: bool = setting(False, "--teacher human: serve the labeling page from the run, on the run's store", check=boolean)
    human_host: str = setting("127.0.0.1", "--teacher human: address the page binds (anything but loopback is reachable from the network)", check=_host)
    human_port: int = setting(8000, "--teacher human: port of the page (0: any free port, printed)", check=_port)


@dataclass
class PEBBLEOptions(PreferenceOptions):
    """PEBBLE's: 10k env steps of unsupervised pre-training, then the critic reset and 100 updates."""

    unsup_steps: int = redeclared(PreferenceOptions, "unsup_steps", 10_000)
    reset_critic: bool = redeclared(PreferenceOptions, "reset_critic", True)
    reset_update: int = redeclared(PreferenceOptions, "reset_update", 100)


#: agent -> its options (agent ``ppo`` -> PrefPPO, ``sac`` -> PEBBLE)
OPTIONS: dict[str, type[PreferenceOptions]] = {"ppo": PreferenceOptions, "sac": PEBBLEOptions}
#: options that only apply to ``--teacher human``
HUMAN_OPTIONS = ("human_min_labels", "human_timeout", "human_serve", "human_host", "human_port")
#: Per-agent defaults.
DEFAULTS: dict[str, dict[str, Any]] = {agent: cls().to_dict() for agent, cls in OPTIONS.items()}
#: key -> meaning
SCHEMA: dict[str, str] = {f.name: f.metadata["help"] for f in dataclasses.fields(PreferenceOptions)}

DEFAULT_FEEDBACK = 1000
#: Per-task defaults: ``[<agent>."<task id>"]`` tables of options (and ``feedback``).
TASKS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks.toml")


def task_defaults(agent: str, task: str | None, path: str = TASKS_FILE) -> tuple[dict[str, Any], int | None]:
    """``task``'s table in ``tasks.toml`` for ``agent``, checked: (its options, its label budget or None).

    Raises:
        PreferenceOptionError: an unknown key or a bad value in the table, named with the table.
    """
    if task is None:
        return {}, None
    with open(path, "rb") as f:
        table = dict(tomllib.load(f).get(agent, {}).get(task, {}))
    where = f"[{agent}.{task!r}]"
    feedback = table.pop("feedback", None)
    if feedback is not None and (isinstance(feedback, bool) or not isinstance(feedback, int) or feedback < 1):
        raise PreferenceOptionError(f"{where} 'feedback' (the label budget) must be an integer >= 1, got {feedback!r}")
    return OPTIONS[agent].check_values(table, what=f"{where} key"), feedback


def default_feedback(agent: str, task: str | None = None, path: str = TASKS_FILE) -> int:
    """The label budget when none is given: ``task``'s ``feedback`` in ``tasks.toml``, else :data:`DEFAULT_FEEDBACK`."""
    if agent not in OPTIONS:
        return DEFAULT_FEEDBACK  # resolve_preference_options names the bad agent
    feedback = task_defaults(agent, task, path)[1]
    return DEFAULT_FEEDBACK if feedback is None else feedback


def resolve_preference_options(
    agent: str, overrides: Mapping[str, Any] | None = None, feedback: int = DEFAULT_FEEDBACK, task: str | None = None,
    path: str = TASKS_FILE,
) -> dict[str, Any]:  # fmt: skip
    """The preference-loop options of ``agent`` (``ppo`` or ``sac``) on ``task``: the declared
    defaults < the task's table in ``tasks.toml`` < overrides, checked.

    Args:
        agent: ``ppo`` (PrefPPO) or ``sac`` (PEBBLE).
        overrides: user values (``--pref key=value`` or a config file's ``[pref]`` table).
        feedback: the label budget (:func:`default_feedback` when the user gives none);
            resolves ``queries_per_round = "auto"`` to ``max(1, feedback // budget_rounds)``
            and bounds it.
        task: the task id whose table applies (None: the declared defaults alone).
        path: the per-task table file.

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
    method = (overrides or {}).get("method", task_defaults(agent, task, path)[0].get("method", "none"))
    defaults = METHOD_DEFAULTS.get(method, {}) if isinstance(method, str) else {}
    values = OPTIONS[agent].from_dict({**task_defaults(agent, task, path)[0], **defaults, **(overrides or {})}).to_dict()
    if isinstance(feedback, bool) or not isinstance(feedback, int) or feedback < 1:
        raise PreferenceOptionError(f"feedback (the label budget) must be an integer >= 1, got {feedback!r}")
    if values["queries_per_round"] == "auto":
        values["queries_per_round"] = max(1, feedback // values["budget_rounds"])
    if values["queries_per_round"] > feedback:
        raise PreferenceOptionError(
            f"preference option 'queries_per_round' ({values['queries_per_round']}) exceeds the feedback budget ({feedback})"
        )
    check_method_options(agent, overrides or {}, values, feedback)
    check_feedback_options(agent, None, values)
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


def check_method_options(agent: str, overrides: Mapping[str, Any], values: dict[str, Any], feedback: int) -> None:
    """A method's knobs only with that method, and values that fit together; resolves ``rime_warmup``.

    Raises:
        PreferenceOptionError: naming the option and the method it belongs to, or the conflict.
    """
    method = values["method"]
    declared = PreferenceOptions().to_dict()
    # a saved run's options list every key: only values other than the declared default count as given
    overrides = {k: v for k, v in overrides.items() if k not in declared or v != declared[k]}
    foreign = [k for k in overrides if k.split("_", 1)[0] in METHODS and k.split("_", 1)[0] != method and k != "method"]
    if foreign:
        key = foreign[0]
        raise PreferenceOptionError(
            f"preference option {key!r} belongs to method {key.split('_', 1)[0]!r}, but the method here is {method!r} "
            f"(select it with method={key.split('_', 1)[0]})"
        )
    h = values["segment_length"]
    if method == "surf" and values["surf_crop_range"] >= h:
        raise PreferenceOptionError(f"preference option 'surf_crop_range' ({values['surf_crop_range']}) must be below segment_length ({h})")
    if method == "rune" and values["ensemble_size"] < 2:
        raise PreferenceOptionError("method rune needs ensemble_size >= 2: its bonus is the std of the members' rewards")
    if method == "qpa":
        if values["qpa_crop_min"] > values["qpa_crop_max"]:
            raise PreferenceOptionError(f"preference option 'qpa_crop_min' ({values['qpa_crop_min']}) exceeds 'qpa_crop_max' ({values['qpa_crop_max']})")
        if values["qpa_crop_max"] >= h:
            raise PreferenceOptionError(f"preference option 'qpa_crop_max' ({values['qpa_crop_max']}) must be below segment_length ({h})")
        if agent == "ppo" and "qpa_hybrid_ratio" in overrides:
            raise PreferenceOptionError("preference option 'qpa_hybrid_ratio' (hybrid experience replay) applies to sac only; PPO has no replay buffer")
    if method == "rime":
        if values["rime_beta_min"] > values["rime_beta_init"]:
            raise PreferenceOptionError(f"preference option 'rime_beta_min' ({values['rime_beta_min']:g}) exceeds 'rime_beta_init' ({values['rime_beta_init']:g})")
        if agent == "ppo" and overrides.get("rime_warm_start"):
            raise PreferenceOptionError("preference option 'rime_warm_start' needs sac's unsupervised phase (unsup_steps > 0)")
        if values["rime_warmup"] == "auto":
            rounds = feedback / max(1, int(values["queries_per_round"]))
            values["rime_warmup"] = int(rounds * values["rime_min_epochs"] / 3 + 0.5)
    if method == "mrn" and agent != "sac":
        raise PreferenceOptionError(
            "method mrn needs agent sac (PEBBLE): its bi-level update steps the reward model through SAC's critic; PrefPPO has no Q-function"
        )


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
    from pbrl.web import server_on

    get = lambda key: values.get(key, DEFAULTS["ppo"][key])  # noqa: E731  (options saved before these keys existed)
    min_labels = get("human_min_labels")
    timeout = get("human_timeout")
    return {
        "min_labels": None if min_labels == "all" else min_labels,
        "timeout": None if timeout == "none" else float(timeout),
        "serve": server_on(str(get("human_host")), int(get("human_port"))) if get("human_serve") else None,
    }


def describe() -> list[tuple[str, str, str, str]]:
    """(key, type, "PrefPPO default / PEBBLE default", meaning) rows for help texts."""
    return [(k, kind, f"{DEFAULTS['ppo'][k]} / {DEFAULTS['sac'][k]}", h) for k, kind, _, h in PreferenceOptions.describe()]


__all__ = [
    "AGGREGATES",
    "DEFAULTS",
    "DEFAULT_FEEDBACK",
    "HUMAN_OPTIONS",
    "METHODS",
    "METHOD_DEFAULTS",
    "OPTIONS",
    "PEBBLEOptions",
    "PreferenceOptionError",
    "PreferenceOptions",
    "SCHEDULES",
    "SCHEMA",
    "SELECTION_METHODS",
    "TASKS_FILE",
    "check_feedback_options",
    "check_method_options",
    "check_teacher_options",
    "default_feedback",
    "describe",
    "human_teacher_kwargs",
    "resolve_preference_options",
    "task_defaults",
]


#: teachers that can rate single segments: B-Pref's presets as a RatingTeacher (not ``equal``), its knobs, people
RATING_TEACHERS = ("oracle", "noisy", "mistake", "skip", "myopic", "scripted", "rating", "human")


def check_feedback_options(agent: str, teacher: str | None, values: Mapping[str, Any]) -> None:
    """``feedback_kind`` with the method, the teacher and its own knobs: refuse what cannot work.

    Ratings train :class:`~pbrl.rewards.ratings.RatingRewardEnsemble` (RbRL's loss), so the methods
    with their own pairwise reward model (surf, qpa, rime, mrn) cannot take them; rankings give
    pairs, so every method can. Ratings need a teacher that rates; rankings need an immediate answer
    per comparison (people rank on the labeling page's /rank view instead).

    Args:
        agent: ``ppo`` or ``sac``.
        teacher: the run's teacher name (None: the checks that need it are left out).
        values: the resolved options.

    Raises:
        PreferenceOptionError: naming the option, the value and what to use instead.
    """
    kind = values.get("feedback_kind", "pairs")
    declared = PreferenceOptions().to_dict()
    for key, needs in (("rating_classes", "ratings"), ("ranking_budget", "rankings")):
        if kind != needs and values.get(key, declared[key]) != declared[key]:
            raise PreferenceOptionError(f"preference option {key!r} applies to feedback_kind={needs} (the kind here is {kind!r})")
    if kind == "ratings":
        from pbrl.preferences.ratings import MAX_CLASSES

        if values["rating_classes"] > MAX_CLASSES:
            raise PreferenceOptionError(f"preference option 'rating_classes' must be 2..{MAX_CLASSES}, got {values['rating_classes']}")
        method = values.get("method", "none")
        if method not in ("none", "rune"):
            raise PreferenceOptionError(
                f"feedback_kind=ratings trains the rating reward model (RbRL's loss); method {method!r} needs its own pairwise "
                "reward model: use feedback_kind=pairs or rankings with it, or method none or rune with ratings"
            )
        if teacher == "equal":
            raise PreferenceOptionError("--teacher equal (eps_equal) has no meaning for ratings of one segment: pick another preset")
        if teacher is not None and teacher not in RATING_TEACHERS:
            raise PreferenceOptionError(
                f"feedback_kind=ratings needs a teacher that rates segments (--teacher {', '.join(RATING_TEACHERS)}); {teacher!r} compares pairs only"
            )
    if kind == "rankings" and teacher == "human":
        raise PreferenceOptionError(
            "feedback_kind=rankings inserts segments by binary search and needs an immediate answer per comparison; "
            "--teacher human answers later (people rank in the labeling page's /rank view: pbrl dataset label --feedback ranking)"
        )
