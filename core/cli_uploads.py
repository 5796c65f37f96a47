"""``upqueue add / ls / show / pause / resume / cancel / retry / rm / export / settings``."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from upqueue.core import humanize
from upqueue.core.api_client import ApiClient
from upqueue.core.cli_common import (
    PROG,
    LazyEpilogParser,
    UsageError,
    print_json,
    print_table,
    warn,
)
from upqueue.core.humanize import plural
from upqueue.core.models import Status
from upqueue.core.progress import eta_seconds, percent

ACTIONS = ("pause", "resume", "cancel", "retry", "rm")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add = subparsers.add_parser("add", help="queue files for upload")
    add.add_argument("paths", nargs="+", metavar="PATH", help="files (and folders, with -r)")
    add.add_argument(
        "--target", "-t", required=True, metavar="NAME", help="the target's name (or id)"
    )
    add.add_argument("--recursive", "-r", action="store_true", help="add the files inside folders")
    add.add_argument(
        "--wait", "-w", action="store_true", help="show progress and wait until they end"
    )
    add.epilog = (
        "Prints the id of each upload queued, one a line; each path that was not queued goes "
        "to stderr with the reason. Exit code: 0 all queued, 1 nothing queued, 3 some queued "
        "and some rejected."
    )
    add.add_argument(
        "--force",
        action="store_true",
        help="add files already queued for or uploaded to this target again",
    )
    add.set_defaults(func=cmd_add)

    ls = subparsers.add_parser("ls", help="list uploads")
    ls.add_argument(
        "--status", "-s", metavar="STATUS", help="only these states, e.g. failed or queued,paused"
    )
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_ls)

    show = subparsers.add_parser("show", help="one upload and its history")
    show.add_argument("id", type=int, metavar="ID", help="the upload's id (see ls)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)

    helps = {
        "pause": "pause uploads",
        "resume": "resume paused uploads",
        "cancel": "cancel uploads",
        "retry": "retry failed or cancelled uploads",
        "rm": "remove uploads from the list",
    }
    for action in ACTIONS:
        parser = subparsers.add_parser(action, help=helps[action])
        parser.add_argument("ids", nargs="*", type=int, metavar="ID", help="upload ids (see ls)")
        if action in ("pause", "resume"):
            parser.add_argument(
                "--all", action="store_true", help=f"{action} every upload that can be"
            )
        parser.set_defaults(func=cmd_action, action=action)

    export = subparsers.add_parser("export", help="uploads added in a date range, as CSV")
    export.add_argument(
        "--from", dest="from_date", required=True, metavar="YYYY-MM-DD", help="first day (UTC)"
    )
    export.add_argument(
        "--to", dest="to_date", required=True, metavar="YYYY-MM-DD", help="last day (UTC)"
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
    )
    export.set_defaults(func=cmd_export)

    settings = subparsers.add_parser("settings", help="show or change settings")
    sub = settings.add_subparsers(dest="settings_command", metavar="COMMAND", required=True)
    get = sub.add_parser("get", help="show settings (all, or one)")
    get.add_argument("key", nargs="?", metavar="KEY", help="one setting (default: all)")
    get.add_argument("--json", action="store_true", help="print JSON")
    get.set_defaults(func=cmd_settings_get)
    put = sub.add_parser(
        "set",
        help="change a setting (applies at once)",
        description="Change a setting; it applies at once.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if isinstance(put, LazyEpilogParser):  # the list is made when --help shows it
        put.make_epilog = _settings_epilog
    put.add_argument("key", metavar="KEY", help="the setting (listed below)")
    put.add_argument("value", metavar="VALUE", help="its new value, e.g. 4, 10MB, true")
    put.set_defaults(func=cmd_settings_set)


def _settings_epilog() -> str:
    from upqueue.core.settings import SETTINGS  # here: dataclasses cost every command start-up

    return (
        "settings:\n"
        + "\n".join(
            f"  {s.key:<26} {s.help} (default {_show_value(s.default)})" for s in SETTINGS.values()
        )
        + "\n\nSizes take kB, MB, GB (decimal, as the window shows them) or KiB, MiB, GiB:"
        " bandwidth_limit 10MB is 10,000,000 bytes a second."
    )


# -- add ------------------------------------------------------------------------------------
# Exit codes of `upqueue add` (in its --help): scripts can tell "some queued" from "none".
ADD_ALL, ADD_NONE, ADD_SOME = 0, 1, 3


def cmd_add(client: ApiClient, args: argparse.Namespace) -> int:
    # The worker may run in another directory: send absolute paths, as the person meant them.
    paths = [os.path.abspath(os.path.expanduser(p)) for p in args.paths]
    # A counter from before the add: the health check that found the worker brought one.
    since = (
        (client.seq_at_connect if client.seq_at_connect is not None else client.stats()["seq"])
        if args.wait
        else None
    )
    answer = client.add_uploads(paths, args.target, recursive=args.recursive, force=args.force)
    # Imported once the worker has the files: what a command imports before its request delays
    # the upload (add --wait on a big file is timed from the command's start, issue 12).
    from upqueue.core.records import AddResult

    result = AddResult.from_json(answer)
    # stdout: one upload id per line, for scripts; what was added and why a path was not, for
    # the person, on stderr.
    for item in result.added:
        print(item.id)
    sys.stdout.flush()
    for rejected in result.rejected:
        warn(rejected.path, rejected.title, rejected.message)
    if not result.added:
        warn(
            "Nothing was added",
            f"{plural(len(result.rejected), 'path')} rejected."
            if result.rejected
            else "no files found.",
        )
        return ADD_NONE
    if result.rejected or args.recursive or len(result.added) > 1:
        refused = f"; {plural(len(result.rejected), 'path')} rejected" if result.rejected else ""
        note(f"Queued {plural(len(result.added), 'file')} for {args.target}{refused}.")
    status = ADD_SOME if result.rejected else ADD_ALL
    if args.wait:
        try:
            from upqueue.core.cli_wait import Waiter

            status = max(status, Waiter(client, result.ids, since).run())
        except KeyboardInterrupt:
            print(file=sys.stderr)
            warn("Stopped waiting", "the uploads go on in the worker (see 'upqueue ls').")
            return 130
    return status


def note(text: str) -> None:
    """A line for the person on stderr (stdout stays the ids)."""
    print(f"{PROG}: {text}", file=sys.stderr)


# -- ls / show ------------------------------------------------------------------------------
def cmd_ls(client: ApiClient, args: argparse.Namespace) -> int:
    status = args.status
    if status:
        known = {s.value for s in Status}
        unknown = [s for s in status.split(",") if s.strip() and s.strip() not in known]
        if unknown:
            raise UsageError(
                "Unknown status", f"{', '.join(unknown)}: use one of {', '.join(sorted(known))}."
            )
    uploads = client.uploads(status=status)["uploads"]
    if args.json:
        print_json(uploads)
        return 0
    if not uploads:
        print("No uploads." if not status else f"No uploads that are {status}.")
        return 0
    rows = []
    for u in uploads:
        sending = u["status"] == Status.UPLOADING
        pct = 100.0 if u["status"] == Status.DONE else percent(u["size"], u["offset"])
        state = u["status"]
        if state == Status.PROCESSING:
            state = humanize.processing(u.get("processing_progress"), u.get("processing_message"))
        rows.append(
            (
                u["id"],
                state,
                f"{pct:.0f}%",
                humanize.size(u["size"]),
                humanize.speed(u["speed"]) if sending else "",
                humanize.eta(eta_seconds(u["size"], u["offset"], u["speed"])) if sending else "",
                u["name"],
                u.get("target_name") or u["target_id"],
            )
        )
    print_table(
        ["ID", "STATUS", "DONE", "SIZE", "SPEED", "ETA", "NAME", "TARGET"], rows, right=[0, 2, 3, 4]
    )
    return 0


def cmd_show(client: ApiClient, args: argparse.Namespace) -> int:
    answer = client.upload(args.id)
    if args.json:
        print_json(answer)
        return 0
    u = answer["upload"]
    fields = [
        ("Name", u["name"]),
        ("Path", u["path"]),
        ("Target", u.get("target_name") or u["target_id"]),
        ("Status", u["status"]),
        (
            "Processing",
            humanize.processing(u.get("processing_progress"), u.get("processing_message"))
            if u["status"] == Status.PROCESSING
            else "",
        ),
        (
            "Progress",
            (
                f"{humanize.size(u['offset'])} of {humanize.size(u['size'])} "
                f"({percent(u['size'], u['offset']):.1f}%)"
            ),
        ),
        ("Speed", humanize.speed(u["speed"]) if u["status"] == Status.UPLOADING else ""),
        ("Remote URL", u.get("result_url") or ""),
        ("Error", ": ".join(x for x in (u.get("error_title"), u.get("error_message")) if x)),
        ("Failed attempts", u.get("attempts") or "none"),
        ("Added", humanize.local_time(u.get("created_at"))),
        ("Started", humanize.local_time(u.get("started_at"))),
        ("Finished", humanize.local_time(u.get("finished_at"))),
    ]
    members = answer.get("members") or []
    if len(members) > 1:
        fields.insert(2, ("Files", ", ".join(m["name"] for m in members)))
    print(f"Upload {u['id']}")
    for label, value in fields:
        if value not in ("", None):
            print(f"  {label + ':':<12} {value}")
    if answer["events"]:
        print("History:")
        for event in answer["events"]:
            text = ": ".join(x for x in (event.get("title"), event.get("message")) if x)
            print(f"  {humanize.local_time(event['at'])}  {event['kind']:<10} {text}")
    return 0


# -- actions --------------------------------------------------------------------------------
def cmd_action(client: ApiClient, args: argparse.Namespace) -> int:
    action = args.action
    if getattr(args, "all", False):
        if args.ids:
            raise UsageError(
                "Conflicting arguments", f"Give either IDs or --all to {action}, not both."
            )
        count = (client.pause_all() if action == "pause" else client.resume_all())["count"]
        print(f"{'Paused' if action == 'pause' else 'Resumed'} {plural(count, 'upload')}.")
        return 0
    if not args.ids:
        extra = " (or --all)" if action in ("pause", "resume") else ""
        raise UsageError(
            "Nothing to do", f"Give the ID of at least one upload{extra}; 'upqueue ls' lists them."
        )
    result = client.bulk("remove" if action == "rm" else action, args.ids)
    past = {
        "pause": "Paused",
        "resume": "Resumed",
        "cancel": "Cancelled",
        "retry": "Retrying",
        "rm": "Removed",
    }[action]
    if result["done"]:
        print(f"{past}: {' '.join(str(i) for i in result['done'])}")
    for skipped in result["skipped"]:
        warn(str(skipped["id"]), skipped["title"], skipped["message"])
    return 1 if result["skipped"] else 0


# -- export and settings --------------------------------------------------------------------
def cmd_export(client: ApiClient, args: argparse.Namespace) -> int:
    # Checked here so that the message names the options typed (the API's are from_date/to_date).
    for option, text in (("--from", args.from_date), ("--to", args.to_date)):
        try:
            date.fromisoformat(text)
        except ValueError:
            raise UsageError(
                "Invalid date",
                f"{option} takes a date as YYYY-MM-DD, e.g. 2026-11-23; got {text!r}.",
            ) from None
    text = client.export_csv(args.from_date, args.to_date)
    if args.output:
        target = Path(args.output)
        try:
            target.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError("Cannot write the file", f"{target}: {exc.strerror}.") from None
        rows = max(0, text.count("\n") - 1)
        print(f"Wrote {plural(rows, 'upload')} to {target}.", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_settings_get(client: ApiClient, args: argparse.Namespace) -> int:
    answer = client.settings()
    values, helps = answer["settings"], answer.get("help", {})
    if args.key:
        if args.key not in values:
            raise UsageError(
                "Unknown setting",
                f"There is no setting {args.key!r}. Known: {', '.join(sorted(values))}.",
            )
        if args.json:
            print_json(values[args.key])
        else:
            print(_show_value(values[args.key]))
        return 0
    if args.json:
        print_json(values)
        return 0
    print_table(
        ["KEY", "VALUE", "MEANING"],
        [(k, _show_value(v), helps.get(k, "")) for k, v in values.items()],
    )
    return 0


def cmd_settings_set(client: ApiClient, args: argparse.Namespace) -> int:
    from upqueue.core.settings import SETTINGS

    if args.key not in SETTINGS:  # like `settings get`: a usage error, exit 2
        raise UsageError(
            "Unknown setting",
            f"There is no setting {args.key!r}. Known: {', '.join(sorted(SETTINGS))}.",
        )
    values = client.update_settings(**{args.key: args.value})["settings"]
    print(f"{args.key} = {_show_value(values.get(args.key))}")
    return 0


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
