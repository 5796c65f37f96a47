"""``upqueue watch ...`` and ``upqueue batch ...``: watched folders and their batches."""

from __future__ import annotations

import argparse
import os
from typing import Any

from upqueue.core import humanize
from upqueue.core.api_client import ApiClient
from upqueue.core.cli_common import UsageError, print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    watch = subparsers.add_parser(
        "watch", help="watched folders: files dropped in go up on their own"
    )
    sub = watch.add_subparsers(dest="watch_command", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="watch a folder")
    add.add_argument("dir", metavar="DIR", help="the folder to watch")
    add.add_argument("--target", "-t", required=True, metavar="T", help="the target's name (or id)")
    add.add_argument("--recursive", "-r", action="store_true", help="also watch the folders inside")
    add.add_argument(
        "--include", action="append", metavar="GLOB", help="only names matching GLOB (repeatable)"
    )
    add.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="also ignore names matching GLOB (repeatable; temp and dot files are always ignored)",
    )
    add.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="how long a file's size and time must hold still before it is sent (default 3)",
    )
    add.add_argument(
        "--after",
        default="keep",
        metavar="keep|delete|move:DIR",
        help="what to do with a file once the server has it (default keep)",
    )
    add.add_argument(
        "--polling",
        action="store_true",
        help="look for changes by polling (network drives, where change events do not arrive)",
    )
    add.add_argument("--json", action="store_true", help="print JSON")
    add.set_defaults(func=cmd_add)

    ls = sub.add_parser("ls", help="list watched folders")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_ls)

    for name, helptext in (
        ("rm", "stop watching a folder"),
        ("pause", "pause a watch"),
        ("resume", "resume a paused watch"),
    ):
        parser = sub.add_parser(name, help=helptext)
        parser.add_argument("id", type=int, metavar="ID", help="the watch's id (see watch ls)")
        parser.set_defaults(func=cmd_watch_action, watch_action=name)

    batch = subparsers.add_parser(
        "batch", help="batches: each round of files from a watched folder"
    )
    bsub = batch.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    bls = bsub.add_parser("ls", help="list batches, newest first")
    bls.add_argument("--watch", type=int, metavar="ID", help="only this watch's batches")
    bls.add_argument("--json", action="store_true", help="print JSON")
    bls.set_defaults(func=cmd_batch_ls)
    show = bsub.add_parser("show", help="one batch and its files")
    show.add_argument("id", type=int, metavar="ID", help="the batch's id (see batch ls)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_batch_show)


def _after_text(watch: dict[str, Any]) -> str:
    return f"move:{watch['move_to']}" if watch["after_upload"] == "move" else watch["after_upload"]


def cmd_add(client: ApiClient, args: argparse.Namespace) -> int:
    if args.settle is not None and args.settle < 0:
        raise UsageError(
            "Invalid settle time", "--settle takes seconds, 0 or more, e.g. --settle 3."
        )
    fields: dict[str, Any] = {
        # The worker may run in another directory: send the folder as the person meant it.
        "path": os.path.abspath(os.path.expanduser(args.dir)),
        "target": args.target,
        "recursive": args.recursive,
        "include": args.include or [],
        "exclude": args.exclude or [],
        "after_upload": args.after,
        "polling": args.polling,
    }
    if args.settle is not None:
        fields["settle_seconds"] = args.settle
    watch = client.add_watch(**fields)
    if args.json:
        print_json(watch)
    else:
        print(watch["id"])
    return 0


def cmd_ls(client: ApiClient, args: argparse.Namespace) -> int:
    watches = client.watches()["watches"]
    if args.json:
        print_json(watches)
        return 0
    rows = []
    for w in watches:
        batch = w.get("batch") or {}
        progress = (
            f"#{batch['id']} {batch['done'] + batch['failed']}/{batch['total']}" if batch else ""
        )
        state = w["state"] + (f" ({w['state_message']})" if w.get("state_message") else "")
        rows.append(
            [
                w["id"],
                w["path"],
                w["target_name"],
                state,
                w["pending"],
                w["sent"],
                progress,
                _after_text(w),
            ]
        )
    print_table(
        ["ID", "FOLDER", "TARGET", "STATE", "WAITING", "SENT", "LAST BATCH", "AFTER"],
        rows,
        right=[0, 4, 5],
    )
    return 0


def cmd_watch_action(client: ApiClient, args: argparse.Namespace) -> int:
    if args.watch_action == "rm":
        client.remove_watch(args.id)
    elif args.watch_action == "pause":
        client.pause_watch(args.id)
    else:
        client.resume_watch(args.id)
    return 0


def cmd_batch_ls(client: ApiClient, args: argparse.Namespace) -> int:
    batches = client.batches(watch_id=args.watch)["batches"]
    if args.json:
        print_json(batches)
        return 0
    rows = [
        [
            b["id"],
            b["watch_id"] or "",
            b["state"],
            b["total"],
            b["done"],
            b["failed"],
            humanize.local_time(b["created_at"]),  # local times, as `show` prints them
            humanize.local_time(b["finished_at"]) if b["finished_at"] else "",
        ]
        for b in batches
    ]
    print_table(
        ["ID", "WATCH", "STATE", "TOTAL", "DONE", "FAILED", "STARTED", "FINISHED"],
        rows,
        right=[0, 1, 3, 4, 5],
    )
    return 0


def cmd_batch_show(client: ApiClient, args: argparse.Namespace) -> int:
    answer = client.batch(args.id)
    if args.json:
        print_json(answer)
        return 0
    batch = answer["batch"]
    print(
        f"Batch {batch['id']} from {batch.get('watch_path') or 'a removed watch'}: {batch['state']}, "
        f"{batch['done']} done, {batch['failed']} failed of {batch['total']}"
    )
    if batch.get("manifest_path"):
        print(f"Manifest: {batch['manifest_path']}")
    rows = []
    for u in answer["uploads"]:
        reason = ": ".join(x for x in (u.get("error_title"), u.get("error_message")) if x)
        rows.append([u["id"], u["name"], humanize.size(u["size"]), u["status"], reason])
    for r in answer.get("rejected", []):
        rows.append(
            ["", os.path.basename(r["path"]), "", "rejected", f"{r['title']}: {r['message']}"]
        )
    print_table(["ID", "NAME", "SIZE", "STATUS", "REASON"], rows, right=[0, 2])
    return 0
