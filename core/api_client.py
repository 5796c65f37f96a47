"""The control API's Python client, shared by the window and the command line.

:meth:`ApiClient.connect` finds the worker of a data directory through ``worker.json`` and
``api.token`` (starting one in the background when none answers); every method mirrors one
route of docs/API.md and returns its decoded JSON answer. Errors come back as :class:`ApiError`
(the server's title and message) or :class:`WorkerUnavailable` (nobody answered).
"""

from __future__ import annotations

import json
import json as _json  # `json` is also a keyword argument of _request
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from upqueue.core import paths
from upqueue.core.api_client_targets import TargetApiMixin
from upqueue.core.api_client_uploads import UploadApiMixin
from upqueue.core.api_client_watch import WatchApiMixin
from upqueue.core.api_errors import ApiError, WorkerUnavailable
from upqueue.core.api_http import Answer, NoAnswer, Transport

if TYPE_CHECKING:
    import subprocess


def _log() -> Any:
    """This module's logger, imported when first needed: logging costs a command ~3 ms of
    start-up, and a command logs only when it starts a worker or finds a stale one."""
    import logging

    return logging.getLogger(__name__)


CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 30.0
START_TIMEOUT = 20.0
# How long to keep waiting after the worker we started has exited: another starter may have
# won the lock race and its worker will answer soon; a crash should not cost the full timeout.
_EXITED_GRACE = 3.0
_POLL_INTERVAL = 0.1


def worker_command() -> list[str]:
    """The command that runs the worker: the frozen executable, or this checkout's main.py."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "worker"]
    main_py = Path(__file__).resolve().parent.parent / "main.py"
    return [sys.executable, str(main_py), "worker"]


def start_worker_process(data_dir: Path) -> subprocess.Popen[bytes]:
    """Start a worker for ``data_dir`` in the background, detached from our terminal."""
    import subprocess  # only when a worker is to be started: commands start faster without

    env = dict(os.environ)
    env[paths.HOME_ENV] = str(data_dir)
    kwargs: dict[str, Any] = {}
    if os.name == "nt":  # pragma: no cover - Windows has no sessions; detach the process instead
        flags = ("DETACHED_PROCESS", "CREATE_NEW_PROCESS_GROUP")
        kwargs["creationflags"] = sum(getattr(subprocess, flag, 0) for flag in flags)
    else:
        kwargs["start_new_session"] = True
    _log().info("starting the worker for %s", data_dir)
    return subprocess.Popen(
        worker_command(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        close_fds=True,
        **kwargs,
    )


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class ApiClient(TargetApiMixin, WatchApiMixin, UploadApiMixin):
    """A client of one worker's control API; safe to share between threads.

    Args:
        base_url: e.g. ``http://127.0.0.1:51234``.
        token: the bearer token from ``api.token``.
        data_dir: the data directory, named in messages.
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for an answer.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        data_dir: Path | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.data_dir = data_dir
        # The worker's change counter in the health answer that found it (see connect).
        self.seq_at_connect: int | None = None
        self.timeout = (connect_timeout, read_timeout)
        self._token = token
        parts = urlsplit(self.base_url)
        # One kept-alive connection per thread (core.api_http); the token goes with each request.
        self._transport = Transport(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def __repr__(self) -> str:  # never show the token
        return f"ApiClient({self.base_url!r})"

    # -- finding the worker ----------------------------------------------------------------
    @classmethod
    def from_files(cls, data_dir: Path) -> ApiClient | None:
        """A client for the worker that ``worker.json`` describes, or None when there is none."""
        try:
            info = json.loads((data_dir / paths.ENDPOINT_FILE).read_text(encoding="utf-8"))
            token = (data_dir / paths.TOKEN_FILE).read_text(encoding="utf-8").strip()
            port = int(info["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not token:
            return None
        return cls(f"http://127.0.0.1:{port}", token, data_dir=data_dir)

    @classmethod
    def connect(
        cls, data_dir: Path | None = None, start: bool = True, timeout: float = START_TIMEOUT
    ) -> ApiClient:
        """Find the worker of ``data_dir`` (default: core.paths.data_dir()), starting one if asked.

        Args:
            data_dir: the data directory whose worker to use.
            start: start a worker in the background when none answers.
            timeout: seconds to wait for a started worker to answer.

        Raises:
            WorkerUnavailable: no worker answers (and none was to be started, or it did not start).
        """
        directory = Path(data_dir) if data_dir is not None else paths.data_dir()
        client = cls._answering(directory)
        if client is not None:
            return client
        log_path = directory / paths.LOG_FILE
        if not start:
            raise WorkerUnavailable(
                "The upqueue worker is not running",
                f"No worker answers for {directory}. Start it with 'upqueue worker' or open the "
                "upqueue window.",
            )
        process = start_worker_process(directory)
        deadline = time.monotonic() + timeout
        exited_at: float | None = None
        while True:
            client = cls._answering(directory)
            if client is not None:
                return client
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXITED_GRACE:
                raise WorkerUnavailable(
                    "The upqueue worker stopped",
                    f"The worker exited right after starting (exit code {process.returncode}); "
                    f"see the log at {log_path}.",
                )
            if now > deadline:
                raise WorkerUnavailable(
                    "The upqueue worker did not start",
                    f"The upqueue worker did not start within {timeout:g} s; see the log at {log_path}.",
                )
            time.sleep(_POLL_INTERVAL)

    @classmethod
    def _answering(cls, directory: Path) -> ApiClient | None:
        client = cls.from_files(directory)
        if client is None:
            return None
        try:
            health = client._request("GET", "/api/health", timeout=(CONNECT_TIMEOUT, 5.0))
        except (WorkerUnavailable, ApiError) as exc:
            # A stale worker.json (killed worker) or a port now used by something else.
            _log().debug("worker at %s does not answer: %s", client.base_url, exc)
            return None
        if isinstance(health, dict) and isinstance(health.get("seq"), int):
            client.seq_at_connect = health["seq"]
        return client

    # -- transport -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: tuple[float, float] | None = None,
        raw: bool = False,
        interruptible: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON (None for 204, text when ``raw``).

        Raises:
            ApiError: the worker answered with an error status.
            WorkerUnavailable: no connection, or no answer in time.
        """
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        target = path + ("?" + urlencode(query) if query else "")
        body = None if json is None else _json.dumps(json).encode("utf-8")
        try:
            response = self._transport.request(
                method,
                target,
                body,
                "application/json" if body is not None else None,
                timeout or self.timeout,
                interruptible=interruptible,
            )
        except NoAnswer as exc:
            if exc.timed_out:
                raise WorkerUnavailable(
                    "The upqueue worker is not answering",
                    f"No answer from the worker at {self.base_url} in time ({exc}). "
                    f"It may be busy or stuck; see the log at {self._log_hint()}.",
                ) from None
            raise WorkerUnavailable(
                "Cannot reach the upqueue worker",
                f"Could not connect to the worker at {self.base_url} ({exc}). "
                "Is it running? Start it with 'upqueue worker'.",
            ) from None
        if response.status >= 400:
            raise self._error(response)
        if response.status == 204 or not response.content:
            return None
        if raw:
            return response.content.decode("utf-8")
        try:
            return _json.loads(response.content)
        except ValueError:
            raise ApiError(
                "Unexpected answer",
                f"The worker answered {method} {path} with something that is not JSON.",
                response.status,
            ) from None

    @staticmethod
    def _error(response: Answer) -> ApiError:
        try:
            body = _json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and "title" in body:
            errors = body.get("errors") if isinstance(body.get("errors"), list) else None
            return ApiError(
                str(body["title"]), str(body.get("message") or ""), response.status, errors
            )
        text = response.text.strip()[:200]
        return ApiError(
            f"Error {response.status}",
            text or response.reason or "The worker refused the request.",
            response.status,
        )

    def _log_hint(self) -> str:
        return str(self.data_dir / paths.LOG_FILE) if self.data_dir else paths.LOG_FILE

    def interrupt_waits(self) -> None:
        """End the long polls now waiting (they raise WorkerUnavailable); from any thread."""
        self._transport.interrupt()

    # -- worker ------------------------------------------------------------------------
    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request whose answer must be a JSON object."""
        answer = self._request(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise ApiError(
                "Unexpected answer",
                f"The worker answered {method} {path} with {type(answer).__name__}, not an object.",
                200,
            )
        return answer

    def health(self) -> dict[str, Any]:
        return self._object("GET", "/api/health")

    def stats(self) -> dict[str, Any]:
        """``{"counts": {status: n}, "speed", "active", "seq"}``."""
        return self._object("GET", "/api/stats")

    def shutdown(self) -> None:
        """Ask the worker to stop gracefully (running uploads resume at the next start)."""
        self._request("POST", "/api/shutdown")

    # -- settings and export -------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """``{"settings": {key: value}, "help": {key: text}}``."""
        return self._object("GET", "/api/settings")

    def update_settings(self, **values: Any) -> dict[str, Any]:
        """``{"settings": {...}}`` after the change; ApiError 400 for a bad key or value."""
        return self._object("PATCH", "/api/settings", json=values)

    def export_csv(self, from_date: str, to_date: str) -> str:
        """The CSV of uploads created between the two dates (YYYY-MM-DD, inclusive, UTC)."""
        params = {"from_date": from_date, "to_date": to_date}
        return str(self._request("GET", "/api/export.csv", params=params, raw=True) or "")


__all__ = ["ApiClient", "ApiError", "WorkerUnavailable", "start_worker_process", "worker_command"]
