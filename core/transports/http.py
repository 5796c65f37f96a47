"""What every HTTP-based transport shares: a target's authentication as headers / basic auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upqueue.core.models import AuthKind


def http_auth(
    target: Mapping[str, Any], secret: str | None
) -> tuple[dict[str, str], tuple[str, str] | None]:
    """The target's non-secret headers plus its auth headers, and requests-style basic auth."""
    headers = {str(k): str(v) for k, v in dict(target.get("headers") or {}).items()}
    kind = target.get("auth_kind") or AuthKind.NONE
    basic = None
    if kind == AuthKind.BASIC:
        basic = (str(target.get("username") or ""), secret or "")
    elif kind == AuthKind.BEARER and secret:
        headers["Authorization"] = f"Bearer {secret}"
    elif kind == AuthKind.HEADER and secret and target.get("auth_header"):
        headers[str(target["auth_header"])] = secret
    return headers, basic
