"""The GeoNode double's memory: users, executions (5.x / 4.4), legacy uploads, and what arrived.

Behaviour follows GeoNode's source as ../shared/PROTOCOLS.md and SERVERS.md describe it
(``geonode/upload/api/views.py``, ``handlers/shapefile/handler.py``, ``resource/models.py``,
``upload/utils.py`` ``UploadLimitValidator``, ``publisher.py`` ``sanity_checks``).
"""

from __future__ import annotations

import datetime
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any

MODES = ("5.1", "5.0", "4.4", "legacy")
VECTOR_STEPS = (
    "start_import",
    "geonode.upload.import_resource",
    "geonode.upload.publish_resource",
    "geonode.upload.create_geonode_resource",
)
SHP_REQUIRED = ("shp", "prj", "dbf", "shx")
HANDLED = {
    "shp",
    "gpkg",
    "geojson",
    "json",
    "kml",
    "kmz",
    "csv",
    "tif",
    "tiff",
    "geotiff",
    "geotif",
    "zip",
}


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def filesizeformat(n: int) -> str:
    """Django's filesizeformat for the sizes the tests use ("100.0 MB", "1.0 KB")."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


@dataclass
class User:
    name: str
    password: str
    token: str
    can_add: bool = True


@dataclass
class Part:
    field: str
    filename: str
    data: bytes


@dataclass
class Post:
    """One upload request as it reached the server (``complete`` False: the body was cut)."""

    user: str
    files: dict[str, str]  # field -> filename
    sizes: dict[str, int]
    complete: bool
    status: int = 0
    execution_id: str | None = None


@dataclass
class Execution:
    exec_id: str
    user: str
    name: str
    action: str
    input_params: dict[str, Any]
    fail_at: str | None = None  # the step at which processing fails
    reason: str = ""
    status: str = "ready"
    step_index: int = 0
    created: str = field(default_factory=now_iso)
    last_updated: str = field(default_factory=now_iso)
    finished: str | None = None
    log: str | None = None
    output_params: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, dict[str, str]] = field(default_factory=dict)
    legacy_pk: int | None = None  # legacy mode: the Upload row's pk

    @property
    def step(self) -> str:
        return VECTOR_STEPS[min(self.step_index, len(VECTOR_STEPS) - 1)]

    @property
    def active(self) -> bool:
        return self.status in ("ready", "running")

    def record(self, link: str) -> dict[str, Any]:
        return {
            "exec_id": self.exec_id,
            "user": 1,
            "status": self.status,
            "func_name": self.step,
            "step": self.step,
            "created": self.created,
            "finished": self.finished,
            "last_updated": self.last_updated,
            "input_params": self.input_params,
            "output_params": self.output_params,
            "log": self.log,
            "geonode_resource": None,
            "name": self.name,
            "action": self.action,
            "tasks": self.tasks,
            "link": link,
        }


class DoubleState:
    """Everything the server remembers; every method runs under ``lock``."""

    def __init__(self, mode: str, *, upload_size: int, max_parallel: int) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.upload_size = upload_size
        self.max_parallel = max_parallel
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.executions: dict[str, Execution] = {}
        self.posts: list[Post] = []
        self.fail_names: dict[str, str] = {}
        self.next_pk = 100
        self.next_import_id = 7000

    # -- validation, in the order GeoNode's create() runs it -----------------------------------

    def validate(self, parts: list[Part], user: str) -> tuple[int, str, str] | None:
        """(status, message, code) of the first refusal, or None when the POST is accepted."""
        files = {p.field: p for p in parts if p.filename}
        if self.mode == "5.1":
            for part in files.values():
                problem = sniff(part)
                if problem:
                    return 400, problem, "invalid"
        base = files.get("base_file")
        if base is None:
            return 400, "No file was submitted.", "invalid"
        ext = base.filename.rsplit(".", 1)[-1]
        if ext == "shp":  # ShapeFileSerializer: base, dbf, shx, prj in this order
            for name in ("dbf_file", "shx_file", "prj_file"):
                if name not in files:
                    return 400, "No file was submitted.", "invalid"
        for part in files.values():
            if not part.data:
                return 400, "The submitted file is empty.", "invalid"
        limit_status = 500 if self.mode == "4.4" else 400
        active = sum(
            int(e.input_params.get("total_layers", 0))
            for e in self.executions.values()
            if e.user == user and e.active
        )
        if active >= self.max_parallel:
            code = (
                "importer_exception" if self.mode == "4.4" else "upload_parallelism_limit_exceeded"
            )
            return (
                limit_status,
                (
                    f"The number of active parallel uploads exceeds "
                    f"{self.max_parallel}. Wait for the pending ones to finish."
                ),
                code,
            )
        total = sum(len(p.data) for f, p in files.items() if f not in ("zip_file", "shp_file"))
        if total > self.upload_size:
            code = "importer_exception" if self.mode == "4.4" else "total_upload_size_exceeded"
            return (
                limit_status,
                (
                    f"Total upload size exceeds {filesizeformat(self.upload_size)}. "
                    "Please try again with smaller files."
                ),
                code,
            )
        inner = ext
        if ext == "zip":
            if "zip_file" not in files:
                return 500, "No handlers found for this dataset type/action", "importer_exception"
            names = zip_names(files["zip_file"].data)
            if names is None:
                if self.mode == "5.0":
                    return 500, "<html><title>Server Error (500)</title></html>", "html"
                return 400, "Invalid or unsafe ZIP archive.", "invalid"
            exts = {n.rsplit(".", 1)[-1].lower() for n in names}
            inner = "shp" if "shp" in exts else next((e for e in exts if e in HANDLED), "")
        if inner not in HANDLED or ext not in HANDLED:
            text = (
                "No handlers found for this dataset type"
                if self.mode == "4.4"
                else "No handlers found for this dataset type/action"
            )
            return 500, text, "importer_exception"
        return None

    def create_execution(self, parts: list[Part], user: str) -> Execution:
        files = {p.field: p for p in parts if p.filename}
        base = files["base_file"]
        stem = PurePosixPath(base.filename).stem
        exec_id = str(uuid.uuid4())
        action = "import" if self.mode == "4.4" else "upload"
        params: dict[str, Any] = {
            "files": {f: f"/tmp/tmp{exec_id[:8]}/{p.filename}" for f, p in files.items()},
            "handler_module_path": handler_path(base.filename),
            "store_spatial_file": True,
            "overwrite_existing_layer": False,
            "skip_existing_layers": False,
            "resource_pk": None,
            "action": action,
            "upsert_key": None,
        }
        if self.mode == "4.4":
            params["source"] = "upload"
        execution = Execution(exec_id, user, base.filename, action, params)
        fail_at, reason = self._processing_failure(files, stem)
        execution.fail_at, execution.reason = fail_at, reason
        self.executions[exec_id] = execution
        return execution

    def _processing_failure(self, files: dict[str, Part], stem: str) -> tuple[str | None, str]:
        if stem in self.fail_names:
            return "geonode.upload.import_resource", self.fail_names[stem]
        base = files["base_file"]
        if not base.filename.endswith(".shp"):
            return None, ""
        names = [p.filename for p in files.values()]
        if not all(any(n.endswith(f"{stem}.{ext}") for n in names) for ext in SHP_REQUIRED):
            needed = (
                "['shp', 'prj', 'dbf', 'shx']"
                if self.mode == "4.4"
                else "<generator object ShapeFileHandler._get_ext_needed at 0x7f3a2c1b9e40>"
            )
            return "start_import", (
                "Some file is missing files with the same name and with the "
                f"following extension are required: {needed}"
            )
        prj = files.get("prj_file")
        text = prj.data.decode("latin-1") if prj else ""
        if not any(k in text.upper() for k in ("GEOGCS[", "PROJCS[", "GEOGCRS[", "PROJCRS[")):
            resource = {"name": stem.lower(), "crs": None}
            return "geonode.upload.publish_resource", (
                f"The SRID for the resource {resource} is not correctly set, "
                "Please check Geoserver logs"
            )
        return None, ""

    # -- processing ------------------------------------------------------------------------------

    def advance(self, execution: Execution, *, held: bool) -> None:
        """One step of the Celery pipeline (ready -> running -> ... -> finished / failed)."""
        if not execution.active:
            return
        layer_key = f"{PurePosixPath(execution.name).stem.lower()}_{execution.exec_id}"
        if execution.status == "ready":
            execution.status = "running"
            execution.step_index = 1
            execution.input_params["total_layers"] = 1
        elif held:
            return
        elif (
            execution.fail_at is not None
            and execution.step == execution.fail_at
            or (execution.fail_at == "start_import")
        ):
            layer = PurePosixPath(execution.name).stem.lower()
            execution.status = "failed"
            execution.log = execution.reason
            execution.output_params = {
                "errors": [
                    (
                        f"Task: {execution.step} raised an error during actions for layer: "
                        f"{layer}: {execution.reason}"
                    )
                ],
                "failed_layers": [layer],
            }
            execution.tasks.setdefault(layer_key, {})[execution.step] = "FAILED"
            execution.finished = now_iso()
        elif execution.step_index < len(VECTOR_STEPS) - 1:
            execution.tasks.setdefault(layer_key, {})[execution.step] = "SUCCESS"
            execution.step_index += 1
            execution.tasks[layer_key][execution.step] = "RUNNING"
        else:
            execution.tasks.setdefault(layer_key, {})[execution.step] = "SUCCESS"
            pk = self.next_pk
            self.next_pk += 1
            execution.status = "finished"
            execution.finished = now_iso()
            execution.output_params = {
                "resources": [{"id": pk, "detail_url": f"/catalogue/#/dataset/{pk}"}]
            }
        execution.last_updated = now_iso()

    def legacy_record(self, execution: Execution, site: str) -> dict[str, Any]:
        """The legacy ``Upload`` object (``geonode/upload/models.py``): state and derived progress."""
        state = {
            "ready": "PENDING",
            "running": "RUNNING",
            "finished": "PROCESSED",
            "failed": "INVALID",
        }[execution.status]
        if execution.input_params.get("legacy_phase") == "posted":
            state = "WAITING"
        progress = {"PENDING": 33, "WAITING": 50, "RUNNING": 80, "PROCESSED": 100, "INVALID": 0}[
            state
        ]
        resources = execution.output_params.get("resources") or [{}]
        pk = execution.legacy_pk
        return {
            "id": pk,
            "name": PurePosixPath(execution.name).stem,
            "date": execution.created,
            "create_date": execution.created,
            "user": execution.user,
            "state": state,
            "progress": progress,
            "complete": state == "PROCESSED",
            "import_id": execution.input_params.get("import_id"),
            "resume_url": f"{site}upload/?id={execution.input_params.get('import_id')}",
            "delete_url": f"{site}upload/delete/{pk}",
            "import_url": f"{site}upload/final",
            "detail_url": resources[0].get("detail_url"),
            "uploadfile_set": [],
        }


def handler_path(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1]
    kind = {"shp": "shapefile", "tif": "tiff", "tiff": "tiff", "zip": "shapefile"}.get(ext, ext)
    return f"geonode.upload.handlers.{kind}.handler.{kind.title()}FileHandler"


def zip_names(data: bytes) -> list[str] | None:
    """The member names of a zip, or None when it is corrupt or unsafe (absolute, ``..``)."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        return None
    if any(n.startswith("/") or ".." in PurePosixPath(n).parts for n in names):
        return None
    return names


def sniff(part: Part) -> str | None:
    """5.1's content check (libmagic in GeoNode): the refusal text, or None when the bytes fit."""
    ext = "." + part.filename.rsplit(".", 1)[-1].lower()
    data = part.data
    if not data:
        return None
    detected = "text/plain" if _is_text(data) else "application/octet-stream"
    if ext in (".shp", ".shx") and data[:4] != b"\x00\x00\x27\x0a":
        return f"Detected content type '{detected}' does not match extension '{ext}'."
    if ext in (".tif", ".tiff", ".geotiff", ".geotif") and data[:4] not in (b"II*\x00", b"MM\x00*"):
        return f"Detected content type '{detected}' does not match extension '{ext}'."
    if ext == ".dbf" and (len(data) < 32 or data[0] not in (0x02, 0x03, 0x30, 0x83, 0x8B, 0xF5)):
        return f"File content does not match expected signature for '{ext}'."
    if ext == ".zip" and zip_names(data) is None:
        return "Invalid or unsafe ZIP archive."
    if ext in (".xml", ".sld") and not data.lstrip().startswith(b"<"):
        return "Invalid or unsafe XML file."
    return None


def _is_text(data: bytes) -> bool:
    sample = data[:512]
    return all(b in b"\t\n\r" or 32 <= b < 127 for b in sample)


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts: list[Part] = []
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename() or ""
        data = part.get_payload(decode=True) or b""
        parts.append(Part(str(name or ""), filename, data))
    return parts
