"""core.humanize and core.progress: pure formatting and rate arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from upqueue.core import humanize
from upqueue.core.progress import SpeedMeter, eta_seconds, overall, percent
from upqueue.core.status_errors import human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1234, "1.2 kB"),
        (999_960, "1.0 MB"),
        (1_200_000_000, "1.2 GB"),
        (3_500_000_000_000, "3.5 TB"),
        (None, "—"),
    ],
)
def test_size_uses_decimal_units_with_one_decimal(n, text):
    assert humanize.size(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (512, "512 bytes"),
        (1000, "1 kB"),
        (1234, "1.2 kB"),
        (999_960, "1 MB"),  # rounded as the queue shows it ("1.0 MB"), never "1000 kB"
        (100_000_000, "100 MB"),
        (1_200_000_000, "1.2 GB"),
    ],
)
def test_sizes_in_messages_round_as_the_queue_does(n, text):
    assert human_size(n) == text
    if n >= 1000:
        assert (
            humanize.size(n).removesuffix(" " + text.split()[1]).rstrip("0").rstrip(".")
            == (text.split()[0])
        )


def test_speed():
    assert humanize.speed(3_400_000) == "3.4 MB/s"
    assert humanize.speed(512) == "512 B/s"
    assert humanize.speed(0) == "—"
    assert humanize.speed(None) == "—"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (4.2, "5 s left"),
        (0, "0 s left"),
        (59, "59 s left"),
        (61, "2 min left"),
        (180, "3 min left"),
        (4800, "1 h 20 min left"),
        (7200, "2 h left"),
        (86400 * 2 + 3600 * 3, "2 d 3 h left"),
        (None, ""),
        (float("inf"), ""),
    ],
)
def test_eta(seconds, text):
    assert humanize.eta(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5 s"),
        (125, "2 min 5 s"),
        (600, "10 min"),
        (4800, "1 h 20 min"),
        (90000, "1 d 1 h"),
        (None, "—"),
    ],
)
def test_duration(seconds, text):
    assert humanize.duration(seconds) == text


def test_ago():
    now = datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC)

    def iso(delta: timedelta) -> str:
        return (now - delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    assert humanize.ago(iso(timedelta(seconds=2)), now) == "just now"
    assert humanize.ago(iso(timedelta(seconds=30)), now) == "30 s ago"
    assert humanize.ago(iso(timedelta(minutes=3, seconds=10)), now) == "3 min ago"
    assert humanize.ago(iso(timedelta(hours=2)), now) == "2 h ago"
    assert humanize.ago(iso(timedelta(days=4)), now) == "4 d ago"
    assert humanize.ago(iso(timedelta(days=40)), now) == "2026-10-14"
    assert humanize.ago(iso(timedelta(seconds=-10)), now) == "just now"
    assert humanize.ago(None, now) == ""
    assert humanize.ago("not a time", now) == "not a time"


def test_eta_seconds():
    assert eta_seconds(1000, 500, 100.0) == 5.0
    assert eta_seconds(1000, 1000, 0.0) == 0.0
    assert eta_seconds(1000, 1200, 10.0) == 0.0
    assert eta_seconds(1000, 0, 0.0) is None
    assert eta_seconds(None, 0, 10.0) is None


def test_percent():
    assert percent(200, 50) == 25.0
    assert percent(0, 0) == 0.0
    assert percent(100, 150) == 100.0


def test_overall_counts_done_as_complete_and_skips_cancelled():
    uploads = [
        {"status": "uploading", "size": 1000, "offset": 400, "speed": 100.0},
        {"status": "done", "size": 500, "offset": 0, "speed": 0.0},
        {"status": "paused", "size": 300, "offset": 100, "speed": 55.0},
        {"status": "cancelled", "size": 9999, "offset": 10, "speed": 0.0},
        {"status": "uploading", "size": 200, "offset": 200, "speed": 50.0},
    ]
    assert overall(uploads) == (400 + 500 + 100 + 200, 1000 + 500 + 300 + 200, 150.0)
    assert overall([]) == (0, 0, 0.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speed_meter_steady_rate_converges_and_ignores_bursts():
    clock = FakeClock()
    meter = SpeedMeter(half_life=1.0, clock=clock, min_interval=0.2)
    assert meter.update(0) == 0.0
    offset = 0
    for _ in range(40):
        clock.now += 0.5
        offset += 500
        meter.update(offset)
    assert meter.rate == pytest.approx(1000.0, rel=1e-6)
    # A sample closer than min_interval does not move the rate.
    clock.now += 0.01
    assert meter.update(offset + 10_000) == pytest.approx(1000.0, rel=1e-6)


def test_speed_meter_smooths_a_change_of_rate():
    clock = FakeClock()
    meter = SpeedMeter(half_life=2.0, clock=clock)
    meter.update(0)
    clock.now += 1.0
    meter.update(1000)
    assert meter.rate == pytest.approx(1000.0)
    clock.now += 2.0  # one half-life at 3000 B/s: halfway between old and new
    meter.update(1000 + 6000)
    assert meter.rate == pytest.approx(2000.0)


def test_speed_meter_reset_and_backwards_offset():
    clock = FakeClock()
    meter = SpeedMeter(clock=clock)
    meter.update(0)
    clock.now += 1.0
    meter.update(5000)
    assert meter.rate > 0
    meter.update(0)  # restarted from zero: no negative rate
    assert meter.rate >= 0
    meter.reset(100)
    assert meter.rate == 0.0
    clock.now += 1.0
    assert meter.update(1100) == pytest.approx(1000.0)
