"""The HTTP API: `create_app(settings)` builds it; `crossdesk serve` runs it under uvicorn.

Channels post customer messages (with an Idempotency-Key) and get the reply, as
JSON or as server-sent events; operators work the takeover queue; auditors read
conversations and verify the audit log. In inline mode the API runs turns itself;
in broker mode it queues them for `crossdesk worker` processes and waits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator import __version__
from orchestrator.config import ConfigError, Settings, load_settings
from orchestrator.convlock import KeyedLocks
from orchestrator.errors import CrossdeskError, InputError, NotFoundError
from orchestrator.service import requests as req
from orchestrator.service import tenancy
from orchestrator.service.auth import require
from orchestrator.service.config import Principal, ServiceSettings, load_service_settings, require_tokens
from orchestrator.service.schemas import (
    ErrorOut,
    MessageIn,
    OperatorIn,
    OperatorReplyIn,
    Pending,
    ReleaseIn,
    TurnReply,
)
from orchestrator.service.tables import PENDING

log = logging.getLogger(__name__)
CHANNEL = require("channel")
OPERATOR = require("operator")
READERS = require("channel", "operator", "auditor")
QUEUE_READERS = require("operator", "auditor")
ANYONE = require()
_SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no token or an unknown one"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
}


def check_database_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not valid; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
            "(CROSSDESK_DB_URL)"
        ) from exc
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"database {parsed.drivername!r} is not supported; use SQLite or PostgreSQL")


class Service:
    """What the routes share: the orchestrator, the turn runner and (broker mode) the Redis client."""

    def __init__(self, settings: Settings, svc: ServiceSettings, orch: Any = None) -> None:
        from orchestrator.service.worker import worker_name

        self.settings = settings
        self.svc = svc
        if orch is None:
            from sqlalchemy.exc import OperationalError

            from orchestrator.runtime import Orchestrator, freeze_startup_heap

            try:
                orch = Orchestrator(settings)
            except OperationalError as exc:
                raise ConfigError(
                    f"cannot open the database {settings.database_url.split('@')[-1]}: {exc.orig}; "
                    "check CROSSDESK_DB_URL and that the server runs"
                ) from exc
            freeze_startup_heap()  # a server lives long: keep start-up objects out of full collections
        self.orch = orch
        self.engine = orch.engine
        self.runner = req.TurnRunner(orch, f"api-{worker_name()}")
        # duplicates of a request wait here, then replay its answer (the turn itself also takes
        # the Orchestrator's conversation lock, shared with the workers and operators)
        self.request_locks = KeyedLocks()
        self.redis: Any = None
        self.aredis: Any = None
        if svc.mode == "broker":
            from orchestrator.service.broker import Keys, connect

            self.redis = connect(svc.redis_url)
            self.keys = Keys(svc.stream_prefix)

    def run_inline(self, rid: str, conversation_id: str) -> dict[str, Any]:
        # one turn at a time per conversation, checked under the lock: a duplicate waits, then replays
        with self.request_locks.hold(conversation_id):
            return self.runner.run(rid)

    def async_redis(self) -> Any:
        if self.aredis is None:
            import redis.asyncio as aredis

            self.aredis = aredis.Redis.from_url(
                self.svc.redis_url, decode_responses=True, max_connections=512
            )
        return self.aredis

    def enqueue(self, rid: str, conversation_id: str) -> None:
        from orchestrator.service.broker import enqueue

        enqueue(self.redis, self.keys, self.svc.partitions, rid, conversation_id)
        req.mark_enqueued(self.engine, rid)

    async def wait(self, rid: str, timeout: float) -> dict[str, Any]:
        """The request row once answered, or still pending after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        client = self.async_redis()
        while True:
            row = await run_in_threadpool(req.get_request, self.engine, rid)
            if row is None or row["status"] != PENDING:
                return row or {}
            left = deadline - time.monotonic()
            if left <= 0:
                return row
            # the worker pushes to this key when it answers; the database check above is the truth
            await client.blpop([self.keys.done(rid)], timeout=max(0.05, min(left, 1.0)))

    def close(self) -> None:
        self.orch.close()
        if self.redis is not None:
            self.redis.close()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _payload(conversation_id: str, body: MessageIn, service: Service) -> dict[str, Any]:
    from orchestrator.runtime import _CONVERSATION_ID, JURISDICTIONS, clean_message

    if not _CONVERSATION_ID.match(conversation_id):
        raise InputError(
            f"conversation id {conversation_id!r} is not valid; use letters, digits and . _ : - (max 128)"
        )
    text = clean_message(body.text, service.settings.max_message_chars)
    jurisdiction = body.jurisdiction.upper() if body.jurisdiction else None
    if jurisdiction is not None and jurisdiction not in JURISDICTIONS:
        raise InputError(f"unknown jurisdiction {body.jurisdiction!r}; use one of {', '.join(JURISDICTIONS)}")
    customer = body.customer_id.strip() if body.customer_id else None
    if customer:
        service.orch.customer(customer)  # raises NotFoundError with what to do
    return {
        "conversation_id": conversation_id,
        "text": text,
        "customer_id": customer,
        "jurisdiction": jurisdiction,
    }


def _answer(row: dict[str, Any], replayed: bool, key: str) -> JSONResponse:
    headers = {"Idempotency-Key": key}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(row.get("response") or {}, status_code=row.get("http_status") or 200, headers=headers)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


def create_app(
    settings: Settings | None = None, *, service: ServiceSettings | None = None, orchestrator: Any = None
) -> FastAPI:
    """The API. Raises ConfigError (with what to fix) on bad configuration: no tokens, a bad URL."""
    settings = settings or load_settings()
    svc = service or load_service_settings(settings)
    require_tokens(svc)
    check_database_url(settings.database_url)
    state = Service(settings, svc, orchestrator)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if state.aredis is not None:
            await state.aredis.aclose()
        state.close()

    app = FastAPI(
        lifespan=lifespan,
        title="crossdesk",
        version=__version__,
        description="Multi-agent customer service: channels post messages, operators work the queue.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service_settings = svc
    app.state.service = state

    @app.exception_handler(CrossdeskError)
    async def crossdesk_error(_request: Request, exc: CrossdeskError) -> JSONResponse:
        return _error(req.http_status_of(exc), str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _error(422, "the request is not valid: " + "; ".join(parts))

    # ------------------------------------------------------------ health

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up (no token needed)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses=_ERRORS)
    async def readyz(_p: Annotated[Principal, Depends(ANYONE)]) -> JSONResponse:
        """The database answers, plugins are loaded and (broker mode) the broker answers."""
        checks: dict[str, str] = {}

        def db() -> None:
            from sqlalchemy import text

            with state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(db)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failing: {type(exc).__name__}"
        departments = len(state.orch.plugins.departments)
        checks["plugins"] = f"{departments} departments" if departments else "failing: none loaded"
        if state.redis is not None:
            try:
                await state.async_redis().ping()
                checks["broker"] = "ok"
            except Exception as exc:
                checks["broker"] = f"failing: {type(exc).__name__}"
        ready = not any(v.startswith("failing") for v in checks.values())
        return JSONResponse(
            {"ready": ready, "mode": svc.mode, "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_p: Annotated[Principal, Depends(ANYONE)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_p: Annotated[Principal, Depends(ANYONE)]) -> HTMLResponse:
        # the page's script and style come from this server, not a CDN: operators' networks may be closed
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="crossdesk API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str, _p: Annotated[Principal, Depends(ANYONE)]) -> FileResponse:
        from swagger_ui_bundle import swagger_ui_path

        if name not in _SWAGGER_ASSETS:
            raise NotFoundError(f"no documentation asset {name!r}")
        return FileResponse(Path(str(swagger_ui_path)) / name, media_type=_SWAGGER_ASSETS[name])

    # ------------------------------------------------------------ channels

    @app.post(
        "/v1/conversations/{conversation_id}/messages",
        tags=["channel"],
        response_model=TurnReply,
        responses={**_ERRORS, 202: {"model": Pending}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    )
    async def post_message(
        conversation_id: str,
        body: MessageIn,
        request: Request,
        principal: Annotated[Principal, Depends(CHANNEL)],
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Send a customer message and get the reply. The same Idempotency-Key always gets the same
        reply and runs the turn once. With `Accept: text/event-stream` the answer comes as events."""
        key = req.check_key(idempotency_key)
        payload = await run_in_threadpool(_payload, conversation_id, body, state)
        await run_in_threadpool(tenancy.claim_for_channel, state.engine, principal, conversation_id)
        rid = req.request_id(principal.tenant, key)
        row, created = await run_in_threadpool(req.open_request, state.engine, rid, payload)
        stream = "text/event-stream" in request.headers.get("accept", "")
        if stream:
            return StreamingResponse(
                _events(rid, row, created, key, conversation_id),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "Idempotency-Key": key},
            )
        if row["status"] != PENDING:
            return _answer(row, True, key)
        row = await _run(rid, row, created, conversation_id)
        if row.get("status") == PENDING:
            return _pending(conversation_id, key, rid)
        return _answer(row, not created, key)

    async def _run(rid: str, row: dict[str, Any], created: bool, conversation_id: str) -> dict[str, Any]:
        if svc.mode == "inline":
            return await run_in_threadpool(state.run_inline, rid, conversation_id)
        stale = row.get("enqueued_at") is None
        if created or stale:
            await run_in_threadpool(state.enqueue, rid, conversation_id)
        return await state.wait(rid, svc.wait_seconds)

    async def _events(
        rid: str, row: dict[str, Any], created: bool, key: str, conversation_id: str
    ) -> AsyncIterator[bytes]:
        yield _sse("accepted", {"request": rid, "conversation_id": conversation_id, "replayed": not created})
        if row["status"] == PENDING:
            yield _sse("status", {"status": "processing", "mode": svc.mode})
            try:
                row = await _run(rid, row, created, conversation_id)
            except CrossdeskError as exc:
                yield _sse("error", {"error": str(exc), "http_status": req.http_status_of(exc)})
                return
        if row.get("status") == PENDING:
            yield _sse("pending", {"poll": _poll_url(conversation_id, key)})
        elif row.get("http_status") == 200:
            yield _sse("reply", row["response"])
        else:
            yield _sse("error", {**(row.get("response") or {}), "http_status": row.get("http_status")})
        yield _sse("end", {})

    def _poll_url(conversation_id: str, key: str) -> str:
        return f"/v1/conversations/{conversation_id}/messages/{key}"

    def _pending(conversation_id: str, key: str, rid: str) -> JSONResponse:
        url = _poll_url(conversation_id, key)
        return JSONResponse(
            {"status": "pending", "request": rid, "poll": url}, status_code=202, headers={"Location": url}
        )

    @app.get(
        "/v1/conversations/{conversation_id}/messages/{key}",
        tags=["channel"],
        response_model=TurnReply,
        responses={**_ERRORS, 202: {"model": Pending}, 404: {"model": ErrorOut}},
    )
    async def get_message(
        conversation_id: str, key: str, principal: Annotated[Principal, Depends(CHANNEL)]
    ) -> Any:
        """The reply to a message posted earlier (202 while it is still being answered)."""
        rid = req.request_id(principal.tenant, key)
        row = await run_in_threadpool(req.get_request, state.engine, rid)
        if row is None or row["conversation_id"] != conversation_id:
            raise NotFoundError(
                f"no message with Idempotency-Key {key!r} in conversation {conversation_id!r}"
            )
        if row["status"] == PENDING:
            return _pending(conversation_id, key, rid)
        return _answer(row, True, key)

    @app.get("/v1/conversations/{conversation_id}", tags=["conversations"], responses=_ERRORS)
    async def get_conversation(
        conversation_id: str, principal: Annotated[Principal, Depends(READERS)]
    ) -> dict[str, Any]:
        """The conversation, its routing records (one per turn) and its transcript."""
        await run_in_threadpool(tenancy.check_access, state.engine, principal, conversation_id)
        return await run_in_threadpool(conversation_view, state.engine, conversation_id)

    # ------------------------------------------------------------ operators

    @app.get("/v1/queue", tags=["operators"], responses=_ERRORS)
    async def get_queue(
        principal: Annotated[Principal, Depends(QUEUE_READERS)], all: bool = False
    ) -> list[dict[str, Any]]:
        """Conversations waiting for an operator, the most urgent first (`all`: released ones too)."""
        from orchestrator.takeover import queue

        items = await run_in_threadpool(queue, state.engine, include_closed=all)
        allowed = await run_in_threadpool(
            tenancy.visible, state.engine, principal, [i["conversation_id"] for i in items]
        )
        return [i for i in items if i["conversation_id"] in allowed]

    @app.post("/v1/conversations/{conversation_id}/takeover", tags=["operators"], responses=_ERRORS)
    async def takeover(
        conversation_id: str, body: OperatorIn, principal: Annotated[Principal, Depends(OPERATOR)]
    ) -> dict[str, Any]:
        """Take a queued conversation over: returns its hand-over (summary, findings, transcript)."""
        from orchestrator.takeover import claim

        await run_in_threadpool(tenancy.check_access, state.engine, principal, conversation_id)
        return await run_in_threadpool(claim, state.engine, conversation_id, body.operator)

    @app.post("/v1/conversations/{conversation_id}/reply", tags=["operators"], responses=_ERRORS)
    async def operator_reply(
        conversation_id: str, body: OperatorReplyIn, principal: Annotated[Principal, Depends(OPERATOR)]
    ) -> dict[str, Any]:
        """Answer the customer of a conversation you have taken over."""
        from orchestrator.takeover import reply

        await run_in_threadpool(tenancy.check_access, state.engine, principal, conversation_id)
        return await run_in_threadpool(
            lambda: reply(
                state.engine,
                conversation_id,
                body.text,
                operator=body.operator,
                max_chars=settings.max_message_chars,
            )
        )

    @app.post("/v1/conversations/{conversation_id}/release", tags=["operators"], responses=_ERRORS)
    async def release(
        conversation_id: str,
        principal: Annotated[Principal, Depends(OPERATOR)],
        body: ReleaseIn | None = None,
    ) -> dict[str, Any]:
        """Hand the conversation back to automation; its paused turn resumes from the checkpoint."""
        from orchestrator.takeover import release as do_release

        await run_in_threadpool(tenancy.check_access, state.engine, principal, conversation_id)
        operator = body.operator if body else None
        return await run_in_threadpool(lambda: do_release(state.orch, conversation_id, operator=operator))

    # ------------------------------------------------------------ auditors

    @app.get("/v1/audit/verify", tags=["auditors"], responses=_ERRORS)
    async def audit_verify(principal: Annotated[Principal, Depends(require("auditor"))]) -> JSONResponse:
        """Walk the audit log's hash chain; 200 when intact, 409 with the first broken link if not."""
        from policies.audit import verify

        if principal.tenant is not None:
            raise StarletteHTTPException(
                403, "the audit log spans every tenant; use an auditor token without a tenant"
            )
        report = await run_in_threadpool(verify, state.engine)
        data = report.as_dict()
        return JSONResponse(data, status_code=200 if data["ok"] else 409)

    return app


def conversation_view(engine: Any, conversation_id: str) -> dict[str, Any]:
    from sqlmodel import Session, col, select

    from orchestrator.records import Conversation, TurnRecord
    from orchestrator.takeover import transcript

    with Session(engine) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        turns = session.exec(
            select(TurnRecord)
            .where(TurnRecord.conversation_id == conversation_id)
            .order_by(col(TurnRecord.seq))
        ).all()
        return {
            "id": conv.id,
            "customer_id": conv.customer_id,
            "jurisdiction": conv.jurisdiction,
            "status": conv.status,
            "turns": conv.turns,
            "departments": list(conv.departments or []),
            "transfers": conv.transfers,
            "created_at": conv.created_at,
            "updated_at": conv.updated_at,
            "records": [t.record for t in turns],
            "transcript": transcript(session, conversation_id),
        }
