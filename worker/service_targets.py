"""Target operations of the Service: add, edit, remove, and test a connection."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from upqueue.core.errors import UpqueueError
from upqueue.core.humanize import plural
from upqueue.core.models import FINISHED_STATUSES
from upqueue.core.store import now_iso
from upqueue.core.targets import secret_key, validate_fields
from upqueue.core.transports import registry
from upqueue.worker.errors import Conflict, NotFound

if TYPE_CHECKING:
    from upqueue.core.secrets import SecretStore
    from upqueue.core.store import Store
    from upqueue.worker.repository import UploadRepository
    from upqueue.worker.service import EngineControl

log = logging.getLogger(__name__)


class TargetOperations:
    """Mixed into Service; uses its ``store``, ``secrets``, ``uploads`` and ``engine``."""

    store: Store
    secrets: SecretStore
    uploads: UploadRepository
    engine: EngineControl | None

    def config_changed(self) -> None:
        """Service's: every open window hears of a changed configuration."""
        raise NotImplementedError

    # -- targets --------------------------------------------------------------------------
    def _target_dict(self, row: dict[str, Any]) -> dict[str, Any]:
        target = dict(row)
        target["headers"] = json.loads(target.get("headers") or "{}")
        target["options"] = json.loads(target.get("options") or "{}")
        target["has_secret"] = self.secrets.get(secret_key(target["id"])) is not None
        return target

    def list_targets(self) -> list[dict[str, Any]]:
        return [
            self._target_dict(r)
            for r in self.store.query(
                "SELECT * FROM targets WHERE removed_at IS NULL ORDER BY name"
            )
        ]

    def get_target(self, target_id: int) -> dict[str, Any]:
        row = self.store.query_one(
            "SELECT * FROM targets WHERE id = ? AND removed_at IS NULL", (target_id,)
        )
        if row is None:
            raise NotFound("No such target", f"There is no target with id {target_id}.")
        return self._target_dict(row)

    def resolve_target(self, target: str | int) -> dict[str, Any]:
        """A target by id or by name; names are what people type."""
        row = None
        if isinstance(target, int) or str(target).isdigit():
            row = self.store.query_one(
                "SELECT * FROM targets WHERE id = ? AND removed_at IS NULL", (int(target),)
            )
        if row is None:
            row = self.store.query_one(
                "SELECT * FROM targets WHERE name = ? AND removed_at IS NULL", (str(target),)
            )
        if row is None:
            raise NotFound(
                "No such target",
                f"There is no target called {target!r}. Add one first (upqueue target add NAME --url URL).",
            )
        return self._target_dict(row)

    def add_target(self, fields: dict[str, Any]) -> dict[str, Any]:
        clean = validate_fields(fields)
        secret = fields.get("secret")
        with self.store.tx():
            if self.store.query_one("SELECT 1 FROM targets WHERE name = ?", (clean["name"],)):
                raise Conflict(
                    "Name taken",
                    f"A target called {clean['name']!r} exists already; choose another name.",
                )
            # A fresh id: a removed target's secret key or uploads must never meet a new one.
            target_id = self.store.next_id("targets")
            self.store.execute(
                "INSERT INTO targets (id, name, protocol, url, headers, auth_kind, username, auth_header, chunk_size,"
                " options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    target_id,
                    clean["name"],
                    clean["protocol"],
                    clean["url"],
                    json.dumps(clean["headers"]),
                    clean["auth_kind"],
                    clean["username"],
                    clean["auth_header"],
                    clean["chunk_size"],
                    json.dumps(clean["options"]),
                    now_iso(),
                ),
            )
            if secret:
                # Inside the transaction: if the keyring refuses, the target is not created half-way.
                self.secrets.set(secret_key(target_id), str(secret))
        log.info("target %s added (%s)", clean["name"], clean["url"])
        self.config_changed()
        return self.get_target(target_id)

    def update_target(self, target_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.get_target(target_id)
        clean = validate_fields(fields, partial=True)
        with self.store.tx():
            if "name" in clean and self.store.query_one(
                "SELECT 1 FROM targets WHERE name = ? AND id != ?", (clean["name"], target_id)
            ):
                raise Conflict("Name taken", f"A target called {clean['name']!r} exists already.")
            if "headers" in clean:
                clean["headers"] = json.dumps(clean["headers"])
            if "options" in clean:
                clean["options"] = json.dumps(clean["options"])
            if clean:
                sets = ", ".join(f"{key} = ?" for key in clean)
                self.store.execute(
                    f"UPDATE targets SET {sets} WHERE id = ?", (*clean.values(), target_id)
                )
            secret = fields.get("secret")
            if secret == "":
                self.secrets.delete(secret_key(target_id))
            elif secret:
                self.secrets.set(secret_key(target_id), str(secret))
        if self.engine:
            self.engine.forget_transport(target_id)
        self.config_changed()
        return self.get_target(target_id)

    def remove_target(self, target_id: int, uploads: str | None = None) -> dict[str, int]:
        """Remove a target. Its finished uploads either stay in the list and the history
        (``uploads="keep"``: the target stays as a row marked removed, renamed so that its name is
        free again) or go with it (``"remove"``); with uploads and no choice, 409 says so.
        Unfinished uploads or watched folders that send to it block the removal."""
        if uploads not in (None, "keep", "remove"):
            raise UpqueueError("Unknown choice", f"uploads={uploads!r}: use keep or remove.")
        target = self.get_target(target_id)
        with self.store.tx():
            active = self.uploads.unfinished_for_target(target_id, FINISHED_STATUSES)
            if active:
                raise Conflict(
                    "Target in use",
                    f"{plural(active, 'upload')} to {target['name']} {'is' if active == 1 else 'are'} "
                    "not finished. Cancel or remove them first.",
                )
            watching = self.store.query(
                "SELECT count(*) AS n FROM watches WHERE target_id = ?", (target_id,)
            )[0]["n"]
            if watching:
                raise Conflict(
                    "Target in use",
                    f"{plural(watching, 'watched folder')} send to {target['name']}. "
                    "Remove them first.",
                )
            finished = self.uploads.ids_of_target(target_id)
            if finished and uploads is None:
                raise Conflict(
                    "Target has uploads",
                    f"{plural(len(finished), 'finished upload')} went to {target['name']}. Choose whether "
                    "to keep them in the list and the history, or remove them with the target "
                    "(upqueue target rm NAME --keep-uploads or --remove-uploads).",
                )
            if finished and uploads == "keep":
                self.store.execute(
                    "UPDATE targets SET removed_at = ?, name = name || ' (removed)' || "
                    "CASE WHEN EXISTS (SELECT 1 FROM targets WHERE name = ?) THEN ' #' || id ELSE '' END"
                    " WHERE id = ?",
                    (now_iso(), f"{target['name']} (removed)", target_id),
                )
            else:
                for upload_id in finished:
                    self.uploads.remove(upload_id, None)
                self.store.execute("DELETE FROM targets WHERE id = ?", (target_id,))
        self.secrets.delete(secret_key(target_id))
        if self.engine:
            self.engine.forget_transport(target_id)
        log.info("target %s removed (%s its uploads)", target["name"], uploads or "it had no")
        self.config_changed()
        return {"uploads": len(finished)}

    def test_target(self, target_id: int) -> dict[str, Any]:
        target = self.get_target(target_id)
        return self._test(target, self.secrets.get(secret_key(target_id)))

    def test_target_config(self, fields: dict[str, Any]) -> dict[str, Any]:
        target = validate_fields({"name": fields.get("name") or "test", **fields})
        return self._test(target, fields.get("secret"))

    def _test(self, target: dict[str, Any], secret: str | None) -> dict[str, Any]:
        """Let the target's transport check it for real and say what it learnt."""
        transport = registry.transport_for(target, secret, self.store.settings())
        try:
            report = transport.test_connection()
        finally:
            transport.close()
        return {
            "ok": report.ok,
            "title": report.title,
            "message": report.message,
            "details": dict(report.details),
        }
