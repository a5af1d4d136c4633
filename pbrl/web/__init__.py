"""The labeling web app: people compare two clips and say which does the task better.

``pbrl label serve --store prefs.sqlite`` serves a page on http://127.0.0.1:8000/
where a labeler (token from ``pbrl label add-labeler NAME --store prefs.sqlite``)
watches two clips of the store's open queries side by side, looping in sync, and
answers with a click or a key: ← left better, → right better, = equal, s skip,
u undo. Answers go straight to the preference store (SQLite, WAL), so a live run
reading the same store sees them at once.

Modules, one concern each:

* :mod:`pbrl.web.render` — drawing a segment from its ``qpos``/``qvel`` extras
  and encoding the frames as H.264 MP4;
* :mod:`pbrl.web.cache` — the disk cache of clips;
* :mod:`pbrl.web.worker` — the rendering thread: clips on demand and ahead;
* :mod:`pbrl.web.labeling` — which queries a labeler gets, progress, answers;
* :mod:`pbrl.web.stats` — counts, agreement between labelers and with the oracle;
* :mod:`pbrl.web.app` — the FastAPI app and its JSON API (``static/``: the page);
* :mod:`pbrl.web.server` — running it on uvicorn (blocking or on a thread);

A live PrefPPO/PEBBLE run asks people through :class:`pbrl.teachers.human.HumanTeacher`
(``pbrl train --reward learned --teacher human``): its queries go to
``<run>/preferences.sqlite``, served by the run itself with ``--pref
human_serve=true`` (``human_host``, ``human_port``; it prints the address) or by
``pbrl label serve --store <run>/preferences.sqlite`` from another terminal; each
round waits for answers as ``human_min_labels``/``human_timeout`` say, or not at all
(``human_min_labels=0``); late answers are trained on by the next update. The clips
draw the run's task (the store's ``task`` and ``task_kwargs`` info) from the
``qpos``/``qvel`` the loop records with every step. See ``agents/preference/README.md``.

The app needs the ``web`` extra (``pip install "pbrl[web]"``: FastAPI, uvicorn);
the human teacher (``pbrl.teachers``, registered as ``"human"``) and the clip renderer do not.
"""

from __future__ import annotations

from typing import Any

from .render import ClipError, ClipRenderer, ClipSettings, encode_mp4, segment_states

__all__ = [
    "ClipError",
    "ClipRenderer",
    "ClipSettings",
    "LabelServer",
    "create_app",
    "encode_mp4",
    "segment_states",
    "serve",
    "server_on",
]


def server_on(host: str = "127.0.0.1", port: int = 0):
    """``HumanTeacher(serve=...)``: a function that starts the labeling page on a store at
    ``host:port`` (0: any free port) on a thread and returns the running :class:`LabelServer`."""

    def start(store: Any):
        from .server import LabelServer  # the web extra (FastAPI, uvicorn), loaded when serving starts

        return LabelServer(store, host=host, port=port).start()

    return start


def __getattr__(name: str) -> Any:
    # the app and the server import FastAPI / uvicorn (the ``web`` extra): load them on use
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("LabelServer", "serve"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'pbrl.web' has no attribute {name!r}")
