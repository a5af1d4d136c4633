"""``pbrl configs list|show|copy``: the example experiment configs shipped with pbrl.

They live in the package (``pbrl/configs/``), so a pip install has them too;
``pbrl train NAME`` and ``pbrl sweep NAME`` read one by name from any folder, and
``copy`` puts one in the working directory to edit.
"""

from __future__ import annotations

import os
import shutil
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pbrl.runs.configfile import ConfigFileError, packaged_config, packaged_configs, read_config_file

from .common import command_group, err, fail

app = command_group("configs", "The example experiment configs shipped with pbrl (`pbrl train NAME` runs one).")
out = Console(width=160, highlight=False)


def _path(name: str) -> str:
    try:
        return packaged_config(name)
    except ConfigFileError as exc:
        fail(str(exc))


def _description(path: str) -> str:
    """The file's first comment line: what the experiment trains."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return ""


@app.command("list")
def list_() -> None:
    """List the packaged configs: name, agent, reward, task or dataset, what it trains."""
    table = Table(title="packaged configs (pbrl train NAME, pbrl configs show NAME)")
    for column in ("name", "agent", "reward", "task / dataset", "description"):
        table.add_column(column)
    for name, path in packaged_configs().items():
        data = read_config_file(path)
        where = data.get("dataset") or data.get("env") or data.get("task") or ""
        table.add_row(name, str(data.get("agent", "ppo")), str(data.get("reward", "")), str(where), _description(path))
    out.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="A packaged config's name (`sac` or `sac.toml`; `pbrl configs list`).")) -> None:
    """Print a packaged config file."""
    with open(_path(name), encoding="utf-8") as f:
        typer.echo(f.read(), nl=False)


@app.command("copy")
def copy(
    name: str = typer.Argument(..., help="A packaged config's name (`sac` or `sac.toml`; `pbrl configs list`)."),
    dest: Optional[str] = typer.Argument(None, help="Where to write it: a file, or a folder to put it in (default: ./NAME.toml)."),
    force: bool = typer.Option(False, "--force", help="Overwrite DEST if it exists."),
) -> None:
    """Copy a packaged config to DEST, to edit and run with `pbrl train DEST`."""
    source = _path(name)
    dest = dest or os.path.basename(source)
    if os.path.isdir(dest):
        dest = os.path.join(dest, os.path.basename(source))
    if os.path.exists(dest) and not force:
        fail(f"{dest} already exists; pass --force to overwrite it")
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        fail(f"cannot write {dest}: {exc.strerror or exc}")
    err.print(f"wrote {dest} (run it with: pbrl train {dest})", markup=False)
