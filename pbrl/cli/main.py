"""``pbrl``: the command-line entry point. Each command lives in its own module."""

from __future__ import annotations

import typer

from . import bench_cmd, compare_cmd, configs_cmd, dataset_cmd, envs_cmd, label_cmd, run_cmd, sweep_cmd, synthesize_cmd, train_cmd
from . import export_cmd, reward_check_cmd
from .common import command_group

app = command_group("pbrl", "pbrl: classic and preference-based RL on batched MuJoCo tasks.", completion=True)


def _version(value: bool) -> None:
    if value:
        from pbrl import __version__

        typer.echo(f"pbrl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print pbrl's version and exit."),
) -> None:
    """pbrl: classic and preference-based RL on batched MuJoCo tasks."""


app.command("run")(run_cmd.run)
app.command("envs")(envs_cmd.envs)
app.command("train")(train_cmd.train)
app.command("evaluate")(train_cmd.evaluate)
app.command("export")(export_cmd.export)
app.command("compare")(compare_cmd.compare)
app.command("sweep")(sweep_cmd.sweep)
app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(bench_cmd.bench)
app.add_typer(dataset_cmd.app, name="dataset")
app.add_typer(label_cmd.app, name="label")
app.add_typer(configs_cmd.app, name="configs")
app.command("synthesize")(synthesize_cmd.synthesize)
app.command("reward-check")(reward_check_cmd.reward_check)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
