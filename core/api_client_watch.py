"""The control API client's calls for watched folders and batches (mixed into ApiClient)."""

from __future__ import annotations

from typing import Any

from upqueue.core.api_errors import ApiCalls


class WatchApiMixin(ApiCalls):
    """Watch and batch calls; the class it is mixed into provides ``_request``."""

    def watches(self) -> dict[str, Any]:
        """``{"watches": [Watch], "seq": N}``; each Watch has state, pending and its latest batch."""
        return self._object("GET", "/api/watches")

    def watch(self, watch_id: int) -> dict[str, Any]:
        return self._object("GET", f"/api/watches/{int(watch_id)}")

    def add_watch(self, **fields: Any) -> dict[str, Any]:
        """Watch a folder: ``path``, ``target`` (name or id), and optionally ``recursive``,
        ``include``/``exclude`` (lists of globs), ``settle_seconds``, ``after_upload`` (keep,
        delete, move or ``move:DIR``), ``move_to``, ``polling``, ``paused``."""
        return self._object("POST", "/api/watches", json=fields)

    def update_watch(self, watch_id: int, **fields: Any) -> dict[str, Any]:
        return self._object("PATCH", f"/api/watches/{int(watch_id)}", json=fields)

    def remove_watch(self, watch_id: int) -> None:
        self._request("DELETE", f"/api/watches/{int(watch_id)}")

    def pause_watch(self, watch_id: int) -> dict[str, Any]:
        return self._object("POST", f"/api/watches/{int(watch_id)}/pause")

    def resume_watch(self, watch_id: int) -> dict[str, Any]:
        return self._object("POST", f"/api/watches/{int(watch_id)}/resume")

    def batches(self, watch_id: int | None = None, limit: int | None = None) -> dict[str, Any]:
        """``{"batches": [Batch], "seq": N}``, newest first."""
        return self._object("GET", "/api/batches", params={"watch_id": watch_id, "limit": limit})

    def batch(self, batch_id: int) -> dict[str, Any]:
        """``{"batch": Batch, "uploads": [Upload], "rejected": [...], "events": [...]}``."""
        return self._object("GET", f"/api/batches/{int(batch_id)}")
