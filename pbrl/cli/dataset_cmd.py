"""``pbrl dataset generate|list|show|import|corrupt|label``: offline datasets.

Datasets live where Minari keeps them (``$MINARI_DATASETS_PATH`` or
``~/.minari/datasets``); every command names the dataset by its Minari id.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from typing import Any, Iterator, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from pbrl import phases
from pbrl.runs.generate import GenerationConfig

from .common import command_group, declared, err, fail, phase_printer

app = command_group("dataset", "Offline datasets: D4RL-style levels in Minari's format, D4RL imports, corruption, preference labels.")
out = Console(width=160, highlight=False)


def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["pbrl"] + sys.argv[1:]) if sys.argv else "pbrl dataset"


def _pairs(items: Optional[List[str]], what: str) -> dict[str, Any]:
    from pbrl.agents.online.hyperparams import parse_value

    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{what} {item!r} must look like key=value")
        values[key.strip()] = parse_value(value.strip())
    return values


def _errors():
    from pbrl.datasets.errors import DatasetError

    return (DatasetError, ValueError, KeyError, FileNotFoundError)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks run (temporary folders go)."""


@contextlib.contextmanager
def _exit_cleanly_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` for the block (Ctrl-C is KeyboardInterrupt already)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up short
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command("generate")
def generate(
    env: str = declared(GenerationConfig, "task", "--env", default=...),
    level: List[str] = declared(GenerationConfig, "levels", "--level", default=["medium"], more="Repeat for several."),
    size: int = declared(GenerationConfig, "size"),
    seed: int = declared(GenerationConfig, "seed"),
    algo: str = declared(GenerationConfig, "algorithm", "--algo"),
    train_steps: Optional[int] = declared(GenerationConfig, "train_steps"),
    eval_every: Optional[int] = declared(GenerationConfig, "eval_every"),
    eval_episodes: int = declared(GenerationConfig, "eval_episodes"),
    medium_fraction: float = declared(GenerationConfig, "medium_fraction"),
    medium_tolerance: float = declared(GenerationConfig, "medium_tolerance"),
    min_expert_gain: float = declared(GenerationConfig, "min_expert_gain"),
    replay_size: Optional[int] = declared(GenerationConfig, "replay_size"),
    allow_weak: bool = declared(GenerationConfig, "allow_weak"),
    expert: str = declared(GenerationConfig, "expert"),
    expert_noise: float = declared(GenerationConfig, "expert_noise"),
    ref_episodes: int = declared(GenerationConfig, "ref_episodes"),
    num_envs: int = declared(GenerationConfig, "num_envs"),
    hp: Optional[List[str]] = declared(GenerationConfig, "hyperparams", "--hp", more="Given as key=value, repeatable."),
    dataset_id: Optional[str] = typer.Option(None, "--id", help="Dataset id (one level only; default pbrl/<task>/<level>-v<version>)."),
    version: int = declared(GenerationConfig, "version"),
    force: bool = declared(GenerationConfig, "force"),
    retrain: bool = typer.Option(False, "--retrain", help="Train anew even if an earlier run with the same settings kept its policies."),
) -> None:
    """Train a policy once and write D4RL-style levels as Minari datasets.

    random is the initial policy, expert the best checkpoint, medium the checkpoint
    closest to --medium-fraction of the way from random to expert. Nothing is written
    when medium is not within --medium-tolerance, the expert is not clearly better than
    random (--min-expert-gain) or a level would be shorter than asked (--size,
    --replay-size), unless --allow-weak. --level random alone trains nothing (the initial
    policy; reference scores from the task card). Prints a rough time estimate first.
    """
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.runs.generate import LEVELS
    from pbrl.runs.generate import generate as run

    levels = list(LEVELS) if "all" in level else level
    if dataset_id is not None and len(levels) != 1:
        fail("--id names one dataset: give exactly one --level with it")
    try:
        cfg = GenerationConfig(
            task=env,
            levels=levels,
            size=size,
            seed=seed,
            algorithm=algo,
            train_steps=train_steps,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            medium_fraction=medium_fraction,
            medium_tolerance=medium_tolerance,
            min_expert_gain=min_expert_gain,
            replay_size=replay_size,
            allow_weak=allow_weak,
            expert=expert,
            expert_noise=expert_noise,
            ref_episodes=ref_episodes,
            num_envs=num_envs,
            hyperparams=_pairs(hp, "--hp"),
            version=version,
            dataset_ids={levels[0]: dataset_id} if dataset_id else {},
            force=force,
            command=_command(),
            reuse_policies=not retrain,
        )
        with _exit_cleanly_on_sigterm():
            written = run(cfg, log=lambda text: err.print(text, markup=False))
    except (HyperparameterError, *_errors()) as exc:
        fail(str(exc))
    except (_Terminated, KeyboardInterrupt) as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, _Terminated) else "interrupted"
        err.print(f"{how}: datasets finished before are kept, the one being written is not; temporary files removed")
        raise typer.Exit(143 if isinstance(exc, _Terminated) else 130) from None
    for lv, dsid in written.items():
        out.print(f"{lv}: {dsid}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List local datasets (pbrl's and any other Minari dataset)."""
    from pbrl.datasets.storage import datasets_root
    from pbrl.datasets.summary import summaries

    rows = summaries()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        out.print(f"no datasets under {datasets_root()} (MINARI_DATASETS_PATH); make one with `pbrl dataset generate`")
        return
    table = Table(title=f"datasets in {datasets_root()}")
    for col in ("id", "task", "level", "episodes", "steps", "ref min", "ref max", "MB", "levels"):
        table.add_column(col)
    fmt = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))  # noqa: E731
    checked = {True: "[bold yellow]weak[/]", False: "checked", None: "-"}
    for dsid, s in rows.items():
        table.add_row(
            dsid, fmt(s["task"]), fmt(s["level"]), fmt(s["episodes"]), fmt(s["steps"]), fmt(s["ref_min_score"]),
            fmt(s["ref_max_score"]), fmt(s["size_mb"]), checked[s.get("weak")],
        )
    out.print(table)
    if any(s.get("weak") for s in rows.values()):
        out.print("weak: written with --allow-weak past a failed level check; `pbrl dataset show ID` says which")


@app.command("show")
def show(
    dataset_id: str = typer.Argument(..., help="Dataset id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    download: bool = typer.Option(False, "--download", help="Fetch it from Minari's remote first if it is not local."),
) -> None:
    """Episodes, steps, return distribution, reference scores and provenance of a dataset."""
    from rich.markup import escape

    from pbrl.datasets.remote import download as fetch
    from pbrl.datasets.storage import dataset_exists
    from pbrl.datasets.summary import describe

    try:
        if download and not dataset_exists(dataset_id):
            fetch(dataset_id)
        info = describe(dataset_id)
    except _errors() as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    r = info["returns"]
    lines = [
        f"[bold]{info['id']}[/]  ({info['task']})",
        f"episodes {info['episodes']}  steps {info['steps']}  obs {info['obs_dim']}  act {info['act_dim']}  "
        f"terminated {info['terminated_episodes']}  truncated {info['truncated_episodes']}",
        f"episode length  min {info['episode_length']['min']}  mean {info['episode_length']['mean']:.1f}  max {info['episode_length']['max']}",
        f"return  mean {r['mean']:.2f}  std {r['std']:.2f}  min {r['min']:.2f}  p25 {r['p25']:.2f}  median {r['median']:.2f}  "
        f"p75 {r['p75']:.2f}  max {r['max']:.2f}",
    ]
    counts, edges = r["histogram"]["counts"], r["histogram"]["edges"]
    peak = max(counts) or 1
    for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
        lines.append(f"  [{lo:10.1f}, {hi:10.1f})  {'#' * int(round(40 * c / peak)):<40} {c}")
    lines.append(f"ref_min_score {info['ref_min_score']}  ref_max_score {info['ref_max_score']}")
    if "normalized_return" in info:
        lines.append(f"normalized return (fraction)  mean {info['normalized_return']['mean']:.3f}  median {info['normalized_return']['median']:.3f}")
    lv = info.get("levels")
    if lv is not None:
        reached = "unknown" if lv["medium_fraction_reached"] is None else f"{lv['medium_fraction_reached']:.3f}"
        asked = f"{lv['medium_fraction']:.3f}" + ("" if lv["medium_tolerance"] is None else f" ± {lv['medium_tolerance']:g}")
        lines.append(f"levels: medium at {reached} of the way from random to expert (asked {asked})")
        if lv["weak"]:
            lines.append("[bold yellow]weak levels[/] (made with --allow-weak):")
            lines.extend(f"  - {escape(w)}" for w in lv["warnings"])
        elif lv["weak"] is None:
            lines.append("levels not checked (made before pbrl checked them)")
    lines.append(f"infos: {', '.join(info['infos']) or '-'}")
    lines.append(f"algorithm {info['algorithm_name']}  minari {info['minari_version']}  size {info['size_mb']} MB")
    lines.append(f"description: {info['description']}")
    out.print("\n".join(lines))
    prov = info["provenance"]
    if prov:
        out.print("[bold]provenance[/]")
        out.print(json.dumps(prov, indent=2, default=str), markup=False)


@app.command("import")
def import_(
    path: str = typer.Argument(..., help="A D4RL-format hdf5 file, e.g. hopper-medium-replay-v2.hdf5."),
    env: Optional[str] = typer.Option(None, "--env", help="pbrl task (default: from the file name: halfcheetah, hopper, walker2d, ant)."),
    dataset_id: Optional[str] = typer.Option(None, "--id", help="Dataset id (default: d4rl/<env>/<level>-v<N> from the file name)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing dataset."),
) -> None:
    """Import a D4RL hdf5 file into a Minari dataset bound to the matching pbrl task."""
    from pbrl.datasets.d4rl_import import import_d4rl

    try:
        dsid = import_d4rl(path, dataset_id, task=env, force=force, command=_command())
    except _errors() as exc:
        fail(str(exc))
    out.print(dsid)


@app.command("corrupt")
def corrupt(
    source: str = typer.Argument(..., help="Dataset id (or, with --flip, a preference store file)."),
    new: str = typer.Option(..., "--out", help="The new dataset id (or store file); the source is never changed."),
    target: Optional[List[str]] = typer.Option(
        None, "--target", help="observations, actions, rewards or next_observations (repeatable)."
    ),
    fraction: float = typer.Option(0.3, "--fraction", help="Share of steps corrupted per target (c)."),
    scale: float = typer.Option(1.0, "--scale", help="Corruption scale (ε)."),
    mode: str = typer.Option("random", "--mode", help="random or adversarial."),
    flip: Optional[float] = typer.Option(None, "--flip", help="Flip this fraction of the preference labels of store SOURCE."),
    seed: int = typer.Option(0, "--seed", help="Seeds the choice of steps/labels and the noise."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output."),
) -> None:
    """Corrupt a dataset or flip preference labels, always into a new dataset or store.

    Dataset corruption follows "Towards Robust Offline RL under Diverse Data
    Corruption": random noise or adversarial (see pbrl.datasets.corruption).
    """
    from pbrl.datasets.corruption import Corruption, corrupt_dataset, flip_labels

    try:
        if flip is not None:
            if target:
                fail("--flip corrupts a preference store; --target is for datasets")
            counts = flip_labels(source, new, flip, seed=seed, force=force)
            out.print(f"{new}: {counts['flipped']} of {counts['labels']} labels flipped ({counts['changed']} changed)")
            return
        if not target:
            fail("give --target (observations, actions, rewards, next_observations) or --flip")
        specs = [Corruption(t, fraction, scale, mode) for t in target]
        dsid = corrupt_dataset(source, new, specs, seed=seed, force=force, command=_command())
    except _errors() as exc:
        fail(str(exc))
    out.print(dsid)


@app.command("label")
def label(
    dataset_id: str = typer.Argument(..., help="Dataset id."),
    teacher: str = typer.Option("noisy", "--teacher", help="oracle, noisy, mistake, skip, myopic, equal, hierarchical, ..."),
    pairs: int = typer.Option(2000, "--pairs", help="Pairs of segments to label."),
    segment: int = typer.Option(50, "--segment", help="Steps per segment (H)."),
    store: Optional[str] = typer.Option(None, "--store", help="Preference store file (default: <dataset id with _>.prefs.sqlite)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the sampler and the teacher."),
    batch_size: int = typer.Option(500, "--batch-size", help="Pairs per store transaction."),
    weighting: str = typer.Option("window", "--weighting", help="window (every window equally likely) or episode (B-Pref)."),
    score: str = typer.Option("return", "--score", help="return (B-Pref: Σ r) or regret (CPL: Σ r + V(s_H) − V(s_0), V fitted on the dataset)."),
    teacher_arg: Optional[List[str]] = typer.Option(None, "--teacher-arg", help="Teacher knob key=value, e.g. beta=0.5, or for human min_labels=0.5, timeout=600 (repeatable)."),
    serve: bool = typer.Option(False, "--serve", help="--teacher human: serve the labeling page from this command (it prints the address); else run `pbrl label serve --store STORE`."),
    host: str = typer.Option("127.0.0.1", "--host", help="--serve: the address to listen on."),
    port: int = typer.Option(0, "--port", help="--serve: the port (0: any free one)."),
    feedback: str = typer.Option("pairs", "--feedback", help="pairs, rating (one segment on --classes levels, RbRL) or ranking (lists by binary insertion, LiRE); --pairs then counts segments."),
    classes: int = typer.Option(5, "--classes", help="--feedback rating: the rating scale (2..10 classes)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="--feedback ranking: comparisons per ranked list (LiRE's q_budget; default one list per batch)."),
) -> None:
    """Label pairs of dataset segments with a teacher into a preference store.

    ``--feedback rating`` rates single segments on a ``--classes`` scale, ``--feedback
    ranking`` ranks them by binary insertion (implied pairs stored too); with ``--teacher
    human`` they wait in the store for the labeling page's rating and ranking views.

    With ``--teacher human`` the pairs wait in the store for people to answer them in the
    labeling app (``--serve``, or ``pbrl label serve --store STORE`` elsewhere)."""
    from pbrl.datasets.labeling import label_dataset

    path = store or dataset_id.replace("/", "_") + ".prefs.sqlite"
    knobs = _pairs(teacher_arg, "--teacher-arg")
    if feedback not in ("pairs", "rating", "ranking"):
        fail(f"--feedback must be pairs, rating or ranking, got {feedback!r}")
    if feedback != "pairs" and serve:
        fail(f"--serve waits for pair answers; for --feedback {feedback} run `pbrl label serve --store STORE` and open /rate or /rank")
    if serve:
        if teacher != "human":
            fail(f"--serve serves the labeling page for people: it goes with --teacher human, not {teacher!r}")
        from pbrl.web import server_on

        knobs["serve"] = server_on(host, port)
    try:
        with phases.listening(phase_printer()):
            summary = label_dataset(
                dataset_id,
            path,
                teacher=teacher,
                pairs=pairs,
                segment=segment,
                seed=seed,
                batch_size=batch_size,
                teacher_kwargs=knobs,
                weighting=weighting,
                score=score,
                feedback=feedback,
                n_classes=classes,
                budget=budget,
            )
    except (*_errors(), TypeError, OSError) as exc:
        fail(str(exc))
    if feedback == "rating":
        what = f"{summary['segments']} segments from {dataset_id} for rating on {classes} levels, {summary['labels']} rated"
    elif feedback == "ranking":
        what = f"{summary['segments']} segments from {dataset_id} in {summary['lists']} ranked lists, {summary['labels']} ranked"
    else:
        what = f"{summary['pairs']} pairs from {dataset_id}, {summary['labels']} labelled"
    out.print(f"{summary['store']}: {what}, {summary['skipped']} skipped by {summary['teacher']}")
