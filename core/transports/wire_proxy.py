"""Proxies for the wire path (core.transports.wire): HTTP(S)_PROXY / NO_PROXY read as requests
reads them, the CA bundle as requests finds it, and CONNECT through an http:// proxy."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import unquote, urlsplit

from upqueue.core.transports.wire_answer import BadAnswer, read_line


class Proxies:
    """HTTP(S)_PROXY / NO_PROXY for each origin, read from the environment once per origin (as
    requests reads them: ``get_environ_proxies``, then ``select_proxy``)."""

    def __init__(self) -> None:
        self._by_origin: dict[str, dict[str, str]] = {}

    def environ_for(self, url: str) -> dict[str, str]:
        """requests' proxies mapping for this URL's origin."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        proxies = self._by_origin.get(key)
        if proxies is None:
            import requests.utils

            proxies = requests.utils.get_environ_proxies(key)
            self._by_origin[key] = proxies
        return proxies

    def for_url(self, url: str) -> str | None:
        """The proxy URL to go through for ``url``, or None for a direct connection."""
        proxies = self.environ_for(url)
        if not proxies:
            return None
        import requests.utils

        return requests.utils.select_proxy(url, proxies)


def ca_bundle() -> bool | str:
    """The CA bundle named the way requests reads it, else True (the default bundle)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def proxy_auth(proxy: str) -> dict[str, str]:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.username:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def tunnel(sock: socket.socket, host: str, port: int, proxy: str) -> None:
    """CONNECT through an http:// proxy; raises BadAnswer unless it answers 2xx."""
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in proxy_auth(proxy).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    reader = sock.makefile("rb")
    try:
        status = read_line(reader).decode("latin-1").split(" ", 2)
        while read_line(reader) not in (b"\r\n", b"\n", b""):
            pass
    finally:
        reader.close()
    if len(status) < 2 or not status[1].startswith("2"):
        raise BadAnswer(f"the proxy refused the tunnel: {' '.join(status[1:]).strip()}")
