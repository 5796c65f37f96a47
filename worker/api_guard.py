"""The control API's guard and error answers: Host check, bearer token, ``{"title", "message"}``.

:class:`Guard` sits in front of every route (docs included): it refuses a wrong Host header
(a DNS-rebinding defence: only ``127.0.0.1:<port>`` and ``localhost:<port>``), a missing or
wrong token, and turns an unexpected exception into a 500 whose traceback goes to the log,
never to the client. :func:`install_error_handlers` maps our exceptions to statuses.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from upqueue.core.diskspace import DISK_FULL_TITLE, disk_full_message, is_disk_full
from upqueue.core.errors import UpqueueError
from upqueue.core.pathtext import readable
from upqueue.worker.service import Conflict, NotFound

log = logging.getLogger(__name__)

TOKEN_COOKIE = "upqueue_token"
# Paths a browser may open with the cookie that ``/docs?token=`` sets. API routes want the
# Authorization header, so a cookie alone can never change anything (no CSRF).
_DOCS_PATHS = frozenset({"/docs", "/openapi.json"})


# -- numbers a request may carry: within what SQLite stores (a 10^30 id is a 400, not a 500) --
DB_INT_MAX = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
PathId = Annotated[int, PathParam(ge=1, le=DB_INT_MAX)]
Seq = Annotated[int | None, Query(ge=0, le=DB_INT_MAX)]
Count = Annotated[int | None, Query(ge=0, le=10**9)]


# -- errors -----------------------------------------------------------------------------
def error_response(status: int, title: str, message: str, **extra: Any) -> JSONResponse:
    """The one shape of every error answer.

    Text is made valid first: a message quoting a path with a lone surrogate (sent to the API,
    or a file name that is not UTF-8) could otherwise not be encoded, and the answer would die.
    """
    body = _valid_text({"title": title, "message": message, **extra})
    return JSONResponse(body, status_code=status)


def _valid_text(value: Any) -> Any:
    if isinstance(value, str):
        return readable(value)
    if isinstance(value, dict):
        return {k: _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


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
        disk_full: True while the disk holding the data directory is full: requests that
            change something answer 507 then, with a message saying so (reads still work).
    """

    def __init__(
        self, app: ASGIApp, token: str, port: int | Callable[[], int], log_path: Path,
        disk_full: Callable[[], bool] = lambda: False,
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._port = port
        self._log_path = log_path
        self._disk_full = disk_full

    def _full_disk_response(self) -> JSONResponse:
        return error_response(507, DISK_FULL_TITLE, disk_full_message(self._log_path.parent)
                              + " Uploads wait, and resume by themselves when there is room.")

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
            docs = path in _DOCS_PATHS or path.startswith("/docs/assets/")
            if docs and self._token_ok(request.cookies.get(TOKEN_COOKIE)):
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
        changes = scope.get("method") not in ("GET", "HEAD", "OPTIONS") and path != "/api/shutdown"
        if changes and self._disk_full():
            await self._full_disk_response()(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if is_disk_full(exc):
                log.warning("control API: %s %s: the disk is full", scope.get("method"), path)
                if not started:
                    await self._full_disk_response()(scope, receive, send)
                return
            log.exception("control API: %s %s failed", scope.get("method"), path)
            if not started:
                response = error_response(
                    500,
                    "Internal error",
                    f"Something went wrong in the worker; details are in the log file {self._log_path}.",
                )
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """NotFound -> 404, Conflict -> 409, other UpqueueError and bad input -> 400."""
    app.add_exception_handler(NotFound, _upqueue_error(404))
    app.add_exception_handler(Conflict, _upqueue_error(409))
    app.add_exception_handler(UpqueueError, _upqueue_error(400))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def json_response(data: dict[str, Any]) -> Response:
    """JSON straight from rows of plain values. FastAPI's own encoder walks every value of
    every row: 5.5 s for the 100,000 uploads a full window load asks for, against 0.5 s here."""
    return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")
