"""What every ``pbrl`` command shares: the stderr console, the one way to fail, and the
training commands' progress bar, end-of-run table and evaluation table."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Mapping, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.markup import escape
from rich.text import Text

#: messages and progress go to stderr; soft wrap: a long line stays one line in a log file
err = Console(stderr=True, highlight=False, soft_wrap=True)


def command_group(name: str, help: str, completion: bool = False) -> typer.Typer:
    """A ``pbrl`` command (group) as every one is set up: help when run bare, no rich tracebacks
    (errors go through :func:`fail`); ``completion``: the ``--install-completion`` /
    ``--show-completion`` options (the root command has them)."""
    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=completion, pretty_exceptions_enable=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` (the message as plain text, never markup) and exit with ``code``."""
    err.print(Text.assemble(("error:", "bold red"), " ", str(message)))
    raise typer.Exit(code)


_DECLARED = object()


def declared(settings: type, name: str, *flags: str, default: Any = _DECLARED, more: str = "", **kwargs: Any) -> Any:
    """A command-line option for setting ``name`` of the :class:`pbrl.settings.Settings` class
    ``settings``: its help is the declaration's (then ``more``), its default the declared one
    unless ``default`` is given; ``flags`` default to ``--name-with-dashes``."""
    text = settings.help_of(name)
    text = text if text.endswith(".") else text + "."
    if more:
        text = f"{text} {more}"
    value = settings.default_of(name) if default is _DECLARED else default
    if isinstance(value, dict):
        value = None  # tables are given as repeatable key=value options
    return typer.Option(value, *(flags or ("--" + name.replace("_", "-"),)), help=text, **kwargs)


class TrainingBar:
    """The progress of a training run (stderr): steps done, time left, and the latest metrics
    named in ``shown`` (metric tag -> format, e.g. ``"eval/return": "eval return {:.1f}"``),
    refreshed at most every ``every`` steps. On a terminal a live bar; elsewhere (a log file, a
    pipe) one whole line per tenth of the run, never cut to the console's width."""

    def __init__(self, total: int, shown: Mapping[str, str], every: int = 1, label: str = "training"):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(stderr=True)
        self.lines = not console.is_terminal
        self.progress = Progress(
            TextColumn(f"[bold]{escape(label)}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"), console=console, transient=False, disable=self.lines,
        )  # fmt: skip
        self.total, self.shown, self.every, self.label = total, dict(shown), every, label
        self.task = None
        self._last = -every
        self._next_line, self._start = 0, 0.0

    def status(self, latest: Mapping[str, Any]) -> str:
        return "  ".join(form.format(latest[tag]) for tag, form in self.shown.items() if tag in latest)

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.total, status="")
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def __call__(self, step: int, latest: dict) -> None:
        if step - self._last < self.every and step < self.total:
            return
        self._last = step
        self.progress.update(self.task, completed=min(step, self.total), status=self.status(latest))
        if self.lines and self.total and step >= self._next_line:
            self._line(min(step, self.total), latest)
            self._next_line = (min(step, self.total) * 10 // self.total + 1) * self.total / 10

    def _line(self, step: int, latest: Mapping[str, Any]) -> None:
        elapsed = time.monotonic() - self._start
        left = elapsed * (self.total - step) / step if step else float("nan")
        clock = lambda t: "?" if t != t else f"{int(t) // 3600}:{int(t) % 3600 // 60:02d}:{int(t) % 60:02d}"  # noqa: E731
        text = f"{self.label} {step:,}/{self.total:,} ({100 * step / self.total:.0f}%)  {clock(elapsed)} elapsed, {clock(left)} left"
        status = self.status(latest)
        err.print(f"{text}  {status}" if status else text, markup=False)


def phase_printer(console: Console | None = None, every: float = 2.0, ignore: tuple[str, ...] = ()):
    """A :func:`pbrl.phases.listening` listener that prints a long phase's progress (to ``console``,
    default stderr) as whole lines: its first report, then at most one every ``every`` seconds, and its last;
    the phases in ``ignore`` not at all (e.g. a training run's evaluations, which its bar shows)."""
    last: dict[str, float] = {}

    def show(phase: str, done: int, total: int | None, detail: str) -> None:
        if phase in ignore:
            return
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and phase in last and now - last[phase] < every:
            return
        last[phase] = now
        count = f"{done:,}/{total:,}" if total is not None else f"{done:,}"
        (console or err).print(f"{phase}: {count}" + (f", {detail}" if detail else ""), markup=False)

    return show


def resume_run_folder(
    run_dir: str, steps: int | None, quiet: bool, resume: Callable[..., Any], progress: Callable[[int | None], TrainingBar],
    errors: tuple[type[BaseException], ...], stopped: tuple[type[BaseException], ...] = (),
) -> Any:
    """``pbrl train --resume RUN`` for either family: ``resume(run_dir, steps=, progress=)`` under a
    bar of the total steps (``--steps`` or the saved config's), with the errors turned into messages."""
    from pbrl.runs.folder import load_run_config
    from pbrl.runs.lifecycle import RunFinishedError

    bar = None

    def report(step: int, latest: dict) -> None:  # the bar starts with training, not before the checks
        nonlocal bar
        if bar is None:
            bar = progress(total).__enter__()
        bar(step, latest)

    try:
        saved = load_run_config(run_dir)["config"].get("steps")
        total = steps or (saved if isinstance(saved, int) and not isinstance(saved, bool) else None)
        up_to = f" (up to {total:,} steps)" if total else ""
        err.print(f"resume {run_dir}: loading its config and latest checkpoint{up_to}", markup=False, soft_wrap=True)
        try:
            return resume(run_dir, steps=steps, progress=None if quiet else report)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    except RunFinishedError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(0)
    except stopped as exc:
        fail(f"training stopped: {exc}")
    except (*errors, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print(f"interrupted; continue with: pbrl train --resume {run_dir}")
        raise typer.Exit(130)


def say_plan(what: str, algorithm: str, steps: int | None, path: str, unit: str = "env steps") -> None:
    """The first line of a new run, said before any slow import: what trains, for how long, where, and a rough time
    from recorded speeds where there is one (``pbrl.runs.estimate``)."""
    from pbrl.runs import estimate as E

    seconds = E.training_seconds(algorithm, steps) if steps else None
    guess = f"; {E.PREFIX}{E.duration(seconds)}" if seconds is not None else ""
    err.print(f"{what}{f', {steps:,} {unit}' if steps else ''} -> {path}{guess}", markup=False, soft_wrap=True)


def runs_root_of(run_dir: str) -> str:
    """The runs root of ``<root>/<task>/<agent>/<run>``."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(run_dir))))


def _scores(table: Table, result: Mapping[str, Any]) -> None:
    table.add_row("normalized score", f"{result['normalized_score']:.1f}")
    if result.get("dataset_normalized_score") is not None:
        table.add_row("dataset-normalized score", f"{result['dataset_normalized_score']:.1f}")
    if result.get("success_rate") is not None:
        table.add_row("success rate", f"{result['success_rate']:.2f}")


def report_run(run_dir: str, runs_root: str, steps: tuple[str, int], wall_clock: float, final: dict) -> None:
    """The end-of-run table, online and offline: folder, steps, wall-clock, final evaluation."""
    table = Table(title="run finished", show_header=False)
    table.add_row("run folder", run_dir)
    table.add_row(steps[0], f"{steps[1]:,}")
    table.add_row("wall-clock", f"{wall_clock:.1f} s")
    table.add_row("eval return", f"{final['return_mean']:.1f} ± {final['return_std']:.1f} ({final['episodes']} episodes)")
    _scores(table, final)
    if final.get("feedback") is not None:  # --reward learned (PrefPPO / PEBBLE)
        fb = final["feedback"]
        table.add_row("labels / queries", f"{fb['labels']:,} / {fb['queries']:,} (budget {fb['feedback_budget']:,}, teacher {fb['teacher']})")
        acc = fb.get("reward_model_accuracy")
        table.add_row("reward-model accuracy", "n/a" if acc is None else f"{acc:.3f} (held-out, vs true-reward preferences)")
        hacking = fb.get("hacking") or {}  # the reward-hacking check (agents/preference/README.md)
        shown = [f"{(hacking.get(p) or {})['agreement']:.2f} {p}" for p in ("before", "after") if (hacking.get(p) or {}).get("agreement") is not None]
        if shown:
            table.add_row("reward-hacking check", f"agreement {' / '.join(shown)} training{' (FLAGGED)' if hacking.get('flagged') else ''}")
    Console().print(table)
    typer.echo(f"tensorboard --logdir {runs_root}")
    typer.echo(run_dir)


def print_evaluation(run: str, result: Mapping[str, Any], steps: str, as_json: bool) -> None:
    """``pbrl evaluate``'s answer, online and offline: JSON, or a table (``steps``: the checkpoint's steps, in words)."""
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"evaluation of {run}", show_header=False)
    table.add_row("checkpoint", f"{result['checkpoint']} ({steps})")
    table.add_row("episodes / seed", f"{result['episodes']} / {result['seed']}")
    table.add_row("return", f"{result['return_mean']:.1f} ± {result['return_std']:.1f}")
    _scores(table, result)
    if "video" in result:
        table.add_row("video", result["video"]["path"])
    Console().print(table)
