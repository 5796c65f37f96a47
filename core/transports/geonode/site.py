"""What a GeoNode site is: which upload API it speaks, its limits, how it takes credentials."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from upqueue.core.transports.geonode.client import GeoNodeClient, api_json, refusal

CLOCK_SKEW_SECONDS = 120.0  # how far GeoNode's clock may be behind ours


def timestamp(value: Any) -> float | None:
    """Epoch seconds of an ISO time as GeoNode writes it (``...Z`` or ``+00:00``)."""
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes", "on")


def auth_for(
    target: Mapping[str, Any], secret: str | None, options: Mapping[str, Any]
) -> tuple[dict[str, str], tuple[str, str] | None, str | None]:
    """(headers, basic auth, API key): Basic, Bearer (an OAuth2 token) or GeoNode's ?apikey=."""
    headers = {str(k): str(v) for k, v in dict(target.get("headers") or {}).items()}
    kind = str(target.get("auth_kind") or "none")
    if kind == "basic":
        return headers, (str(target.get("username") or ""), secret or ""), None
    if kind == "bearer" and secret:
        if truthy(options.get("apikey")):
            return headers, None, secret
        headers["Authorization"] = f"Bearer {secret}"
    elif kind == "header" and secret and target.get("auth_header"):
        headers[str(target["auth_header"])] = secret
    return headers, None, None


def detect_api(client: GeoNodeClient) -> str:
    # 5.x dropped the legacy uploads router; 4.1-4.4 kept it beside the importer's
    # executions; <= 4.0 has no execution list for uploads. Both GETs need a login.
    resp = client.request(
        "GET",
        "api/v2/uploads",
        params={"page_size": "1"},
        action="asking GeoNode which version it runs",
    )
    if resp.status_code == 404:
        return "5"
    if resp.status_code != 200:
        raise refusal(resp, "asking GeoNode which version it runs")
    api_json(resp, "asking GeoNode which version it runs")
    resp = client.request(
        "GET",
        "api/v2/executionrequest",
        params={"page_size": "1"},
        action="asking GeoNode which version it runs",
    )
    if resp.status_code == 200:
        api_json(resp, "asking GeoNode which version it runs")
        return "4.4"
    if resp.status_code == 404:
        return "legacy"
    raise refusal(resp, "asking GeoNode which version it runs")


def read_limits(client: GeoNodeClient) -> tuple[int | None, int | None]:
    limit = parallel = None
    body = client.get_json("api/v2/upload-size-limits", action="reading the size limit")
    for row in body.get("upload-size-limits") or body.get("upload_size_limits") or []:
        if isinstance(row, dict) and row.get("slug") == "dataset_upload_size":
            limit = int(row["max_size"])
    resp = client.request(
        "GET", "api/v2/upload-parallelism-limits", action="reading the parallel-import limit"
    )
    if resp.status_code == 200:
        body = api_json(resp, "reading the parallel-import limit")
        for row in body.get("upload-parallelism-limits") or []:
            if isinstance(row, dict) and row.get("slug") == "default_max_parallel_uploads":
                parallel = int(row.get("max_number") or 0) or None
    return limit, parallel
