"""HTTP to one GeoNode site: its auth, GeoNode's error envelope, and answers that are not the API.

Every request goes with ``allow_redirects=False``: a LOCKDOWN_GEONODE site answers API calls it
does not accept with a 302 to its HTML login page, which requests would follow (a POST turning
into a GET of the login page, 200) and which must never pass for success.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from upqueue.core.connection_errors import classify_exception
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.status_errors import error_for_status, parse_retry_after, trim_server_text

LOGIN_TITLE = "GeoNode asked for a login"
LOGIN_MESSAGE = (
    "GeoNode asked for a login: check the credentials. The site answered {what} with a "
    "redirect to its login page{where} (a site in lockdown does so for every request it does "
    "not accept), so nothing was taken."
)


class GeoNodeClient:
    """Requests to a GeoNode site root. Thread-safe: one requests.Session per thread.

    Args:
        site: the site root, e.g. ``https://maps.example.org/`` (a trailing ``/`` is added).
        headers: extra headers for every request (the target's, plus ``Authorization``).
        basic: ``(username, password)`` for HTTP Basic, or None.
        apikey: GeoNode's API key, sent as ``?apikey=`` (ENABLE_APIKEY_LOGIN), or None.
        connect_timeout, stall_timeout, read_timeout: as for every transport (see TusClient):
            a body request uses ``(stall_timeout, read_timeout)`` so a stalled send aborts.
    """

    def __init__(
        self,
        site: str,
        *,
        headers: Mapping[str, str],
        basic: tuple[str, str] | None,
        apikey: str | None,
        connect_timeout: float,
        stall_timeout: float,
        read_timeout: float,
    ) -> None:
        self.site = site if site.endswith("/") else site + "/"
        self.headers = dict(headers)
        self.basic = basic
        self.apikey = apikey
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.read_timeout = read_timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return urljoin(self.site, path.lstrip("/"))

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            if self.basic is not None:
                session.auth = self.basic
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: dict[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request; no answer at all raises a classified (transient) TransferError."""
        query = dict(params or {})
        if self.apikey:
            query["apikey"] = self.apikey
        url = self.url(path)
        with_body = data is not None
        timeout = (self.stall_timeout if with_body else self.connect_timeout, self.read_timeout)
        try:
            return self._session().request(
                method,
                url,
                params=query or None,
                data=data,
                headers=dict(headers or {}),
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = classify_exception(exc, url, action, stall_timeout=self.stall_timeout)
            raise self._scrubbed(error) from None

    def _scrubbed(self, error: TransferError) -> TransferError:
        """The error without the API key, which requests' texts repeat with the request's URL
        (``...?apikey=...``): the message goes into state.db, the history and the log."""
        key = self.apikey
        if not key or key not in f"{error.title}{error.message}{error.server_text}":
            return error
        return TransferError(
            error.title.replace(key, "…"),
            error.message.replace(key, "…"),
            kind=error.kind,
            status=error.status,
            retry_after=error.retry_after,
            server_text=error.server_text.replace(key, "…"),
            busy=error.busy,
        )

    def get_json(
        self, path: str, *, action: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """GET an API document; any non-200 or non-JSON answer raises (see :func:`refusal`)."""
        resp = self.request("GET", path, action=action, params=params)
        if resp.status_code != 200:
            raise refusal(resp, action)
        return api_json(resp, action)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def envelope(resp: requests.Response) -> tuple[str, str]:
    """GeoNode's words for a refusal: ``(first error message, code)``.

    The envelope is ``{"success": false, "errors": [...], "code": ...}``; DRF's own answers
    (an unknown execution) are ``{"detail": ...}``; Django's are HTML (reduced to the title).
    """
    try:
        body = resp.json()
    except ValueError:
        return trim_server_text(resp.text, resp.headers.get("Content-Type", "")), ""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return str(errors[0]), str(body.get("code") or "")
        for key in ("detail", "error_msg", "error"):
            if body.get(key):
                return str(body[key]), str(body.get("code") or "")
    return trim_server_text(json.dumps(body)), ""


def is_login_redirect(resp: requests.Response) -> bool:
    return 300 <= resp.status_code < 400


def looks_like_login_page(resp: requests.Response) -> bool:
    text = resp.text[:4000].lower() if "html" in resp.headers.get("Content-Type", "") else ""
    return "password" in text or "login" in text or "log in" in text or "sign in" in text


def login_error(resp: requests.Response, what: str) -> TransferError:
    location = resp.headers.get("Location") or ""
    where = f" ({location})" if location else ""
    return TransferError(
        LOGIN_TITLE,
        LOGIN_MESSAGE.format(what=what, where=where),
        kind=ErrorKind.PERMANENT,
        status=resp.status_code,
        server_text=location,
    )


def api_json(resp: requests.Response, action: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; HTML (a login page, a proxy's page) is an error."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    if looks_like_login_page(resp):
        raise login_error(resp, action)
    raise TransferError(
        "Not a GeoNode answer",
        f"The site answered {resp.status_code} with "
        f"{resp.headers.get('Content-Type') or 'no content type'} instead of GeoNode's JSON while "
        f"{action}: {trim_server_text(resp.text, resp.headers.get('Content-Type', ''))!r}. "
        "Check that the target's URL is the GeoNode site root (e.g. https://maps.example.org/).",
        kind=ErrorKind.PERMANENT,
        status=resp.status_code,
    )


def refusal(resp: requests.Response, action: str) -> TransferError:
    """A non-success answer as a TransferError, in GeoNode's words."""
    if is_login_redirect(resp):
        return login_error(resp, action)
    message, code = envelope(resp)
    status = resp.status_code
    if status in (401, 403) and code != "permission_denied":
        return TransferError(
            "GeoNode rejected the credentials",
            f"GeoNode answered {status}: {message} Check the target's user name and password, "
            "token or API key (an OAuth2 token expires, by default after a day).",
            kind=ErrorKind.PERMANENT,
            status=status,
            server_text=message,
        )
    if code == "permission_denied":
        return TransferError(
            "Not allowed to add datasets",
            f"GeoNode answered {status}: {message} The account needs the permission to add "
            "resources (base.add_resourcebase); ask the site's administrator.",
            kind=ErrorKind.PERMANENT,
            status=status,
            server_text=message,
        )
    return error_for_status(
        status,
        action=action,
        server_text=message,
        reason=resp.reason or "",
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
    )
