"""A non-success HTTP answer (requests.Response or core.transports.wire.Answer) -> TransferError,
its text redacted of the request's secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from upqueue.core.errors import TransferError
from upqueue.core.redaction import redact, request_secrets
from upqueue.core.status_errors import error_for_status, parse_retry_after, trim_server_text


class AskedRequest(Protocol):
    """The request an answer answers (requests' PreparedRequest, core.transports.wire.Sent)."""

    @property
    def method(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class HttpAnswer(Protocol):
    """An HTTP answer as classified here: requests.Response or core.transports.wire.Answer."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    @property
    def request(self) -> AskedRequest: ...


def error_for_response(
    resp: HttpAnswer, action: str, *, gone: bool = False, max_size: int | None = None
) -> TransferError:
    """Classify a non-success response (see core.status_errors.error_for_status).

    A server may quote the credential it refused ("invalid credential: Bearer <token>"): every
    secret the request carried is redacted from its text before anyone shows or stores it.
    """
    import requests

    try:
        text = resp.text
    except (requests.RequestException, UnicodeDecodeError):
        text = ""
    request = getattr(resp, "request", None)
    secrets = request_secrets(request.headers) if request is not None else []
    if secrets:
        text = redact(text, secrets)
    location = resp.headers.get("Location")
    if location and secrets:
        location = redact(location, secrets)
    return error_for_status(
        resp.status_code,
        action=action,
        server_text=trim_server_text(text, resp.headers.get("Content-Type", "")),
        reason=redact(resp.reason or "", secrets),
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        gone=gone,
        max_size=max_size,
        location=location,
    )
