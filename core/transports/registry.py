"""Which transport serves which protocol: the one place that names them all.

Transports are named by import path and loaded on first use, so reading the protocol names (the
CLI's ``--protocol`` choices, the window's list) costs no import of requests or a client.

Plugins: ``UPQUEUE_TRANSPORTS`` may list extra modules (comma-separated) that call
:func:`register` when imported; the tests use it to give the real worker process a transport of
their own (a processing stage, datasets) without one in the product.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from upqueue.core.errors import UpqueueError

if TYPE_CHECKING:  # the base pulls in the file reader and hashing: not for reading names
    from upqueue.core.transports.base import Transport

PLUGINS_ENV = "UPQUEUE_TRANSPORTS"

# What a target uses when it names no protocol (targets made before there was a choice).
DEFAULT_PROTOCOL = "tus"
# protocol name -> "module:ClassName"
_BUILTIN: dict[str, str] = {
    "tus": "upqueue.core.transports.tus.transport:TusTransport",
    "s3": "upqueue.core.transports.s3.transport:S3Transport",
    "chunked": "upqueue.core.transports.chunked:ChunkedTransport",
    "http": "upqueue.core.transports.plainhttp:PlainHttpTransport",
    "geonode": "upqueue.core.transports.geonode.transport:GeoNodeTransport",
}
_registered: dict[str, str | type[Transport]] = dict(_BUILTIN)
_lock = threading.Lock()
_plugins_loaded = False


def register(transport: type[Transport]) -> None:
    """Offer ``transport`` under its ``name`` (a plugin's module calls this when imported)."""
    with _lock:
        _registered[transport.name] = transport


def unregister(name: str) -> None:
    """Withdraw a registered protocol (tests); built-in ones come back as they were."""
    with _lock:
        _registered.pop(name, None)
        if name in _BUILTIN:
            _registered[name] = _BUILTIN[name]


def load_plugins() -> None:
    """Import the modules named in ``UPQUEUE_TRANSPORTS`` once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)


def names() -> list[str]:
    """The protocols a target may use, built-in first."""
    load_plugins()
    with _lock:
        return list(_registered)


def transport_class(protocol: str) -> type[Transport]:
    """The transport for ``protocol``.

    Raises:
        UpqueueError: an unknown protocol, with the known ones.
    """
    load_plugins()
    with _lock:
        entry = _registered.get(protocol)
    if entry is None:
        raise UpqueueError(
            "Unknown protocol",
            f"{protocol!r} is not supported; supported: {', '.join(names())}.",
        )
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        loaded: type[Transport] = getattr(importlib.import_module(module), attr)
        with _lock:
            _registered[protocol] = loaded
        return loaded
    return entry


def transport_for(
    target: Mapping[str, Any], secret: str | None, settings: Mapping[str, Any]
) -> Transport:
    """A transport bound to ``target`` (its protocol, URL, auth), with the worker's settings."""
    cls = transport_class(str(target.get("protocol") or DEFAULT_PROTOCOL))
    return cls(target, secret, settings)


def takes_datasets(protocol: str) -> bool:
    """Does every target of ``protocol`` take several member files as one upload?"""
    try:
        return transport_class(protocol).takes_datasets
    except UpqueueError:
        return False


def pausable_processing(protocol: str) -> bool:
    """May an upload of ``protocol`` be paused while the server processes it?"""
    try:
        return transport_class(protocol).pausable_processing
    except UpqueueError:
        return False


def reserved_headers(protocol: str) -> frozenset[str]:
    """Headers the protocol sets itself (lower case), which a target may not override."""
    return transport_class(protocol).reserved_headers | {"host", "content-length"}


def titles() -> dict[str, str]:
    """Protocol name -> what a person reads in a list (loads each transport)."""
    return {name: transport_class(name).title for name in names()}
