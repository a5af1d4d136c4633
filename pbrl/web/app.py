"""The labeling web app (FastAPI): the page, its JSON API, clips and statistics.

Routes (every write needs a labeler token, ``Authorization: Bearer <token>`` —
made by ``pbrl label add-labeler NAME``; the page asks for it once):

=======  ==========================  =====  ==============================================
method   path                        token  what
=======  ==========================  =====  ==============================================
GET      ``/``                        –      the labeling page
GET      ``/stats``                   –      the statistics page
GET      ``/api/health``              –      ``{"ok": true, ...}``
GET      ``/api/task``                –      task id, goal text, card, clip playback speed
GET      ``/api/stats``               –      counts per labeler, agreement, ratings, rankings (:mod:`pbrl.web.stats`)
GET      ``/api/me``                  yes    the labeler's name and progress
GET      ``/api/next``                yes    the labeler's next query (``query`` null when done)
GET      ``/api/queries/{id}``        yes    one query (e.g. the one just undone)
POST     ``/api/labels``              yes    ``{"query_id": 12, "choice": "left"}`` — see below
POST     ``/api/undo``                yes    retract the labeler's last answer
GET      ``/clips/{segment}.mp4``     –      a segment's clip (H.264 MP4; rendered if needed)
GET      ``/rate``, ``/rank``          –      the rating and the ranking view
GET      ``/api/rating/next``         yes    the labeler's next rating query (``query`` null when done)
POST     ``/api/ratings``             yes    ``{"rating_query_id": 3, "rating": 4}`` (1..n) or ``"skip": true``
POST     ``/api/ratings/undo``        yes    retract the labeler's last rating
GET      ``/api/ranking/next``        yes    the labeler's open ranking and its next comparison
POST     ``/api/ranking/answer``      yes    ``{"ranking_id": 1, "step": 0, "choice": "right"}``
POST     ``/api/ranking/undo``        yes    ``{"ranking_id": 1}``: take back the last comparison
=======  ==========================  =====  ==============================================

``choice`` is ``left`` (the first segment is better: label 0), ``right`` (the
second: 1), ``equal`` (0.5) or ``skip``. A repeated identical submission answers
200 with ``"duplicate": true`` and stores nothing; a different answer to an
answered query is 409 (undo first); an unknown query 404; a missing or wrong token
401; a malformed body 422; a body over ``max_body_bytes`` 413. A rating outside the
query's scale is 422; a different rating to a rated query, a stale ranking ``step``,
someone else's or a finished ranking 409 (:mod:`pbrl.web.feedback`). Nothing about a
segment's origin or reward is shown to the labeler (it would bias the answer).

The app checks the ``Host`` header against ``allowed_hosts`` (by default the
loopback names when it is bound to loopback, which stops DNS-rebinding pages from
reaching it) and sends a strict Content-Security-Policy.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
from importlib import resources
from typing import Any, Literal, Sequence

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..preferences.feedback import RankingNotFound, RatingConflictError
from ..preferences.ranking import RankingError
from ..preferences.ratings import RatingError
from ..preferences.store import LabelConflictError, PreferenceStore
from .feedback import FeedbackDesk
from .labeling import LabelingDesk, QueryNotFound
from .render import ClipError, ClipSettings
from .stats import OracleCache, labeling_stats
from .worker import ClipBusyError, ClipService

__all__ = ["LOOPBACK_HOSTS", "create_app"]

#: Host header names accepted when the server is bound to loopback
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_ID = 2**62

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def static_dir() -> str:
    return str(resources.files("pbrl.web") / "static")


class LabelIn(BaseModel):
    """An answer: which clip of the query is better."""

    model_config = ConfigDict(extra="forbid")
    query_id: StrictInt = Field(ge=1, le=MAX_ID)
    choice: Literal["left", "right", "equal", "skip"]


class RatingIn(BaseModel):
    """A rating: the level 1..n as the page shows it, or a skip."""

    model_config = ConfigDict(extra="forbid")
    rating_query_id: StrictInt = Field(ge=1, le=MAX_ID)
    rating: StrictInt | None = Field(default=None, ge=1, le=10)
    skip: bool = False


class RankingAnswerIn(BaseModel):
    """An answer to a ranking's comparison: is the new clip (right) better than the listed one (left)?"""

    model_config = ConfigDict(extra="forbid")
    ranking_id: StrictInt = Field(ge=1, le=MAX_ID)
    step: StrictInt = Field(ge=0, le=MAX_ID)
    choice: Literal["left", "right", "equal", "skip"]


class RankingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ranking_id: StrictInt = Field(ge=1, le=MAX_ID)


def _host_of(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Guard:
    """ASGI middleware: Host check, request-body size limit, security headers."""

    def __init__(self, app, *, allowed_hosts: Sequence[str] | None, max_body_bytes: int):
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}
        self.max_body = int(max_body_bytes)

    async def _reply(self, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.allowed is not None:
            host = _host_of(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                return await self._reply(send, 400, "invalid Host header")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await self._reply(send, 400, "invalid Content-Length")
            if n > self.max_body:
                return await self._reply(send, 413, f"request body over {self.max_body} bytes")
        if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            # read the body (bounded) before the app sees it
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return await self._reply(send, 413, f"request body over {self.max_body} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            inner_receive = replay
        else:
            inner_receive = receive

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", _CSP.encode()),
                ]
                message = dict(message, headers=list(message.get("headers") or []) + extra)
            await send(message)

        return await self.app(scope, inner_receive, send_with_headers)


def create_app(
    store: str | os.PathLike | PreferenceStore,
    *,
    task: str | None = None,
    clip_dir: str | os.PathLike | None = None,
    settings: ClipSettings | None = None,
    render_ahead: int = 8,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
    max_body_bytes: int = 4096,
    max_cache_bytes: int = 2 * 1024**3,
    clip_timeout: float = 120.0,
) -> FastAPI:
    """The labeling app over a preference store.

    Args:
        store: the store (path or open store; a path is opened, created if missing,
            and closed with the app).
        task: the task of the store's segments (default: the store's ``task`` info).
        clip_dir: where rendered clips are cached (default ``<store>.clips/``).
        settings: clip frame size, speed limit and quality.
        render_ahead: render the clips of this many upcoming queries per labeler.
        allowed_hosts: accepted ``Host`` header names; None accepts any (needed when
            serving on a non-loopback address under a name you do not know ahead).
        max_body_bytes: larger request bodies are refused with 413.
        max_cache_bytes: clip cache budget.
        clip_timeout: seconds a clip request waits for its rendering.

    Raises:
        ValueError: ``task`` is not the task the store records (its ``task`` info).
    """
    owned = not isinstance(store, PreferenceStore)
    pstore = PreferenceStore(store) if owned else store
    stored = pstore.info().get("task")
    if task is not None and isinstance(stored, str) and stored and stored != task:
        if owned:
            pstore.close()
        raise ValueError(f"task {task!r} does not match the store: {pstore.path} holds segments of {stored!r}")
    desk = LabelingDesk(pstore)
    feedback = FeedbackDesk(pstore)
    clips = ClipService(pstore, task=task, clip_dir=clip_dir, settings=settings, max_cache_bytes=max_cache_bytes)
    clips.set_plan(lambda: desk.render_plan(int(render_ahead)) + feedback.render_plan(int(render_ahead)))
    oracle = OracleCache()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        clips.start()
        try:
            yield
        finally:
            clips.stop()
            if owned:
                pstore.close()

    app = FastAPI(title="pbrl labeling", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.store = pstore
    app.state.desk = desk
    app.state.clips = clips

    def labeler(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-pbrl-token", "").strip()
        name = pstore.verify_token(token) if token else None
        if name is None:
            raise HTTPException(
                401,
                "a valid labeler token is required (header 'Authorization: Bearer <token>'); "
                "create one with: pbrl label add-labeler NAME --store STORE",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return name

    def side(segment_id: int) -> dict[str, Any]:
        problem = clips.problem(segment_id)
        url = None if problem else f"/clips/{segment_id}.mp4?v={clips.key(segment_id)[:16]}"
        return {"segment": int(segment_id), "clip": url, "problem": problem}

    def payload(qid: int, name: str) -> dict[str, Any]:
        first, second = desk.segments_of(qid)
        return {"id": int(qid), "left": side(first), "right": side(second), "answer": desk.answer_of(name, qid)}

    # -- pages -------------------------------------------------------------------

    page_headers = {"Cache-Control": "no-cache"}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index():
        return FileResponse(os.path.join(static_dir(), "index.html"), media_type="text/html", headers=page_headers)

    @app.api_route("/stats", methods=["GET", "HEAD"], include_in_schema=False)
    def stats_page():
        return FileResponse(os.path.join(static_dir(), "stats.html"), media_type="text/html", headers=page_headers)

    @app.api_route("/rate", methods=["GET", "HEAD"], include_in_schema=False)
    def rate_page():
        return FileResponse(os.path.join(static_dir(), "rate.html"), media_type="text/html", headers=page_headers)

    @app.api_route("/rank", methods=["GET", "HEAD"], include_in_schema=False)
    def rank_page():
        return FileResponse(os.path.join(static_dir(), "rank.html"), media_type="text/html", headers=page_headers)

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    # -- API -----------------------------------------------------------------------

    @app.get("/api/health")
    def health():
        return {"ok": True, "store": pstore.path, "task": clips.task_id(), "clips": dict(clips.stats, cache_bytes=clips.cache.size)}

    @app.get("/api/task")
    def task_info():
        from pbrl.envs import cards

        tid = clips.task_id()
        card = cards().get(tid) if tid else None
        return {
            "task": tid,
            "goal": card.goal if card else None,
            "card": card.to_dict() if card else None,
            "playback": clips.playback(),
        }

    @app.get("/api/stats")
    def stats():
        return labeling_stats(pstore, oracle)

    @app.get("/api/me")
    def me(name: str = Depends(labeler)):
        return {"labeler": name, "progress": desk.progress(name)}

    @app.get("/api/next")
    def next_query(name: str = Depends(labeler)):
        ids = desk.queue(name, limit=3).tolist()
        desk.touch(name)
        clips.wake()
        upcoming = []
        for qid in ids[1:]:
            for sid in desk.segments_of(qid):
                s = side(sid)
                if s["clip"]:
                    upcoming.append(s["clip"])
        return {
            "labeler": name,
            "query": payload(ids[0], name) if ids else None,
            "upcoming": upcoming,
            "progress": desk.progress(name),
        }

    @app.get("/api/queries/{query_id}")
    def get_query(query_id: int = Path(ge=1, le=MAX_ID), name: str = Depends(labeler)):
        try:
            return {"labeler": name, "query": payload(query_id, name), "progress": desk.progress(name)}
        except QueryNotFound as exc:
            raise HTTPException(404, str(exc.args[0])) from None

    @app.post("/api/labels")
    def submit(answer: LabelIn, name: str = Depends(labeler)):
        try:
            result = desk.submit(name, answer.query_id, answer.choice)
        except QueryNotFound as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        except LabelConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        clips.wake()
        return {
            "query_id": result.query_id,
            "label_id": result.label_id,
            "choice": result.choice,
            "duplicate": result.duplicate,
            "progress": desk.progress(name),
        }

    @app.post("/api/undo")
    def undo(name: str = Depends(labeler)):
        qid = desk.undo(name)
        return {"query_id": qid, "progress": desk.progress(name)}

    # -- ratings and rankings (pbrl.web.feedback) ------------------------------------

    def rating_payload(qid: int, name: str) -> dict[str, Any]:
        segment, n_classes = pstore.rating_query(qid)
        return {"id": int(qid), "clip": side(segment), "n_classes": n_classes, "answer": feedback.rating_answer(name, qid)}

    @app.get("/api/rating/next")
    def next_rating(name: str = Depends(labeler)):
        qid = feedback.next_rating(name)
        clips.wake()
        return {"labeler": name, "query": None if qid is None else rating_payload(qid, name), "progress": feedback.rating_progress(name)}

    @app.post("/api/ratings")
    def submit_rating(answer: RatingIn, name: str = Depends(labeler)):
        if answer.skip == (answer.rating is not None):
            raise HTTPException(422, "give either a rating (1..n) or skip: true")
        try:
            result = feedback.submit_rating(name, answer.rating_query_id, answer.rating)
        except RatingConflictError as exc:
            raise HTTPException(409, str(exc) + " (undo first to change it)") from None
        except RatingError as exc:
            raise HTTPException(422, str(exc)) from None
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        clips.wake()
        return {"rating_query_id": answer.rating_query_id, **result, "progress": feedback.rating_progress(name)}

    @app.post("/api/ratings/undo")
    def undo_rating(name: str = Depends(labeler)):
        qid = pstore.undo_last_rating(name)
        return {"rating_query_id": qid, "query": None if qid is None else rating_payload(qid, name), "progress": feedback.rating_progress(name)}

    def ranking_payload(view: dict[str, Any] | None) -> dict[str, Any] | None:
        if view is None:
            return None
        sides = {k: None if view[k] is None else side(view[k]) for k in ("reference", "candidate")}
        return {**view, **sides}

    @app.get("/api/ranking/next")
    def next_ranking(name: str = Depends(labeler)):
        clips.wake()
        return {"labeler": name, "ranking": ranking_payload(feedback.ranking_view(name))}

    @app.post("/api/ranking/answer")
    def answer_ranking(answer: RankingAnswerIn, name: str = Depends(labeler)):
        try:
            result = feedback.answer_ranking(name, answer.ranking_id, answer.step, answer.choice)
        except RankingNotFound as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        except RankingError as exc:
            raise HTTPException(409, str(exc)) from None
        clips.wake()
        return {**result, "ranking": ranking_payload(feedback.ranking_view(name))}

    @app.post("/api/ranking/undo")
    def undo_ranking(body: RankingIn, name: str = Depends(labeler)):
        try:
            done = pstore.undo_ranking(body.ranking_id, name)
            view = feedback.ranking_view(name, body.ranking_id)
        except RankingNotFound as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        return {"undone": done, "ranking": ranking_payload(view)}

    @app.api_route("/clips/{segment_id}.mp4", methods=["GET", "HEAD"], include_in_schema=False)
    def clip(segment_id: int = Path(ge=1, le=MAX_ID)):
        try:
            path = clips.clip(segment_id, timeout=clip_timeout)
        except KeyError:
            raise HTTPException(404, f"segment {segment_id} is not in the store") from None
        except ClipError as exc:
            raise HTTPException(422, str(exc)) from None
        except ClipBusyError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "2"}) from None
        except concurrent.futures.TimeoutError:
            raise HTTPException(504, f"rendering segment {segment_id} took over {clip_timeout:g} s") from None
        return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private, max-age=86400"})

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.add_middleware(_Guard, allowed_hosts=allowed_hosts, max_body_bytes=max_body_bytes)
    return app
