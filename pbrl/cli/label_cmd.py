"""``pbrl label``: label preferences in the browser.

* ``pbrl label serve --store prefs.sqlite [--host 127.0.0.1] [--port 8000]`` —
  the labeling page (needs the ``web`` extra: ``pip install "pbrl[web]"``), with its
  rating (``/rate``) and ranking (``/rank``) views for stores that hold rating queries
  or open rankings (``pbrl dataset label --feedback rating|ranking --teacher human``);
* ``pbrl label add-labeler NAME --store prefs.sqlite`` — make a labeler and print
  their token (once: only its hash is stored), and the page's address when a live
  run serves it on this store;
* ``pbrl label labelers --store prefs.sqlite`` — list the labelers;
* ``pbrl label stats --store prefs.sqlite`` — answers and agreement, as the page's
  statistics.

A live PrefPPO/PEBBLE run with ``--teacher human`` keeps its queries in
``<run>/preferences.sqlite``: ``pbrl label serve --store <run>/preferences.sqlite``
serves them while the run trains (SQLite WAL: both read and write at once), or the
run serves the page itself with ``--pref human_serve=true`` (see
``agents/preference/README.md``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer
from rich.console import Console

from .common import command_group, err, fail

app = command_group("label", "Label preferences in the browser: serve the labeling page, manage labelers.")

STORE_HELP = "The preference store (SQLite file)."


def _open_store(path: str, *, create: bool):
    """Open the store, and read every page of it first: a damaged file is refused before anything reads or writes it."""
    from pbrl.preferences import DamagedStoreError, NotAPbrlStoreError, PreferenceStore

    try:
        pstore = PreferenceStore(path, create=create)
    except (DamagedStoreError, NotAPbrlStoreError, FileNotFoundError, OSError) as exc:
        fail(str(exc))
    try:
        pstore.check()
    except DamagedStoreError as exc:
        pstore.close()
        fail(str(exc))
    return pstore


@app.command("serve")
def serve(
    store: str = typer.Option(..., "--store", help=STORE_HELP + " Created if missing (a run can fill it later)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but loopback exposes the page to the network."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    task: Optional[str] = typer.Option(None, "--task", help="Task of the store's segments (default: the store's 'task' info)."),
    clip_dir: Optional[str] = typer.Option(None, "--clip-dir", help="Cache folder for rendered clips (default: <store>.clips/)."),
    size: int = typer.Option(384, "--size", min=64, max=1080, help="Clip width and height in pixels."),
    max_fps: float = typer.Option(30.0, "--max-fps", min=1.0, max=240.0, help="Faster tasks are slowed down to this frame rate."),
    render_ahead: int = typer.Option(8, "--render-ahead", min=0, max=200, help="Queries per labeler whose clips are rendered ahead."),
    cache_mb: int = typer.Option(2048, "--cache-mb", min=1, help="Clip cache budget in MB (least recently used clips go)."),
) -> None:
    """Serve the labeling page for a preference store."""
    import warnings

    try:
        from pbrl.web.render import ClipSettings
        from pbrl.web.server import NonLoopbackWarning, is_loopback
        from pbrl.web.server import serve as run
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        fail(f"the labeling app needs the web extra ({exc.name} is missing): pip install 'pbrl[web]'")
    existed = os.path.exists(store) and os.path.getsize(store) > 0
    pstore = _open_store(store, create=True)
    summary = pstore.summary()
    info = pstore.info()
    stored = info.get("task")
    if task is not None and isinstance(stored, str) and stored and stored != task:
        pstore.close()
        fail(
            f"--task {task} does not match the store: {store} holds segments of {stored}. "
            f"Drop --task (the page then shows {stored}), or serve a store made for {task}."
        )
    if not existed:
        err.print(f"created an empty preference store at {store}; queries appear as a run or `pbrl dataset label` adds them")
    if task is None and "task" not in info:
        err.print("[yellow]note:[/] the store does not name its task yet; clips render once it does (or pass --task)")
    if not is_loopback(host):
        err.print(
            f"[bold yellow]warning:[/] binding {host}: the page and clips are reachable from the network, "
            "unencrypted (every label still needs a token). Prefer 127.0.0.1 with an SSH tunnel."
        )
    shown = f"[{host}]" if ":" in host else host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else shown
    err.print(
        f"pbrl labeling page for {store} ({summary['queries']} queries, {summary['open']} open, "
        f"{summary['labelers']} labelers): http://{shown}:{port}/\n"
        + (
            f"  rating view: http://{shown}:{port}/rate ({summary['rating_queries']} clips to rate); ranking view: "
            f"http://{shown}:{port}/rank ({len(pstore.rankings('open'))} lists open)\n"
            if summary["rating_queries"] or pstore.rankings("open")
            else ""
        )
        + f"  open it with ?token=YOUR_TOKEN or paste the token on the page; make one with "
        f"`pbrl label add-labeler NAME --store {store}`. Ctrl-C stops."
    )
    sys.stderr.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonLoopbackWarning)  # said above
        run(
            pstore,
            host=host,
            port=port,
            task=task,
            clip_dir=clip_dir,
            settings=ClipSettings(width=size, height=size, max_fps=max_fps),
            render_ahead=render_ahead,
            max_cache_bytes=cache_mb * 1024 * 1024,
        )
    pstore.close()


@app.command("add-labeler")
def add_labeler(
    name: str = typer.Argument(..., help="The labeler's name (shown in statistics, stored with each label)."),
    store: str = typer.Option(..., "--store", help=STORE_HELP + " Created if missing."),
) -> None:
    """Create a labeler and print their token (shown once; only its hash is stored)."""
    with _open_store(store, create=True) as pstore:
        try:
            token = pstore.add_labeler(name)
        except ValueError as exc:
            fail(str(exc))
        live = _live_server(pstore)
    err.print(f"labeler {name!r} added to {store}. Their token (shown only now; keep it secret):")
    typer.echo(token)
    if live:
        err.print(f"the run using this store serves the labeling page: open {live}/?token={token}")
    else:
        err.print(f"open the page with http://127.0.0.1:8000/?token={token} (after `pbrl label serve --store {store}`)")


def _live_server(pstore) -> str | None:
    """The URL of the labeling page a live run serves on this store (``--pref human_serve=true``), if it runs."""
    entry = pstore.info().get("label_server")
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        return None
    pid = entry.get("pid")
    if isinstance(pid, int) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # the run ended without clearing it (killed)
        except PermissionError:
            pass
    return entry["url"]


@app.command("labelers")
def labelers(store: str = typer.Option(..., "--store", help=STORE_HELP)) -> None:
    """List the store's labelers."""
    with _open_store(store, create=False) as pstore:
        for name in pstore.labelers():
            typer.echo(name)


@app.command("stats")
def stats(
    store: str = typer.Option(..., "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Answers per labeler, agreement between labelers and with the scripted oracle."""
    from rich.table import Table

    from pbrl.preferences import DamagedStoreError
    from pbrl.web.stats import labeling_stats

    with _open_store(store, create=False) as pstore:
        try:
            data = labeling_stats(pstore)
        except DamagedStoreError as exc:  # a page that went bad after the check
            fail(str(exc))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    out = Console(width=140)
    t = Table(title="answers per labeler")
    for col in ("labeler", "kind", "answers", "left", "right", "equal", "skipped"):
        t.add_column(col)
    for r in data["labelers"]:
        t.add_row(r["labeler"], r["kind"], *(str(r[k]) for k in ("answers", "left", "right", "equal", "skipped")))
    out.print(t)
    t = Table(title="agreement between labelers (shared labelled queries)")
    for col in ("labeler", "labeler", "shared", "agreement"):
        t.add_column(col)
    for r in data["agreement"]:
        t.add_row(r["a"], r["b"], str(r["shared"]), f"{100 * r['agreement']:.1f} %")
    out.print(t)
    t = Table(title="agreement with the scripted oracle (true reward)")
    for col in ("labeler", "compared", "agreement", "equal answers"):
        t.add_column(col)
    for r in data["oracle"]:
        t.add_row(r["labeler"], str(r["compared"]), f"{100 * r['agreement']:.1f} %", str(r["equal"]))
    out.print(t)
