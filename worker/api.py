"""The control API server: FastAPI routes over worker.service.Service, its guard, and uvicorn.

Every route answers JSON (the CSV export aside) and every error is ``{"title", "message"}``.
The guard in front of the app checks the Host header (a DNS-rebinding defence: only
``127.0.0.1:<port>`` and ``localhost:<port>``) and the bearer token, and turns any unexpected
exception into a 500 whose traceback goes to the log, never to the client. The routes are plain
``def`` functions: FastAPI runs them in its thread pool, and Service is thread-safe.
"""

from __future__ import annotations

import contextlib
import hmac
import importlib
import logging
import socket
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable, Literal

import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import paths
from core.errors import UpqueueError
from worker.service import Conflict, NotFound

log = logging.getLogger(__name__)

TOKEN_COOKIE = "upqueue_token"
# Paths a browser may open with the cookie that ``/docs?token=`` sets. API routes want the
# Authorization header, so a cookie alone can never change anything (no CSRF).
_DOCS_PATHS = frozenset({"/docs", "/openapi.json"})
UPLOAD_ACTIONS = ("pause", "resume", "cancel", "retry")


# -- request bodies ---------------------------------------------------------------------
class _Body(BaseModel):
    # A misspelt field is an error a person should see, not something silently dropped.
    model_config = ConfigDict(extra="forbid")


class TargetIn(_Body):
    name: str
    url: str
    protocol: str = "tus"
    headers: dict[str, str] = {}
    auth_kind: str = "none"
    username: str | None = None
    secret: str | None = None
    auth_header: str | None = None
    chunk_size: int | str | None = None
    options: dict[str, Any] | None = None


class TargetPatch(_Body):
    name: str | None = None
    url: str | None = None
    protocol: str | None = None
    headers: dict[str, str] | None = None
    auth_kind: str | None = None
    username: str | None = None
    secret: str | None = None
    auth_header: str | None = None
    chunk_size: int | str | None = None
    options: dict[str, Any] | None = None


class UploadsIn(_Body):
    paths: list[str]
    target: str | int
    recursive: bool = False


class BulkIn(_Body):
    action: Literal["pause", "resume", "cancel", "retry", "remove"]
    ids: list[int]


# -- errors -----------------------------------------------------------------------------
def error_response(status: int, title: str, message: str, **extra: Any) -> JSONResponse:
    """The one shape of every error answer."""
    return JSONResponse({"title": title, "message": message, **extra}, status_code=status)


def _upqueue_error(status: int) -> Callable[[Request, Exception], JSONResponse]:
    def handler(request: Request, exc: Exception) -> JSONResponse:
        extra: dict[str, Any] = {}
        # Service attaches per-item problems (e.g. every rejected path) to some errors.
        errors = getattr(exc, "errors", None) or getattr(exc, "rejected", None)
        if isinstance(errors, list):
            extra["errors"] = errors
        title = getattr(exc, "title", None) or "Request refused"
        message = getattr(exc, "message", None) or str(exc)
        return error_response(status, title, message, **extra)

    return handler


def validation_message(exc: RequestValidationError) -> str:
    """Pydantic's error list as one sentence a person can read: "paths: Field required"."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        text = str(error.get("msg", "invalid value"))
        parts.append(f"{where}: {text}" if where else text)
    return "; ".join(parts) or "The request could not be read."


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "Invalid request", validation_message(exc) + ".")


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, "Not found", f"There is no {request.url.path} in this API.")
    if exc.status_code == 405:
        return error_response(
            405, "Method not allowed", f"{request.method} is not allowed on {request.url.path}."
        )
    return error_response(exc.status_code, "Request refused", str(exc.detail))


# -- the guard --------------------------------------------------------------------------
class Guard:
    """ASGI middleware: Host check, bearer token, and a 500 for anything unexpected.

    Args:
        app: the wrapped application.
        token: the secret every request must carry.
        port: the port we listen on, or a callable returning it (known only after binding).
        log_path: named in the 500 message so a person knows where to look.
    """

    def __init__(
        self, app: ASGIApp, token: str, port: int | Callable[[], int], log_path: Path
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._port = port
        self._log_path = log_path

    def _allowed_hosts(self) -> set[str]:
        port = self._port() if callable(self._port) else self._port
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _token_ok(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = request.headers.get("host", "").lower()
        if host not in self._allowed_hosts():
            response = error_response(
                400,
                "Wrong host",
                f"This API answers only at 127.0.0.1 or localhost on its own port, not at {host or 'no host'}.",
            )
            await response(scope, receive, send)
            return
        path = scope.get("path", "")
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        if not self._token_ok(bearer):
            if path in _DOCS_PATHS and self._token_ok(request.cookies.get(TOKEN_COOKIE)):
                pass
            elif path == "/docs" and self._token_ok(request.query_params.get("token")):
                # Swap the token in the address bar for a cookie, so it leaves the URL and history.
                redirect = RedirectResponse("/docs", status_code=303)
                redirect.set_cookie(
                    TOKEN_COOKIE, self._token.decode(), httponly=True, samesite="strict", path="/"
                )
                await redirect(scope, receive, send)
                return
            else:
                response = error_response(
                    401,
                    "Not authorised",
                    "Send the worker's token as 'Authorization: Bearer <token>'; it is in the "
                    "file api.token in the upqueue data directory.",
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("control API: %s %s failed", scope.get("method"), path)
            if not started:
                response = error_response(
                    500,
                    "Internal error",
                    f"Something went wrong in the worker; details are in the log file {self._log_path}.",
                )
                await response(scope, receive, send)


# -- the app ----------------------------------------------------------------------------
def create_app(service: Any, token: str, allowed_port: int | Callable[[], int]) -> FastAPI:
    """The control API over ``service``.

    Args:
        service: a ``worker.service.Service`` (thread-safe; routes call it from a thread pool).
        token: the bearer token every request must carry.
        allowed_port: the port the server listens on, or a callable giving it, for the Host check.

    Returns:
        The FastAPI application, guarded.
    """
    app = FastAPI(
        title="upqueue control API",
        version=_version(),
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # Declares the bearer scheme so /docs offers "Authorize"; the Guard does the checking.
        dependencies=[Depends(HTTPBearer(auto_error=False))],
    )
    app.add_exception_handler(NotFound, _upqueue_error(404))
    app.add_exception_handler(Conflict, _upqueue_error(409))
    app.add_exception_handler(UpqueueError, _upqueue_error(400))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(
        Guard, token=token, port=allowed_port, log_path=paths.data_dir() / paths.LOG_FILE
    )
    _add_routes(app, service)
    try:
        api_watches = importlib.import_module("worker.api_watches")
    except ModuleNotFoundError as exc:
        if exc.name != "worker.api_watches":
            raise
    else:
        app.include_router(api_watches.make_router(service))
    return app


def _add_routes(app: FastAPI, service: Any) -> None:  # noqa: C901 - one short function per route
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return service.health()

    @app.get("/api/targets")
    def list_targets() -> dict[str, Any]:
        return {"targets": service.list_targets()}

    @app.post("/api/targets", status_code=201)
    def add_target(body: TargetIn) -> dict[str, Any]:
        return service.add_target(body.model_dump(exclude_unset=True))

    @app.post("/api/targets/test")
    def test_target_config(body: TargetIn) -> dict[str, Any]:
        return service.test_target_config(body.model_dump(exclude_unset=True))

    @app.get("/api/targets/{target_id}")
    def get_target(target_id: int) -> dict[str, Any]:
        return service.get_target(target_id)

    @app.patch("/api/targets/{target_id}")
    def update_target(target_id: int, body: TargetPatch) -> dict[str, Any]:
        return service.update_target(target_id, body.model_dump(exclude_unset=True))

    @app.delete("/api/targets/{target_id}", status_code=204)
    def remove_target(target_id: int) -> Response:
        service.remove_target(target_id)
        return Response(status_code=204)

    @app.post("/api/targets/{target_id}/test")
    def test_target(target_id: int) -> dict[str, Any]:
        return service.test_target(target_id)

    @app.post("/api/uploads", status_code=201)
    def add_uploads(body: UploadsIn) -> Any:
        result = service.add_uploads(body.paths, body.target, body.recursive)
        if not result.get("ids") and result.get("rejected"):
            rejected = result["rejected"]
            first = rejected[0]
            more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
            return error_response(
                400,
                "Nothing was added",
                f"{first['path']}: {first['title']}: {first['message']}{more}",
                errors=rejected,
            )
        return result

    @app.get("/api/uploads")
    def list_uploads(
        status: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        batch_id: int | None = None,
        q: str | None = None,
    ) -> dict[str, Any]:
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
        return service.list_uploads(
            status=statuses, since=since, batch_id=batch_id, limit=limit, offset=offset, q=q
        )

    @app.post("/api/uploads/actions")
    def bulk(body: BulkIn) -> dict[str, Any]:
        return service.bulk(body.action, body.ids)

    @app.post("/api/uploads/pause-all")
    def pause_all() -> dict[str, int]:
        return {"count": service.pause_all()}

    @app.post("/api/uploads/resume-all")
    def resume_all() -> dict[str, int]:
        return {"count": service.resume_all()}

    @app.get("/api/uploads/{upload_id}")
    def get_upload(upload_id: int) -> dict[str, Any]:
        return service.get_upload(upload_id)

    @app.post("/api/uploads/{upload_id}/{action}")
    def act(upload_id: int, action: Literal["pause", "resume", "cancel", "retry"]) -> dict[str, Any]:
        return service.act(upload_id, action)

    @app.delete("/api/uploads/{upload_id}", status_code=204)
    def remove_upload(upload_id: int) -> Response:
        service.remove_upload(upload_id)
        return Response(status_code=204)

    @app.get("/api/stats")
    def stats() -> dict[str, Any]:
        return service.stats()

    @app.get("/api/settings")
    def get_settings() -> dict[str, Any]:
        return service.get_settings()

    @app.patch("/api/settings")
    def update_settings(changes: dict[str, Any]) -> dict[str, Any]:
        return service.update_settings(changes)

    @app.get("/api/export.csv")
    def export_csv(from_date: str, to_date: str) -> Response:
        start, end = _parse_date("from_date", from_date), _parse_date("to_date", to_date)
        if start > end:
            raise UpqueueError(
                "Invalid date range", f"from_date ({start}) is after to_date ({end})."
            )
        text = service.export_csv(start.isoformat(), end.isoformat())
        filename = f"upqueue-{start.isoformat()}-{end.isoformat()}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @app.post("/api/shutdown", status_code=202)
    def shutdown(background: BackgroundTasks) -> dict[str, str]:
        # After the answer is sent: stopping may take the server down with it.
        background.add_task(service.shutdown)
        return {"status": "stopping"}


def _parse_date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UpqueueError(
            "Invalid date", f"{name} must be a date like 2026-11-23 (YYYY-MM-DD); got {text!r}."
        ) from None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("upqueue")
    except Exception:  # not installed (running from a checkout): the version is informative only
        return "0.1.0"


# -- serving ----------------------------------------------------------------------------
class PortHolder:
    """The port the API listens on, known once the socket is bound; callable for the Host check."""

    def __init__(self) -> None:
        self.port = 0

    def __call__(self) -> int:
        return self.port


def serve(
    app: FastAPI, host: str = "127.0.0.1", port_holder: PortHolder | None = None, timeout: float = 10.0
) -> tuple[uvicorn.Server, threading.Thread]:
    """Run uvicorn for ``app`` in a daemon thread on a free port of ``host``.

    The socket is bound here (port 0: the OS picks) so the port is known before any request,
    and uvicorn never installs signal handlers: the Huey consumer owns them in the main thread.

    Args:
        app: the application from :func:`create_app`.
        host: the interface; only 127.0.0.1 makes sense for this API.
        port_holder: receives the real port (pass the one given to ``create_app``).
        timeout: seconds to wait for uvicorn to report that it started.

    Returns:
        The server (``server.should_exit = True`` stops it) and its thread.

    Raises:
        UpqueueError: when the server did not start in time.
    """
    holder = port_holder if port_holder is not None else PortHolder()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    holder.port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,  # the worker configures logging; uvicorn must not replace it
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    if hasattr(server, "install_signal_handlers"):  # older uvicorn
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="control-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise UpqueueError(
                "Control API did not start",
                f"The worker's API server did not start within {timeout:g} s; see "
                f"{paths.data_dir() / paths.LOG_FILE}.",
            )
        time.sleep(0.02)
    log.info("control API listening on %s:%d", host, holder.port)
    return server, thread
