"""``pbrl synthesize``: search for a reward program with an LLM (or the offline proposer)."""

from __future__ import annotations

import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .common import err, fail


def synthesize(
    env: Optional[str] = typer.Option(None, "--env", help="Task id, e.g. pbrl/Ant-v5 (see `pbrl envs`)."),
    backend: str = typer.Option("offline", "--backend", help="openai (any OpenAI-compatible server) or offline (a search procedure, no LLM)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model name (openai backend)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL, e.g. http://localhost:8000/v1 (vLLM, llama.cpp, Ollama, LM Studio)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key."),
    samples: int = typer.Option(4, "--samples", help="K: candidates per iteration."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="I: iterations [default: 3] (with --resume: the new total)."),
    steps: int = typer.Option(50_000, "--steps", help="PPO env steps per candidate."),
    mode: str = typer.Option("code", "--mode", help="code (free reward code) or params (JSON weights of the task card's terms)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local (process pool, the default) or ray (pip install 'pbrl[ray]')."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel candidates of the local executor (default: the cores)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: a local Ray instance)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the synthesis run in this folder."),
    critique: Optional[str] = typer.Option(None, "--critique", help="A text file with your critique, added to the next round."),
    final_seeds: int = typer.Option(3, "--final-seeds", help="Seeds of the final retraining of the best program (0: skip)."),
    final_steps: Optional[int] = typer.Option(None, "--final-steps", help="PPO steps of the final retraining (default: --steps)."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", help="Episodes of each trusted evaluation."),
    regenerations: int = typer.Option(2, "--regenerations", help="Extra sampling rounds that replace non-executable samples."),
    few_shot: int = typer.Option(0, "--few-shot", help="Example programs of other tasks in the prompt (code mode)."),
    prompts: Optional[str] = typer.Option(None, "--prompts", help="A folder of prompt templates overriding pbrl's."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Completion length cap."),
    timeout: float = typer.Option(120.0, "--request-timeout", help="Seconds per LLM request."),
    retries: int = typer.Option(4, "--retries", help="More attempts after a 429, 5xx, timeout or malformed answer."),
    price_in: Optional[float] = typer.Option(None, "--price-in", help="USD per million prompt tokens (for the cost in the ledger)."),
    price_out: Optional[float] = typer.Option(None, "--price-out", help="USD per million completion tokens."),
    hp: Optional[List[str]] = typer.Option(None, "--hp", help="PPO hyperparameter override key=value (repeatable)."),
    train_timeout: Optional[float] = typer.Option(None, "--train-timeout", help="Wall-clock seconds per training worker (default: 120 + steps/250)."),
    memory_mb: int = typer.Option(1024, "--memory-mb", help="Memory a candidate may add to its worker (MB)."),
    isolation: str = typer.Option("auto", "--isolation", help="auto, require (refuse without namespaces) or off."),
    seed: int = typer.Option(0, "--seed", help="Seed of training and of the offline proposer."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Root folder of the runs."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: the start time)."),
    label: Optional[str] = typer.Option(None, "--label", help="A note saved and printed with every result."),
) -> None:
    """Eureka-style reward synthesis: propose reward programs, train PPO on each in a sandbox, reflect, repeat.

    Every prompt, answer, program, failure, fitness and token count is saved in the run folder.
    """
    from pbrl.agents.online.hyperparams import HyperparameterError, parse_overrides
    from pbrl.runs.folder import RunExistsError
    from pbrl.synthesis.errors import BackendError, SandboxUnavailable
    from pbrl.synthesis.loop import SynthesisConfig, Synthesizer
    from pbrl.synthesis.sandbox import SandboxConfig

    critique_text = None
    if critique is not None:
        if not os.path.isfile(critique):
            fail(f"--critique {critique}: no such file")
        with open(critique, encoding="utf-8") as f:
            critique_text = f.read().strip() or None
    try:
        overrides = parse_overrides(hp or [])
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
                samples=samples, iterations=iterations or 3, steps=steps, final_seeds=final_seeds, final_steps=final_steps,
                eval_episodes=eval_episodes, max_regenerations=regenerations, seed=seed, executor=executor or "local",
                max_workers=workers, ray_address=ray_address, temperature=temperature, max_tokens=max_tokens,
                request_timeout=timeout, max_retries=retries, price_input=price_in, price_output=price_out,
                few_shot=few_shot, prompts_dir=prompts, critique=critique_text, hyperparams=overrides,
                sandbox=SandboxConfig(train_timeout=train_timeout, memory_mb=memory_mb, isolation=isolation),
                runs_dir=runs_dir, name=name, label=label,
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
    table = Table(title="reward synthesis: best candidate per iteration")
    for col in ("iteration", "candidates", "trained", "failures", "best", "fitness"):
        table.add_column(col)
    for it in result.iterations:
        fails = ", ".join(f"{k}×{v}" for k, v in it["failures"].items()) or "-"
        fit = "-" if it["best_fitness"] is None else f"{it['best_fitness']:.4g}"
        table.add_row(str(it["iteration"]), str(it["candidates"]), str(it["trained"]), fails, str(it["best"] or "-"), fit)
    out.print(table)
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
