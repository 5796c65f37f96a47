"""The control API server: FastAPI routes over worker.service.Service, its guard, and uvicorn.

Every route answers JSON (the CSV export aside) and every error is ``{"title", "message"}``.
The guard in front of the app (worker/api_guard.py) checks the Host header and the bearer
token and keeps tracebacks out of answers. The routes are plain ``def`` functions: FastAPI runs
them in its thread pool, and Service is thread-safe.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict

from core import paths
from core.errors import UpqueueError
from worker.api_guard import Guard, error_response, install_error_handlers, json_response

log = logging.getLogger(__name__)


# -- request bodies ---------------------------------------------------------------------
class _Body(BaseModel):
    # A misspelt field is an error a person should see, not something silently dropped.
    model_config = ConfigDict(extra="forbid")


class TargetIn(_Body):
    name: str
    url: str
    protocol: str | None = None
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
    install_error_handlers(app)
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


def _add_routes(app: FastAPI, service: Any) -> None:
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
    ) -> Response:
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
        return json_response(service.list_uploads(
            status=statuses, since=since, batch_id=batch_id, limit=limit, offset=offset, q=q
        ))

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
    def act(
        upload_id: int, action: Literal["pause", "resume", "cancel", "retry"]
    ) -> dict[str, Any]:
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
    from core.version import VERSION

    return VERSION


# -- serving ----------------------------------------------------------------------------
class PortHolder:
    """The port the API listens on, known once the socket is bound; callable for the Host check."""

    def __init__(self) -> None:
        self.port = 0

    def __call__(self) -> int:
        return self.port


def serve(
    app: FastAPI,
    host: str = "127.0.0.1",
    port_holder: PortHolder | None = None,
    timeout: float = 10.0,
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
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the protocol
    # is named, and without it every answer on a kept-alive connection waited ~40 ms for a
    # delayed ACK (headers and body go out as two writes). NODELAY on the listener as well,
    # which Linux hands down to accepted sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    # uvicorn already skips signals off the main thread; say so explicitly, for every version.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    if hasattr(server, "install_signal_handlers"):  # older uvicorn
        server.install_signal_handlers = lambda: None
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
