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
from pbrl.settings import ConfigError, Settings, anything, integer, number, one_of, optional, positive_number, setting, string, table

from . import jobs
from .errors import BackendRequestError, SynthesisFailure
from .extraction import extract_program
from .fitness import task_metric
from .params import compile_params, parse_params
from .prompts import PromptBuilder
from .proposers import LLMProposer, Proposal, ProposalRequest, Proposer
from .reflection import reflect
from .sandbox import SandboxConfig
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

    def __post_init__(self):
        if isinstance(self.sandbox, dict):
            self.sandbox = SandboxConfig(**self.sandbox)
        self.check_fields()
        if self.backend == "openai" and not self.model:
            raise ConfigError("the openai backend needs --model NAME")

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


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
                          sandbox=self._sandbox_dict(), env_kwargs=dict(self.config.env_kwargs))
            for c in todo
        ]
        self._say(f"  training {len(todo)} candidate(s), {self.config.steps} PPO steps each ...{self._estimate(self.config.steps)}")
        for cand, res in zip(todo, self._train_jobs(job_list)):
            base = f"candidates/{cand['id']}"
            if res.log_tail:
                self.store.write_text(f"{base}/worker.log", res.log_tail)
            if res.weights:
                self.store.write_bytes(f"{base}/weights.npz", res.weights)
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
                       feedback: dict[str, Any] | None, critique: str | None) -> list[dict[str, Any]]:
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
                request = ProposalRequest(it, rnd, need, messages, c.mode, best, feedback, critique)
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
        self._train([x for x in cands if x.get("status") == "probed"])
        return cands

    # -- feedback -------------------------------------------------------------------------

    def _feedback(self, cands: list[dict[str, Any]], critique: str | None) -> tuple[str, str, dict[str, Any] | None]:
        """(assistant text, feedback text, reflection dict) for the next iteration."""
        trained = [x for x in cands if x.get("status") == "ok"]
        if trained:
            best = max(trained, key=lambda x: x["fitness"])
            refl = best["reflection"]
            from .reflection import Reflection, TermStats

            r = Reflection(
                {k: TermStats(**v) for k, v in refl["terms"].items()},
                TermStats(**refl["task_score"]) if refl["task_score"] else None,
                TermStats(**refl["episode_length"]) if refl["episode_length"] else None,
                refl["fitness"], refl["points"], refl["observations"],
            )
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
            return self._run()
        finally:
            if self._own_executor and self.executor is not None:
                self.executor.close()

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
        for it in range(start, c.iterations):
            self._say(f"iteration {it}")
            if critique:
                # A person's critique joins the last user message of the next round.
                self.store.write_text(f"critique/it{it}.txt", critique)
                messages = messages[:-1] + [{"role": "user", "content": messages[-1]["content"] + self.prompts.critique(critique)}]
            cands = self._run_iteration(it, messages, best, feedback, critique)
            critique_used, critique = critique, None
            trained = [x for x in cands if x.get("status") == "ok"]
            it_best = max(trained, key=lambda x: x["fitness"]) if trained else None
            if it_best and (best is None or it_best["fitness"] > best["fitness"]):
                best = {k: v for k, v in it_best.items() if k not in ("text",)}
            answer, text, refl = self._feedback(cands, None)
            if text:
                self.store.write_text(f"reflection/it{it}.txt", text)
                messages = self.prompts.next_messages(answer, text)
            feedback = refl
            iterations.append({
                "iteration": it,
                "candidates": len(cands),
                "trained": len(trained),
                "failures": {k: sum(1 for x in cands if (x.get("failure") or {}).get("kind") == k)
                             for k in sorted({(x.get("failure") or {}).get("kind") for x in cands} - {None})},
                "best": it_best["id"] if it_best else None,
                "best_fitness": it_best["fitness"] if it_best else None,
                "critique": bool(critique_used),
            })
            self.store.write_json("state.json", {
                "completed_iterations": it + 1, "messages": messages, "best": best, "feedback": feedback,
                "iterations": iterations, "proposer_state": self.proposer.state(), "time": time.time(),
            })
            self._say(f"  iteration {it}: {len(trained)}/{len(cands)} trained; best so far "
                      + (f"{best['id']} fitness {best['fitness']:.4g}" if best else "none"))
        final = self.store.read_json("final.json")
        if c.final_seeds > 0 and best is not None and (final is None or final.get("best") != best["id"]):
            final = self._final(best)
        result = SynthesisResult(self.store.path, best, iterations, final, self.ledger.totals(), c.label)
        self.store.write_json("summary.json", {
            "label": c.label, "task": c.task, "proposer": self.proposer.origin, "mode": c.mode,
            "best": None if best is None else {k: best.get(k) for k in ("id", "fitness", "fitness_detail", "correlation", "program_sha256")},
            "iterations": iterations, "final": final, "tokens": result.tokens,
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
