"""The control API's routes for watched folders and their batches (``/api/watches``,
``/api/batches``), over ``service.watches`` (the worker's WatchManager).

Errors follow the rest of the API: NotFound is 404, Conflict 409, any other UpqueueError 400,
each as ``{"title", "message"}`` through the app's exception handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict
from upqueue.core.errors import UpqueueError
from upqueue.worker.api_guard import PathId, RowId, Seq, json_response
from upqueue.worker.errors import NotFound

if TYPE_CHECKING:
    from upqueue.worker.service import Service
    from upqueue.worker.watcher import WatchManager


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WatchIn(_Body):
    path: str
    target: str | RowId
    recursive: bool = False
    include: list[str] = []
    exclude: list[str] = []
    settle_seconds: float | None = None
    after_upload: str = "keep"  # keep | delete | move | move:DIR
    move_to: str | None = None
    polling: bool = False
    paused: bool = False


class WatchPatch(_Body):
    path: str | None = None
    target: str | RowId | None = None
    recursive: bool | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None
    settle_seconds: float | None = None
    after_upload: str | None = None
    move_to: str | None = None
    polling: bool | None = None
    paused: bool | None = None


def _manager(service: Service) -> WatchManager:
    if service.watches is None:
        raise UpqueueError(
            "Watched folders unavailable", "This worker runs without watched folders."
        )
    return service.watches


def make_router(service: Service) -> APIRouter:
    """The watch and batch routes over ``service``."""
    router = APIRouter(prefix="/api")

    def changed(result: dict[str, Any]) -> dict[str, Any]:
        """Every open window hears of it through the stats' "config" counter."""
        service.config_changed()
        return result

    @router.get("/watches")
    def list_watches() -> dict[str, Any]:
        return _manager(service).listing()

    @router.post("/watches", status_code=201)
    def add_watch(body: WatchIn) -> dict[str, Any]:
        return changed(_manager(service).add(body.model_dump(exclude_none=True)))

    @router.get("/watches/{watch_id}")
    def get_watch(watch_id: PathId) -> dict[str, Any]:
        return _manager(service).get(watch_id)

    @router.patch("/watches/{watch_id}")
    def update_watch(watch_id: int, body: WatchPatch) -> dict[str, Any]:
        return changed(_manager(service).update(watch_id, body.model_dump(exclude_none=True)))

    @router.delete("/watches/{watch_id}", status_code=204)
    def remove_watch(watch_id: PathId) -> Response:
        _manager(service).remove(watch_id)
        service.config_changed()
        return Response(status_code=204)

    @router.post("/watches/{watch_id}/pause")
    def pause_watch(watch_id: PathId) -> dict[str, Any]:
        return changed(_manager(service).pause(watch_id))

    @router.post("/watches/{watch_id}/resume")
    def resume_watch(watch_id: PathId) -> dict[str, Any]:
        return changed(_manager(service).resume(watch_id))

    @router.get("/batches")
    def list_batches(
        watch_id: Seq = None, limit: Annotated[int, Query(ge=1, le=10**9)] = 100
    ) -> dict[str, Any]:
        limit = max(1, min(int(limit), 1000))
        return {
            "batches": _manager(service).batches.listing(watch_id, limit),
            "seq": service.store.seq,
        }

    @router.get("/batches/{batch_id}")
    def get_batch(batch_id: PathId) -> Response:
        book = _manager(service).batches
        batch = book.get(batch_id)
        if batch is None:
            raise NotFound("No such batch", f"There is no batch with id {batch_id}.")
        uploads = service.list_uploads(batch_id=batch_id)["uploads"]
        return json_response(
            {
                "batch": batch,
                "uploads": uploads,
                "rejected": book.rejects(batch_id),
                "events": book.events(batch_id),
            }
        )

    return router
