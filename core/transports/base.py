"""The one interface every upload protocol implements, and what crosses it.

The engine, the service, the API and the window know no protocol: they hold a :class:`Transport`
for a target (from :mod:`core.transports.registry`), hand it an :class:`UploadJob` and the
upload's stored remote state, and persist whatever the transport reports through its hooks. The
shape follows qutebrowser's AbstractDownloadItem and Huey's storage backends: a few methods,
each protocol answering :class:`NotSupported` for what it cannot do.

An upload's life as the engine drives it::

    probe()                      once per target (cached), again after a failure
    send(job, state, hooks)      -> Sent; from the stored state, asking the server for the truth
    send_many(jobs, ...)         new small files several at a time, where the protocol can
    follow_processing(...)       only when Sent.processing: until finished / failed
    terminate(state)             on cancel, where the protocol can delete the server's copy

**Remote state** is a JSON object owned by the protocol alone (``uploads.remote_state``): the
engine stores it the moment a hook reports it and gives it back, unread, to the next call; after
a kill, a reboot or a retry, it is all the transport has. It always holds ``"protocol"``. What
each protocol keeps there:

- ``tus``: ``{"protocol": "tus", "url": upload URL, "expires": Upload-Expires or null}``.
  send() HEADs the URL and continues at the server's offset; 404/410 -> create anew.
- ``geonode``: ``{"protocol": "geonode", "api": "5" | "4.4" | "legacy",
  "execution_id": ... (5.x / 4.4) | "import_id": ... (legacy), "phase": "posted" | "triggered"}``.
  The multipart POST cannot resume: with no execution/import id send() posts again (and says the
  server may hold a partial import); with one it returns ``Sent(processing=True)`` at once and
  follow_processing() polls ``executionrequest/{id}`` (or ``uploads/{id}``) to the end.
- ``s3``: ``{"protocol": "s3", "bucket", "key", "upload_id": multipart id
  or null (single PUT), "part_size": bytes}``; the parts the server holds are asked with
  ListParts on every send(), never trusted from the state; terminate() is AbortMultipartUpload.
- ``chunked`` (drf-chunked-upload): ``{"protocol": "chunked", "url": the
  upload's URL from the first chunk's answer, "id": server file id}``; send() GETs ``url`` for
  the offset, PUTs Content-Range chunks, POSTs the md5; 410 -> start over, and say so.
- ``http`` (plain PUT / multipart POST): ``{"protocol": "http", "answer":
  the server's status and trimmed body}`` once sent, for the details. Not resumable:
  ``Capabilities.resumable`` is False, and a send() that failed restarts from byte 0.

**Datasets**: an :class:`UploadJob` carries one file, or several members (a shapefile with its
sidecars) when ``Capabilities.datasets`` says the target takes them as one upload. Offsets given
to ``on_progress`` count bytes across the members in order, so one progress bar covers the set.

Nothing here retries or sleeps for a retry: a failed call raises :class:`core.errors.TransferError`
classified by ``kind``, and the engine's policy decides. Pause, cancel and shutdown arrive as
:class:`core.errors.TransferStopped` from ``hooks.check_stop`` (or ``hooks.wait``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from upqueue.core.errors import ErrorKind, TransferError, UpqueueError
from upqueue.core.filereader import FileFingerprint

RemoteState = dict[str, Any]
"""A protocol's JSON object for one upload; see the module docstring for each protocol's keys."""


class NotSupported(UpqueueError):
    """What a protocol cannot do (terminate a plain HTTP PUT, follow tus "processing", ...).

    The engine treats it as an answer, not a failure: a cancel still stands, and the history says
    why the server's copy was left.
    """

    def __init__(self, protocol: str, what: str) -> None:
        super().__init__("Not supported", f"The {protocol} protocol cannot {what}.")
        self.protocol = protocol
        self.what = what


@dataclass(frozen=True)
class Capabilities:
    """What a target's server can do, as far as the transport learnt it.

    Attributes:
        resumable: an interrupted send continues from what the server holds (False: from 0).
        max_size: the largest upload the server takes, in bytes, when it said so.
        checksums: checksum algorithms used per request or part ("sha1", "md5", ...).
        processing: the server processes an upload after its last byte (a ``processing`` stage).
        datasets: several member files travel as one upload (shapefile sidecars).
        terminable: ``terminate`` can delete the server's copy.
        described_itself: the server answered a capability request (tus OPTIONS); False means
            the transport goes by the protocol's defaults and ``notes`` say so.
        notes: what a person should know, in words (Test Connection shows them).
        details: protocol facts for the details pane (versions, extensions, ...), JSON-able.
    """

    resumable: bool
    max_size: int | None = None
    checksums: tuple[str, ...] = ()
    processing: bool = False
    datasets: bool = False
    terminable: bool = False
    described_itself: bool = True
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadFile:
    """One file of an upload as it was queued; any difference on disk is a file_changed error."""

    path: str
    name: str
    fingerprint: FileFingerprint
    role: str = "primary"  # "primary" (the file the upload is named after) or "member"


@dataclass(frozen=True)
class UploadJob:
    """What the engine asks a transport to send.

    Attributes:
        upload_id: the upload's id in state.db (for logs and the server's metadata, not for SQL).
        name: the name shown for the upload (the primary file's).
        files: the primary first, then a dataset's other members.
        chunk_size: bytes per request for chunked protocols; None lets the transport choose.
    """

    upload_id: int
    name: str
    files: tuple[UploadFile, ...]
    chunk_size: int | None = None

    @property
    def primary(self) -> UploadFile:
        return self.files[0]

    @property
    def size(self) -> int:
        return sum(f.fingerprint.size for f in self.files)

    def single_file(self, target_kind: str) -> UploadFile:
        """The one file of an upload to a protocol that takes no datasets (the service refuses
        them for such targets first; this is the last guard).

        Args:
            target_kind: what the message calls the target, e.g. "A tus target".

        Raises:
            TransferError: the upload has several files.
        """
        if len(self.files) != 1:
            raise TransferError(
                "Datasets not supported",
                f"{target_kind} takes one file per upload; this upload has several.",
                kind=ErrorKind.PERMANENT,
            )
        return self.files[0]


@dataclass(frozen=True)
class Sent:
    """The outcome of a send() that got every byte to the server.

    Attributes:
        remote_state: the state to keep (also reported through ``on_remote_state`` earlier).
        result_url: where a person finds the upload on the server, when there is such a place.
        processing: the server now processes the upload: follow_processing() comes next.
        message: what the history says, e.g. "Uploaded; the server has every byte".
    """

    remote_state: RemoteState
    result_url: str | None = None
    processing: bool = False
    message: str = "Uploaded; the server has every byte"


@dataclass(frozen=True)
class Processed:
    """The server finished processing: where the result is, and what it said."""

    result_url: str | None = None
    message: str = "The server finished processing"


@dataclass(frozen=True)
class ConnectionReport:
    """What Test Connection tells a person: a sentence, and the facts behind it."""

    ok: bool
    title: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, error: UpqueueError) -> ConnectionReport:
        """The report of a test that ``error`` ended; no answer at all is said plainly."""
        title = error.title
        if (
            isinstance(error, TransferError)
            and error.kind == ErrorKind.TRANSIENT
            and error.status is None
        ):
            title = "Cannot reach the server"
        return cls(ok=False, title=title, message=error.message)


@dataclass(frozen=True)
class TargetOption:
    """An option a protocol's targets take (``targets.options[key]``), for the window's form.

    Attributes:
        key: the option's name in ``options``.
        label: what the form shows beside it.
        choices: ``(value, text)`` pairs for a list; empty for free text.
        boolean: a check box storing ``"true"`` / nothing.
        help: a sentence for the tooltip.
    """

    key: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()
    boolean: bool = False
    help: str = ""


class SendHooks(Protocol):
    """What a transport tells and asks the engine. All run on the transferring thread."""

    def check_stop(self) -> None:
        """Raise TransferStopped when the upload must stop; called before every block."""

    def throttle(self, nbytes: int) -> None:
        """Wait as the bandwidth limit requires before ``nbytes`` are sent."""

    def block_hint(self) -> int | None:
        """A smaller block size while a bandwidth limit holds (None: the transport's own)."""

    def on_progress(self, offset: int) -> None:
        """Bytes of the job handed to the socket or confirmed by the server, across members."""

    def on_confirmed(self, offset: int) -> None:
        """The server said it stores ``offset`` bytes (an answer, a listing of parts, ...).

        Unlike ``on_progress``, never bytes merely read from the file: only this is progress
        that resets the retry count (a 503 after the whole body moved nothing).
        """

    def on_remote_state(self, state: RemoteState | None, result_url: str | None = None) -> None:
        """Persist the remote state now (None: forget it, the server's copy is gone or unusable).

        ``result_url``, when given, is where a person can find the upload on the server.
        """

    def on_event(self, kind: str, message: str) -> None:
        """Something a person may want in the upload's history, e.g. ("restarted", ...)."""


class ProcessingHooks(SendHooks, Protocol):
    """What follow_processing() tells and asks the engine, beside the send hooks."""

    def on_processing(self, progress: float | None, message: str | None) -> None:
        """The server's progress (0-100, None when it gives none) and its latest words."""

    def wait(self, seconds: float) -> None:
        """Sleep between polls; raises TransferStopped at once on pause, cancel or shutdown."""


#: Stores remote states durably in one write: (index of the job, state, result URL) each.
SaveStates = Callable[[list[tuple[int, RemoteState, str | None]]], None]


class Transport(ABC):
    """One protocol's client, bound to one target (its URL, auth, headers, options).

    Thread-safe: the engine shares one instance per target among its runners. Instances are
    made by :func:`core.transports.registry.transport_for`, cached per target, and closed when
    the target or the settings change.

    Class attributes say what holds for every server of the protocol, before any probe:
    the service and the watcher use them without a network round trip.
    """

    #: the target's ``protocol`` value, e.g. "tus"
    name: ClassVar[str]
    #: what the window's protocol list shows, e.g. "tus 1.0 (resumable)"
    title: ClassVar[str]
    #: several files travel as one upload (the watcher groups sidecars for these targets)
    takes_datasets: ClassVar[bool] = False
    #: pause during the processing stage keeps following later; False: pause is refused then
    pausable_processing: ClassVar[bool] = False
    #: headers the protocol sets itself, which a target's custom headers may not override
    reserved_headers: ClassVar[frozenset[str]] = frozenset()
    #: what the window's URL field suggests for this protocol
    url_hint: ClassVar[str] = ""
    #: the options the window's form offers for this protocol's targets
    target_options: ClassVar[tuple[TargetOption, ...]] = ()

    @abstractmethod
    def __init__(
        self, target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
    ) -> None:
        """Bind to ``target`` (its fields as the API returns them, ``options`` included), with
        its ``secret`` from the keyring and the worker's ``settings`` (timeouts)."""

    @abstractmethod
    def probe(self) -> Capabilities:
        """Ask the server what it offers (or say what the protocol assumes when it won't tell).

        Raises:
            TransferError: the server cannot be used (not this protocol, refused credentials, ...).
        """

    @abstractmethod
    def send(
        self,
        job: UploadJob,
        remote_state: RemoteState | None,
        hooks: SendHooks,
        capabilities: Capabilities | None = None,
    ) -> Sent:
        """Get every byte of ``job`` to the server, starting from ``remote_state``.

        Never trusts the stored state alone: it asks the server what it holds and continues
        there (or starts over, reporting ``on_remote_state(None)`` and a "restarted" event).
        A state that says the bytes are all sent returns at once (after checking, where the
        protocol can). ``capabilities`` from an earlier probe saves a request.

        Raises:
            TransferError: classified by kind for the engine's retry policy.
            TransferStopped: from the hooks.
        """

    #: new one-file uploads up to this size may go several at a time (send_many); 0: never
    small_file_limit: ClassVar[int] = 0
    #: how many uploads one send_many call takes at most
    small_batch_files: ClassVar[int] = 1

    def send_many(
        self,
        jobs: Sequence[UploadJob],
        hooks: Sequence[SendHooks],
        capabilities: Capabilities | None,
        save_states: SaveStates,
    ) -> list[Sent | TransferError | None]:
        """Send new small uploads together (each one file of at most ``small_file_limit``).

        For each job: Sent when the server has every byte; the TransferError of this attempt
        when the server refused it; or None: it goes the usual way (send) next, from the
        state ``save_states`` stored for it. Never raises for one upload's failure or stop.
        """
        return [None] * len(jobs)

    def follow_processing(
        self, job: UploadJob, remote_state: RemoteState, hooks: ProcessingHooks
    ) -> Processed:
        """Follow the server's processing of a sent upload until it finishes.

        Raises:
            TransferError: permanent when the server says processing failed (its reason
                verbatim), transient when it cannot be asked right now.
            TransferStopped: from the hooks (the server keeps processing regardless).
            NotSupported: for protocols without a processing stage.
        """
        raise NotSupported(self.name, "follow a processing stage")

    def terminate(self, remote_state: RemoteState) -> None:
        """Delete the server's copy of an unfinished upload (an already-gone copy is fine).

        Raises:
            NotSupported: the protocol has no way to do so.
            TransferError: the server refused or could not be reached.
        """
        raise NotSupported(self.name, "delete an upload on the server")

    def clean_up_stale(self, live_states: Sequence[RemoteState | None]) -> list[str]:
        """Housekeeping: delete what this protocol left on the server for uploads that no
        longer exist (S3's unfinished multipart uploads cost storage), never anything that
        ``live_states`` (of every upload still tracked, on any target) may continue.

        Returns:
            one sentence per thing deleted, for the log. The default: nothing to clean.

        Raises:
            TransferError: the server could not be asked.
        """
        return []

    @abstractmethod
    def test_connection(self) -> ConnectionReport:
        """Check the target for real (where possible by creating and deleting an empty upload)
        and say what was learnt, including when the server did not describe itself."""

    def close(self) -> None:
        """Release connections; the instance is not used again."""


__all__ = [
    "Capabilities",
    "ConnectionReport",
    "NotSupported",
    "Processed",
    "ProcessingHooks",
    "RemoteState",
    "SaveStates",
    "SendHooks",
    "Sent",
    "TargetOption",
    "Transport",
    "UploadFile",
    "UploadJob",
]
