"""The control API client's calls for targets (mixed into ApiClient)."""

from __future__ import annotations

from typing import Any

from upqueue.core.api_errors import ApiCalls, ApiError


class TargetApiMixin(ApiCalls):
    """Target calls; the class it is mixed into provides ``_request`` and ``_object``."""

    def targets(self) -> dict[str, Any]:
        """``{"targets": [Target]}``."""
        return self._object("GET", "/api/targets")

    def target(self, target_id: int) -> dict[str, Any]:
        return self._object("GET", f"/api/targets/{int(target_id)}")

    def find_target(self, name_or_id: str | int) -> dict[str, Any]:
        """The target with this name (or id); ApiError 404 naming the known ones otherwise."""
        targets = self.targets()["targets"]
        for target in targets:
            if target["name"] == str(name_or_id) or str(target["id"]) == str(name_or_id):
                return dict(target)
        known = ", ".join(t["name"] for t in targets) or "none yet"
        raise ApiError(
            "Unknown target",
            f"There is no target called {name_or_id!r} (known: {known}). "
            "Add one with 'upqueue target add NAME --url URL'.",
            404,
        )

    def add_target(self, **fields: Any) -> dict[str, Any]:
        return self._object("POST", "/api/targets", json=fields)

    def update_target(self, target_id: int, **fields: Any) -> dict[str, Any]:
        return self._object("PATCH", f"/api/targets/{int(target_id)}", json=fields)

    def remove_target(self, target_id: int, uploads: str | None = None) -> None:
        """Remove a target; ``uploads`` "keep" or "remove" says what happens to its finished
        uploads (ApiError 409 "Target has uploads" when it has some and ``uploads`` is None)."""
        params = {"uploads": uploads} if uploads else None
        self._request("DELETE", f"/api/targets/{int(target_id)}", params=params)

    def test_target(self, target_id: int) -> dict[str, Any]:
        """``{"ok", "title", "message", "details"}`` for a saved target."""
        return self._object("POST", f"/api/targets/{int(target_id)}/test")

    def test_target_config(self, **fields: Any) -> dict[str, Any]:
        """Test a target that is not saved (e.g. from a dialog before OK)."""
        return self._object("POST", "/api/targets/test", json=fields)
