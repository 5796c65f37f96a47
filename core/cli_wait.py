"""``upqueue add --wait``: follow uploads to their end with a progress line each.

Long-polls the API's change counter (``uploads(since=…, wait=…)``): the worker answers as soon
as anything changed, with only the rows that changed, so the command learns of an upload's end
within milliseconds (and of nothing else sooner than the worker's own progress writes). On a
terminal the lines are redrawn in place; into a pipe or a file it prints plain lines when a
status changes and every few seconds while uploads run.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from upqueue.core import humanize
from upqueue.core.api_client import ApiClient, ApiError
from upqueue.core.models import FINISHED_STATUSES, Status
from upqueue.core.progress import eta_seconds, overall, percent

LONG_POLL = 25.0  # seconds the worker may hold a poll when nothing changes
# Only against a worker that answers a long poll at once with nothing new (one from before
# long polls): the pause between polls then.
TTY_INTERVAL = 0.25
PIPE_INTERVAL = 0.5
PIPE_REPORT_EVERY = 5.0
MAX_TTY_LINES = 8
_BAR = 20


def progress_line(upload: dict[str, Any], width: int = 1000) -> str:
    """``name [#####.....]  42.0%  uploading  1.2 MB/2.9 MB  3.4 MB/s  1 min left``."""
    size, offset, status = upload.get("size") or 0, upload.get("offset") or 0, upload.get("status")
    if status == Status.DONE:
        offset = size
    pct = 100.0 if status == Status.DONE else percent(size, offset)
    filled = int(pct / 100 * _BAR)
    bar = "#" * filled + "." * (_BAR - filled)
    sending = status == Status.UPLOADING
    speed = humanize.speed(upload.get("speed")) if sending else ""
    eta = humanize.eta(eta_seconds(size, offset, upload.get("speed"))) if sending else ""
    state = str(status)
    if status in (Status.FAILED, Status.RETRYING) and upload.get("error_title"):
        state += f" ({upload['error_title']})"
    if status == Status.PROCESSING:
        state = humanize.processing(
            upload.get("processing_progress"), upload.get("processing_message")
        )
    name = str(upload.get("name") or upload.get("id"))
    name = name if len(name) <= 28 else name[:27] + "…"
    line = (
        f"{name:<28} [{bar}] {pct:5.1f}%  {state:<10} {humanize.size(offset):>8}/{humanize.size(size):<8}"
        f"  {speed:>10}  {eta}"
    ).rstrip()
    return line[: max(20, width - 1)]


def summary_line(uploads: Iterable[dict[str, Any]], width: int = 1000) -> str:
    rows = list(uploads)
    done_bytes, total_bytes, speed = overall(rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    eta = humanize.eta(eta_seconds(total_bytes, done_bytes, speed))
    line = (
        f"{len(rows)} uploads: {states} — {humanize.size(done_bytes)}/{humanize.size(total_bytes)}"
        f"  {humanize.speed(speed) if speed else ''}  {eta}"
    )
    return line.rstrip()[: max(20, width - 1)]


class Waiter:
    """Follow ``ids`` until each is done, failed or cancelled.

    Args:
        client: the API client.
        ids: the uploads to follow.
        since: a change counter taken before the uploads were added (None: fetch them one by one).
        out, err: where progress and failures go.
        tty: redraw in place; default: whether ``out`` is a terminal.
        width: the terminal's columns; default: asked from the terminal at each redraw.
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        client: ApiClient,
        ids: Iterable[int],
        since: int | None = None,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        tty: bool | None = None,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.ids = list(dict.fromkeys(int(i) for i in ids))
        self.seq = since
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.width = width
        self.clock = clock
        self.sleep = sleep
        self.rows: dict[int, dict[str, Any]] = {}
        self._drawn = 0
        self._last_status: dict[int, str] = {}
        self._last_report = float("-inf")

    def run(self) -> int:
        """Poll and draw until every upload has ended; 0 when all are done, else 1."""
        interval = TTY_INTERVAL if self.tty else PIPE_INTERVAL
        self._poll()
        self._fill_missing()
        while True:
            self._draw()
            if all(self.rows[i]["status"] in FINISHED_STATUSES for i in self.ids):
                break
            before, started = self.seq, self.clock()
            self._poll(wait=LONG_POLL)
            if self.seq == before and self.clock() - started < LONG_POLL / 2:
                # Nothing new, at once: a worker that does not hold polls. Do not spin.
                self.sleep(interval)
        return self._finish()

    def _poll(self, wait: float | None = None) -> None:
        if wait is not None and self.seq is not None:
            answer = self.client.uploads(since=self.seq, wait=wait)
        else:
            answer = self.client.uploads(since=self.seq)
        self.seq = answer["seq"]
        wanted = set(self.ids)
        for upload in answer["uploads"]:
            if upload["id"] in wanted:
                self.rows[upload["id"]] = upload
        for removed in answer.get("removed", []):
            if removed in wanted:
                self._mark_removed(removed)

    def _fill_missing(self) -> None:
        # Without a counter from before the add (or if it raced), ask for the rest one by one.
        for upload_id in self.ids:
            if upload_id in self.rows:
                continue
            try:
                self.rows[upload_id] = self.client.upload(upload_id)["upload"]
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._mark_removed(upload_id)

    def _mark_removed(self, upload_id: int) -> None:
        row = dict(
            self.rows.get(upload_id) or {"id": upload_id, "name": f"upload {upload_id}", "size": 0}
        )
        row.update(
            status=Status.CANCELLED.value,
            speed=0.0,
            error_title="Removed",
            error_message="It was removed from the list.",
        )
        self.rows[upload_id] = row

    def _visible(self) -> list[dict[str, Any]]:
        rows = [self.rows[i] for i in self.ids]
        if len(rows) <= MAX_TTY_LINES:
            return rows
        # Too many for a screen: the ones moving now, then the rest in order.
        rows.sort(key=lambda r: (r["status"] != Status.UPLOADING, r["status"] in FINISHED_STATUSES))
        return rows[:MAX_TTY_LINES]

    def _draw(self) -> None:
        rows = [self.rows[i] for i in self.ids]
        if self.tty:
            # A wrapped line would break the cursor arithmetic of the redraw: cut to the width.
            width = self.width or shutil.get_terminal_size((100, 24)).columns
            lines = [progress_line(r, width) for r in self._visible()]
            if len(rows) > 1:
                lines.append(summary_line(rows, width))
            if self._drawn:
                # Back to the first line we drew, then overwrite each one.
                self.out.write(f"\x1b[{self._drawn}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
            self.out.flush()
            return
        now = self.clock()
        periodic = now - self._last_report >= PIPE_REPORT_EVERY
        for row in rows:
            changed = self._last_status.get(row["id"]) != row["status"]
            active = row["status"] not in FINISHED_STATUSES
            if changed or (periodic and active):
                self.out.write(progress_line(row) + "\n")
            self._last_status[row["id"]] = row["status"]
        if periodic:
            self._last_report = now
        self.out.flush()

    def _finish(self) -> int:
        # Where each finished upload can be found (a published dataset's page, say).
        for upload_id in self.ids:
            row = self.rows[upload_id]
            if row["status"] == Status.DONE and row.get("result_url"):
                self.out.write(f"Link for {row.get('name') or upload_id}: {row['result_url']}\n")
        self.out.flush()
        failed = [self.rows[i] for i in self.ids if self.rows[i]["status"] != Status.DONE]
        for row in failed:
            reason = ": ".join(x for x in (row.get("error_title"), row.get("error_message")) if x)
            parts = [str(row.get("name") or row["id"]), str(row["status"])]
            if reason:
                parts.append(reason)
            self.err.write("upqueue: " + ": ".join(parts) + "\n")
        self.err.flush()
        return 1 if failed else 0
