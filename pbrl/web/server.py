"""Running the labeling app on uvicorn: blocking (the CLI) or on a background thread.

The server binds ``127.0.0.1`` unless told otherwise; binding any other address
makes the page (and the clips) reachable from the network, so pbrl warns, and the
``Host`` check is relaxed to accept any name (tokens still guard every write).
"""

from __future__ import annotations

import ipaddress
import threading
import time
import warnings
from typing import Any

__all__ = ["LabelServer", "is_loopback", "serve"]


class NonLoopbackWarning(UserWarning):
    """The labeling server listens on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_host(host: str) -> None:
    if not is_loopback(host):
        warnings.warn(
            f"the labeling server listens on {host}, reachable from other machines: anyone who can reach it "
            "can watch the clips and the statistics (labels still need a token). Traffic is not encrypted; "
            "prefer 127.0.0.1 with an SSH tunnel.",
            NonLoopbackWarning,
            stacklevel=3,
        )


def _app_kwargs(host: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from .app import LOOPBACK_HOSTS

    if "allowed_hosts" not in kwargs:
        kwargs["allowed_hosts"] = LOOPBACK_HOSTS if is_loopback(host) else None
    return kwargs


def serve(store: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning", **app_kwargs: Any) -> None:
    """Run the labeling app until interrupted (Ctrl-C). ``app_kwargs`` go to
    :func:`pbrl.web.app.create_app`."""
    import uvicorn

    from .app import create_app

    _check_host(host)
    app = create_app(store, **_app_kwargs(host, dict(app_kwargs)))
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, access_log=False, timeout_graceful_shutdown=5)


class LabelServer:
    """The labeling app on a background thread (for loops, notebooks and tests).

    Args:
        store: path or open :class:`~pbrl.preferences.PreferenceStore`.
        host: address to bind (default loopback).
        port: port; 0 picks a free one (see :attr:`url`).
        **app_kwargs: passed to :func:`pbrl.web.app.create_app`.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with LabelServer("prefs.sqlite") as server:
            print("label at", server.url)
    """

    def __init__(self, store: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", **app_kwargs: Any):
        import uvicorn

        from .app import create_app

        _check_host(host)
        self.host = host
        self.app = create_app(store, **_app_kwargs(host, dict(app_kwargs)))
        config = uvicorn.Config(
            self.app, host=host, port=int(port), log_level=log_level, access_log=False, timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self.port is None:
            raise RuntimeError("the server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "LabelServer":
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._server.run, name="pbrl-label-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._thread = None
                self.app.state.clips.stop()  # the app's startup ran; its shutdown will not
                raise RuntimeError(
                    f"the labeling server could not start on {self.host}:{self._server.config.port} (is the port in use?)"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the labeling server did not start within {timeout:g} s")
            time.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._thread = None
        self.port = None

    def __enter__(self) -> "LabelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "stopped"
        return f"LabelServer({where})"

