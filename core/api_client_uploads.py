"""The control API client's calls for uploads (mixed into ApiClient).

Apart from the client itself (core.api_client), which finds the worker and carries the
requests, as the target and watch calls are (core.api_client_targets, core.api_client_watch):
the uploads routes are the largest group, and each is a thin mirror of one route.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from upqueue.core.api_errors import ApiCalls


class UploadApiMixin(ApiCalls):
    """Upload calls; the class it is mixed into provides ``_request``, ``_object`` and
    ``timeout``."""

    # (connect, read) seconds for a request; a long poll waits this long beyond its ``wait``.
    timeout: tuple[float, float]

    def add_uploads(
        self,
        paths: Iterable[str | os.PathLike[str]],
        target: str | int,
        recursive: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Queue files: ``{"added": [{"id", "path"}], "ids", "rejected": [{"path", "title",
        "message"}]}`` (:meth:`core.records.AddResult.from_json` reads it). Nothing added is an
        answer too (``added`` empty), not an error; an unknown target is an ApiError (404)."""
        body = {
            "paths": [os.fspath(p) for p in paths],
            "target": target,
            "recursive": recursive,
            "force": force,
        }
        return self._object("POST", "/api/uploads", json=body)

    def uploads(
        self,
        status: str | Iterable[str] | None = None,
        since: int | None = None,
        batch_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        q: str | None = None,
        *,
        after_id: int | None = None,
        wait: float | None = None,
        stats: bool = False,
    ) -> dict[str, Any]:
        """``{"seq", "uploads", "removed", "total"}``; with ``since`` only what changed after it.

        Args:
            after_id: only uploads with a higher id (pages in id order, with ``limit``).
            wait: with ``since``, a long poll: the worker answers as soon as its change counter
                passes ``since``, or after ``wait`` seconds with nothing changed.
            stats: add ``"stats"`` (what :meth:`stats` returns) to the answer.
        """
        if status is not None and not isinstance(status, str):
            status = ",".join(status)
        params = {
            "status": status or None,
            "since": since,
            "batch_id": batch_id,
            "limit": limit,
            "offset": offset,
            "after_id": after_id,
            "q": q,
            "wait": wait if wait and since is not None else None,
            "stats": True if stats else None,
        }
        timeout = None
        if params["wait"]:
            timeout = (self.timeout[0], self.timeout[1] + float(wait or 0))
        return self._object(
            "GET", "/api/uploads", params=params, timeout=timeout, interruptible=bool(timeout)
        )

    def upload(self, upload_id: int) -> dict[str, Any]:
        """``{"upload": Upload, "events": [...]}``."""
        return self._object("GET", f"/api/uploads/{int(upload_id)}")

    def action(self, upload_id: int, name: str) -> dict[str, Any]:
        """pause / resume / cancel / retry one upload; returns the Upload (ApiError 409 if refused)."""
        return self._object("POST", f"/api/uploads/{int(upload_id)}/{name}")

    def bulk(self, action: str, ids: Iterable[int]) -> dict[str, Any]:
        """One action on many uploads: ``{"done": [ids], "skipped": [{"id","title","message"}]}``."""
        return self._object(
            "POST", "/api/uploads/actions", json={"action": action, "ids": [int(i) for i in ids]}
        )

    def remove_upload(self, upload_id: int) -> None:
        self._request("DELETE", f"/api/uploads/{int(upload_id)}")

    def clear_finished(self) -> dict[str, int]:
        """Remove every finished (done) upload from the list: ``{"count": n}``."""
        return self._object("POST", "/api/uploads/clear-finished")

    def pause_all(self) -> dict[str, int]:
        """``{"count": n}``."""
        return self._object("POST", "/api/uploads/pause-all")

    def resume_all(self) -> dict[str, int]:
        """``{"count": n}``."""
        return self._object("POST", "/api/uploads/resume-all")
