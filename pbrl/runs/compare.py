"""Compare runs: final scores, rliable statistics, learning curves (``pbrl compare``).

``compare(paths)`` finds the run folders under ``paths`` (a run folder, or any folder
above runs: a runs root, a sweep folder), reads each run's ``config.json``,
``summary.json`` (its final evaluation) and ``metrics.jsonl`` (its curves), and
groups the runs by (task, label) across seeds. The label is the algorithm — the
agent, ``prefppo`` / ``pebble`` for PPO / SAC on a learned reward, ``<agent>+program``
on a reward program — or ``algorithm/name`` where one task holds runs of the
algorithm under several run names, see ``group_by``.

Per group: the final return (mean ± std over runs), the final score's mean, and
its IQM and optimality gap with stratified-bootstrap confidence intervals; per
label over all its tasks the same aggregates; between labels the probability of
improvement with its CI (every pair, or every group against a ``baseline``) and the
strongest claim that interval allows (:func:`claim`) — all with rliable's definitions
(:mod:`pbrl.evaluation.aggregate`, 50 000 bootstrap repetitions by default), each
interval printed with its method. The score is the card's normalized score (×100)
by default, so the optimality gap's threshold is γ = 100.

Warnings (:func:`budget_warnings`; in the report and on stderr): a group with fewer
than :data:`MIN_SEEDS` seeds, and groups — or runs of one group — with different
budgets: steps (the config's ``steps`` of a complete run, the steps reached by an
incomplete one; env and gradient steps never match) or, among learned rewards, labels
(the config's ``reward.feedback``).

Figures (``write``): learning curves over steps, over wall-clock seconds and, for
preference runs (those that log ``feedback/labels``), over labels used — the line is the
mean over runs and the band ±1 standard error, as each legend says (:data:`CURVE_BAND`);
the IQM and optimality-gap intervals; rliable's performance profiles (fraction of runs
above τ, with stratified-bootstrap bands); and the probability of improvement of each
compared pair with its interval.

Online and offline runs compare alike (the x axis of an offline run's curve is
gradient steps). A run that did not finish (``summary.json`` status other than
``complete``, or none) is reported and skipped, or used at its latest evaluation
with ``include_incomplete`` (and marked). Plots need matplotlib (the ``plot`` extra)
and use its Agg backend. Needs no torch.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from pbrl.evaluation import aggregate as agg

from . import folder as F
from .metrics import read_metrics, series

__all__ = ["CLAIM_SEEDS", "CURVE_AXES", "CURVE_BAND", "Comparison", "CompareError", "METRICS", "MIN_SEEDS", "RunRecord", "budget_warnings", "claim", "compare", "find_runs", "load_run"]

#: metric name -> (key in summary.json's final_eval, TensorBoard tag of its curve, column title)
METRICS = {
    "normalized_score": ("normalized_score", "eval/normalized_score", "normalized score"),
    "return": ("return_mean", "eval/return", "return"),
    "dataset_normalized_score": ("dataset_normalized_score", "eval/dataset_normalized_score", "dataset-normalized score"),
    "success_rate": ("success_rate", "eval/success_rate", "success rate"),
}
#: metrics with a natural optimality-gap threshold
DEFAULT_GAMMA = {"normalized_score": 100.0, "dataset_normalized_score": 100.0, "success_rate": 1.0}
GROUP_BY = ("auto", "agent", "name", "agent/name")
#: a group with fewer seeds than this is warned about: its interval rests on too few runs
MIN_SEEDS = 3
#: x axes of the learning curves -> (axis title, file name); "labels" only for preference runs
CURVE_AXES = {
    "steps": ("steps", "learning_curves.png"),
    "time": ("wall-clock seconds (since the run's first logged row)", "learning_curves_wallclock.png"),
    "labels": ("labels used", "learning_curves_labels.png"),
}
#: what a learning curve's line and band are, printed as its legend's title
CURVE_BAND = "line: mean over runs; band: ± 1 SEM"
#: seeds a headline claim needs (the claim wording says "preliminary" below it)
CLAIM_SEEDS = 5


class CompareError(ValueError):
    """Nothing to compare: a path that is no run folder, no runs found, no usable runs."""


@dataclass
class RunRecord:
    """One run folder, as ``pbrl compare`` reads it."""

    path: str
    task: str
    agent: str
    name: str
    seed: int
    kind: str  # "online" or "offline"
    status: str
    steps: int
    final: dict[str, Any] | None
    latest: dict[str, Any]
    rows: list[dict[str, Any]] = field(repr=False, default_factory=list)
    algorithm: str = ""
    label: str = ""
    planned_steps: int | None = None  # the config's steps: env steps (online) or gradient steps (offline)
    labels: int | None = None  # the label budget of a learned reward (config's reward.feedback)

    @property
    def unit(self) -> str:
        return "gradient" if self.kind == "offline" else "env"

    @property
    def budget_steps(self) -> int:
        """The steps the run's score stands for: its planned steps once complete, else those it reached."""
        return self.planned_steps if self.complete and self.planned_steps is not None else self.steps

    @property
    def complete(self) -> bool:
        return self.status == "complete" and self.final is not None

    def value(self, metric: str) -> float | None:
        """The run's final ``metric`` (for an incomplete run: its latest evaluation)."""
        key, tag, _ = METRICS[metric]
        if self.final is not None and self.final.get(key) is not None:
            return float(self.final[key])
        if self.latest.get(tag) is not None:
            return float(self.latest[tag])
        points = series(self.rows, tag)
        return float(points[-1][1]) if points else None

    @property
    def preference(self) -> bool:
        """Whether the run learned from preferences: its metrics count the labels used."""
        return bool(series(self.rows, "feedback/labels"))

    def curve(self, metric: str, x: str = "steps") -> tuple[np.ndarray, np.ndarray]:
        """The run's evaluations of ``metric`` against ``x`` (one of :data:`CURVE_AXES`): its steps,
        the seconds since its first logged row, or the labels used by then (none without them)."""
        tag = METRICS[metric][1]
        if x == "time":
            timed = [r for r in self.rows if r.get("time") is not None]
            start = min((float(r["time"]) for r in timed), default=0.0)
            points = sorted((float(r["time"]) - start, r[tag]) for r in timed if r.get(tag) is not None)
        else:
            points = sorted(series(self.rows, tag))
        if not points or (x == "labels" and not self.preference):
            return np.zeros(0), np.zeros(0)
        xs, values = (np.asarray(v, dtype=np.float64) for v in zip(*points))
        if x == "labels":  # the labels used by each evaluation's step (steps ascending, and so labels)
            at, used = (np.asarray(v, dtype=np.float64) for v in zip(*sorted(series(self.rows, "feedback/labels"))))
            xs = np.interp(xs, at, used)
        return xs, values


def _is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, F.CONFIG))


def find_runs(paths: Sequence[str]) -> list[str]:
    """Run folders at or under ``paths``, in order, each once.

    Raises:
        CompareError: a path does not exist, is a folder with a ``config.json`` that
            is not a pbrl run, or has no run folder under it.
    """
    if not paths:
        raise CompareError("give at least one run folder, or a folder with runs under it")
    found: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append(path)

    for path in paths:
        if not os.path.exists(path):
            raise CompareError(f"{path}: no such file or folder")
        if not os.path.isdir(path):
            raise CompareError(f"{path} is not a run folder (give a folder: runs/<task>/<agent>/<name>-s<seed>, or one above)")
        if _is_run_dir(path):
            try:
                F.load_run_config(path)
            except (ValueError, json.JSONDecodeError) as exc:
                raise CompareError(f"{path} is not a pbrl run folder: {exc}") from None
            add(path)
            continue
        matched = 0
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != F.CHECKPOINTS)
            if F.CONFIG in files:
                try:
                    F.load_run_config(root)
                except (ValueError, json.JSONDecodeError):
                    continue  # some other config.json
                add(root)
                matched += 1
                dirs[:] = []  # a run folder holds no runs
        if not matched:
            raise CompareError(f"no pbrl runs under {path} (a run folder holds {F.CONFIG}; runs live in <runs_dir>/<task>/<agent>/<name>-s<seed>)")
    return found


def load_run(path: str) -> RunRecord:
    """Read one run folder (``config.json``, ``summary.json``, ``metrics.jsonl``)."""
    try:
        resolved = F.load_run_config(path)
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path} is not a pbrl run folder: {exc}") from None
    cfg = resolved.get("config", {})
    summary: dict[str, Any] = {}
    summary_path = os.path.join(path, F.SUMMARY)
    if os.path.isfile(summary_path):
        try:
            with open(summary_path, encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, json.JSONDecodeError):
            summary = {"status": "unreadable summary.json"}
    kind = resolved.get("kind", "online")
    agent = str(cfg.get("agent"))
    reward = resolved.get("reward") if isinstance(resolved.get("reward"), dict) else {}
    if reward.get("kind") == "learned" and reward.get("algorithm"):
        algorithm = str(reward["algorithm"])  # ppo on a learned reward is PrefPPO, sac is PEBBLE
    elif reward.get("kind") == "program":
        algorithm = f"{agent}+program"
    else:
        algorithm = agent
    steps = summary.get("gradient_steps" if kind == "offline" else "num_timesteps")
    planned = cfg.get("steps")
    feedback = reward.get("feedback") if reward.get("kind") == "learned" else None
    rows = read_metrics(path)
    if steps is None:
        steps = max((int(r.get("step", 0)) for r in rows), default=0)
    return RunRecord(
        path=path,
        task=str(cfg.get("env")),
        agent=agent,
        name=str(cfg.get("name")),
        seed=int(cfg.get("seed", 0)),
        kind=kind,
        status=str(summary.get("status", "no summary.json")),
        steps=int(steps),
        final=summary.get("final_eval"),
        latest=dict(summary.get("latest") or {}),
        rows=rows,
        algorithm=algorithm,
        planned_steps=int(planned) if isinstance(planned, (int, float)) and not isinstance(planned, bool) else None,
        labels=int(feedback) if isinstance(feedback, (int, float)) and not isinstance(feedback, bool) else None,
    )


def _labels(runs: list[RunRecord], group_by: str) -> None:
    if group_by not in GROUP_BY:
        raise CompareError(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    several: set[str] = set()
    if group_by == "auto":
        names: dict[tuple[str, str], set[str]] = {}
        for r in runs:
            names.setdefault((r.task, r.algorithm), set()).add(r.name)
        several = {algo for (_, algo), n in names.items() if len(n) > 1}
    for r in runs:
        if group_by == "agent" or (group_by == "auto" and r.algorithm not in several):
            r.label = r.algorithm
        elif group_by == "name":
            r.label = r.name
        else:
            r.label = f"{r.algorithm}/{r.name}"


@dataclass
class Group:
    """The runs of one label on one task."""

    task: str
    label: str
    runs: list[RunRecord]
    scores: np.ndarray
    returns: np.ndarray
    iqm: tuple[float, float, float]
    optimality_gap: tuple[float, float, float] | None

    @property
    def incomplete(self) -> int:
        return sum(not r.complete for r in self.runs)

    @property
    def step_budgets(self) -> list[str]:
        """Its runs' step budgets, each once: ``"100,000 env steps"``."""
        return sorted({f"{r.budget_steps:,} {r.unit} steps" for r in self.runs})

    @property
    def label_budgets(self) -> list[str]:
        """Its runs' label budgets (learned rewards only), each once: ``"200 labels"``."""
        return sorted({f"{r.labels:,} labels" for r in self.runs if r.labels is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "label": self.label,
            "runs": [r.path for r in self.runs],
            "seeds": [r.seed for r in self.runs],
            "kinds": sorted({r.kind for r in self.runs}),
            "steps": [r.steps for r in self.runs],
            "budget": self.step_budgets + self.label_budgets,
            "incomplete": self.incomplete,
            "scores": self.scores.tolist(),
            "return_mean": float(self.returns.mean()) if self.returns.size else None,
            "return_std": float(self.returns.std()) if self.returns.size else None,
            "score_mean": float(self.scores.mean()),
            "iqm": list(self.iqm),
            "optimality_gap": None if self.optimality_gap is None else list(self.optimality_gap),
        }


@dataclass
class Comparison:
    """What :func:`compare` found and computed; :meth:`to_markdown`, :meth:`write` and the plots present it."""

    metric: str
    gamma: float | None
    confidence: float
    reps: int
    runs: list[RunRecord]
    skipped: list[tuple[str, str]]
    groups: list[Group]
    overall: dict[str, dict[str, Any]]
    improvement: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    baseline: str | None = None
    seed: int = 0

    @property
    def interval_method(self) -> str:
        """How every interval of the IQM and optimality gap was computed, for printing next to it."""
        return f"{100 * self.confidence:g}% stratified bootstrap, {self.reps:,} reps"

    @property
    def improvement_method(self) -> str:
        """How the probability of improvement's intervals were computed (rliable's independent bootstrap)."""
        return f"{100 * self.confidence:g}% independent stratified bootstrap, {self.reps:,} reps"

    def claims(self) -> list[str]:
        """The strongest honest sentence for each compared pair (see :func:`claim`)."""
        out = []
        for p in self.improvement:
            x, y, tasks = p["x"], p["y"], p["tasks"]
            pair = [g for g in self.groups if g.label in (x, y) and g.task in tasks]
            iqm_x = iqm_y = None  # the IQM intervals, where each stands for exactly the compared tasks
            if len(tasks) == 1:
                iqm_x, iqm_y = (next(g.iqm for g in pair if g.label == label) for label in (x, y))
            elif self.overall[x]["tasks"] == tasks == self.overall[y]["tasks"]:
                iqm_x, iqm_y = self.overall[x]["iqm"], self.overall[y]["iqm"]
            same = all(_same_budget([g for g in pair if g.task == t]) for t in tasks)
            out.append(claim(x, y, p["probability"], iqm_x, iqm_y, seeds=min(len(g.runs) for g in pair), same_budget=same))
        return out

    @property
    def tasks(self) -> list[str]:
        return sorted({g.task for g in self.groups})

    @property
    def labels(self) -> list[str]:
        return sorted({g.label for g in self.groups})

    # -- presentation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "gamma": self.gamma,
            "confidence": self.confidence,
            "bootstrap_reps": self.reps,
            "interval_method": self.interval_method,
            "improvement_method": self.improvement_method,
            "baseline": self.baseline,
            "warnings": list(self.warnings),
            "groups": [g.to_dict() for g in self.groups],
            "aggregate": self.overall,
            "probability_of_improvement": self.improvement,
            "claims": self.claims(),
            "skipped": [{"run": p, "reason": why} for p, why in self.skipped],
        }

    def to_markdown(self) -> str:
        title = METRICS[self.metric][2]

        def ci(t: Sequence[float] | None, digits: int = 1) -> str:
            if t is None:
                return "–"
            return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]"

        method = self.interval_method
        lines = []
        if self.warnings:
            lines += ["## Warnings", ""] + [f"- {w}" for w in self.warnings] + [""]
        lines += [f"## Final {title} per task and group", ""]
        head = ["task", "group", "runs (seeds)", "steps", "return (mean ± std)", f"{title} (mean)", f"IQM [{method}]"]
        if self.gamma is not None:
            head.append(f"optimality gap (γ={self.gamma:g}) [{method}]")
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for g in self.groups:
            seeds = ",".join(str(r.seed) for r in g.runs)
            flag = f" ({g.incomplete} incomplete*)" if g.incomplete else ""
            kind = "gradient" if all(r.kind == "offline" for r in g.runs) else "env"
            steps = sorted({r.steps for r in g.runs})
            steps_s = f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,}–{steps[-1]:,}"
            ret = f"{g.returns.mean():.1f} ± {g.returns.std():.1f}" if g.returns.size else "–"
            row = [g.task, g.label, f"{len(g.runs)} ({seeds}){flag}", f"{steps_s} {kind}", ret, f"{g.scores.mean():.2f}", ci(g.iqm, 2)]
            if self.gamma is not None:
                row.append(ci(g.optimality_gap, 2))
            lines.append("| " + " | ".join(row) + " |")
        if len(self.tasks) > 1:
            lines += ["", f"## Aggregate {title} over tasks", ""]
            head = ["group", "tasks", "runs", f"IQM [{method}]"] + ([f"optimality gap [{method}]"] if self.gamma is not None else [])
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for label, o in self.overall.items():
                row = [label, str(len(o["tasks"])), str(o["runs"]), ci(o["iqm"], 2)]
                if self.gamma is not None:
                    row.append(ci(o["optimality_gap"], 2))
                lines.append("| " + " | ".join(row) + " |")
        if self.improvement:
            versus = f" against the baseline {self.baseline}" if self.baseline else ""
            lines += ["", f"## Probability of improvement{versus}, P(X > Y) on the tasks both ran", ""]
            lines += [f"| X | Y | tasks | P(X > Y) [{self.improvement_method}] |", "|---|---|---|---|"]
            for p in self.improvement:
                lines.append(f"| {p['x']} | {p['y']} | {len(p['tasks'])} | {ci(p['probability'], 2)} |")
            lines += ["", "## Claims", "", f"What the intervals allow, no more (P(X > Y): {self.improvement_method}):", ""]
            lines += [f"- {c}" for c in self.claims()]
        if self.skipped or any(g.incomplete for g in self.groups):
            lines += ["", "## Incomplete runs", ""]
            for path, why in self.skipped:
                lines.append(f"- skipped {path}: {why}")
            for g in self.groups:
                for r in g.runs:
                    if not r.complete:
                        lines.append(f"- *included at its latest evaluation ({r.steps:,} steps): {r.path} (status: {r.status})")
        return "\n".join(lines) + "\n"

    def _colors(self, plt) -> dict[str, str]:
        """One color per label, the same in every plot."""
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        return {label: cycle[i % len(cycle)] for i, label in enumerate(self.labels)}

    def curve_data(self, x: str = "steps") -> list[dict[str, Any]]:
        """The learning curves behind :meth:`plot_curves`: per group with runs on axis ``x``
        (:data:`CURVE_AXES`), the x grid (every run's evaluation points), the mean over the
        runs evaluated there (interpolated within each run's span) and the band ± 1 SEM."""
        if x not in CURVE_AXES:
            raise CompareError(f"unknown curve axis {x!r}; use one of {', '.join(CURVE_AXES)}")
        out = []
        for g in self.groups:
            curves = [c for c in (r.curve(self.metric, x) for r in g.runs) if c[0].size]
            if not curves:
                continue
            grid = np.unique(np.concatenate([c[0] for c in curves]))
            stack = np.full((len(curves), grid.size), np.nan)
            for i, (xs, ys) in enumerate(curves):
                inside = (grid >= xs[0]) & (grid <= xs[-1])
                stack[i, inside] = np.interp(grid[inside], xs, ys)
            count = np.sum(~np.isnan(stack), axis=0)
            mean = np.nanmean(stack, axis=0)
            sem = np.where(count > 1, np.nanstd(stack, axis=0) / np.sqrt(np.maximum(count, 1)), 0.0)
            out.append({"task": g.task, "label": g.label, "runs": len(curves), "x": grid, "mean": mean, "low": mean - sem, "high": mean + sem})
        return out

    def plot_curves(self, path: str, x: str = "steps") -> str:
        """Learning curves over ``x`` (:data:`CURVE_AXES`), one panel per task, the band's method
        (:data:`CURVE_BAND`) as the legend's title; saved as PNG."""
        plt = _pyplot()
        colors = self._colors(plt)
        data = self.curve_data(x)
        tasks = sorted({d["task"] for d in data}) or self.tasks
        cols = min(3, len(tasks))
        rows = math.ceil(len(tasks) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            kinds = {r.kind for g in self.groups if g.task == task for r in g.runs}
            for d in (d for d in data if d["task"] == task):
                color = colors[d["label"]]
                marker = "o" if d["x"].size <= 30 else None  # a curve of a few evaluations (or one) stays visible
                ax.plot(d["x"], d["mean"], color=color, marker=marker, markersize=3, label=f"{d['label']} (n={d['runs']})")
                ax.fill_between(d["x"], d["low"], d["high"], color=color, alpha=0.2)
            ax.set_title(task)
            if x == "steps":
                ax.set_xlabel({frozenset({"online"}): "env steps", frozenset({"offline"}): "gradient steps"}.get(frozenset(kinds), "steps (env / gradient)"))
            else:
                ax.set_xlabel(CURVE_AXES[x][0])
            ax.set_ylabel(METRICS[self.metric][2])
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small", title=CURVE_BAND, title_fontsize="small")
        for ax in list(axes.flat)[len(tasks):]:
            ax.set_visible(False)
        return _save(plt, fig, path)

    def performance_profile(self, taus: Sequence[float] | None = None) -> dict[str, Any]:
        """rliable's performance profile of each label over its tasks: at each τ the fraction of
        runs scoring above τ (per task, averaged), with its stratified-bootstrap interval.

        Returns ``{"taus": array, "method": str, "profiles": {label: (fraction, low, high)}}``;
        ``taus`` default to 101 points from min(0, lowest score) to max(γ, highest score)."""
        strata: dict[str, dict[str, np.ndarray]] = {}
        for g in self.groups:
            strata.setdefault(g.label, {})[g.task] = g.scores
        if taus is None:
            every = np.concatenate([g.scores for g in self.groups])
            top = max(float(every.max()), self.gamma if self.gamma is not None else -math.inf)
            taus = np.linspace(min(0.0, float(every.min())), top, 101)
        taus = np.asarray(taus, dtype=np.float64)
        profiles = {
            label: tuple(agg.performance_profile_interval(s, taus, self.reps, self.confidence, self.seed)) for label, s in sorted(strata.items())
        }
        return {"taus": taus, "method": self.interval_method, "profiles": profiles}

    def plot_profile(self, path: str) -> str:
        """Performance profiles: fraction of runs above τ against τ, one line per label with its
        stratified-bootstrap band; saved as PNG."""
        plt = _pyplot()
        colors = self._colors(plt)
        data = self.performance_profile()
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, (fraction, low, high) in data["profiles"].items():
            ax.plot(data["taus"], fraction, color=colors[label], label=label)
            ax.fill_between(data["taus"], low, high, color=colors[label], alpha=0.2)
        ax.set_xlabel(f"{METRICS[self.metric][2]} τ")
        ax.set_ylabel("fraction of runs with score > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", title=f"band: {data['method']}", title_fontsize="small")
        ax.set_title(f"Performance profiles ({len(self.tasks)} task(s))", fontsize="medium")
        return _save(plt, fig, path)

    def plot_improvement(self, path: str) -> str:
        """The probability of improvement P(X > Y) of each compared pair with its interval, a line at 0.5; saved as PNG."""
        plt = _pyplot()
        pairs = self.improvement
        fig, ax = plt.subplots(figsize=(6, 0.5 * len(pairs) + 1.6))
        for i, p in enumerate(pairs):
            point, low, high = p["probability"]
            ax.barh(i, max(high - low, 1e-3), left=low, height=0.6, color="tab:blue", alpha=0.6)
            ax.vlines(point, i - 0.3, i + 0.3, color="black", linewidth=1.5)
        ax.axvline(0.5, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(pairs)), [f"P({p['x']} > {p['y']})" for p in pairs])
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("probability of improvement")
        ax.set_title(f"P(X > Y), {self.improvement_method}", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
        return _save(plt, fig, path)

    def plot_intervals(self, path: str) -> str:
        """rliable-style interval estimates: IQM (and optimality gap) per label over its tasks; saved as PNG."""
        plt = _pyplot()
        labels = list(self.overall)
        stats = ["iqm"] + (["optimality_gap"] if self.gamma is not None else [])
        fig, axes = plt.subplots(1, len(stats), figsize=(4.2 * len(stats), 0.6 * len(labels) + 1.4), squeeze=False)
        colors = self._colors(plt)
        for ax, stat in zip(axes[0], stats):
            for i, label in enumerate(labels):
                point, low, high = self.overall[label][stat]
                ax.barh(i, max(high - low, 1e-9), left=low, height=0.6, color=colors[label], alpha=0.75)
                ax.vlines(point, i - 0.3, i + 0.3, color="black", linewidth=1.5)
            lows = [self.overall[label][stat][1] for label in labels]
            highs = [self.overall[label][stat][2] for label in labels]
            pad = 0.06 * (max(highs) - min(lows)) or 1.0
            ax.set_xlim(min(lows) - pad, max(highs) + pad)
            ax.set_yticks(range(len(labels)), labels if ax is axes[0][0] else [""] * len(labels))
            ax.set_title({"iqm": "IQM", "optimality_gap": "Optimality gap"}[stat])
            ax.set_xlabel(METRICS[self.metric][2])
            ax.grid(axis="x", alpha=0.3)
        fig.suptitle(f"{100 * self.confidence:g}% stratified-bootstrap CIs ({len(self.tasks)} task(s))", fontsize="medium")
        return _save(plt, fig, path)

    def write(self, out_dir: str, plots: bool = True) -> dict[str, str]:
        """Write ``compare.md``, ``compare.json`` and (with matplotlib) the figures: learning curves
        over steps, wall-clock and (with preference runs) labels, intervals, performance profiles
        and (with a compared pair) the probability of improvement; returns name -> path."""
        os.makedirs(out_dir, exist_ok=True)
        files = {"markdown": os.path.join(out_dir, "compare.md"), "json": os.path.join(out_dir, "compare.json")}
        with open(files["markdown"], "w", encoding="utf-8") as f:
            f.write(self.to_markdown())
        F.write_json(files["json"], self.to_dict())
        if plots:
            files["curves"] = self.plot_curves(os.path.join(out_dir, CURVE_AXES["steps"][1]))
            files["curves_wallclock"] = self.plot_curves(os.path.join(out_dir, CURVE_AXES["time"][1]), "time")
            if any(r.preference for r in self.runs):
                files["curves_labels"] = self.plot_curves(os.path.join(out_dir, CURVE_AXES["labels"][1]), "labels")
            files["intervals"] = self.plot_intervals(os.path.join(out_dir, "intervals.png"))
            files["profile"] = self.plot_profile(os.path.join(out_dir, "performance_profile.png"))
            if self.improvement:
                files["improvement"] = self.plot_improvement(os.path.join(out_dir, "probability_of_improvement.png"))
        return files


def claim(
    x: str,
    y: str,
    probability: Sequence[float],
    iqm_x: Sequence[float] | None = None,
    iqm_y: Sequence[float] | None = None,
    seeds: int | None = None,
    same_budget: bool = True,
) -> str:
    """The strongest honest wording of "X against Y", from the interval of P(X > Y).

    Args:
        x, y: the two groups' labels.
        probability: ``(P(X > Y), low, high)``.
        iqm_x, iqm_y: ``(IQM, low, high)`` of each over the same tasks, if known.
        seeds: the fewest seeds behind either side.
        same_budget: whether both sides had the same budgets (see :func:`budget_warnings`).

    Returns:
        * the interval lies above 0.5: ``"X > Y (P(X > Y) = 0.81 [0.62, 0.95], interval above 0.5)"``;
        * below 0.5: the same the other way round, ``"Y > X (P(Y > X) = …)"``;
        * it touches or covers 0.5: ``"X vs Y: not shown at this budget (P(X > Y) = 0.60 [0.40, 0.80] covers 0.5)"``;
        * either side has fewer than :data:`MIN_SEEDS` seeds: ``"X vs Y: not shown: …"``
          whatever the interval (the bootstrap of one or two runs cannot see their spread).

        A shown difference also says whether the IQM intervals overlap (then the size
        of the difference is not shown), that the budgets differ, and, with fewer than
        :data:`CLAIM_SEEDS` seeds, that it is preliminary.
    """
    point, low, high = (float(v) for v in probability)
    stated = f"P({x} > {y}) = {point:.2f} [{low:.2f}, {high:.2f}]"
    if seeds is not None and seeds < MIN_SEEDS:
        return f"{x} vs {y}: not shown: {seeds} seed{'s' if seeds != 1 else ''} on one side, fewer than {MIN_SEEDS}, too few for an interval ({stated})"
    if low <= 0.5 <= high:
        return f"{x} vs {y}: not shown at this budget ({stated} covers 0.5)"
    if high < 0.5:  # Y is the better one: say it that way round
        x, y, point, low, high = y, x, 1.0 - point, 1.0 - high, 1.0 - low
        iqm_x, iqm_y = iqm_y, iqm_x
    notes = [f"P({x} > {y}) = {point:.2f} [{low:.2f}, {high:.2f}], interval above 0.5"]
    if iqm_x is not None and iqm_y is not None:
        if iqm_x[1] > iqm_y[2]:
            notes.append("IQM intervals apart")
        else:
            notes.append("IQM intervals overlap: how much better is not shown")
    if not same_budget:
        notes.append("at different budgets: not like for like")
    if seeds is not None and seeds < CLAIM_SEEDS:
        notes.append(f"only {seeds} seed{'s' if seeds != 1 else ''}, fewer than {CLAIM_SEEDS}: preliminary")
    return f"{x} > {y} ({'; '.join(notes)})"


def _same_budget(groups: Sequence[Group]) -> bool:
    """Whether groups of one task had the same step budgets and, those with learned rewards, label budgets."""
    labels = {tuple(g.label_budgets) for g in groups if g.label_budgets}
    return len({tuple(g.step_budgets) for g in groups}) == 1 and len(labels) <= 1


def budget_warnings(groups: Sequence[Group]) -> list[str]:
    """What makes a comparison of ``groups`` unsound: a group with fewer than :data:`MIN_SEEDS`
    seeds, runs of one group with different budgets, groups of one task with different step
    budgets (env or gradient steps) or, among learned rewards, different label budgets."""
    out = []
    for g in groups:
        if len(g.runs) < MIN_SEEDS:
            n = len(g.runs)
            out.append(f"{g.task} · {g.label}: {n} seed{'s' if n != 1 else ''}, fewer than {MIN_SEEDS}: its intervals say little; rest no claim on it")
        if len(g.step_budgets) > 1 or len(g.label_budgets) > 1:
            out.append(f"{g.task} · {g.label}: its runs have different budgets ({', '.join(g.step_budgets + g.label_budgets)})")
    for task in sorted({g.task for g in groups}):
        on = [g for g in groups if g.task == task]
        for kind, budgets in (
            ("budgets", {g.label: ", ".join(g.step_budgets) for g in on}),
            ("label budgets", {g.label: ", ".join(g.label_budgets) for g in on if g.label_budgets}),
        ):
            if len(set(budgets.values())) > 1:
                listed = "; ".join(f"{label}: {b}" for label, b in budgets.items())
                out.append(f"{task}: the groups have different {kind} ({listed}): their comparison is not like for like")
    return out


def plotting_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _save(plt, fig, path: str) -> str:
    """Lay out, save as PNG and close a figure; returns its path."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "pbrl[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def compare(
    paths: Sequence[str] | Iterable[str],
    metric: str = "normalized_score",
    group_by: str = "auto",
    include_incomplete: bool = False,
    reps: int = agg.DEFAULT_REPS,
    confidence: float = 0.95,
    gamma: float | None = None,
    seed: int = 0,
    baseline: str | None = None,
) -> Comparison:
    """Find, read and compare runs (see the module docstring).

    Args:
        paths: run folders, or folders with runs under them.
        metric: one of :data:`METRICS`.
        group_by: ``auto`` (the algorithm, or algorithm/name where a task has several
            run names of it), ``agent`` (the algorithm), ``name`` or ``agent/name``.
        include_incomplete: use unfinished runs at their latest evaluation (marked) instead of skipping them.
        reps, confidence, seed: the stratified bootstrap.
        gamma: the optimality gap's threshold (default: 100 for normalized scores,
            1 for the success rate; none for raw returns unless given).
        baseline: a group label: compare every other group with it (P(X > baseline))
            instead of every pair with each other.

    Raises:
        CompareError: see :func:`find_runs`; or no run has the metric; or ``baseline`` names no group.
    """
    if metric not in METRICS:
        raise CompareError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise CompareError(f"reps must be a positive integer, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise CompareError(f"confidence must be in (0, 1), got {confidence!r}")
    gamma = DEFAULT_GAMMA.get(metric) if gamma is None else float(gamma)
    runs, skipped = [], []
    for path in find_runs(list(paths)):
        run = load_run(path)
        if not run.complete and not include_incomplete:
            skipped.append((path, f"status {run.status!r} (use --include-incomplete to use its latest evaluation)"))
            continue
        if run.value(metric) is None:
            skipped.append((path, f"no {METRICS[metric][2]} recorded (status {run.status!r})"))
            continue
        runs.append(run)
    if not runs:
        why = "; ".join(f"{p}: {w}" for p, w in skipped)
        raise CompareError(f"no run to compare: {why}")
    _labels(runs, group_by)
    by_group: dict[tuple[str, str], list[RunRecord]] = {}
    for r in runs:
        by_group.setdefault((r.task, r.label), []).append(r)
    groups = []
    for (task, label), members in sorted(by_group.items()):
        members.sort(key=lambda r: (r.seed, r.path))
        scores = np.array([r.value(metric) for r in members], dtype=np.float64)
        returns = np.array([v for v in (r.value("return") for r in members) if v is not None], dtype=np.float64)
        iqm_ci = agg.interval_estimate(scores, agg.iqm, reps, confidence, seed)
        og_ci = None
        if gamma is not None:
            og_ci = agg.interval_estimate(scores, agg.optimality_gap_at(gamma), reps, confidence, seed)
        groups.append(Group(task, label, members, scores, returns, iqm_ci, og_ci))
    strata: dict[str, dict[str, np.ndarray]] = {}
    for g in groups:
        strata.setdefault(g.label, {})[g.task] = g.scores
    overall: dict[str, dict[str, Any]] = {}
    for label in sorted(strata):
        s = strata[label]
        overall[label] = {
            "tasks": sorted(s),
            "runs": int(sum(v.size for v in s.values())),
            "iqm": list(agg.interval_estimate(s, agg.iqm, reps, confidence, seed)),
            "optimality_gap": None
            if gamma is None
            else list(agg.interval_estimate(s, agg.optimality_gap_at(gamma), reps, confidence, seed)),
        }
    labels = sorted(strata)
    if baseline is not None and baseline not in strata:
        raise CompareError(f"baseline {baseline!r} is no group here; the groups are {', '.join(labels)}")
    if baseline is None:
        pairs = [(x, y) for i, x in enumerate(labels) for y in labels[i + 1 :]]
    else:
        pairs = [(x, baseline) for x in labels if x != baseline]
    improvement = []
    for x, y in pairs:
        common = sorted(set(strata[x]) & set(strata[y]))
        if not common:
            continue
        p = agg.probability_of_improvement_interval(
            {t: strata[x][t] for t in common}, {t: strata[y][t] for t in common}, reps, confidence, seed
        )
        improvement.append({"x": x, "y": y, "tasks": common, "probability": list(p)})
    return Comparison(metric, gamma, confidence, reps, runs, skipped, groups, overall, improvement, budget_warnings(groups), baseline, seed)
