"""The reward-synthesis loop (Eureka): K samples × I iterations, reflection, final retraining.

Each iteration:

1. the proposer answers the current messages with K samples (an LLM, or the
   offline search procedure);
2. each answer is turned into a program — extraction (code mode) or JSON
   validation and compilation (parametric mode) — and statically checked;
3. the programs that passed are probed in the sandbox (random actions, a second);
   samples that failed any of these steps are *non-executable* and are replaced by
   new samples, up to ``max_regenerations`` more rounds;
4. the executable candidates train PPO in the sandbox (in parallel through the
   executor), and each one's weights are evaluated by trusted code on fresh
   seeds: that task metric is the candidate's fitness;
5. the best candidate by fitness gets a reward reflection (its terms along
   training with max / mean / min, the fitness, Eureka's advice) which, with its
   answer, forms the next messages: ``[system, task, best answer, reflection]``;
   the distinct errors of the round's failed samples are listed after it. When no
   candidate trained, the error of one is fed back instead. A person's
   critique (``critique``) is added to the next round.

With ``feedback="preferences"`` (ICPL, ``icpl.py``) step 5 changes: a teacher compares the
trained candidates' rollouts (and the incumbent's), and the *preferred* candidate, not the
best by fitness, is the base of the next iteration (the LLM gets the comparison outcomes and
the rejected code too). With ``hacking_check`` every program is scored against held-out
preference labels before and after training (``heldout.py``) and flagged when it disagrees.

After the last iteration the best program of the run is retrained with
``final_seeds`` seeds, and the task's own reward with the same seeds, so the two
are compared on equal terms. Every step is written to the run folder
(``store.py``); ``resume`` continues a run from its last finished iteration,
reusing recorded answers and results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

import numpy as np

from pbrl.llm.backends import LLMBackend, OpenAIBackend
from pbrl.llm.ledger import TokenLedger
from pbrl.runs import estimate as E
from pbrl.runs.executor import EXECUTORS, Executor, JobFailed, make_executor
from pbrl.sandbox.check import check_program
from pbrl.settings import (ConfigError, Settings, anything, boolean, integer, number, one_of, optional, positive_number, setting,
                           string, table)

from . import jobs
from .errors import BackendRequestError, SynthesisFailure
from .extraction import extract_program
from .fitness import task_metric
from .params import compile_params, parse_params
from .prompts import PromptBuilder
from .proposers import LLMProposer, Proposal, ProposalRequest, Proposer
from .icpl import run_tournament
from .reflection import Reflection, TermStats, reflect
from .rollouts import load_rollouts
from .sandbox import Sandbox, SandboxConfig
from .search import OfflineProposer
from .store import RunStore

__all__ = ["SynthesisConfig", "SynthesisResult", "Synthesizer"]

FORMAT = "pbrl.synthesis"


@dataclass
class SynthesisConfig(Settings):
    """Settings of a synthesis run (``pbrl synthesize`` maps its options onto these): the fields below,
    each with its meaning and check; LLM request settings apply to the openai backend."""

    what: ClassVar[str] = ""  # messages name the key alone: "samples must be an integer >= 1, got 0"

    task: str = field(metadata={"help": "pbrl task id", "check": string})
    backend: str = setting("offline", "openai (any OpenAI-compatible server) or offline (the search procedure)", check=one_of("openai", "offline"))
    model: str | None = setting(None, "the model name (openai backend)", check=optional(string))
    base_url: str | None = setting(None, "the server's URL, e.g. http://localhost:8000/v1 (openai backend)", check=optional(string))
    api_key_env: str = setting("OPENAI_API_KEY", "the environment variable holding the API key", check=string)
    mode: str = setting("code", "code (free code) or params (JSON weights of the card's terms)", check=one_of("code", "params"))
    samples: int = setting(4, "K, candidates per iteration", check=integer(1, whole_floats=False))
    iterations: int = setting(3, "I, iterations", check=integer(1, whole_floats=False))
    steps: int = setting(50_000, "PPO environment steps per candidate", check=integer(1, whole_floats=False))
    final_seeds: int = setting(3, "seeds of the final retraining (0: skip it)", check=integer(0, whole_floats=False))
    final_steps: int | None = setting(None, "PPO steps of the final retraining (default: steps)", check=optional(integer(1, whole_floats=False)))
    eval_episodes: int = setting(10, "episodes of each trusted evaluation", check=integer(1, whole_floats=False))
    max_regenerations: int = setting(2, "extra sampling rounds per iteration to replace non-executable samples", check=integer(0, whole_floats=False))
    seed: int = setting(0, "seed of training, the offline proposer and the final retraining's seeds", check=integer(0, whole_floats=False))
    executor: str = setting("local", "local (this machine) or ray (pip install 'pbrl[ray]')", check=one_of(*EXECUTORS))
    max_workers: int | None = setting(None, "parallel candidates of the local executor (default: the number of cores)", check=optional(integer(1, whole_floats=False)))
    ray_address: str | None = setting(None, "a Ray cluster address (default: a local Ray instance)", check=optional(string))
    temperature: float | None = setting(1.0, "LLM sampling temperature", check=optional(number(0.0)))
    max_tokens: int | None = setting(None, "LLM completion token cap", check=optional(integer(1, whole_floats=False)))
    request_timeout: float = setting(120.0, "seconds per LLM request", check=positive_number)
    max_retries: int = setting(4, "more attempts after a 429, 5xx, timeout or malformed answer", check=integer(0, whole_floats=False))
    price_input: float | None = setting(None, "USD per million prompt tokens (cost in the ledger)", check=optional(number(0.0)))
    price_output: float | None = setting(None, "USD per million completion tokens (cost in the ledger)", check=optional(number(0.0)))
    few_shot: int = setting(0, "example programs of other tasks in the prompt (code mode)", check=integer(0, whole_floats=False))
    prompts_dir: str | None = setting(None, "a folder of prompt templates overriding pbrl's", check=optional(string))
    critique: str | None = setting(None, "a person's critique, added to the next round", check=optional(string))
    hyperparams: dict = setting({}, "PPO hyperparameter overrides", check=table)
    env_kwargs: dict = setting({}, "task keyword arguments", check=table)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig, metadata={"help": "the sandbox's settings (SandboxConfig)", "check": anything})
    runs_dir: str = setting("runs", "where run folders go", check=string)
    name: str | None = setting(None, "the run's name (default: the time)", check=optional(string))
    label: str | None = setting(None, "a note printed with and saved in every result (e.g. that answers are canned)", check=optional(string))
    feedback: str = setting("fitness", "what goes back to the proposer: fitness (Eureka: the best candidate by the task metric) or "
                            "preferences (ICPL: a teacher compares the candidates' rollouts; the preferred one is the base)",
                            check=one_of("fitness", "preferences"))
    teacher: str = setting("oracle", "the teacher of --feedback preferences: a scripted preset (oracle, noisy, mistake, ...), "
                           "hierarchical, llm or human (see pbrl.teachers)", check=string)
    teacher_options: dict = setting({}, "the teacher's keyword arguments (e.g. model, base_url for llm; min_labels, timeout, "
                                    "serve, port for human; terms, margins for hierarchical)", check=table)
    comparisons: int = setting(4, "segment pairs shown per pair of candidates (--feedback preferences)", check=integer(1, whole_floats=False))
    segment_length: int = setting(50, "steps per segment the teachers see (0: whole episodes)", check=integer(0, whole_floats=False))
    hacking_check: bool = setting(True, "score every candidate reward against held-out preference labels, before and after training", check=boolean)
    hacking_teacher: str = setting("oracle", "the held-out teacher of the reward-hacking check (a scripted teacher; its labels never "
                                   "reach the proposer)", check=string)
    hacking_pairs: int = setting(64, "held-out labelled pairs per check", check=integer(4, whole_floats=False))
    hacking_min_agreement: float = setting(0.6, "a candidate agreeing with fewer held-out labels than this is flagged", check=number(0.0, 1.0))
    hacking_store: str | None = setting(None, "a preference store whose labelled pairs (e.g. people's) are the held-out set before "
                                        "training, instead of labelled random-action segments", check=optional(string))

    def __post_init__(self):
        if isinstance(self.sandbox, dict):
            self.sandbox = SandboxConfig(**self.sandbox)
        self.check_fields()
        if self.backend == "openai" and not self.model:
            raise ConfigError("the openai backend needs --model NAME")
        from pbrl.teachers import TEACHERS

        for key in ("teacher", "hacking_teacher"):
            if getattr(self, key) not in TEACHERS:
                raise ConfigError(f"{key} must be one of {', '.join(sorted(TEACHERS))}, got {getattr(self, key)!r}")
        if self.hacking_teacher in ("human", "llm"):
            raise ConfigError("hacking_teacher must be a scripted teacher (give people's labels with hacking_store)")
        if self.feedback == "fitness" and (self.teacher != "oracle" or self.teacher_options):
            raise ConfigError("teacher and teacher_options apply to feedback 'preferences' (--feedback preferences)")
        if self.feedback == "preferences" and self.teacher == "llm" and not (
                self.teacher_options.get("model") or self.teacher_options.get("backend") or self.backend == "openai"):
            raise ConfigError("the llm teacher needs teacher_options model=NAME (and base_url=URL), or the openai backend")
        if self.hacking_store is not None and not os.path.isfile(self.hacking_store):
            raise ConfigError(f"hacking_store {self.hacking_store}: no such file")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sandbox"] = self.sandbox.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SynthesisConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SynthesisResult:
    """What a run found."""

    run_dir: str
    best: dict[str, Any] | None
    iterations: list[dict[str, Any]]
    final: dict[str, Any] | None
    tokens: dict[str, Any]
    label: str | None = None
    hacking: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reflection_from(refl: dict[str, Any]) -> Reflection:
    """A :class:`Reflection` back from its recorded dict."""
    return Reflection(
        {k: TermStats(**v) for k, v in refl["terms"].items()},
        TermStats(**refl["task_score"]) if refl["task_score"] else None,
        TermStats(**refl["episode_length"]) if refl["episode_length"] else None,
        refl["fitness"], refl["points"], refl["observations"],
    )


class Synthesizer:
    """Runs (or resumes) one synthesis run; see the module docstring.

    Args:
        config: the settings.
        backend: an LLM backend to use instead of building one from ``config``.
        proposer: a proposer to use instead of building one from ``config``.
        executor: an executor to use instead of building one from ``config``.
        log: where progress lines go (default: ``print``).
        run_dir: an existing run folder to resume (use :meth:`resume`).
    """

    def __init__(self, config: SynthesisConfig, *, backend: LLMBackend | None = None, proposer: Proposer | None = None,
                 executor: Executor | None = None, log: Callable[[str], None] | None = None, run_dir: str | None = None):
        import pbrl.envs

        self.config = config
        cards = pbrl.envs.cards()
        if config.task not in cards:
            raise ValueError(f"unknown task {config.task!r}; known: {', '.join(sorted(cards))}")
        self.card = cards[config.task]
        self.metric = task_metric(self.card)
        self.log = log or print
        from pbrl.agents.online.hyperparams import resolve

        self.hyperparams = resolve("ppo", config.task, dict(config.hyperparams))
        self.prompts = PromptBuilder(self.card, config.mode, config.prompts_dir, config.few_shot)
        self.backend = backend
        # The proposer (and its backend) first: a misconfigured backend fails before a run folder exists.
        self.proposer = proposer if proposer is not None else self._make_proposer()
        self.store = RunStore(run_dir) if run_dir else RunStore(self._new_run_dir())
        self.ledger = TokenLedger.load(self.store.file("ledger.jsonl"), price_input=config.price_input,
                                       price_output=config.price_output)
        if self.backend is not None and hasattr(self.backend, "ledger"):
            self.backend.ledger = self.ledger  # the run folder's ledger records every request
        self._own_executor = executor is None
        self.executor = executor
        self.info_view = "full" if config.mode == "params" else "quantities"
        self.teacher = None  # ICPL's teacher, the preference store and the hacking check: made when the run starts
        self.preferences = None
        self.heldout = None
        self._tb = None

    # -- setup ---------------------------------------------------------------------------

    def _new_run_dir(self) -> str:
        from pbrl.runs.folder import create_run_dir, default_name, run_path

        path = run_path(self.config.runs_dir, self.config.task, "synthesis", self.config.name or default_name(), self.config.seed)
        return create_run_dir(path)

    def _make_proposer(self) -> Proposer:
        c = self.config
        if c.backend == "offline":
            return OfflineProposer(self.card, c.mode, seed=c.seed)
        if self.backend is None:
            self.backend = OpenAIBackend(
                c.model or "", base_url=c.base_url, api_key_env=c.api_key_env, timeout=c.request_timeout,
                max_retries=c.max_retries, temperature=c.temperature if c.temperature is not None else 1.0,
                max_tokens=c.max_tokens, seed=c.seed,
            )
        return LLMProposer(self.backend, temperature=c.temperature, max_tokens=c.max_tokens)

    @classmethod
    def resume(cls, run_dir: str, overrides: dict[str, Any] | None = None, **kwargs: Any) -> "Synthesizer":
        """Continue the run in ``run_dir`` (``overrides``: e.g. more ``iterations``, a ``critique``)."""
        store = RunStore(run_dir)
        saved = store.read_json("config.json")
        if not saved or saved.get("format") != FORMAT:
            raise ValueError(f"{run_dir} is not a pbrl synthesis run (no config.json of format {FORMAT!r})")
        data = dict(saved["config"])
        data["critique"] = None
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(SynthesisConfig.from_dict(data), run_dir=run_dir, **kwargs)

    def _say(self, text: str) -> None:
        self.log(text)

    # -- preparing candidates --------------------------------------------------------------

    def _prepare(self, cand: dict[str, Any], text: str) -> None:
        """Answer text -> program (or a failure recorded in ``cand``)."""
        try:
            if self.config.mode == "params":
                params = parse_params(text, self.card)
                cand["params"] = params.to_dict()
                program = compile_params(params)
            else:
                extracted = extract_program(text)
                program = extracted.source
                cand["dropped"] = extracted.dropped
            cand["program"] = program
            cand["program_sha256"] = _sha(program)
            if self.config.sandbox.static_check:
                report = check_program(program)
                cand["check"] = {"chars": report.chars, "nodes": report.nodes, "imports": list(report.imports)}
            else:
                cand["check"] = {"skipped": "static_check=False (testing switch)"}
        except SynthesisFailure as exc:
            cand.update(status="failed", stage=exc.stage, failure=exc.to_record())

    def _record(self, cand: dict[str, Any]) -> None:
        rec = {k: v for k, v in cand.items() if k not in ("program", "text")}
        self.store.append("candidates.jsonl", rec)

    def _save_candidate_files(self, cand: dict[str, Any], text: str) -> None:
        base = f"candidates/{cand['id']}"
        self.store.write_text(f"{base}/response.txt", text)
        if cand.get("program"):
            self.store.write_text(f"{base}/program.py", cand["program"])
        if cand.get("params"):
            self.store.write_json(f"{base}/params.json", cand["params"])

    # -- one iteration -------------------------------------------------------------------

    def _sandbox_dict(self) -> dict[str, Any]:
        return self.config.sandbox.to_dict()

    def _probe(self, cands: list[dict[str, Any]]) -> None:
        todo = [c for c in cands if c.get("status") is None]
        if not todo:
            return
        job_list = [
            jobs.ProbeJob(c["id"], self.config.task, c["program"], self.info_view, seed=self.config.seed + i,
                          sandbox=self._sandbox_dict(), env_kwargs=dict(self.config.env_kwargs))
            for i, c in enumerate(todo)
        ]
        for cand, res in zip(todo, self.executor.map(jobs.run_probe_job, job_list)):
            cand["isolation"] = res.isolation
            if res.result:
                cand["layers_reported"] = res.result.get("layers_reported")
            self.store.write_json(f"candidates/{cand['id']}/probe.json", res.summary())
            if res.ok:
                cand.update(status="probed", probe=res.result.get("probe"), probe_correlation=res.result.get("correlation"))
                self._say(f"  {cand['id']}: probe ok")
            else:
                cand.update(status="failed", stage="probe", failure=res.failure)
                self._say(f"  {cand['id']}: probe failed ({res.failure['kind']}: {res.failure['message'][:120]})")
            self._record(cand)

    def _train(self, cands: list[dict[str, Any]]) -> None:
        todo = [c for c in cands if c.get("status") == "probed"]
        if not todo:
            return
        job_list = [
            jobs.TrainJob(c["id"], self.config.task, c["program"], self.info_view, seed=self.config.seed,
                          steps=self.config.steps, hyperparams=self.hyperparams, eval_episodes=self.config.eval_episodes,
                          sandbox=self._sandbox_dict(), env_kwargs=dict(self.config.env_kwargs),
                          record_rollouts=self._record_rollouts)
            for c in todo
        ]
        self._say(f"  training {len(todo)} candidate(s), {self.config.steps} PPO steps each ...{self._estimate(self.config.steps)}")
        for cand, res in zip(todo, self._train_jobs(job_list)):
            base = f"candidates/{cand['id']}"
            if res.log_tail:
                self.store.write_text(f"{base}/worker.log", res.log_tail)
            if res.weights:
                self.store.write_bytes(f"{base}/weights.npz", res.weights)
            if res.rollouts:
                self.store.write_bytes(f"{base}/rollouts.npz", res.rollouts)
            if res.result:
                self.store.write_json(f"{base}/train.json", res.result)
                cand["layers_reported"] = res.result.get("layers_reported")
            cand["isolation"] = res.isolation
            cand["wall_clock"] = res.wall_clock
            if not res.ok:
                cand.update(status="failed", stage=res.stage, failure=res.failure)
                self._say(f"  {cand['id']}: {res.stage} failed ({res.failure['kind']}: {res.failure['message'][:120]})")
            else:
                self.store.write_json(f"{base}/fitness.json", res.fitness)
                cand.update(
                    status="ok", stage="evaluated", fitness=res.fitness["fitness"], fitness_detail={
                        k: res.fitness[k] for k in ("metric", "fitness_std", "return_mean", "normalized_score", "success_rate", "episodes", "seed")
                    },
                    correlation=res.result.get("correlation"),
                    num_timesteps=res.result.get("num_timesteps"), train_seconds=res.result.get("train_seconds"),
                )
                refl = reflect(res.result["curves"], res.fitness["fitness"], self.metric)
                cand["reflection"] = refl.to_dict()
                self.store.write_json(f"{base}/reflection.json", cand["reflection"])
                self._say(
                    f"  {cand['id']}: fitness {res.fitness['fitness']:.4g} ({self.metric.name}), "
                    f"true return {res.fitness['return_mean']:.1f}"
                )
                if self.heldout is not None and res.rollouts:
                    self._check_after(cand, res.rollouts)
            self._record(cand)

    def _estimate(self, steps: int) -> str:
        """`` (estimate: ~3 min per training run)`` from recorded PPO speeds, or nothing when under a minute."""
        seconds = E.training_seconds("ppo", steps)
        return f" ({E.PREFIX}{E.duration(seconds)} per training run)" if seconds and seconds >= 60 else ""

    def _train_jobs(self, job_list: list[Any]) -> list[Any]:
        """Train every job (in parallel, on the executor) and return the results in order, saying each one as
        it finishes with the time left at the pace so far; a job that raised raises here, as ``map`` would."""
        results: list[Any] = [None] * len(job_list)
        began = time.monotonic()
        completed = self.executor.as_completed(jobs.run_train_job, job_list)
        try:
            for done, (index, res) in enumerate(completed, 1):
                if isinstance(res, JobFailed):
                    raise res.exception
                results[index] = res
                elapsed = time.monotonic() - began
                left = f"; {E.duration(elapsed / done * (len(job_list) - done))} left" if done < len(job_list) else ""
                self._say(f"  [{done}/{len(job_list)}] {job_list[index].candidate} {'trained' if res.ok else 'stopped'} "
                          f"({elapsed:.0f} s since the start{left})")
        finally:
            completed.close()  # cancels the jobs not yet started
        return results

    def _run_iteration(self, it: int, messages: list[dict[str, str]], best: dict[str, Any] | None,
                       feedback: dict[str, Any] | None, critique: str | None,
                       preferences: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        c = self.config
        cached = self.store.responses()
        done = {r["id"]: r for r in self.store.candidates()}
        cands: list[dict[str, Any]] = []
        executable = 0
        index = 0
        for rnd in range(c.max_regenerations + 1):
            need = c.samples - executable
            if need <= 0:
                break
            self.store.write_json(f"messages/it{it}-r{rnd}.json", messages)
            reuse = [cached[(it, rnd, i)] for i in range(need) if (it, rnd, i) in cached]
            if len(reuse) == need:
                proposals = [Proposal(r["text"], r["origin"], r.get("meta", {})) for r in reuse]
                self._say(f"  round {rnd}: reusing {need} recorded answer(s)")
            else:
                request = ProposalRequest(it, rnd, need, messages, c.mode, best, feedback, critique, preferences)
                try:
                    proposals = self.proposer.propose(request)
                except BackendRequestError:
                    raise  # misconfiguration (wrong key, model, URL): stop the run
                except Exception as exc:  # the backend gave up: record and stop sampling this iteration
                    self._say(f"  round {rnd}: the proposer failed: {type(exc).__name__}: {exc}")
                    self.store.append("events.jsonl", {"iteration": it, "round": rnd, "event": "proposer_error",
                                                       "error": f"{type(exc).__name__}: {exc}", "time": time.time()})
                    break
                for i, p in enumerate(proposals):
                    self.store.append("responses.jsonl", {"iteration": it, "round": rnd, "index": i, "origin": p.origin,
                                                          "text": p.text, "meta": p.meta, "time": time.time()})
            if not proposals:
                break
            fresh = []
            for i, p in enumerate(proposals):
                cand = {"id": f"i{it}-c{index:02d}", "iteration": it, "round": rnd, "index": i, "origin": p.origin,
                        "status": None, "time": time.time()}
                index += 1
                for key in ("genes", "params_weights", "mutations", "parent", "model", "finish_reason", "usage"):
                    if key in p.meta:
                        cand[key] = p.meta[key]
                self._prepare(cand, p.text)
                cand["text"] = p.text
                self._save_candidate_files(cand, p.text)
                prev = done.get(cand["id"])
                if prev and prev.get("program_sha256") == cand.get("program_sha256") and prev.get("status") in ("ok", "failed"):
                    prev["text"], prev["program"] = p.text, cand.get("program")
                    cands.append(prev)
                    executable += prev.get("status") == "ok"
                    continue
                if cand["status"] == "failed":
                    self._say(f"  {cand['id']}: {cand['stage']} failed ({cand['failure']['kind']}: {cand['failure']['message'][:120]})")
                    self._record(cand)
                cands.append(cand)
                fresh.append(cand)
            self._probe(fresh)
            executable += sum(1 for x in fresh if x.get("status") == "probed")
        if self.heldout is not None:
            self._check_before([x for x in cands if x.get("status") == "probed"])
        self._train([x for x in cands if x.get("status") == "probed"])
        return cands

    # -- the reward-hacking check ------------------------------------------------------------

    @property
    def _record_rollouts(self) -> bool:
        return self.config.feedback == "preferences" or self.config.hacking_check

    def _check_before(self, cands: list[dict[str, Any]]) -> None:
        """Score each probed program on the held-out reference pairs, before any training."""
        reference = self.heldout.reference()
        sandbox = Sandbox(self.config.sandbox)
        for cand in cands:
            score = self.heldout.score_program(cand["program"], self.info_view, sandbox, [reference])[0]
            cand.setdefault("hacking", {})["before"] = score
            if score.get("error"):
                self._say(f"  {cand['id']}: hacking check before training unavailable ({score['error'][:120]})")

    def _check_after(self, cand: dict[str, Any], rollouts: bytes) -> None:
        """Score a trained candidate's program on its own rollouts labelled by the held-out teacher; flag it."""
        own = self.heldout.own(cand["id"], load_rollouts(rollouts))
        score = self.heldout.score_program(cand["program"], self.info_view, Sandbox(self.config.sandbox), [own])[0]
        hacking = cand.setdefault("hacking", {})
        hacking["after"] = score
        flagged = [phase for phase in ("before", "after") if (hacking.get(phase) or {}).get("flagged")]
        hacking["flagged"] = bool(flagged)
        if flagged:
            shown = " and ".join(f"{(hacking[p]['agreement'] or 0):.0%} {p} training" for p in flagged)
            line = (f"WARNING {cand['id']} (fitness {cand['fitness']:.4g}) agrees with the held-out preferences on only "
                    f"{shown} (< {self.config.hacking_min_agreement:.0%}): possible reward hacking")
            hacking["warning"] = line
            self._say("  " + line)

    def _scalar(self, tag: str, value: Any, step: int) -> None:
        """A TensorBoard scalar in the run folder (the writer is made on first use)."""
        if value is None or not np.isfinite(float(value)):
            return
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=self.store.path)
        self._tb.add_scalar(tag, float(value), int(step))

    def _log_iteration(self, it: int, cands: list[dict[str, Any]], it_best: dict[str, Any] | None,
                       tournament: Any) -> list[str]:
        """TensorBoard tags of an iteration; returns the ids of its flagged candidates."""
        flagged = []
        for cand in cands:
            if cand.get("status") == "ok":
                self._scalar(f"fitness/{cand['id']}", cand["fitness"], it)
            hacking = cand.get("hacking") or {}
            for phase in ("before", "after"):
                score = hacking.get(phase) or {}
                self._scalar(f"hacking/agreement_{phase}/{cand['id']}", score.get("agreement"), it)
                self._scalar(f"hacking/rank_correlation_{phase}/{cand['id']}", score.get("rank_correlation"), it)
            if hacking.get("flagged"):
                flagged.append(cand["id"])
        if it_best is not None:
            self._scalar("synthesis/best_fitness", it_best["fitness"], it)
            after = ((it_best.get("hacking") or {}).get("after") or {}).get("agreement")
            self._scalar("hacking/best_fitness_agreement_after", after, it)
        if self.heldout is not None:
            self._scalar("hacking/flagged", len(flagged), it)
        if tournament is not None and tournament.preferred:
            self._scalar("icpl/preferred_win_rate", tournament.win_rate.get(tournament.preferred), it)
            pref = next((x for x in cands if x["id"] == tournament.preferred), None)
            if pref is not None:
                self._scalar("icpl/preferred_fitness", pref.get("fitness"), it)
        if self._tb is not None:
            self._tb.flush()
        return flagged

    # -- ICPL ---------------------------------------------------------------------------------

    def _make_teacher(self, name: str, options: dict[str, Any], store: Any) -> Any:
        """A teacher by name; the human teacher asks on the run's preference store, the LLM teacher defaults
        to the synthesis backend's server and model."""
        from pbrl.teachers import make_teacher

        c = self.config
        opts = dict(options)
        if name == "human":
            opts["store"] = store
            if opts.pop("serve", False) in (True, "true", "1", 1):
                from pbrl.web import LabelServer

                port = int(opts.pop("port", 0))
                opts["serve"] = lambda st: LabelServer(st, port=port).start()
            opts.setdefault("announce", True)
        if name == "llm" and not opts.get("model") and not opts.get("backend"):
            opts.update(model=c.model, base_url=c.base_url, api_key_env=c.api_key_env)
        return make_teacher(name, card=self.card, seed=c.seed, **opts)

    def _tournament(self, it: int, trained: list[dict[str, Any]], incumbent: dict[str, Any] | None) -> Any:
        """Ask the teacher to compare the trained candidates' rollouts (and the incumbent's); record it all."""
        rollouts, fitness = {}, {}
        for cand in trained + ([incumbent] if incumbent and incumbent["id"] not in {x["id"] for x in trained} else []):
            path = os.path.join(self.store.path, "candidates", cand["id"], "rollouts.npz")
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    rollouts[cand["id"]] = load_rollouts(f.read())
                fitness[cand["id"]] = cand.get("fitness")
        if len(rollouts) > 1:
            self._say(f"  asking the {self.teacher.kind} teacher to compare {len(rollouts)} candidates' rollouts "
                      f"({self.config.comparisons} segment pairs per pair)")
        tour = run_tournament(it, rollouts, fitness, self.teacher, self.preferences, comparisons=self.config.comparisons,
                              horizon=self.config.segment_length, seed=self.config.seed)
        self.store.write_json(f"preferences/it{it}.json", tour.to_dict())
        if tour.preferred:
            rate = tour.win_rate.get(tour.preferred)
            self._say(f"  preferred: {tour.preferred}" + (f" (win rate {rate:.0%})" if rate is not None else "")
                      + (f"; rejected: {tour.rejected}" if tour.rejected and tour.rejected != tour.preferred else "")
                      + ("" if tour.decided_by == "preferences" else f" — decided by {tour.decided_by}"))
        return tour

    def _answer_text(self, cand: dict[str, Any]) -> str:
        if cand.get("text"):
            return cand["text"]
        path = os.path.join(self.store.path, "candidates", cand["id"], "response.txt")
        with open(path, encoding="utf-8") as f:
            return f.read()

    def _preference_feedback(self, cands: list[dict[str, Any]], tour: Any, preferred: dict[str, Any]) -> tuple[str, str]:
        """ICPL's next prompt: (the preferred answer, the comparison outcomes + the rejected code + the preferred
        candidate's reflection)."""
        known = {x["id"]: x for x in cands}
        rejected = known.get(tour.rejected) if tour.rejected != tour.preferred else None
        text = self.prompts.preference(
            teacher=f"{self.teacher.kind} teacher", preferred=preferred["id"], outcomes=tour.table(),
            rejected=rejected["id"] if rejected else "", rejected_code=self._answer_text(rejected) if rejected else "",
            segment_length=self.config.segment_length,
        )
        refl = preferred.get("reflection")
        if refl:
            r = _reflection_from(refl)
            text += "\n" + self.prompts.reflection(r.stats_text(), self.metric, preferred.get("fitness"), r.points, r.observations)
        return self._answer_text(preferred), text

    # -- feedback -------------------------------------------------------------------------

    def _feedback(self, cands: list[dict[str, Any]], critique: str | None) -> tuple[str, str, dict[str, Any] | None]:
        """(assistant text, feedback text, reflection dict) for the next iteration."""
        trained = [x for x in cands if x.get("status") == "ok"]
        if trained:
            best = max(trained, key=lambda x: x["fitness"])
            refl = best["reflection"]
            r = _reflection_from(refl)
            text = self.prompts.reflection(r.stats_text(), self.metric, best["fitness"], r.points, r.observations)
            failed = [x["failure"] for x in cands if x.get("failure")]
            seen: set[tuple[str, str]] = set()
            notes = []
            for f in failed:  # one line per distinct error, at most five
                key = (f["kind"], f["message"][:200])
                if key not in seen and len(notes) < 5:
                    seen.add(key)
                    notes.append(key)
            text += self.prompts.failure_note(notes)
            answer = best["text"]
        else:
            order = {"probe": 0, "train": 1, "evaluation": 2, "static_check": 3, "params": 3, "extraction": 4}
            failed = sorted([x for x in cands if x.get("failure")], key=lambda x: order.get(x.get("stage"), 5))
            if not failed:
                return "", "", None
            worst = failed[0]
            f = worst["failure"]
            text = self.prompts.failure(f["kind"], f["message"], f.get("detail", ""))
            answer = worst["text"]
            refl = None
        if critique:
            text += self.prompts.critique(critique)
        return answer, text, refl

    # -- the run --------------------------------------------------------------------------

    def _write_config(self) -> None:
        import pbrl

        existing = self.store.read_json("config.json")
        history = (existing or {}).get("invocations", [])
        history.append({"time": time.time(), "config": self.config.to_dict()})
        self.store.write_json("config.json", {
            "format": FORMAT,
            "config": existing["config"] if existing else self.config.to_dict(),
            "invocations": history,
            "proposer": self.proposer.describe(),
            "executor": self.executor.describe(),
            "hyperparams": self.hyperparams,
            "metric": asdict(self.metric),
            "prompt_version": self.prompts.version,
            "label": self.config.label,
            "pbrl": pbrl.__version__,
            "python": platform.python_version(),
        })

    def run(self) -> SynthesisResult:
        """Run the remaining iterations and the final retraining; returns the outcome."""
        c = self.config
        if self.executor is None:
            self.executor = make_executor(c.executor, c.max_workers, **({"address": c.ray_address} if c.executor == "ray" else {}))
        try:
            self._open_feedback()
            return self._run()
        finally:
            if self._own_executor and self.executor is not None:
                self.executor.close()
            self._close_feedback()

    def _open_feedback(self) -> None:
        """ICPL's preference store and teacher, and the hacking check's held-out teacher and store."""
        from pbrl.preferences.store import PreferenceStore
        from pbrl.teachers import make_teacher

        from .heldout import HeldOutCheck

        c = self.config
        if c.feedback == "preferences":
            self.preferences = PreferenceStore(self.store.file("preferences.sqlite"))
            self.preferences.set_info("task", c.task)
            self.teacher = self._make_teacher(c.teacher, c.teacher_options, self.preferences)
        if c.hacking_check:
            held_teacher = make_teacher(c.hacking_teacher, card=self.card, seed=c.seed + 101)
            self.heldout = HeldOutCheck(
                self.store.file("heldout.sqlite"), c.task, self.card, held_teacher, pairs=c.hacking_pairs,
                horizon=c.segment_length or 50, min_agreement=c.hacking_min_agreement, seed=c.seed,
                env_kwargs=dict(c.env_kwargs), reference_store=c.hacking_store,
            )

    def _close_feedback(self) -> None:
        for thing in (self.teacher, self.preferences, self.heldout, self._tb):
            close = getattr(thing, "close", None)
            if close is not None:
                close()

    def _run(self) -> SynthesisResult:
        c = self.config
        state = self.store.read_json("state.json") or {}
        start = int(state.get("completed_iterations", 0))
        messages = state.get("messages") or self.prompts.initial_messages()
        best = state.get("best")
        feedback = state.get("feedback")
        iterations = list(state.get("iterations", []))
        if state.get("proposer_state"):
            self.proposer.load_state(state["proposer_state"])
        self._write_config()
        if c.label:
            self._say(f"NOTE: {c.label}")
        self._say(f"synthesis run {self.store.path}")
        self._say(f"  task {c.task}, {c.mode} mode, proposer {self.proposer.origin}, K={c.samples}, I={c.iterations}, "
                  f"{c.steps} PPO steps per candidate, fitness = {self.metric.name} ({self.metric.description})")
        critique = c.critique
        preferences = state.get("preferences")
        hacking = dict(state.get("hacking", {}))
        warnings = list(state.get("warnings", []))
        if c.feedback == "preferences":
            self._say(f"  feedback: preferences (ICPL) from the {c.teacher} teacher over the candidates' rollouts")
        if self.heldout is not None:
            self._say(f"  reward-hacking check: {c.hacking_pairs} held-out pairs labelled by the {c.hacking_teacher} teacher, "
                      f"flag below {c.hacking_min_agreement:.0%} agreement")
        for it in range(start, c.iterations):
            self._say(f"iteration {it}")
            if critique:
                # A person's critique joins the last user message of the next round.
                self.store.write_text(f"critique/it{it}.txt", critique)
                messages = messages[:-1] + [{"role": "user", "content": messages[-1]["content"] + self.prompts.critique(critique)}]
            cands = self._run_iteration(it, messages, best, feedback, critique, preferences)
            critique_used, critique = critique, None
            trained = [x for x in cands if x.get("status") == "ok"]
            it_best = max(trained, key=lambda x: x["fitness"]) if trained else None
            tour = None
            if c.feedback == "preferences" and trained:
                # ICPL: the preferred candidate (of this iteration's and the incumbent) is the base of the next one.
                tour = self._tournament(it, trained, best)
                pool = {x["id"]: x for x in trained}
                if best is not None:
                    pool.setdefault(best["id"], best)
                preferred = pool[tour.preferred]
                best = {k: v for k, v in preferred.items() if k not in ("text",)}
                answer, text = self._preference_feedback(list(pool.values()), tour, preferred)
                refl = preferred.get("reflection")
                preferences = {k: tour.to_dict()[k] for k in ("iteration", "preferred", "rejected", "win_rate", "decided_by")}
                self.store.write_json(f"preferences/it{it}-proposer.json", {
                    "best": best["id"], "preferences": preferences, "feedback_text": text,
                    "note": "what the proposer is given for the next iteration: the preferred candidate as its base "
                            "(ProposalRequest.best), the outcomes (ProposalRequest.preferences) and this text (LLM prompt)",
                })
            else:
                if it_best and (best is None or it_best["fitness"] > best["fitness"]):
                    best = {k: v for k, v in it_best.items() if k not in ("text",)}
                answer, text, refl = self._feedback(cands, None)
            if text:
                self.store.write_text(f"reflection/it{it}.txt", text)
                messages = self.prompts.next_messages(answer, text)
            feedback = refl
            flagged = self._log_iteration(it, cands, it_best, tour)
            for x in cands:
                if x.get("hacking"):
                    hacking[x["id"]] = {"fitness": x.get("fitness"), **x["hacking"]}
                    if x["hacking"].get("warning"):
                        warnings.append(x["hacking"]["warning"])
            iterations.append({
                "iteration": it,
                "candidates": len(cands),
                "trained": len(trained),
                "failures": {k: sum(1 for x in cands if (x.get("failure") or {}).get("kind") == k)
                             for k in sorted({(x.get("failure") or {}).get("kind") for x in cands} - {None})},
                "best": it_best["id"] if it_best else None,
                "best_fitness": it_best["fitness"] if it_best else None,
                "critique": bool(critique_used),
                "preferred": tour.preferred if tour else None,
                "rejected": tour.rejected if tour else None,
                "win_rate": tour.win_rate if tour else None,
                "flagged": flagged,
            })
            self.store.write_json("state.json", {
                "completed_iterations": it + 1, "messages": messages, "best": best, "feedback": feedback,
                "iterations": iterations, "proposer_state": self.proposer.state(), "time": time.time(),
                "preferences": preferences, "hacking": hacking, "warnings": warnings,
            })
            self._say(f"  iteration {it}: {len(trained)}/{len(cands)} trained; best so far "
                      + (f"{best['id']} fitness {best['fitness']:.4g}" if best else "none"))
        final = self.store.read_json("final.json")
        if c.final_seeds > 0 and best is not None and (final is None or final.get("best") != best["id"]):
            final = self._final(best)
        result = SynthesisResult(self.store.path, best, iterations, final, self.ledger.totals(), c.label, hacking, warnings)
        self.store.write_json("summary.json", {
            "label": c.label, "task": c.task, "proposer": self.proposer.origin, "mode": c.mode, "feedback": c.feedback,
            "teacher": c.teacher if c.feedback == "preferences" else None,
            "best": None if best is None else {k: best.get(k) for k in ("id", "fitness", "fitness_detail", "correlation", "program_sha256")},
            "iterations": iterations, "final": final, "tokens": result.tokens,
            "hacking": hacking, "warnings": warnings,
        })
        return result

    def _final(self, best: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        steps = c.final_steps or c.steps
        seeds = [c.seed + 1000 + i for i in range(c.final_seeds)]
        program = best.get("program")
        if program is None:
            path = os.path.join(self.store.path, "candidates", best["id"], "program.py")
            with open(path, encoding="utf-8") as f:
                program = f.read()
        self._say(f"final: retraining {best['id']} and the task's own reward with seeds {seeds}, {steps} steps each ...{self._estimate(steps)}")
        job_list = []
        for kind, prog in (("synthesized", program), ("task_reward", None)):
            for s in seeds:
                job_list.append(jobs.TrainJob(f"final-{kind}-s{s}", c.task, prog, self.info_view, seed=s, steps=steps,
                                              hyperparams=self.hyperparams, eval_episodes=c.eval_episodes,
                                              sandbox=self._sandbox_dict(), env_kwargs=dict(c.env_kwargs)))
        results = self._train_jobs(job_list)
        out: dict[str, Any] = {"best": best["id"], "seeds": seeds, "steps": steps, "metric": self.metric.name, "runs": {}}
        for job, res in zip(job_list, results):
            base = f"final/{job.candidate}"
            if res.weights:
                self.store.write_bytes(f"{base}/weights.npz", res.weights)
            self.store.write_json(f"{base}/result.json", res.summary())
            out["runs"][job.candidate] = {"ok": res.ok, "fitness": (res.fitness or {}).get("fitness"),
                                          "return_mean": (res.fitness or {}).get("return_mean"),
                                          "failure": res.failure, "correlation": (res.result or {}).get("correlation")}
        for kind in ("synthesized", "task_reward"):
            vals = [r["fitness"] for k, r in out["runs"].items() if k.startswith(f"final-{kind}-") and r["fitness"] is not None]
            rets = [r["return_mean"] for k, r in out["runs"].items() if k.startswith(f"final-{kind}-") and r["return_mean"] is not None]
            out[kind] = {
                "fitness_mean": float(np.mean(vals)) if vals else None, "fitness_std": float(np.std(vals)) if vals else None,
                "return_mean": float(np.mean(rets)) if rets else None, "seeds_ok": len(vals),
            }
            if vals:
                self._say(f"  {kind}: fitness {np.mean(vals):.4g} ± {np.std(vals):.3g} over {len(vals)} seeds; true return {np.mean(rets):.1f}")
        self.store.write_json("final.json", out)
        return out
