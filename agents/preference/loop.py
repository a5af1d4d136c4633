"""The online preference loop shared by PrefPPO and PEBBLE.

:class:`PreferenceLoop` is a Stable-Baselines3 callback owned by a preference agent
(``prefppo.py``, ``pebble.py``). It

1. records every vector step into a :class:`~pbrl.preferences.TrajectoryBuffer`
   through the reward wrapper's transition hook — observations, actions, true
   rewards and reward terms, the task card's named quantities and (for clips a
   person can watch) the ``qpos``/``qvel`` each action was taken in — N sub-envs at
   once, no per-env Python loop;
2. every ``interval`` env steps (from ``unsup_steps`` on) runs a feedback round:
   samples a candidate pool of segment pairs, picks ``queries_per_round`` of them with
   a :class:`~pbrl.preferences.QuerySelector` (B-Pref's methods; the first round
   uniform), writes the pairs to the run's :class:`~pbrl.preferences.PreferenceStore`
   (committed before the teacher is asked), asks the teacher, writes the labels
   (committed before anything is trained on them);
3. retrains the :class:`~pbrl.rewards.ensemble.RewardEnsemble` on *every* label in
   the store (the store is the source of truth), and swaps the agent's reward source
   for the new model (mean, mean − k·std or min over members);
4. logs ``feedback/labels``, ``feedback/queries``, ``reward_model/accuracy``
   (held-out: fresh pairs of recent segments labelled by the true reward, never
   trained on), ``reward_model/correlation`` (Pearson of learned and true per-step
   rewards on those segments), ``reward_model/query_accuracy`` (the previous model
   on the round's new labels, before training on them) and the update's
   ``reward_model/train_accuracy``, ``loss``, ``epochs``;
5. runs the reward-hacking check (:mod:`pbrl.rewards.hacking`) on those held-out segments:
   ``hacking/agreement``, ``hacking/rank_correlation``, ``hacking/rank_distance`` and
   ``hacking/flagged`` (agreement below ``hacking_min_agreement``). The first model's score
   (before the agent trains on it) and one on the final policy's own recent episodes at the
   end of training (``hacking/*_after``) go to :meth:`PreferenceLoop.summary`.

The loop stops asking when the feedback budget (queries asked, counted in the store)
is spent; training goes on with the last reward model.

With ``feedback_kind`` ``ratings`` or ``rankings`` step 2 asks for ratings of single
segments or builds ranked lists instead, and step 3 trains the rating model or the pair
model on the lists' implied pairs (``feedback_rounds.py``); the budget counts rated
segments or comparisons.

Asynchronous teachers (``--teacher human``: people in the labeling web app, see
``pbrl.teachers.human``) may return a round with labels *pending*; their answers land in
the store whenever people give them. Every update trains on every label in the store,
so a pending answer is used by the next update: the next round's, or — once the budget
is spent — a check every ``interval`` env steps and one at the end of training, which
retrain when the store holds labels the model has not seen. The human teacher is built
from the ``human_*`` options (wait for all / some / none, timeout, serve the page).

Resume: the agent's checkpoint holds the reward model's weights and optimiser, the
selector's and sampler's generators, the round counters, the trajectory buffer and
SURF's unlabelled pool.
A resumed run is step for step the run it would have been: rounds fall at the same
env steps, and each tag is logged once per step. On (re)start the loop reopens the
store and looks for rounds a killed run asked *after* its last checkpoint (the
queries' ``round`` and ``step``, for this run's id): they are not asked again but
replayed at their turn — their queries reused, those the kill left open answered
(with a synchronous teacher), the model retrained on the labels up to that round —
so nothing is asked twice and a label committed before a kill is never lost. Other
queries left open are answered, and labels the checkpointed model was not trained on
(e.g. people's late answers) are trained on, before the first step. A resume that
stops before a replayed round's step trains on its labels at the end.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Mapping

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from pbrl.datasets.collect import qpos_qvel
from pbrl.preferences import (
    EmptyPreferencesError,
    PreferenceData,
    PreferenceStore,
    QuerySelector,
    SegmentBatch,
    SegmentSampler,
    TrajectoryBuffer,
)
from pbrl.preferences.queries import pair_features
from pbrl.rewards.hacking import DEFAULT_MIN_AGREEMENT, HackingScore, score_returns
from pbrl.rewards.metrics import pearson_correlation, preference_accuracy
from pbrl.rewards.source import RewardSource

from ..online.callbacks import log_row
from .feedback_rounds import feedback_rounds, rating_model, rounds_after
from .methods import query_horizon, reward_model
from .qpa import RecentEpisodeSampler
from .rune import RUNERewardSource, rune_beta

STORE_NAME = "preferences.sqlite"
REWARD_MODEL_DIR = "reward_model"
_TRAJ_PREFIX = "traj/"
_SURF_PREFIX = "surf/"  # SURF's unlabelled pool in a checkpoint
#: the reward-hacking check after training: segments of the final policy's last episodes
HACKING_RECENT_EPISODES = 10


class ZeroReward(RewardSource):
    """Reward 0 for every transition: what an agent trains on before its first reward model."""

    name = "zero"

    def compute(self, obs, action, next_obs, info):
        return np.zeros(len(obs))


class RunningStd:
    """Running mean and variance of a scalar stream (Chan et al.'s parallel update).

    A variant changes :meth:`batch_var` or :meth:`next_mean` (PEBBLE's ``BPrefRunningMeanStd``).

    Args:
        epsilon: initial pseudo-count (as SB3's ``RunningMeanStd``).
    """

    def __init__(self, epsilon: float = 1e-4):
        self.mean, self.var, self.count = 0.0, 1.0, float(epsilon)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        n = float(x.size)
        delta = float(x.mean()) - self.mean
        total = self.count + n
        m2 = self.var * self.count + self.batch_var(x) * n + delta**2 * self.count * n / total
        self.mean = self.next_mean(delta, n, total)
        self.var, self.count = m2 / total, total

    @staticmethod
    def batch_var(x: np.ndarray) -> float:
        """The variance of one batch (``x``: at least one value)."""
        return float(x.var())

    def next_mean(self, delta: float, n: float, total: float) -> float:
        """The mean after a batch of ``n`` values whose mean is ``self.mean + delta`` (``total``: the count after it)."""
        return self.mean + delta * n / total

    @property
    def std(self) -> float:
        return math.sqrt(self.var) + 1e-8

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])


def knn_state_entropy(states: torch.Tensor, k: int) -> torch.Tensor:
    """PEBBLE's particle estimate of state entropy, within one batch.

    Args:
        states: ``(B, d)`` states (B > k).
        k: the neighbour whose distance is taken (the state itself, at distance 0, is not counted).

    Returns:
        ``(B,)`` distance of each state to its k-th nearest neighbour in the batch.
    """
    dist = torch.cdist(states, states)
    return dist.kthvalue(min(int(k) + 1, states.shape[0]), dim=1).values


class PreferenceLoop(BaseCallback):
    """Feedback rounds, reward-model updates and reward swaps during SB3 training.

    Args:
        agent: the preference agent (a PrefPPO or PEBBLE agent) whose env and model the
            loop serves; it calls ``agent.on_reward_update(source, first)`` after every
            reward-model update (PEBBLE relabels its replay buffer there). Its ``seed``
            seeds the selector, sampler, reward models and teacher.
        options: resolved preference options (``pbrl.agents.preference.options.resolve_preference_options``).
        teacher: teacher preset or registered teacher name (``oracle``, ``noisy``, ...).
        feedback: the label budget: queries asked in all, counted in the store.
        store_path: the run's preference store (SQLite); opened when training starts.
        run_id: source id of the recorded segments (the run folder's name).
        teacher_kwargs: extra keyword arguments for the teacher.
        verbose: SB3 callback verbosity.

    Attributes:
        model_ready: a reward model has been trained (the agent trains on it).
        last_metrics: the latest ``reward_model/*`` and ``feedback/*`` values.
    """

    def __init__(
        self,
        agent: Any,
        options: Mapping[str, Any],
        teacher: str,
        feedback: int,
        store_path: str,
        *,
        run_id: str = "run",
        teacher_kwargs: Mapping[str, Any] | None = None,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        self.agent = agent
        self.opt = dict(options)
        self.feedback = int(feedback)
        self.store_path = store_path
        self.seed = int(agent.seed)
        self.run_id = str(run_id)
        self.teacher_name = teacher
        self._teacher_kwargs = dict(teacher_kwargs or {})
        from .options import check_feedback_options

        check_feedback_options(str(getattr(agent, "algo", "")), teacher, self.opt)
        #: ratings or rankings rounds (``feedback_rounds.py``); None: pairs, asked here
        self.fb = feedback_rounds(self)
        if teacher == "human":  # people answer in the labeling app serving this run's store
            from .options import human_teacher_kwargs

            self._teacher_kwargs = {"store": store_path, "announce": True, **human_teacher_kwargs(self.opt), **self._teacher_kwargs}
        # the human teacher opens the store, which exists only once the run folder does: made at training start
        self.teacher = self._make_teacher(0) if teacher != "human" else None
        seeds = np.random.SeedSequence([self.seed, 0x9BEF]).spawn(3)
        self.buffer = TrajectoryBuffer(capacity=int(self.opt["buffer_steps"]), autoreset_mode="same_step", source_id=run_id, extras=())
        self.method = str(self.opt.get("method", "none"))
        if self.method == "qpa":  # policy-aligned queries: the last N episodes only
            self.sampler = RecentEpisodeSampler(
                self.buffer, horizon=query_horizon(self.opt), seed=np.random.default_rng(seeds[0]), recent=int(self.opt["qpa_recent_episodes"])
            )
        else:
            self.sampler = SegmentSampler(self.buffer, horizon=query_horizon(self.opt), seed=np.random.default_rng(seeds[0]))
        self.heldout_sampler = SegmentSampler(self.buffer, horizon=int(self.opt["segment_length"]), seed=np.random.default_rng(seeds[1]))
        self.selector = QuerySelector(
            self.opt["selection"], int(self.opt["queries_per_round"]), large_batch=int(self.opt["large_batch"]), seed=np.random.default_rng(seeds[2])
        )
        obs_dim = int(agent.env.observation_space.shape[0])
        act_dim = int(agent.env.action_space.shape[0])
        self.reward_model = reward_model(self.opt, obs_dim, act_dim, agent.device, self.seed)
        if self.fb is not None and self.fb.kind == "ratings":
            self.reward_model = rating_model(self.reward_model)  # RbRL's rating loss, same network and settings
        #: SURF's unlabelled pairs (obs, actions, mask), one entry per round
        self.unlabelled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.model_ready = False
        self.labels_fitted = 0
        self.rounds = 0
        self.next_round = int(self.opt["unsup_steps"])
        self.last_metrics: dict[str, float] = {}
        #: the reward-hacking check's scores (``HackingScore.to_dict()``): first model, end of training
        self.hacking: dict[str, dict[str, Any] | None] = {"before": None, "after": None}
        self._hacking_latest: HackingScore | None = None
        self.store: PreferenceStore | None = None
        self._base_env = agent.reward_env.venv.env  # the pbrl BatchedMujocoEnv (qpos/qvel)
        self._quantities = tuple(agent.card.quantities)
        self._state: tuple[np.ndarray, np.ndarray] | None = None
        self._started = False
        self._asked = 0
        #: round -> query ids a killed run asked after its last checkpoint, replayed at their turn
        self._ahead: dict[int, np.ndarray] = {}
        agent.reward_env.add_transition_hook(self._record)

    def _make_teacher(self, rounds: int):
        from pbrl.teachers import make_teacher

        # a resumed run's teacher gets a fresh stream (seeded by the rounds done), not a replay of the first one
        seed = int(np.random.SeedSequence([self.seed, 0x7EAC, rounds]).generate_state(1)[0])
        if self.fb is not None:
            return self.fb.make_teacher(self.teacher_name, self.agent.card, seed, self._teacher_kwargs)
        return make_teacher(self.teacher_name, card=self.agent.card, seed=seed, **self._teacher_kwargs)

    # -- recording (vectorised: one call per vector step) ---------------------------

    def _record(self, t) -> None:
        extras = {name: t.info[name] for name in self._quantities if name in t.info}
        if self.opt["record_states"]:
            if self._state is None:  # training started elsewhere (e.g. a bare model.learn)
                self._state = qpos_qvel(self._base_env)
            extras["qpos"], extras["qvel"] = self._state
        self.buffer.add(
            t.obs,
            t.action,
            t.true_reward,
            t.terminated,
            t.done & ~t.terminated,
            reward_terms=t.info.get("reward_terms", {}),
            extras=extras,
        )
        if self.opt["record_states"]:
            # the state the *next* actions are chosen in (sub-envs that ended are already reset)
            self._state = qpos_qvel(self._base_env)

    # -- SB3 callback hooks -----------------------------------------------------------

    def _on_training_start(self) -> None:
        if self.opt["record_states"]:
            self._state = qpos_qvel(self._base_env)
        if self.store is None:
            self.store = PreferenceStore(self.store_path)
            env_kwargs = dict(getattr(self.agent, "env_kwargs", {}) or {})
            if env_kwargs or "task_kwargs" in self.store.info():
                self.store.set_info("task_kwargs", env_kwargs)  # e.g. Ant's xml_file: the model clips are drawn with
            self.store.set_info("task", self.agent.task)  # the labeling app draws this task's robot
        if self.teacher is None:
            self.teacher = self._make_teacher(self.rounds)
        if not self._started:
            self._started = True
            self._catch_up()
        self.queries_asked()

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # PPO: between rollouts, so a rollout never mixes two reward models;
        # SAC: every train_freq vector steps.
        now = self.model.num_timesteps
        if now < self.next_round:
            return
        if self._asked < self.feedback:
            if self.run_round():
                self.next_round = now + int(self.opt["interval"])
        elif self.teacher.asynchronous:  # budget spent: answers may still arrive (people answering late)
            self.refresh()
            self.next_round = now + int(self.opt["interval"])

    def _on_training_end(self) -> None:
        if self.store is None or self.teacher is None:
            return
        if self._ahead:  # a resume that ends before a killed run's later rounds: their labels still count
            self.rounds = max(self.rounds, max(self._ahead) + 1)
            self._ahead = {}
            self.queries_asked()
            self.refresh()
        elif self.teacher.asynchronous:
            self.refresh()  # the saved reward model has seen every answer given during training
        self.final_hacking_check()

    # -- the feedback round -----------------------------------------------------------

    @property
    def collecting(self) -> bool:
        """Feedback is still being collected (queries asked < the budget; no store query)."""
        return self._asked < self.feedback

    def queries_asked(self) -> int:
        """Queries in the store (asked so far, answered or not), less rounds still to replay."""
        self._asked = self.counts()["queries"] if self.store is not None else 0
        return self._asked

    def counts(self) -> dict[str, int]:
        """The store's counts (``queries``, ``labels``, ``skips``, ``open``) as this run stands:
        without the rounds a killed run asked ahead of the checkpoint and not yet replayed. With ratings
        or rankings, the counts of that feedback (``feedback_rounds.py``) and ``trainable``."""
        if self.fb is not None:
            return self.fb.counts(self._hidden())
        counts = dict(self.store.summary())
        hidden = self._hidden()
        if hidden.size:
            labels = self.store.labels(query_ids=hidden)
            counts["queries"] -= int(hidden.size)
            counts["labels"] -= int((~labels["skipped"]).sum())
            counts["skips"] -= int(labels["skipped"].sum())
            counts["open"] -= int(np.isin(hidden, self.store.open_queries()).sum())
        return counts

    def _hidden(self) -> np.ndarray:
        """Ids of the queries of rounds still to replay."""
        return np.concatenate(list(self._ahead.values())) if self._ahead else np.zeros(0, np.int64)

    def labelled_pairs(self) -> PreferenceData:
        """The store's labelled pairs this run has reached (rounds still to replay left out)."""
        data = self.store.labelled_pairs()
        hidden = self.fb.pair_ids(self._hidden()) if self.fb is not None and self.fb.kind == "rankings" else self._hidden()
        if hidden.size:
            keep = ~np.isin(data.query_ids, hidden)
            if not keep.any():
                raise EmptyPreferencesError(f"no labels in {self.store.path} before round {self.rounds}")
            data = PreferenceData(
                data.first[keep], data.second[keep], data.labels[keep], data.query_ids[keep], data.label_ids[keep], data.labelers[keep]
            )
        return data

    def _rounds_ahead(self, step: int) -> dict[int, np.ndarray]:
        """Query ids, by round, of this run's rounds numbered from ``self.rounds`` on and asked at
        env step ``step`` or later: what a run killed after its last checkpoint had asked (rating
        query ids or ranking ids with ratings or rankings)."""
        if self.fb is not None:
            return self.fb.rounds_ahead(self.run_id, self.rounds, step)
        q = self.store.queries()
        return rounds_after(q["id"], q["meta"], self.run_id, self.rounds, step)

    def round_size(self) -> int:
        """Queries to ask this round: the schedule's number, within the remaining budget."""
        base = int(self.opt["queries_per_round"])
        if self.opt["schedule"] == "linear_decay":
            total = max(int(getattr(self.model, "_total_timesteps", 0) or 0), 1)
            base = max(1, int(round(base * max(0.0, 1.0 - self.model.num_timesteps / total))))
        return max(0, min(base, self.feedback - self.queries_asked()))

    def ensemble_probabilities(self, first: SegmentBatch, second: SegmentBatch) -> np.ndarray:
        """``(members, n)`` P(σ² ≻ σ¹) of each reward model (query selection's ensemble)."""
        return self.reward_model.predict_proba((first.obs, second.obs), (first.actions, second.actions), mask=(first.mask, second.mask))

    def run_round(self) -> bool:
        """Ask, store, label, retrain, swap. False (nothing done) if no episode has finished yet."""
        if self.rounds in self._ahead:
            return self._replay_round(self._ahead.pop(self.rounds))
        n = self.round_size()
        if n <= 0:
            return True
        if self.buffer.num_episodes < 2:
            return False  # nothing to cut segments from yet: retry at the next rollout
        if self.fb is not None:
            return self._feedback_round(n)
        t0 = time.perf_counter()
        method = self.selector.method
        if self.selector.rounds > 0 and method != "uniform" and not self.model_ready:
            first, second = self.sampler.sample_pairs(n)  # no model yet (every label skipped): uniform
            self.selector.rounds += 1
        else:
            labelled = None
            if method.startswith("kcenter") and self.labels_fitted:
                data = self.labelled_pairs()
                labelled = pair_features(data.first, data.second)
            first, second = self.selector.select(
                self.sampler, ensemble=self.ensemble_probabilities if self.model_ready else None, labelled=labelled, n=n
            )
        meta = {"round": self.rounds, "step": int(self.model.num_timesteps), "method": method, "run": self.run_id}
        query_ids = self.store.add_pairs(first, second, meta=meta)
        self.teacher.set_recent_returns(self.buffer.recent_returns(10))
        labels = self.teacher.label(*self.judged(first, second), query_ids=query_ids)
        if not getattr(self.teacher, "answers_in_store", False):  # the human teacher's are stored already
            self.store.add_labels(query_ids, labels)  # committed before any training on them
        self._asked += n
        self._grow_unlabelled(n)
        metrics: dict[str, float] = {}
        if self.model_ready and labels.answered.any():
            probs = self.ensemble_probabilities(first[labels.answered], second[labels.answered])
            metrics["reward_model/query_accuracy"] = preference_accuracy(probs, labels.values[labels.answered])
        self.rounds += 1
        self.update_reward_model(metrics)
        metrics["feedback/round_seconds"] = time.perf_counter() - t0
        self._log(metrics)
        return True

    def _grow_unlabelled(self, n: int) -> None:
        """SURF: uniformly drawn pairs nobody labels, for pseudo-labels (``surf_inv_label_ratio`` per answer)."""
        if self.method == "surf":
            u1, u2 = self.sampler.sample_pairs(n * int(self.opt["surf_inv_label_ratio"]))
            self.unlabelled.append((np.stack([u1.obs, u2.obs], 1), np.stack([u1.actions, u2.actions], 1), np.stack([u1.mask, u2.mask], 1)))

    def _feedback_round(self, n: int) -> bool:
        """A ratings or rankings round of ``n`` answers: ask and store (``feedback_rounds.py``), retrain, swap, log."""
        t0 = time.perf_counter()
        meta = {"round": self.rounds, "step": int(self.model.num_timesteps), "method": self.opt["selection"], "run": self.run_id}
        metrics = self.fb.ask(n, meta)
        self.queries_asked()
        self._grow_unlabelled(n)
        self.rounds += 1
        self.update_reward_model(metrics)
        metrics["feedback/round_seconds"] = time.perf_counter() - t0
        self._log(metrics)
        return True

    def _replay_round(self, query_ids: np.ndarray) -> bool:
        """This round as a killed run asked it: its queries (in the store) reused, those left open
        answered by a synchronous teacher, then retrain, swap and log as :meth:`run_round` does."""
        t0 = time.perf_counter()
        if self.fb is not None:  # its stored feedback (rating queries left open answered)
            metrics = self.fb.replay(query_ids)
            self.queries_asked()
            self.rounds += 1
            self.update_reward_model(metrics)
            metrics["feedback/round_seconds"] = time.perf_counter() - t0
            self._log(metrics)
            return True
        self.selector.rounds += 1  # as select() counts a round
        if not self.teacher.asynchronous:
            left_open = query_ids[np.isin(query_ids, self.store.open_queries())]
            if left_open.size:
                first, second = self.store.get_pairs(left_open)
                self.teacher.set_recent_returns(self.buffer.recent_returns(10))
                labels = self.teacher.label(*self.judged(first, second), query_ids=left_open)
                if not getattr(self.teacher, "answers_in_store", False):
                    self.store.add_labels(left_open, labels)
        self.queries_asked()
        metrics: dict[str, float] = {}
        rows = self.store.labels(query_ids=query_ids)
        answered = ~rows["skipped"]
        if self.model_ready and answered.any():
            first, second = self.store.get_pairs(rows["query_id"][answered])
            probs = self.ensemble_probabilities(first, second)
            metrics["reward_model/query_accuracy"] = preference_accuracy(probs, rows["label"][answered])
        self.rounds += 1
        self.update_reward_model(metrics)
        metrics["feedback/round_seconds"] = time.perf_counter() - t0
        self._log(metrics)
        return True

    def judged(self, first: SegmentBatch, second: SegmentBatch) -> tuple[SegmentBatch, SegmentBatch]:
        """What the teacher judges of a stored pair: all of it, or with SURF its central H steps."""
        return self.judged_segments(first), self.judged_segments(second)

    def judged_segments(self, batch: SegmentBatch) -> SegmentBatch:
        """What the teacher judges of stored segments: all of them, or with SURF their central H steps."""
        w = int(self.opt["surf_window"]) if self.method == "surf" else 0
        return batch if w == 0 or batch.horizon <= 2 * w else central(batch, w)

    def new_labels(self) -> bool:
        """The store's label count differs from the one the model was trained on."""
        return self.store is not None and self._trainable() != self.labels_fitted

    def _trainable(self) -> int:
        """Answers the model trains on: labels, ratings, or the pairs rankings imply."""
        counts = self.counts()
        return int(counts.get("trainable", counts["labels"]))

    def refresh(self) -> bool:
        """Retrain (and swap the reward) if the store holds labels the model has not seen; logs."""
        if not self.new_labels():
            return False
        metrics: dict[str, float] = {}
        self.update_reward_model(metrics)
        self._log(metrics)
        return True

    def update_reward_model(self, metrics: dict[str, float] | None = None) -> bool:
        """Retrain on every label in the store and swap the agent's reward; False if there is none."""
        metrics = {} if metrics is None else metrics
        try:
            if self.fb is not None and self.fb.kind == "ratings":
                self.labels_fitted, fitted = self.fb.fit(self._hidden())
            else:
                self.labels_fitted, fitted = self._fit_pairs()
        except EmptyPreferencesError:
            return False
        first = not self.model_ready
        self.model_ready = True
        source = self.reward_source()
        self.agent.set_reward_source(source)
        self.agent.on_reward_update(source, first=first)
        metrics.update(fitted)
        metrics.update(self.method_metrics())
        self._hacking_latest = None
        metrics.update(self.heldout_metrics())
        if self.hacking["before"] is None and self._hacking_latest is not None:
            self.hacking["before"] = self._hacking_latest.to_dict()  # the first model, before the agent trains on it
        return True

    def _fit_pairs(self) -> tuple[int, dict[str, float]]:
        """Train the pair model on every labelled pair this run has reached; (pairs, metrics)."""
        data = self.labelled_pairs()
        if self.method == "surf" and self.unlabelled:
            self.reward_model.set_unlabelled(*(np.concatenate(parts) for parts in zip(*self.unlabelled)))
        result = self.reward_model.fit(
            (data.first.obs, data.second.obs),
            (data.first.actions, data.second.actions),
            data.labels,
            mask=(data.first.mask, data.second.mask),
        )
        return len(data), {
            "reward_model/train_accuracy": result.train_accuracy,
            "reward_model/loss": result.loss,
            "reward_model/epochs": float(result.epochs),
            "reward_model/fit_seconds": result.seconds,
        }

    def method_metrics(self) -> dict[str, float]:
        """``method/*`` figures of the last update: SURF's pseudo-labelled share, RIME's trusted and flipped labels."""
        model = self.reward_model
        if self.method == "surf":
            return {"method/pseudo_label_fraction": float(model.last_confident), "method/unlabelled_pairs": float(sum(len(u[0]) for u in self.unlabelled))}
        if self.method == "rime":
            trusted, flipped = model.last_selection
            return {"method/trusted_labels": float(trusted), "method/flipped_labels": float(flipped)}
        return {}

    def rune_beta_now(self) -> float:
        """RUNE's β at the current env step."""
        return rune_beta(int(self.model.num_timesteps) if getattr(self, "model", None) is not None else 0,
                         float(self.opt["rune_beta_init"]), float(self.opt["rune_beta_decay"]))  # fmt: skip

    def reward_source(self) -> RewardSource:
        """The agent's training reward from the current reward model (with RUNE's bonus where the
        agent takes it from the env: PrefPPO)."""
        if self.method == "rune" and self.agent.bonus_in_env:
            step = lambda: int(self.model.num_timesteps) if getattr(self, "model", None) is not None else 0  # noqa: E731
            return RUNERewardSource(self.reward_model, float(self.opt["rune_beta_init"]), float(self.opt["rune_beta_decay"]), step)
        return self.reward_model.as_reward_source(self.opt["aggregate"], float(self.opt["aggregate_k"]))

    def heldout_metrics(self) -> dict[str, float]:
        """Accuracy on fresh pairs labelled by the true return, per-step reward correlation, and the
        reward-hacking check on the same segments (``hacking/*``; the score kept in ``_hacking_latest``)."""
        n = int(self.opt["heldout_pairs"])
        if n <= 0 or not self.model_ready or self.buffer.num_episodes == 0:
            return {}
        first, second = self.heldout_sampler.sample_pairs(n)
        r1, r2 = first.returns, second.returns
        truth = np.where(np.isclose(r1, r2), 0.5, (r2 > r1).astype(np.float64))
        out = {}
        acc = preference_accuracy(self.ensemble_probabilities(first, second), truth)
        if not math.isnan(acc):
            out["reward_model/accuracy"] = acc
        both = SegmentBatch.concatenate([first, second])
        learned = self._learned_steps(both)
        true = both.rewards.reshape(-1)[both.mask.reshape(-1)]
        if true.std() > 0 and learned.std() > 0:
            out["reward_model/correlation"] = pearson_correlation(learned, true)
        self._hacking_latest = self.hacking_score(both, learned)
        out.update(hacking_tags(self._hacking_latest))
        return out

    def _learned_steps(self, segments: SegmentBatch) -> np.ndarray:
        """The agent's learned reward (aggregated over the ensemble) at every real step of ``segments``, row by row."""
        mask = segments.mask.reshape(-1)
        obs = segments.obs.reshape(-1, segments.obs_dim)[mask]
        act = segments.actions.reshape(-1, segments.act_dim)[mask]
        return self.reward_model.reward(obs, act, aggregate=self.opt["aggregate"], k=float(self.opt["aggregate_k"]))

    def hacking_score(self, segments: SegmentBatch, learned: np.ndarray) -> HackingScore:
        """The reward-hacking check on ``2n`` segments drawn as ``n`` pairs (``i``, ``n + i``).

        The held-out teacher is the oracle on the true return. Each pair is scored, and so is
        ``(n + i, (i + 1) mod n)``, which chains every segment into one cycle without drawing
        more: shared segments let the labels imply a global ordering for the rank correlation.
        ``learned``: :meth:`_learned_steps` of ``segments``.
        """
        n = len(segments) // 2
        rows = np.nonzero(segments.mask)[0]  # the segment of each real step, in _learned_steps' order
        learned_returns = np.bincount(rows, weights=learned, minlength=len(segments))
        true_returns = segments.returns
        i = np.arange(n)
        a, b = np.concatenate([i, n + i]), np.concatenate([n + i, (i + 1) % n])
        labels = np.where(np.isclose(true_returns[a], true_returns[b]), 0.5, (true_returns[b] > true_returns[a]).astype(np.float64))
        threshold = float(self.opt.get("hacking_min_agreement", DEFAULT_MIN_AGREEMENT))
        return score_returns(learned_returns[a], learned_returns[b], labels, first_ids=a, second_ids=b, min_agreement=threshold)

    def final_hacking_check(self) -> None:
        """The reward-hacking check at the end of training: the final reward model on ``heldout_pairs`` pairs
        of the final policy's own last episodes, logged as ``hacking/*_after`` and kept for :meth:`summary`."""
        n = int(self.opt["heldout_pairs"])
        if n <= 0 or not self.model_ready or self.buffer.num_episodes == 0:
            return
        step = int(self.model.num_timesteps) if getattr(self, "model", None) is not None else 0
        # its own generator: the run's other random streams (queries, held-out pairs) are untouched
        sampler = RecentEpisodeSampler(self.buffer, horizon=int(self.opt["segment_length"]),
                                       seed=np.random.default_rng([self.seed, 0x4AC5, step]), recent=HACKING_RECENT_EPISODES)  # fmt: skip
        segments = sampler.sample(2 * n)
        score = self.hacking_score(segments, self._learned_steps(segments))
        self.hacking["after"] = score.to_dict()
        values = hacking_tags(score, suffix="_after")
        self.last_metrics.update(values)
        if getattr(self, "model", None) is not None:
            log_row(self.logger, values, step)

    def _catch_up(self) -> None:
        """On (re)start: set aside the rounds a killed run asked ahead of its checkpoint (replayed at
        their turn), answer other queries a kill left open, retrain on labels the model has not seen
        (and log that update; a resume where nothing changed logs nothing at its first step)."""
        self._ahead = self._rounds_ahead(int(self.model.num_timesteps))
        if self.fb is not None:
            self.fb.answer_open(exclude=self._hidden())
        elif not self.teacher.asynchronous:
            open_ids = self.store.open_queries()
            open_ids = open_ids[~np.isin(open_ids, self._hidden())]
            if open_ids.size:
                first, second = self.store.get_pairs(open_ids)
                self.teacher.set_recent_returns(self.buffer.recent_returns(10))
                try:
                    labels = self.teacher.label(*self.judged(first, second), query_ids=open_ids)
                except ValueError:  # e.g. a skip/equal teacher without recent returns: they stay open
                    labels = None
                if labels is not None:
                    self.store.add_labels(open_ids, labels)
        metrics: dict[str, float] = {}
        if self._trainable() != self.labels_fitted:  # answers the checkpointed model has not seen
            self.update_reward_model(metrics)
            self._log(metrics)
        elif self.model_ready:
            self.agent.set_reward_source(self.reward_source())  # the checkpointed model; buffer already relabelled

    def _log(self, metrics: Mapping[str, float]) -> None:
        counts = self.counts()
        values = dict(metrics)
        values["feedback/labels"] = float(counts["labels"])
        values["feedback/queries"] = float(counts["queries"])
        values["feedback/skips"] = float(counts["skips"])
        values["feedback/open"] = float(counts["open"])  # asked, not answered yet (a human teacher's pending queries)
        values["feedback/rounds"] = float(self.rounds)
        if self.fb is not None and self.fb.kind == "rankings":
            values["feedback/implied_pairs"] = float(counts["trainable"])  # labelled pairs the lists imply
        self.last_metrics.update(values)
        if getattr(self, "model", None) is not None:
            log_row(self.logger, values, self.model.num_timesteps)

    # -- summary, checkpoints ----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """End-of-run figures: labels used, queries asked, the reward model's latest accuracy, the reward-hacking check."""
        counts = {"labels": 0, "queries": 0, "skips": 0}
        if self.store is not None:
            counts = self.store.summary() if self.fb is None else self.counts()
        out = {} if self.fb is None else {"feedback_kind": self.fb.kind}  # labels: ratings, or comparisons answered
        return {
            **out,
            "teacher": self.teacher_name,
            "feedback_budget": self.feedback,
            "labels": int(counts["labels"]),
            "queries": int(counts["queries"]),
            "skips": int(counts["skips"]),
            "open": int(counts.get("open", 0)),
            "labels_fitted": self.labels_fitted,
            "feedback_rounds": self.rounds,
            "reward_model_accuracy": self.last_metrics.get("reward_model/accuracy"),
            "reward_model_correlation": self.last_metrics.get("reward_model/correlation"),
            "hacking": self.hacking_summary(),
        }

    def hacking_summary(self) -> dict[str, Any] | None:
        """The reward-hacking check: the first model's score (``before``), the final model's on the final
        policy's episodes (``after``), ``flagged`` (either was) and the threshold; None when it is off."""
        if int(self.opt["heldout_pairs"]) <= 0:
            return None
        before, after = self.hacking["before"], self.hacking["after"]
        flagged = any(bool(s and s["flagged"]) for s in (before, after))
        return {"before": before, "after": after, "flagged": flagged,
                "min_agreement": float(self.opt.get("hacking_min_agreement", DEFAULT_MIN_AGREEMENT))}  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready loop state for a checkpoint (weights and the buffer go elsewhere)."""
        return {
            "model_ready": self.model_ready,
            "labels_fitted": self.labels_fitted,
            "rounds": self.rounds,
            "next_round": self.next_round,
            "selector": self.selector.state_dict(),
            "sampler": self.sampler.state_dict(),
            "last_metrics": self.last_metrics,
            "hacking": self.hacking,
            **({} if self.fb is None else {"feedback": self.fb.state_dict()}),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model_ready = bool(state["model_ready"])
        self.labels_fitted = int(state["labels_fitted"])
        self.rounds = int(state["rounds"])
        self.next_round = int(state["next_round"])
        self.selector.load_state_dict(state["selector"])
        self.sampler.load_state_dict(state["sampler"])
        self.last_metrics = dict(state.get("last_metrics", {}))
        self.hacking = {"before": None, "after": None, **dict(state.get("hacking") or {})}
        if self.fb is not None:
            self.fb.load_state_dict(state.get("feedback", {}))  # before the teacher is made again (rating bounds)
        if self.rounds and self.teacher is not None:  # the human teacher is made at training start
            self._close_teacher()
            self.teacher = self._make_teacher(self.rounds)

    def torch_state(self) -> dict[str, Any]:
        return {"reward_model": self.reward_model.state_dicts()}

    def load_torch_state(self, weights: Mapping[str, Any]) -> None:
        if "reward_model" in weights:
            self.reward_model.load_state_dicts(weights["reward_model"])

    def array_state(self) -> dict[str, np.ndarray]:
        """The trajectory buffer as ``traj/``-prefixed arrays (``TrajectoryBuffer.to_arrays``) and SURF's
        unlabelled pool as ``surf/`` arrays (``sizes``: pairs added by each round)."""
        out: dict[str, np.ndarray] = {}
        if self.unlabelled:
            for j, name in enumerate(("obs", "actions", "mask")):
                out[_SURF_PREFIX + name] = np.concatenate([u[j] for u in self.unlabelled])
            out[_SURF_PREFIX + "sizes"] = np.asarray([len(u[0]) for u in self.unlabelled], dtype=np.int64)
        if self.buffer.num_envs is None:
            return out
        return {**out, **{_TRAJ_PREFIX + k: v for k, v in self.buffer.to_arrays().items()}}

    def load_array_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        if _SURF_PREFIX + "sizes" in arrays:
            cuts = np.cumsum(arrays[_SURF_PREFIX + "sizes"])[:-1]
            parts = [np.split(np.asarray(arrays[_SURF_PREFIX + name]), cuts) for name in ("obs", "actions", "mask")]
            self.unlabelled = [(o, a, m.astype(bool)) for o, a, m in zip(*parts)]
        mine = {k[len(_TRAJ_PREFIX):]: v for k, v in arrays.items() if k.startswith(_TRAJ_PREFIX)}
        if not mine:
            return
        buffer = TrajectoryBuffer.from_arrays(mine, where="the checkpoint's trajectory buffer")
        buffer.end_episodes()  # episodes in flight at checkpoint time are not resumed
        self.buffer = buffer
        self.sampler.buffer = buffer
        self.heldout_sampler.buffer = buffer

    def save_reward_model(self, run_dir: str) -> str | None:
        """Write the reward model to ``<run>/reward_model`` (``pbrl.rewards.persist`` format)."""
        if not self.model_ready:
            return None
        return self.reward_model.save(os.path.join(run_dir, REWARD_MODEL_DIR))

    def _close_teacher(self) -> None:
        close = getattr(self.teacher, "close", None)
        if callable(close):
            close()  # the human teacher: stops its labeling server, closes its store connection

    def close(self) -> None:
        self._close_teacher()
        if self.teacher_name == "human":
            self.teacher = None
        if self.store is not None:
            self.store.close()
            self.store = None


def hacking_tags(score: HackingScore, suffix: str = "") -> dict[str, float]:
    """``hacking/agreement``, ``rank_correlation``, ``rank_distance`` (where defined) and ``flagged`` (1/0) of a score."""
    out = {f"hacking/{key}{suffix}": float(getattr(score, key)) for key in ("agreement", "rank_correlation", "rank_distance")}
    out = {k: v for k, v in out.items() if math.isfinite(v)}
    out[f"hacking/flagged{suffix}"] = float(score.flagged)
    return out


def central(batch: SegmentBatch, w: int) -> SegmentBatch:
    """Segments without their first and last ``w`` steps (SURF: what the teacher judges)."""
    cut = slice(w, batch.horizon - w)
    return SegmentBatch(
        batch.obs[:, cut], batch.actions[:, cut], batch.rewards[:, cut], {k: v[:, cut] for k, v in batch.terms.items()},
        batch.mask[:, cut], {k: v[:, cut] for k, v in batch.extras.items()}, batch.origin_kind, batch.source_id,
        batch.episode, np.where(batch.start >= 0, batch.start + w, batch.start),
    )  # fmt: skip


def split_arrays(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the agent's own arrays, the loop's ``traj/`` and ``surf/`` arrays) of a checkpoint."""
    mine = (_TRAJ_PREFIX, _SURF_PREFIX)
    own = {k: v for k, v in arrays.items() if not k.startswith(mine)}
    loop = {k: v for k, v in arrays.items() if k.startswith(mine)}
    return own, loop


__all__ = ["PreferenceLoop", "REWARD_MODEL_DIR", "RunningStd", "STORE_NAME", "ZeroReward", "knn_state_entropy", "split_arrays"]
