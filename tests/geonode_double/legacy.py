"""The GeoNode double's legacy (<= 4.0) upload wizard: the upload's answer, ``upload/final``
(which starts the import) and ``upload/progress`` (GeoServer's importer task)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.geonode_double.state import VECTOR_STEPS, DoubleState, Part, Post, User


class LegacyRoutes:
    """Mixed into the request handler (which gives ``_json``, ``s``, ``d`` and ``path``)."""

    s: DoubleState
    d: Any
    path: str
    _json: Any

    def _legacy_upload(self, parts: list[Part], user: User, post: Post) -> None:
        files = {p.field: p for p in parts if p.filename}
        base = files.get("base_file")
        if base is None:
            post.status = 400
            self._json(400, {"success": False, "errors": ["base_file: This field is required."]})
            return
        import_id = self.s.next_import_id
        self.s.next_import_id += 1
        if base.filename.endswith(".shp") and "prj_file" not in files:
            # the wizard stops at its srs step: GeoServer found no native CRS
            post.status = 200
            self._json(
                200,
                {
                    "url": f"/upload/srs?id={import_id}",
                    "status": "incomplete",
                    "success": True,
                    "id": import_id,
                    "redirect_to": f"/upload/srs?id={import_id}&force_ajax=true",
                    "required_input": {"srs": None},
                },
            )
            return
        execution = self.s.create_execution(parts, user.name)
        execution.legacy_pk = self.s.next_pk + 5000
        self.s.next_pk += 1
        execution.input_params["import_id"] = import_id
        execution.input_params["legacy_phase"] = "posted"
        post.status, post.execution_id = 200, execution.exec_id
        self._json(
            200,
            {
                "url": f"/upload/?id={import_id}",
                "status": "incomplete",
                "success": True,
                "id": import_id,
                "redirect_to": f"{self.d.url}upload/final?id={import_id}&force_ajax=true",
            },
        )

    def _legacy_final(self, user: User) -> None:
        wanted = parse_qs(urlsplit(self.path).query).get("id", [""])[0]
        e = next(
            (
                e
                for e in self.s.executions.values()
                if str(e.input_params.get("import_id")) == wanted and e.user == user.name
            ),
            None,
        )
        if e is None:
            self._json(
                404,
                {
                    "status": "error",
                    "success": False,
                    "error_msg": "The upload session was not found.",
                },
            )
            return
        e.input_params.pop("legacy_phase", None)
        import_id = e.input_params["import_id"]
        if e.status == "finished":
            url = e.output_params["resources"][0]["detail_url"]
            self._json(
                200,
                {
                    "status": "finished",
                    "id": import_id,
                    "url": url,
                    "bbox": None,
                    "crs": {"type": "name", "properties": "EPSG:4326"},
                    "success": True,
                },
            )
        elif e.status == "failed":
            self._json(
                200,
                {
                    "status": "error",
                    "success": False,
                    "id": import_id,
                    "error_msg": e.log,
                    "url": "/upload/dataset_upload_invalid.html",
                },
            )
        else:
            self._json(
                200,
                {
                    "status": "running",
                    "success": True,
                    "id": import_id,
                    "redirect_to": f"/upload/final?id={import_id}",
                },
            )

    def _legacy_progress(self) -> None:
        wanted = parse_qs(urlsplit(self.path).query).get("id", [""])[0]
        e = next(
            (
                e
                for e in self.s.executions.values()
                if str(e.input_params.get("import_id")) == wanted
            ),
            None,
        )
        if e is None or e.input_params.get("legacy_phase") == "posted":
            self._json(200, {"state": "NONE"})
        else:  # GeoServer's importer task, as the legacy view relays it
            state = {
                "ready": "PENDING",
                "running": "RUNNING",
                "finished": "COMPLETE",
                "failed": "ERROR",
            }[e.status]
            self._json(200, {"state": state, "progress": e.step_index, "total": len(VECTOR_STEPS)})
