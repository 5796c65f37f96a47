"""A GeoNode double on 127.0.0.1: the upload API of GeoNode 5.1, 5.0, 4.4 (geonode-importer) and
the legacy (<= 4.0) upload / final / progress flow, with processing that takes time.

No real GeoNode runs on these machines (no GeoServer in any registry; GeoNode's GDAL pin does not
build against Debian's libgdal), so this is the one server the tests fake. What it reproduces,
from GeoNode's source (see ../shared/PROTOCOLS.md, corrections in SERVERS.md):

- ``POST`` on any path containing ``uploads/upload`` (the pattern is unanchored) -> 201
  ``{"execution_id"}``; other methods 405. Legacy mode: ``PUT``/``POST`` -> 200 wizard JSON.
- auth: Basic, Bearer, ``?apikey=`` (only when ``apikey=True``, ENABLE_APIKEY_LOGIN). Anonymous
  -> 401 ``not_authenticated`` (5.0: with ``WWW-Authenticate: Basic realm="api"``; 5.1 without),
  bad Basic -> 401 ``authentication_failed``; 4.4 execution routes and legacy answer 403 (Session
  authentication first). ``lockdown=True``: every unauthenticated ``/api/v2`` call -> 302 to the
  HTML login page.
- the GeoNode error envelope ``{"success": false, "errors": [first message], "code"}``, DRF's
  ``{"detail"}`` for an unknown execution, Django's HTML "Bad Request (400)" for a body over
  2 x dataset_upload_size + 2 MiB (approximate: Django answers at the first file part).
- validation in create()'s order (5.1 content sniffing first), the size and per-user parallelism
  limits (4.4: as 500 ``importer_exception``), handler lookup, zip listing.
- executions advanced by a background thread every ``step_seconds``: ready -> running (steps of
  the vector pipeline, ``tasks``) -> finished (``output_params.resources[].detail_url``) or failed
  (``log``: GeoNode's reason: stems that differ, an unreadable .prj's SRID error, or a reason
  injected with ``fail_names``). ``hold()`` keeps running executions where they are
  (``let_through(name)`` lets one go on).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.geonode_double.legacy import LegacyRoutes
from tests.geonode_double.state import (
    DoubleState,
    Execution,
    Post,
    User,
    parse_multipart,
)

LOGIN_HTML = (
    b"<!DOCTYPE html><html><head><title>Log in - GeoNode</title></head><body>"
    b"<form method='post' action='/account/login/'><input name='login'>"
    b"<input name='password' type='password'></form></body></html>"
)
# django.views.defaults.bad_request's page
DJANGO_400 = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Bad Request (400)</title>\n'
    b"</head>\n<body>\n  <h1>Bad Request (400)</h1><p></p>\n</body>\n</html>\n"
)
EXEC_RE = re.compile(r"^/api/v2/executionrequest/([^/]+)/?$")
STATUS_RE = re.compile(r"^/api/v2/resource-service/execution-status/([^/]+)/?$")
LEGACY_UPLOAD_RE = re.compile(r"^/api/v2/uploads/(\d+)/?$")


class GeoNodeDouble:
    """The server, its state and its processing thread. ``url`` is the site root (with ``/``)."""

    def __init__(
        self,
        mode: str = "5.1",
        *,
        apikey: bool = False,
        lockdown: bool = False,
        upload_size: int = 100 << 20,
        max_parallel: int = 5,
        step_seconds: float = 0.15,
    ) -> None:
        self.state = DoubleState(mode, upload_size=upload_size, max_parallel=max_parallel)
        self.state.users["alice"] = User("alice", "alice-pass", "alice-token")
        self.state.users["viewer"] = User("viewer", "viewer-pass", "viewer-token", can_add=False)
        self.apikey = apikey
        self.lockdown = lockdown
        self.step_seconds = step_seconds
        self.requests: list[tuple[str, str, int]] = []
        #: the next accepted upload creates its execution, then its answer is lost (the
        #: connection closes without a response, as when a proxy or the link fails right then)
        self.lose_next_answer = False
        #: API calls answer 503 (the site down for maintenance behind its proxy)
        self.unavailable = False
        self._held = threading.Event()
        self._let_through: set[str] = set()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def mode(self) -> str:
        return self.state.mode

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def start(self) -> GeoNodeDouble:
        double = self

        class Handler(_Handler):
            server_double = double

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, daemon=True),
            threading.Thread(target=self._process, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    # -- what tests steer and read -----------------------------------------------------------

    def hold(self) -> None:
        """Keep running executions at their step (as when the Celery workers are busy)."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()
        self._let_through.clear()

    def let_through(self, name: str) -> None:
        """While held, let the import of ``name`` go on to its end (the others stay put)."""
        with self.state.lock:
            self._let_through.add(name)

    def executions(self) -> list[Execution]:
        with self.state.lock:
            return list(self.state.executions.values())

    def posts(self) -> list[Post]:
        with self.state.lock:
            return list(self.state.posts)

    def _process(self) -> None:
        while not self._stop.wait(self.step_seconds):
            with self.state.lock:
                for execution in list(self.state.executions.values()):
                    if execution.input_params.get("legacy_phase") == "posted":
                        continue  # legacy: nothing happens before /upload/final
                    held = self._held.is_set() and execution.name not in self._let_through
                    self.state.advance(execution, held=held)


class _Handler(LegacyRoutes, BaseHTTPRequestHandler):
    server_double: GeoNodeDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def d(self) -> GeoNodeDouble:
        return self.server_double

    @property
    def s(self) -> DoubleState:
        return self.server_double.state

    # -- answers -------------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        path = urlsplit(self.path).path
        self.d.requests.append((self.command, path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _envelope(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        if code == "html":
            self._send(status, message.encode(), "text/html; charset=utf-8")
            return
        self._json(status, {"success": False, "errors": [message], "code": code}, headers)

    # -- auth ------------------------------------------------------------------------------------

    def _user(self) -> tuple[str, User | None]:
        """("ok", user) / ("none", None) / ("bad", None) as DRF's authenticators would decide."""
        auth = self.headers.get("Authorization", "")
        query = parse_qs(urlsplit(self.path).query)
        if not auth and self.d.apikey and query.get("apikey"):
            auth = "Bearer " + query["apikey"][0]  # geonode.base.auth rewrites it so
        if auth.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return "bad", None
            user = self.s.users.get(name)
            return ("ok", user) if user and user.password == password else ("bad", None)
        if auth.startswith("Bearer "):
            token = auth[7:]
            user = next((u for u in self.s.users.values() if u.token == token), None)
            # OAuth2Authentication answers None for an unknown token: anonymous, not "bad"
            return ("ok", user) if user else ("none", None)
        return "none", None

    def _authenticate(self, *, session_first: bool = False) -> User | None:
        outcome, user = self._user()
        if user is not None:
            return user
        path = urlsplit(self.path).path
        if self.d.lockdown and path.startswith("/api/"):
            self._send(
                302, b"", "text/html; charset=utf-8", {"Location": f"/account/login/?next={path}"}
            )
            return None
        if outcome == "bad":
            message, code = "Invalid username/password.", "authentication_failed"
        else:
            message, code = "Authentication credentials were not provided.", "not_authenticated"
        if session_first:
            self._envelope(403, message, code)
        elif self.d.mode == "5.1":
            self._envelope(401, message, code)
        else:
            self._envelope(401, message, code, {"WWW-Authenticate": 'Basic realm="api"'})
        return None

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/account/login"):
            self._send(200, LOGIN_HTML, "text/html; charset=utf-8")
            return
        legacy = self.d.mode == "legacy"
        session_first = legacy or (self.d.mode == "4.4" and "executionrequest" in path)
        if "uploads/upload" in path and not legacy:
            self._method_not_allowed()
            return
        if self.d.unavailable:
            self._send(
                503,
                b"<html><title>503 Service Unavailable</title></html>",
                "text/html; charset=utf-8",
            )
            return
        user = self._authenticate(session_first=session_first)
        if user is None:
            return
        with self.s.lock:
            self._route_get(path, user)

    def _route_get(self, path: str, user: User) -> None:
        legacy = self.d.mode == "legacy"
        if path.rstrip("/") == "/api/v2/upload-size-limits":
            self._json(
                200,
                {
                    "total": 1,
                    "page": 1,
                    "page_size": 10,
                    "upload-size-limits": [
                        {
                            "slug": "dataset_upload_size",
                            "max_size": self.s.upload_size,
                            "max_size_label": f"{self.s.upload_size / (1 << 20):.1f} MB",
                        }
                    ],
                },
            )
        elif path.rstrip("/") == "/api/v2/upload-parallelism-limits":
            self._json(
                200,
                {
                    "total": 1,
                    "upload-parallelism-limits": [
                        {"slug": "default_max_parallel_uploads", "max_number": self.s.max_parallel}
                    ],
                },
            )
        elif path.rstrip("/") == "/api/v2/executionrequest" and not legacy:
            query = parse_qs(urlsplit(self.path).query)
            wanted = {v for value in query.get("filter{status.in}", []) for v in value.split(",")}
            wanted |= set(query.get("filter{status}", []))
            size = int(query.get("page_size", ["10"])[0])
            mine = [
                e.record(self._link(e))
                for e in self.s.executions.values()
                if e.user == user.name and (not wanted or e.status in wanted)
            ]
            self._json(
                200,
                {
                    "links": {"next": None, "previous": None},
                    "total": len(mine),
                    "page": 1,
                    "page_size": size,
                    "requests": mine[:size],
                },
            )
        elif (m := EXEC_RE.match(path)) and not legacy:
            e = self.s.executions.get(m.group(1))
            if e is None or e.user != user.name:
                self._json(404, {"detail": "No ExecutionRequest matches the given query."})
            else:
                self._json(200, {"request": e.record(self._link(e))})
        elif (m := STATUS_RE.match(path)) and not legacy:
            e = self.s.executions.get(m.group(1))
            if e is None:
                self._send(404, b"")
            else:
                record = e.record(self._link(e))
                flat = {
                    k: record[k]
                    for k in (
                        "status",
                        "func_name",
                        "created",
                        "finished",
                        "last_updated",
                        "input_params",
                        "output_params",
                        "step",
                        "log",
                    )
                }
                self._json(200, {"user": e.user, **flat})
        elif path.rstrip("/") == "/api/v2/uploads" and self.d.mode in ("legacy", "4.4"):
            wanted = parse_qs(urlsplit(self.path).query).get("filter{import_id}")
            rows = [
                self.s.legacy_record(e, self.d.url)
                for e in self.s.executions.values()
                if e.legacy_pk is not None and e.user == user.name
            ]
            if wanted:
                rows = [r for r in rows if str(r["import_id"]) == wanted[0]]
            self._json(200, {"total": len(rows), "page": 1, "page_size": 10, "uploads": rows})
        elif (m := LEGACY_UPLOAD_RE.match(path)) and legacy:
            e = next(
                (
                    e
                    for e in self.s.executions.values()
                    if e.legacy_pk == int(m.group(1)) and e.user == user.name
                ),
                None,
            )
            if e is None:
                self._json(404, {"detail": "Not found."})
            else:
                self._json(200, {"upload": self.s.legacy_record(e, self.d.url)})
        elif path.rstrip("/") == "/upload/final" and legacy:
            self._legacy_final(user)
        elif path.rstrip("/") == "/upload/progress" and legacy:
            self._legacy_progress()
        elif path.rstrip("/") == "/api/v2":
            routes = ["resources", "datasets", "users", "executionrequest", "uploads"]
            self._json(200, {r: f"{self.d.url}api/v2/{r}" for r in routes})
        else:
            self._send(404, b"<h1>Not Found</h1>", "text/html; charset=utf-8")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if "uploads/upload" not in path:
            self._drain()
            self._send(404, b"<h1>Not Found</h1>", "text/html; charset=utf-8")
            return
        user = self._authenticate(session_first=self.d.mode == "legacy")
        if user is None:
            self._drain()
            return
        if not user.can_add:
            self._drain()
            self._envelope(
                403, "You do not have permission to perform this action.", "permission_denied"
            )
            return
        self._upload(user)

    def do_PUT(self) -> None:
        if self.d.mode == "legacy":
            self.do_POST()
            return
        self._drain()
        self._method_not_allowed()

    def do_PATCH(self) -> None:
        self._drain()
        self._method_not_allowed()

    def do_DELETE(self) -> None:
        path = urlsplit(self.path).path
        user = self._authenticate(session_first=self.d.mode == "4.4")
        if user is None:
            return
        m = EXEC_RE.match(path)
        with self.s.lock:
            if m and m.group(1) in self.s.executions:
                del self.s.executions[m.group(1)]
                self._send(200, b"")
            elif m:
                self._envelope(404, f"uuid provided does not exists: {m.group(1)}", "not_found")
            else:
                self._send(404, b"")

    def _method_not_allowed(self) -> None:
        self._envelope(405, f'Method "{self.command}" not allowed.', "method_not_allowed")

    # -- the upload --------------------------------------------------------------------------

    def _drain(self) -> bytes | None:
        """Read the request body; None when the client went away before its end."""
        length = int(self.headers.get("Content-Length") or 0)
        chunks: list[bytes] = []
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _upload(self, user: User) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self._drain()
        if body is None:
            with self.s.lock:
                self.s.posts.append(Post(user.name, {}, {}, complete=False))
            self.close_connection = True
            return
        if length > 2 * self.s.upload_size + (2 << 20):
            with self.s.lock:
                self.s.posts.append(Post(user.name, {}, {}, complete=True, status=400))
            self._send(400, DJANGO_400, "text/html; charset=utf-8")
            return
        parts = parse_multipart(self.headers.get("Content-Type", ""), body)
        post = Post(
            user.name,
            {p.field: p.filename for p in parts if p.filename},
            {p.field: len(p.data) for p in parts if p.filename},
            complete=True,
        )
        with self.s.lock:
            self.s.posts.append(post)
            if self.d.mode == "legacy":
                self._legacy_upload(parts, user, post)
                return
            refusal = self.s.validate(parts, user.name)
            if refusal is not None:
                post.status = refusal[0]
                self._envelope(*refusal)
                return
            execution = self.s.create_execution(parts, user.name)
            post.status, post.execution_id = 201, execution.exec_id
            if self.d.lose_next_answer:
                self.d.lose_next_answer = False
                self.close_connection = True
                return
            self._json(201, {"execution_id": execution.exec_id})

    def _link(self, e: Execution) -> str:
        return f"{self.d.url}api/v2/executionrequest/{e.exec_id}"
