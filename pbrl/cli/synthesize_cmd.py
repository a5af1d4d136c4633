"""``pbrl synthesize``: search for a reward program with an LLM (or the offline proposer)."""

from __future__ import annotations

import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from pbrl.synthesis.loop import SynthesisConfig
from pbrl.synthesis.sandbox import SandboxConfig

from .common import declared, err, fail


def synthesize(
    env: Optional[str] = declared(SynthesisConfig, "task", "--env", default=None),
    backend: str = declared(SynthesisConfig, "backend"),
    model: Optional[str] = declared(SynthesisConfig, "model"),
    base_url: Optional[str] = declared(SynthesisConfig, "base_url", more="E.g. vLLM, llama.cpp, Ollama, LM Studio."),
    api_key_env: str = declared(SynthesisConfig, "api_key_env"),
    samples: int = declared(SynthesisConfig, "samples"),
    iterations: Optional[int] = declared(SynthesisConfig, "iterations", default=None, more=f"[default: {SynthesisConfig.default_of('iterations')}] (with --resume: the new total)"),
    steps: int = declared(SynthesisConfig, "steps"),
    mode: str = declared(SynthesisConfig, "mode"),
    executor: Optional[str] = declared(SynthesisConfig, "executor", default=None, more="[default: local]"),
    workers: Optional[int] = declared(SynthesisConfig, "max_workers", "--workers"),
    ray_address: Optional[str] = declared(SynthesisConfig, "ray_address"),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the synthesis run in this folder."),
    critique: Optional[str] = typer.Option(None, "--critique", help="A text file with your critique, added to the next round."),
    final_seeds: int = declared(SynthesisConfig, "final_seeds"),
    final_steps: Optional[int] = declared(SynthesisConfig, "final_steps"),
    eval_episodes: int = declared(SynthesisConfig, "eval_episodes"),
    regenerations: int = declared(SynthesisConfig, "max_regenerations", "--regenerations"),
    few_shot: int = declared(SynthesisConfig, "few_shot"),
    prompts: Optional[str] = declared(SynthesisConfig, "prompts_dir", "--prompts"),
    temperature: float = declared(SynthesisConfig, "temperature"),
    max_tokens: Optional[int] = declared(SynthesisConfig, "max_tokens"),
    timeout: float = declared(SynthesisConfig, "request_timeout"),
    retries: int = declared(SynthesisConfig, "max_retries", "--retries"),
    price_in: Optional[float] = declared(SynthesisConfig, "price_input", "--price-in"),
    price_out: Optional[float] = declared(SynthesisConfig, "price_output", "--price-out"),
    hp: Optional[List[str]] = declared(SynthesisConfig, "hyperparams", "--hp", more="Given as key=value, repeatable."),
    train_timeout: Optional[float] = declared(SandboxConfig, "train_timeout"),
    memory_mb: int = declared(SandboxConfig, "memory_mb"),
    isolation: str = declared(SandboxConfig, "isolation"),
    seed: int = declared(SynthesisConfig, "seed"),
    runs_dir: str = declared(SynthesisConfig, "runs_dir"),
    name: Optional[str] = declared(SynthesisConfig, "name"),
    label: Optional[str] = declared(SynthesisConfig, "label"),
    feedback: str = declared(SynthesisConfig, "feedback"),
    teacher: str = declared(SynthesisConfig, "teacher"),
    teacher_opt: Optional[List[str]] = declared(SynthesisConfig, "teacher_options", "--teacher-opt", more="Given as key=value, repeatable."),
    comparisons: int = declared(SynthesisConfig, "comparisons"),
    segment_length: int = declared(SynthesisConfig, "segment_length"),
    hacking_check: bool = declared(SynthesisConfig, "hacking_check", "--hacking-check/--no-hacking-check"),
    hacking_teacher: str = declared(SynthesisConfig, "hacking_teacher"),
    hacking_pairs: int = declared(SynthesisConfig, "hacking_pairs"),
    hacking_min_agreement: float = declared(SynthesisConfig, "hacking_min_agreement"),
    hacking_store: Optional[str] = declared(SynthesisConfig, "hacking_store"),
) -> None:
    """Eureka-style reward synthesis: propose reward programs, train PPO on each in a sandbox, reflect, repeat.

    Every prompt, answer, program, failure, fitness and token count is saved in the run folder.
    """
    from pbrl.agents.online.hyperparams import HyperparameterError, parse_overrides
    from pbrl.runs.folder import RunExistsError
    from pbrl.synthesis.errors import BackendError, SandboxUnavailable
    from pbrl.synthesis.loop import Synthesizer

    critique_text = None
    if critique is not None:
        if not os.path.isfile(critique):
            fail(f"--critique {critique}: no such file")
        with open(critique, encoding="utf-8") as f:
            critique_text = f.read().strip() or None
    try:
        overrides = parse_overrides(hp or [])
        teacher_options = parse_overrides(teacher_opt or [])
    except HyperparameterError as exc:
        fail(str(exc))
    try:
        if resume is not None:
            given = [f for f, v in (("--env", env), ("--name", name), ("--hp", hp)) if v]
            if given:
                fail(f"--resume continues a run with its saved settings; drop {', '.join(given)}")
            synth = Synthesizer.resume(resume, {"iterations": iterations, "critique": critique_text, "executor": executor,
                                                "max_workers": workers, "ray_address": ray_address})
        else:
            if not env:
                fail("--env is required (e.g. --env pbrl/Ant-v5; see `pbrl envs`)")
            config = SynthesisConfig(
                task=env, backend=backend, model=model, base_url=base_url, api_key_env=api_key_env, mode=mode,
                samples=samples, iterations=iterations or SynthesisConfig.default_of("iterations"), steps=steps, final_seeds=final_seeds, final_steps=final_steps,
                eval_episodes=eval_episodes, max_regenerations=regenerations, seed=seed, executor=executor or "local",
                max_workers=workers, ray_address=ray_address, temperature=temperature, max_tokens=max_tokens,
                request_timeout=timeout, max_retries=retries, price_input=price_in, price_output=price_out,
                few_shot=few_shot, prompts_dir=prompts, critique=critique_text, hyperparams=overrides,
                sandbox=SandboxConfig(train_timeout=train_timeout, memory_mb=memory_mb, isolation=isolation),
                runs_dir=runs_dir, name=name, label=label, feedback=feedback, teacher=teacher,
                teacher_options=teacher_options, comparisons=comparisons, segment_length=segment_length,
                hacking_check=hacking_check, hacking_teacher=hacking_teacher, hacking_pairs=hacking_pairs,
                hacking_min_agreement=hacking_min_agreement, hacking_store=hacking_store,
            )
            synth = Synthesizer(config, log=lambda line: err.print(line, markup=False))
        result = synth.run()
    except (ValueError, HyperparameterError, RunExistsError, SandboxUnavailable, BackendError, ImportError) as exc:
        fail(str(exc))
    _report(result)


def _report(result) -> None:
    out = Console()
    if result.label:
        out.print(f"[bold yellow]NOTE:[/] {result.label}")
    icpl = any(it.get("preferred") for it in result.iterations)
    table = Table(title="reward synthesis: best candidate per iteration")
    cols = ["iteration", "candidates", "trained", "failures", "best", "fitness"] + (["preferred"] if icpl else []) + ["flagged"]
    for col in cols:
        table.add_column(col)
    for it in result.iterations:
        fails = ", ".join(f"{k}×{v}" for k, v in it["failures"].items()) or "-"
        fit = "-" if it["best_fitness"] is None else f"{it['best_fitness']:.4g}"
        row = [str(it["iteration"]), str(it["candidates"]), str(it["trained"]), fails, str(it["best"] or "-"), fit]
        if icpl:
            rate = (it.get("win_rate") or {}).get(it.get("preferred"))
            row.append(f"{it['preferred']} ({rate:.0%})" if it.get("preferred") and rate is not None else str(it.get("preferred") or "-"))
        row.append(", ".join(it.get("flagged") or []) or "-")
        table.add_row(*row)
    out.print(table)
    if result.hacking:
        _hacking_report(out, result)
    final = result.final
    if final:
        for kind, title in (("synthesized", "best synthesized reward"), ("task_reward", "the task's own reward")):
            row = final.get(kind) or {}
            if row.get("fitness_mean") is not None:
                out.print(f"final ({len(final['seeds'])} seeds, {final['steps']} steps) {title}: "
                          f"{final['metric']} {row['fitness_mean']:.4g} ± {row['fitness_std']:.3g}, true return {row['return_mean']:.1f}")
    tokens = result.tokens
    if tokens.get("attempts"):
        cost = "unknown (no --price-in/--price-out)" if tokens["cost_usd"] is None else f"${tokens['cost_usd']:.4f}"
        out.print(f"LLM: {tokens['successful_requests']} requests, {tokens['total_tokens']} tokens, cost {cost}")
    out.print(f"run folder: {result.run_dir}")


def _hacking_report(out: Console, result) -> None:
    """The reward-hacking check: each candidate's agreement with held-out preferences, and the warnings."""

    def pct(score) -> str:
        if not score:
            return "-"
        if score.get("error"):
            return "error"
        return "-" if score.get("agreement") is None else f"{score['agreement']:.0%}"

    def rho(score) -> str:
        return "-" if not score or score.get("rank_correlation") is None else f"{score['rank_correlation']:+.2f}"

    table = Table(title="reward-hacking check: agreement with held-out preference labels")
    for col in ("candidate", "fitness", "agreement before", "agreement after", "rank corr. after", "flagged"):
        table.add_column(col)
    for cid, rec in result.hacking.items():
        fit = "-" if rec.get("fitness") is None else f"{rec['fitness']:.4g}"
        table.add_row(cid, fit, pct(rec.get("before")), pct(rec.get("after")), rho(rec.get("after")),
                      "FLAGGED" if rec.get("flagged") else "-")
    out.print(table)
    for line in result.warnings:
        out.print(f"[bold red]{line}[/]", markup=True, highlight=False)
