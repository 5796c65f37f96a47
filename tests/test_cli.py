"""The command line as a person runs it: ``main.py`` subprocesses against the real worker.

Each command runs as its own process with this test's ``UPQUEUE_HOME``; uploads go to the real
@tus/server. Exit codes and the exact shape of error lines are part of the contract.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from upqueue.core import paths
from upqueue.core.api_client import ApiClient, WorkerUnavailable
from upqueue.core.cli_wait import Waiter, progress_line

from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import wait_for

MAIN = Path(__file__).resolve().parent.parent / "main.py"


def cli(
    *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), *args],
        input=input,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def ok(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    result = cli(*args, **kwargs)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def test_target_add_reads_the_password_from_stdin_only(worker, tus_server, upqueue_home):
    added = ok(
        "target",
        "add",
        "lab",
        "--url",
        tus_server.url,
        "--username",
        "ann",
        "--password-stdin",
        "--header",
        "X-Team: gis",
        "--chunk-size",
        "8M",
        input="pa55-w0rd-xyz\n",
    )
    assert "Added target lab" in added.stdout
    targets = json.loads(ok("target", "ls", "--json").stdout)
    assert len(targets) == 1
    lab = targets[0]
    assert (lab["auth_kind"], lab["username"], lab["has_secret"]) == ("basic", "ann", True)
    # One unit system, decimal (as the window shows sizes): 8M is 8,000,000 bytes.
    assert lab["headers"] == {"X-Team": "gis"} and lab["chunk_size"] == 8_000_000
    table = ok("target", "ls").stdout
    assert (
        "lab" in table and "basic (ann)" in table and "8.0 MB" in table
    )  # what was typed, not 8.4
    # The password is in the keyring: not in the database, not in the log.
    for name in (paths.STATE_DB, paths.STATE_DB + "-wal", paths.LOG_FILE):
        file = upqueue_home / name
        if file.exists():
            assert b"pa55-w0rd-xyz" not in file.read_bytes(), name

    # An empty stdin is refused (a usage error), and nothing is added.
    empty = cli("target", "add", "lab2", "--url", tus_server.url, "--token-stdin", input="")
    assert empty.returncode == 2 and "upqueue: No token given:" in empty.stderr
    bad_header = cli("target", "add", "lab3", "--url", tus_server.url, "--header", "no-colon")
    assert bad_header.returncode == 2 and "upqueue: Invalid header:" in bad_header.stderr
    taken = cli("target", "add", "lab", "--url", tus_server.url)
    assert taken.returncode == 1 and taken.stderr.startswith("upqueue: Name taken: ")
    bad_url = cli("target", "add", "x", "--url", "not a url")
    assert bad_url.returncode == 1 and "upqueue: Invalid URL: " in bad_url.stderr

    edited = ok("target", "edit", "lab", "--rename", "lab-2", "--no-auth")
    assert "Updated target lab-2" in edited.stdout
    after = json.loads(ok("target", "ls", "--json").stdout)[0]
    assert (after["name"], after["auth_kind"], after["has_secret"]) == ("lab-2", "none", False)
    assert "Connection works" in ok("target", "test", "lab-2").stdout
    ok("target", "rm", "lab-2")
    assert json.loads(ok("target", "ls", "--json").stdout) == []
    missing = cli("target", "rm", "lab-2")
    assert missing.returncode == 1 and "upqueue: Unknown target: " in missing.stderr


def test_add_wait_uploads_a_real_file_then_ls_show_and_export(worker, tus_server, tmp_path):
    ok("target", "add", "srv", "--url", tus_server.url, "--chunk-size", "1M")
    source = make_file(tmp_path / "survey.bin", 3 * 1024 * 1024 + 17)
    run = ok("add", str(source), "--target", "srv", "--wait")
    lines = run.stdout.splitlines()
    upload_id = int(lines[0])
    progress = [line for line in lines[1:] if line.startswith("survey.bin")]
    assert progress and progress[-1].split()[2:] == ["100.0%", "done", "3.1", "MB/3.1", "MB"]

    listed = json.loads(ok("ls", "--json").stdout)
    assert [(u["id"], u["status"], u["size"]) for u in listed] == [
        (upload_id, "done", source.stat().st_size)
    ]
    remote = listed[0]["result_url"]
    assert same_content(tus_server.stored_path(remote), source)
    table = ok("ls", "--status", "done").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "DONE", "SIZE", "SPEED", "ETA", "NAME", "TARGET"]
    assert table[1].split() == [str(upload_id), "done", "100%", "3.1", "MB", "survey.bin", "srv"]
    assert "No uploads that are failed." in ok("ls", "--status", "failed").stdout

    shown = ok("show", str(upload_id)).stdout
    assert "Status:" in shown and "done" in shown and remote in shown and "History:" in shown

    day = listed[0]["created_at"][:10]
    exported = ok("export", "--from", day, "--to", day).stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["id"], r["name"], r["status"], r["target"]) for r in rows] == [
        (str(upload_id), "survey.bin", "done", "srv")
    ]
    out = tmp_path / "out" / "export.csv"
    out.parent.mkdir()
    ok("export", "--from", day, "--to", day, "-o", str(out))
    assert out.read_text() == exported


def test_add_reports_bad_paths_and_still_adds_the_good_ones(worker, tus_server, tmp_path):
    ok("target", "add", "srv", "--url", tus_server.url)
    good = make_file(tmp_path / "good.bin", 100)
    missing = tmp_path / "missing.bin"
    mixed = cli("add", str(good), str(missing), "--target", "srv")
    assert mixed.returncode == 3  # some added, some rejected
    assert len(mixed.stdout.split()) == 1 and mixed.stdout.split()[0].isdigit()
    assert mixed.stderr.splitlines() == [
        (
            f"upqueue: {missing}: File not found: {missing} does not exist."
            " Check the path and try again."
        ),
        "upqueue: Queued 1 file for srv; 1 path rejected.",
    ]
    only_bad = cli("add", str(tmp_path), "--target", "srv")
    assert only_bad.returncode == 1 and only_bad.stdout == ""
    assert (
        f"upqueue: {tmp_path}: Is a folder: " in only_bad.stderr
        and "--recursive" in only_bad.stderr
    )
    assert only_bad.stderr.splitlines()[-1] == "upqueue: Nothing was added: 1 path rejected."

    # Relative paths are the caller's, not the worker's.
    relative = subprocess.run(
        [sys.executable, str(MAIN), "add", "good.bin", "--target", "srv", "--force"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert relative.returncode == 0, relative.stderr
    detail = json.loads(ok("show", relative.stdout.strip(), "--json").stdout)
    assert detail["upload"]["path"] == str(good)

    unknown = cli("add", str(good), "--target", "nowhere")
    assert unknown.returncode == 1 and unknown.stderr.startswith("upqueue: No such target: ")
    usage = cli("add", str(good))
    assert usage.returncode == 2 and "upqueue: Invalid arguments: " in usage.stderr
    for result in (mixed, only_bad, unknown, usage):
        assert "Traceback" not in result.stderr


def test_add_recursive_prints_what_was_added_and_each_rejection_with_its_reason(
    worker, tus_server, tmp_path
):
    ok("target", "add", "srv", "--url", tus_server.url)
    folder = tmp_path / "survey"
    (folder / "sub").mkdir(parents=True)
    make_file(folder / "a.bin", 10)
    make_file(folder / "sub" / "b.bin", 20)
    make_file(folder / "draft.tmp", 5)  # junk: left out silently
    make_file(tmp_path / "elsewhere.bin", 5)
    (folder / "link-out.bin").symlink_to(tmp_path / "elsewhere.bin")
    run = cli("add", "-r", str(folder), "--target", "srv")
    assert run.returncode == 3, (run.stdout, run.stderr)  # some added, some rejected
    ids = [int(line) for line in run.stdout.split()]
    listed = {u["id"]: u["path"] for u in json.loads(ok("ls", "--json").stdout)}
    assert sorted(listed[i] for i in ids) == [str(folder / "a.bin"), str(folder / "sub" / "b.bin")]
    link = folder / "link-out.bin"
    assert run.stderr.splitlines() == [
        (
            f"upqueue: {link}: Link leads outside: {link} is a link to {tmp_path / 'elsewhere.bin'},"
            " outside the folder being added; add that file itself to upload it."
        ),
        "upqueue: Queued 2 files for srv; 1 path rejected.",
    ]
    link.unlink()
    (folder / "a.bin").unlink()
    (folder / "sub" / "b.bin").unlink()
    empty = cli("add", "-r", str(folder), "--target", "srv")
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr.strip() == "upqueue: Nothing was added: no files found."


def test_add_wait_exits_1_with_the_reason_when_an_upload_fails(worker, make_tus_server, tmp_path):
    small = make_tus_server(max_size=1000)
    ok("target", "add", "small", "--url", small.url)
    big = make_file(tmp_path / "big.bin", 5000)
    run = cli("add", str(big), "--target", "small", "--wait")
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stderr.startswith("upqueue: big.bin: failed: ")
    assert "Traceback" not in run.stderr


def test_actions_settings_and_their_errors(worker, tus_server, tmp_path):
    ok("target", "add", "srv", "--url", tus_server.url, "--chunk-size", "64K")
    # Slow enough to catch it while it runs.
    assert (
        ok("settings", "set", "bandwidth_limit", "200K").stdout.strip()
        == "bandwidth_limit = 200000"
    )
    upload_id = ok(
        "add", str(make_file(tmp_path / "slow.bin", 4 << 20)), "--target", "srv"
    ).stdout.strip()

    paused = ok("pause", upload_id)
    assert paused.stdout.strip() == f"Paused: {upload_id}"
    assert [u["id"] for u in json.loads(ok("ls", "--status", "paused", "--json").stdout)] == [
        int(upload_id)
    ]
    again = cli("pause", upload_id)
    assert again.returncode == 1 and again.stderr.startswith(
        f"upqueue: {upload_id}: Cannot pause: "
    )
    assert ok("resume", "--all").stdout.strip() == "Resumed 1 upload."
    assert ok("cancel", upload_id).stdout.strip() == f"Cancelled: {upload_id}"
    assert json.loads(ok("show", upload_id, "--json").stdout)["upload"]["status"] == "cancelled"
    assert ok("rm", upload_id).stdout.strip() == f"Removed: {upload_id}"
    assert json.loads(ok("ls", "--json").stdout) == []

    nothing = cli("pause")
    assert nothing.returncode == 2 and "upqueue: Nothing to do: " in nothing.stderr
    missing = cli("show", "424242")
    assert missing.returncode == 1 and missing.stderr.startswith("upqueue: No such upload: ")
    bad_value = cli("settings", "set", "concurrency", "99")
    assert bad_value.returncode == 1
    assert bad_value.stderr.startswith(
        "upqueue: Invalid setting value: concurrency must be between 1 and 16"
    )
    unknown = cli("settings", "set", "colour", "blue")
    assert (
        unknown.returncode == 2
    )  # a usage error, as `settings get` and unknown.stderr.startswith("upqueue: Unknown setting: ")
    assert ok("settings", "get", "bandwidth_limit").stdout.strip() == "200000"
    assert "concurrency" in ok("settings", "get").stdout
    bad_date = cli("export", "--from", "yesterday", "--to", "2026-01-01")
    assert bad_date.returncode == 2 and bad_date.stderr.startswith("upqueue: Invalid date: ")


def test_commands_start_a_worker_when_none_runs_and_stop_stops_it(upqueue_home):
    status = cli("status")
    assert status.returncode == 1 and "not running" in status.stdout
    listed = ok("target", "ls", timeout=90)  # starts a worker in the background
    assert "No targets yet" in listed.stdout
    api = ApiClient.connect(start=False)
    pid = api.health()["pid"]
    try:
        assert f"Worker running (pid {pid}" in ok("status").stdout
        assert ok("stop").stdout.strip() == "The worker stopped."
        assert not (upqueue_home / paths.ENDPOINT_FILE).exists()
        assert ok("stop").stdout.strip() == "The worker is not running."
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_worker_until_idle_exits_by_itself(upqueue_home):
    run = cli("worker", "--until-idle", timeout=60)
    assert run.returncode == 0, run.stderr
    assert not (upqueue_home / paths.ENDPOINT_FILE).exists()
    second = subprocess.Popen(
        [sys.executable, str(MAIN), "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        api = wait_for(lambda: _answering(upqueue_home), 30, "the worker")
        # A second worker for the same data directory is refused with a readable line.
        clash = cli("worker")
        assert clash.returncode == 1 and "upqueue: Worker already running: " in clash.stderr
        api.shutdown()
        assert second.wait(timeout=30) == 0
    finally:
        if second.poll() is None:
            second.kill()
        second.communicate(timeout=10)


def _answering(home: Path) -> ApiClient | None:
    try:
        return ApiClient.connect(home, start=False)
    except WorkerUnavailable:
        return None


class _ScriptedClient:
    """Answers ``uploads(since=…)`` from a script, to test the waiter's drawing and exit codes."""

    def __init__(self, frames: list[list[dict]]) -> None:
        self.frames = frames
        self.calls = 0

    def uploads(self, since=None, wait=None):
        frame = self.frames[min(self.calls, len(self.frames) - 1)]
        self.calls += 1
        return {"seq": self.calls, "uploads": frame, "removed": [], "total": len(frame)}


def _row(upload_id: int, status: str, offset: int, **extra) -> dict:
    return {
        "id": upload_id,
        "name": f"f{upload_id}.bin",
        "size": 1000,
        "offset": offset,
        "status": status,
        "speed": 250.0 if status == "uploading" else 0.0,
        **extra,
    }


def test_waiter_redraws_in_place_on_a_terminal_and_reports_failures():
    frames = [
        [_row(1, "uploading", 500), _row(2, "queued", 0)],
        [_row(1, "done", 1000), _row(2, "uploading", 250)],
        [
            _row(
                2,
                "failed",
                250,
                error_title="Server refused the file",
                error_message="413 too large",
            )
        ],
    ]
    out, err = io.StringIO(), io.StringIO()
    code = Waiter(
        _ScriptedClient(frames),
        [1, 2],
        since=0,
        out=out,
        err=err,
        tty=True,
        width=200,
        sleep=lambda s: None,
    ).run()
    assert code == 1
    drawn = out.getvalue()
    assert drawn.count("\x1b[3F") == 2  # two redraws of three lines (two uploads + summary)
    assert "2 s left" in drawn  # 500 B left at 250 B/s
    assert err.getvalue() == "upqueue: f2.bin: failed: Server refused the file: 413 too large\n"
    line = progress_line(_row(1, "uploading", 500), width=200)
    assert "[##########..........]  50.0%" in line and "250 B/s" in line


def test_waiter_prints_plain_lines_into_a_pipe():
    frames = [[_row(1, "queued", 0)], [_row(1, "uploading", 400)], [_row(1, "done", 1000)]]
    out = io.StringIO()
    code = Waiter(
        _ScriptedClient(frames),
        [1],
        since=0,
        out=out,
        err=io.StringIO(),
        tty=False,
        sleep=lambda s: None,
    ).run()
    assert code == 0
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert [line.split()[3] for line in lines] == ["queued", "uploading", "done"]


def test_an_unexpected_error_is_one_line_with_the_traceback_in_the_log(
    upqueue_home, monkeypatch, capsys
):
    from upqueue.core import cli as cli_module

    def broken(client, args):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(cli_module, "cmd_status", broken)
    assert cli_module.run(["status"]) == 1
    err = capsys.readouterr().err
    log_path = upqueue_home / paths.LOG_FILE
    assert err == (
        "upqueue: Internal error: Something went wrong (RuntimeError); "
        f"details are in {log_path}.\n"
    )
    logged = log_path.read_text()
    assert "Traceback" in logged and "the disk caught fire" in logged
    assert cli_module.run(["--debug", "status"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_target_options_and_protocol_choices_come_through_cli_and_api(worker, tus_server):
    ok(
        "target",
        "add",
        "opt",
        "--url",
        tus_server.url,
        "--protocol",
        "tus",
        "--option",
        "region=eu-west-1",
        "--option",
        "mode=fast",
    )
    target = worker.api.find_target("opt")
    assert target["options"] == {"region": "eu-west-1", "mode": "fast"}
    ok("target", "edit", "opt", "--option", "mode=", "--option", "level=3")
    assert worker.api.find_target("opt")["options"] == {"region": "eu-west-1", "level": "3"}
    assert worker.api.update_target(target["id"], options={"n": 1})["options"] == {"n": 1}
    refused = cli("target", "add", "x", "--url", tus_server.url, "--protocol", "ftp")
    assert refused.returncode != 0 and "invalid choice" in refused.stderr
    assert worker.api.health()["protocols"] == ["tus", "s3", "chunked", "http", "geonode"]
