"""Test Connection for a GeoNode site: after the probe, prove the login and the right to add
datasets, and say what was found in a sentence."""

from __future__ import annotations

from upqueue.core.status_errors import human_size
from upqueue.core.transports.base import Capabilities, ConnectionReport
from upqueue.core.transports.geonode.client import GeoNodeClient, refusal


def check_access(client: GeoNodeClient, api: str) -> None:
    """Prove the login and, but for the legacy API, the right to add datasets: an empty upload
    form, which GeoNode refuses as "No file was submitted." and creates nothing from (a user
    without the right gets 403 first)."""
    if api == "legacy":
        client.get_json("api/v2/uploads", action="checking the login", params={"page_size": "1"})
    else:
        client.get_json(
            "api/v2/executionrequest",
            action="checking the login",
            params={"page_size": "1"},
        )
        _check_can_add(client)


def _check_can_add(client: GeoNodeClient) -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="action"\r\n\r\nupload\r\n--x--\r\n'
    resp = client.request(
        "POST",
        "api/v2/uploads/upload",
        data=body,
        action="checking the right to add datasets",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    if resp.status_code == 400:
        return  # "No file was submitted.": signed in, allowed, nothing created
    raise refusal(resp, "checking the right to add datasets")


def connection_report(site: str, caps: Capabilities) -> ConnectionReport:
    """What a working connection found: the version, the login, the right to add, the limits."""
    api = str(caps.details["api"])
    limit = caps.max_size
    parallel = caps.details.get("max_parallel_uploads")
    facts = [
        f"GeoNode {'<= 4.0 (legacy upload API)' if api == 'legacy' else api + '.x'} at {site}",
        "the login works",
    ]
    if api != "legacy":
        facts.append("the account may add datasets")
    if limit:
        facts.append(f"datasets up to {human_size(limit)}")
    if parallel:
        facts.append(f"{parallel} imports at a time per user")
    return ConnectionReport(
        ok=True,
        title="Connection works",
        message="; ".join(facts) + ".",
        details=dict(caps.details),
    )
