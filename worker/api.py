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
from typing import TYPE_CHECKING, Any, Literal

import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from upqueue.core import paths
from upqueue.core.errors import UpqueueError
from upqueue.core.pathtext import to_stored
from upqueue.core.records import public_target
from upqueue.worker.api_changes import ChangeFeed
from upqueue.worker.api_docs import add_docs
from upqueue.worker.api_guard import (
    Count,
    Guard,
    PathId,
    RowId,
    Seq,
    install_error_handlers,
    json_response,
)
from upqueue.worker.service import nothing_added_message

if TYPE_CHECKING:
    from upqueue.worker.service import Service

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
    target: str | RowId
    recursive: bool = False
    force: bool = False  # add files queued or uploaded to this target before, again


class BulkIn(_Body):
    action: Literal["pause", "resume", "cancel", "retry", "remove"]
    ids: list[RowId]


# -- the app ----------------------------------------------------------------------------
def create_app(service: Service, token: str, allowed_port: int | Callable[[], int]) -> FastAPI:
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
        docs_url=None,  # served by worker.api_docs from local files, not from a CDN
        swagger_ui_oauth2_redirect_url=None,
        # Declares the bearer scheme so /docs offers "Authorize"; the Guard does the checking.
        dependencies=[Depends(HTTPBearer(auto_error=False))],
    )
    install_error_handlers(app)

    def disk_full() -> bool:
        disk = getattr(getattr(service, "engine", None), "disk", None)
        return bool(disk is not None and disk.full)

    store = getattr(service, "store", None)
    if store is not None and hasattr(store, "on_change"):
        app.state.changes = ChangeFeed(lambda: store.committed_seq)
        store.on_change(app.state.changes.notify)
    add_docs(app)
    app.add_middleware(
        Guard,
        token=token,
        port=allowed_port,
        log_path=paths.data_dir() / paths.LOG_FILE,
        disk_full=disk_full,
    )
    _add_routes(app, service)
    try:
        api_watches = importlib.import_module("upqueue.worker.api_watches")
    except ModuleNotFoundError as exc:
        if exc.name != "upqueue.worker.api_watches":
            raise
    else:
        app.include_router(api_watches.make_router(service))
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    changes: ChangeFeed | None = getattr(app.state, "changes", None)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return service.health()

    @app.get("/api/targets")
    def list_targets() -> dict[str, Any]:
        return {"targets": [public_target(t) for t in service.list_targets()]}

    @app.post("/api/targets", status_code=201)
    def add_target(body: TargetIn) -> dict[str, Any]:
        return public_target(service.add_target(body.model_dump(exclude_unset=True)))

    @app.post("/api/targets/test")
    def test_target_config(body: TargetIn) -> dict[str, Any]:
        return service.test_target_config(body.model_dump(exclude_unset=True))

    @app.get("/api/targets/{target_id}")
    def get_target(target_id: PathId) -> dict[str, Any]:
        return public_target(service.get_target(target_id))

    @app.patch("/api/targets/{target_id}")
    def update_target(target_id: PathId, body: TargetPatch) -> dict[str, Any]:
        return public_target(service.update_target(target_id, body.model_dump(exclude_unset=True)))

    @app.delete("/api/targets/{target_id}", status_code=204)
    def remove_target(
        target_id: PathId, uploads: Literal["keep", "remove"] | None = None
    ) -> Response:
        service.remove_target(target_id, uploads)
        return Response(status_code=204)

    @app.post("/api/targets/{target_id}/test")
    def test_target(target_id: PathId) -> dict[str, Any]:
        return service.test_target(target_id)

    @app.post("/api/uploads", status_code=201)
    def add_uploads(body: UploadsIn, response: Response) -> Any:
        # Partial success, and nothing added, are answers (``added`` and ``rejected``, each with
        # its reason), not errors: 201 when something was queued, 200 when nothing was.
        result = service.add_uploads(body.paths, body.target, body.recursive, force=body.force)
        answer = result.to_json()
        for item in (*answer["added"], *answer["rejected"]):
            item["path"] = to_stored(item["path"])  # a name that is not UTF-8, as valid text
        if not result.added:
            response.status_code = 200
            answer["message"] = nothing_added_message(
                body.paths, body.recursive, len(result.rejected)
            )
        return answer

    @app.get("/api/uploads")
    async def list_uploads(
        status: str | None = None,
        since: Seq = None,
        limit: Count = None,
        offset: Seq = None,
        after_id: Seq = None,
        batch_id: Seq = None,
        q: str | None = None,
        wait: float | None = None,
        stats: bool = False,
    ) -> Response:
        # A long poll: with `since` and `wait`, answer once the change counter passes `since`
        # (or after `wait` seconds), on the event loop, holding no thread while it waits.
        if since is not None and wait and changes is not None:
            await changes.wait_past(since, wait)
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None

        def answer() -> Response:
            result: dict[str, Any] = service.list_uploads(
                status=statuses,
                since=since,
                batch_id=batch_id,
                limit=limit,
                offset=offset,
                q=q,
                after_id=after_id,
            )
            if stats:
                # The counts ride along, so a window's poll is one request, not two.
                result["stats"] = service.stats()
            # Encoded on the pool too: 100,000 rows take a while, and the event loop serves
            # every other request meanwhile.
            return json_response(result)

        return await run_in_threadpool(answer)

    @app.post("/api/uploads/actions")
    def bulk(body: BulkIn) -> dict[str, Any]:
        return service.bulk(body.action, body.ids)

    @app.post("/api/uploads/clear-finished")
    def clear_finished() -> dict[str, int]:
        return {"count": service.clear_finished()}

    @app.post("/api/uploads/pause-all")
    def pause_all() -> dict[str, int]:
        return {"count": service.pause_all()}

    @app.post("/api/uploads/resume-all")
    def resume_all() -> dict[str, int]:
        return {"count": service.resume_all()}

    @app.get("/api/uploads/{upload_id}")
    def get_upload(upload_id: PathId) -> dict[str, Any]:
        return service.get_upload(upload_id)

    @app.post("/api/uploads/{upload_id}/{action}")
    def act(
        upload_id: PathId, action: Literal["pause", "resume", "cancel", "retry"]
    ) -> dict[str, Any]:
        return service.act(upload_id, action)

    @app.delete("/api/uploads/{upload_id}", status_code=204)
    def remove_upload(upload_id: PathId) -> Response:
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
    from upqueue.core.version import VERSION

    return VERSION


# -- serving ----------------------------------------------------------------------------
class PortHolder:
    """The port the API listens on, known once the socket is bound; callable for the Host check."""

    def __init__(self) -> None:
        self.port = 0

    def __call__(self) -> int:
        return self.port


class _Server(uvicorn.Server):
    """uvicorn's server, waking the long polls when it stops (else shutdown waits them out)."""

    def __init__(self, config: uvicorn.Config, changes: ChangeFeed | None) -> None:
        super().__init__(config)
        self._changes = changes

    async def shutdown(self, sockets: Any = None) -> None:
        if self._changes is not None:
            self._changes.close()
        await super().shutdown(sockets)


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
    server = _Server(config, getattr(app.state, "changes", None))
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
