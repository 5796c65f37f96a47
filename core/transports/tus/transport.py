"""tus 1.0 behind the transport interface: probe = OPTIONS (a hint only), send = resume or create
then PATCH (core.transports.tus.transfer), terminate = DELETE.

Remote state: ``{"protocol": "tus", "url": upload URL, "expires": Upload-Expires or None,
"all_sent": bool}``. ``all_sent`` is written when the last byte was handed to the server, before
its answer: if that answer is lost (the connection broke, the worker died) and the server then
answers HEAD with 400/404, as some do for a finished upload (tuspyserver without filetype
metadata, aiohttp-tus), the upload is done-but-unconfirmed rather than sent a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
from upqueue.core.transports.base import (
    Capabilities,
    ConnectionReport,
    RemoteState,
    SaveStates,
    SendHooks,
    Sent,
    Transport,
    UploadJob,
)
from upqueue.core.transports.http import http_auth
from upqueue.core.transports.tus import small_batch
from upqueue.core.transports.tus.client import ServerCaps, TusClient, choose_checksum
from upqueue.core.transports.tus.headers import file_metadata
from upqueue.core.transports.tus.transfer import transfer

PROTOCOL = "tus"

log = logging.getLogger(__name__)

# Blocks read from the file and handed to the socket: small until the link is known to be fast,
# so that a pause is noticed within a fraction of a second on a slow link; large once it is, as
# each block costs Python work (the read, its hooks, progress): 256 KiB blocks cost a 512 MiB
# upload ~0.1 s of CPU per GiB more than 1 MiB ones (issue 12). A stalled send is detected per
# send, not per block (core.transports.wire), so the block size does not bound the stall check.
SMALL_BLOCK = 256 * 1024
LARGE_BLOCK = 1 << 20
FAST_LINK = 8_000_000  # bytes/s: a large block leaves within 1/8 s
SPEED_WINDOW = 16 << 20  # bytes measured before switching (more than a socket buffer holds)


def _state(url: str, expires: str | None, all_sent: bool = False) -> RemoteState:
    return {"protocol": PROTOCOL, "url": url, "expires": expires, "all_sent": all_sent}


def upload_url(state: Mapping[str, Any] | None) -> str | None:
    """The tus upload URL a remote state holds, if any."""
    if not state or state.get("protocol") != PROTOCOL:
        return None
    url = state.get("url")
    return str(url) if url else None


class _TusHooks:
    """Adapts the engine's hooks to the PATCH loop's (which speaks of an upload URL), and keeps
    the state's ``all_sent`` flag.

    A new server upload's URL is saved together with the first bytes' progress, just before
    they are handed to the socket (or by :meth:`flush` when the attempt ends before that),
    rather than in a write of its own right after the creation POST: for a small file that is
    one write of state.db instead of two back to back (~10 % of the files per second, issue 12).
    No byte leaves before the URL is stored, so exactly-once holds as before; a worker killed
    between the POST and that write leaves an empty orphan on the server, as one killed during
    the POST always could. An empty file's URL is saved at once (its upload is complete).
    """

    def __init__(self, hooks: SendHooks, size: int, state: RemoteState | None) -> None:
        self._hooks, self._size = hooks, size
        self.url = upload_url(state)
        self.expires = (state or {}).get("expires") if self.url else None
        self.all_sent = bool((state or {}).get("all_sent")) if self.url else False
        self._fast = False
        self._window: tuple[float, int] | None = None  # (when, offset) the window began
        self._pending = False  # a new upload's URL not yet saved

    def check_stop(self) -> None:
        self._hooks.check_stop()

    def throttle(self, nbytes: int) -> None:
        self._hooks.throttle(nbytes)

    def block_hint(self) -> int | None:
        hint = self._hooks.block_hint()  # a bandwidth limit decides when it holds
        if hint:
            return hint
        return LARGE_BLOCK if self._fast else SMALL_BLOCK

    def _measure(self, offset: int) -> None:
        now = time.monotonic()
        if self._window is None or offset < self._window[1]:
            self._window = (now, offset)
            return
        began, start = self._window
        if offset - start >= SPEED_WINDOW:
            self._fast = (offset - start) >= FAST_LINK * (now - began)
            self._window = (now, offset)

    def on_progress(self, offset: int) -> None:
        self._measure(offset)
        if self._pending and offset > 0:
            # Bytes are about to leave for the first time: the URL goes to state.db first.
            self._pending = False
            self.all_sent = offset >= self._size
            self._save()
        elif offset >= self._size and self.url and not self.all_sent:
            # Before the server's answer: if it is lost, the next attempt must not read a
            # server that answers 404 for a finished upload as "start over".
            self.all_sent = True
            self._save()
        self._hooks.on_progress(offset)

    def on_confirmed(self, offset: int) -> None:
        self._hooks.on_confirmed(offset)

    def on_remote(self, url: str | None, expires: str | None) -> None:
        new = url is not None and url != self.url
        if url != self.url:
            self.all_sent = False  # another server upload
        self.url, self.expires = url, expires
        self._pending = False
        if url is None:
            self._hooks.on_remote_state(None)
        elif new and self._size > 0:
            self._pending = True  # saved with the first bytes (on_progress) or by flush()
        else:
            self._save()

    def flush(self) -> None:
        """Save a new upload's URL that no byte has needed yet (the attempt ends early)."""
        if self._pending:
            self._pending = False
            self._save()

    def not_all_sent(self) -> None:
        self.all_sent = False
        self._save()

    def _save(self) -> None:
        if self.url:
            self._hooks.on_remote_state(
                _state(self.url, self.expires, self.all_sent), result_url=self.url
            )

    def on_event(self, kind: str, message: str) -> None:
        self._hooks.on_event(kind, message)


class TusTransport(Transport):
    """A tus 1.0 creation URL as a target.

    Args:
        target: the target's fields (``url``, ``headers``, ``auth_kind``, ``username``, ...).
        secret: its password or token from the keyring.
        settings: the worker's settings (timeouts).
    """

    name = PROTOCOL
    title = "tus 1.0 (resumable)"
    small_file_limit = small_batch.SMALL_FILE
    small_batch_files = small_batch.BATCH_FILES
    reserved_headers = frozenset(
        {
            "tus-resumable",
            "upload-offset",
            "upload-length",
            "upload-metadata",
            "content-type",
            "content-length",
            "host",
            "upload-checksum",
        }
    )

    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        headers, basic = http_auth(target, secret)
        self.endpoint = str(target["url"])
        self.client = TusClient(
            headers=headers,
            auth=basic,
            connect_timeout=float(settings["connect_timeout"]),
            stall_timeout=float(settings["stall_timeout"]),
            read_timeout=float(settings["read_timeout"]),
            # The largest block; _TusHooks.block_hint picks the size for each read.
            block_size=LARGE_BLOCK,
        )
        self._server_caps: ServerCaps | None = None
        self._pipelining = True  # until a batch goes unanswered (send_many)

    def probe(self) -> Capabilities:
        caps = self.client.discover(self.endpoint)
        self._server_caps = caps
        return _capabilities(caps)

    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        job.single_file("A tus target")
        server_caps = self._caps(capabilities)
        primary = job.primary
        metadata = file_metadata(primary.name)
        # Never send bytes inside the creation POST: if the worker dies after the server
        # stored a whole small file but before its URL reached state.db, the restart would
        # create and complete a second copy (a processing server would import it twice).
        # An empty POST whose URL is saved before the first byte of a PATCH leaves can leave
        # at most an empty orphan, which the server expires.
        tus_hooks = _TusHooks(hooks, primary.fingerprint.size, remote_state)
        if tus_hooks.all_sent and tus_hooks.url:
            unconfirmed = self._sent_before(tus_hooks, primary.fingerprint.size, hooks)
            if unconfirmed is not None:
                return unconfirmed
        try:
            url = transfer(
                self.client,
                self.endpoint,
                primary.path,
                primary.fingerprint,
                tus_hooks.url,
                metadata,
                tus_hooks,
                chunk_size=job.chunk_size,
                caps=server_caps,
                creation_with_upload_limit=0,
            )
        except BaseException:
            tus_hooks.flush()  # stopped or failed before the first byte: resume this upload
            raise
        tus_hooks.flush()
        return Sent(remote_state=_state(url, tus_hooks.expires, True), result_url=url)

    def send_many(
        self,
        jobs: Sequence[UploadJob],
        hooks: Sequence[SendHooks],
        capabilities: Capabilities | None,
        save_states: SaveStates,
    ) -> list[Sent | TransferError | None]:
        """Pipelined creations, one durable save, pipelined PATCHes (core.transports.tus.
        small_batch); a server that leaves requests unanswered gets one at a time from then on."""
        if not self._pipelining:
            return [None] * len(jobs)
        results, unanswered = small_batch.send_small(
            self.client, self.endpoint, self._caps(capabilities), jobs, hooks, save_states, _state
        )
        if unanswered:
            self._pipelining = False
            log.info(
                "%s leaves pipelined requests unanswered after an answer (it closes the "
                "connection): small files go to it one request at a time from now on",
                urlsplit(self.endpoint).hostname,  # the host only: a URL may carry a token
            )
        return results

    def _caps(self, capabilities: Capabilities | None) -> ServerCaps:
        """The server's capabilities: those of the probe that gave ``capabilities``, else a
        probe now."""
        if capabilities is None or self._server_caps is None:
            self.probe()
        assert self._server_caps is not None
        return self._server_caps

    def _sent_before(self, tus_hooks: _TusHooks, size: int, hooks: SendHooks) -> Sent | None:
        """Every byte went out before, and the answer was lost: ask the server.

        Some tus servers (tuspyserver, aiohttp-tus) answer HEAD on a finished upload with 400
        or 404. Read as "gone", that would send a second complete copy; it is done instead,
        said plainly. None: go on as usual (a normal resume, or a restart when it is gone).
        """
        url = str(tus_hooks.url)
        try:
            head = self.client.head(url)
        except TransferError as error:
            if error.status not in (400, 404):
                if error.kind == ErrorKind.GONE:  # 403/410: expired or deleted; start over
                    return None
                raise
            hooks.on_progress(size)
            return Sent(
                remote_state=_state(url, tus_hooks.expires, True),
                result_url=url,
                message=(
                    "Done, unconfirmed: every byte was sent, but the server's answer to the last "
                    "one was lost (the connection broke or the worker stopped), and the server now "
                    f"answers {error.status} for this upload, as some servers do once an upload is "
                    f"finished. It was not sent again; check the file on the server ({url})."
                ),
            )
        if head.offset < size:  # the last bytes did not arrive: a normal resume
            tus_hooks.not_all_sent()
        return None

    def terminate(self, remote_state: RemoteState) -> None:
        url = upload_url(remote_state)
        if url:
            self.client.terminate(url)

    def test_connection(self) -> ConnectionReport:
        """OPTIONS, then (where creation is possible) create and delete an empty upload: the
        only way to know that the credentials work."""
        try:
            caps = self.client.discover(self.endpoint)
            cleanup = ""
            if "creation" in caps.extensions:
                created = self.client.create(
                    self.endpoint,
                    0,
                    {
                        "filename": ".upqueue-connection-test",
                        "filetype": "application/octet-stream",
                    },
                    expect_tus_answer=not caps.described,
                )
                if not caps.described or "termination" in caps.extensions:
                    try:
                        self.client.terminate(created.url)
                    except UpqueueError:
                        cleanup = (
                            " The empty test upload could not be deleted; the server expires it."
                        )
            return ConnectionReport(
                ok=True,
                title="Connection works",
                message=_describe(caps) + cleanup,
                details=dict(_capabilities(caps).details),
            )
        except UpqueueError as exc:
            return ConnectionReport.failed(exc)

    def close(self) -> None:
        self.client.close()


def _capabilities(caps: ServerCaps) -> Capabilities:
    algorithm = choose_checksum(caps)
    notes: tuple[str, ...] = ()
    if not caps.described:
        notes = (_undescribed(caps),)
    return Capabilities(
        resumable=True,
        max_size=caps.max_size,
        checksums=(algorithm,) if algorithm else (),
        terminable="termination" in caps.extensions,
        described_itself=caps.described,
        notes=notes,
        details={
            "versions": list(caps.versions),
            "extensions": sorted(caps.extensions),
            "max_size": caps.max_size,
            "described_itself": caps.described,
            "options_status": caps.options_status,
        },
    )


def _undescribed(caps: ServerCaps) -> str:
    answer = (
        f"OPTIONS answered {caps.options_status}"
        if caps.options_status not in (200, 204)
        else f"OPTIONS answered {caps.options_status} without Tus-Version"
    )
    return f"the server did not describe itself ({answer}); uploads will use core tus + creation"


def _describe(caps: ServerCaps) -> str:
    if not caps.described:
        text = _undescribed(caps)
        return f"A tus server: it created a test upload, but {text}."
    limit = f", at most {caps.max_size:,} bytes per file" if caps.max_size else ""
    return (
        f"tus {', '.join(caps.versions)} server; extensions: "
        f"{', '.join(sorted(caps.extensions)) or 'none'}{limit}."
    )
