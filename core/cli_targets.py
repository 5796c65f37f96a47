"""``upqueue target ...``: add, list, edit, test and remove upload targets."""

from __future__ import annotations

import argparse
from typing import Any

from upqueue.core.api_client import ApiClient
from upqueue.core.cli_common import UsageError, parse_headers, print_json, print_table, read_secret
from upqueue.core.humanize import size as human_size
from upqueue.core.transports import registry


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    target = subparsers.add_parser("target", help="manage upload targets (servers)")
    sub = target.add_subparsers(dest="target_command", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="add a target")
    add.add_argument("name", metavar="NAME", help="a name for the target, e.g. geo")
    add.add_argument(
        "--url",
        required=True,
        help="the upload URL; its form depends on the protocol, e.g. https://host/files/ "
        "(a creation endpoint), http(s)://ENDPOINT/BUCKET[/PREFIX] (an object store), "
        "https://host/uploads/ (a folder that takes PUT)",
    )
    _target_options(add)
    add.set_defaults(func=cmd_add)

    ls = sub.add_parser("ls", help="list targets")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_ls)

    rm = sub.add_parser("rm", help="remove a target")
    rm.add_argument("name", metavar="NAME", help="the target's name (or id)")
    keep = rm.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep-uploads",
        dest="uploads",
        action="store_const",
        const="keep",
        help="keep its finished uploads in the list and the history",
    )
    keep.add_argument(
        "--remove-uploads",
        dest="uploads",
        action="store_const",
        const="remove",
        help="remove its finished uploads from the list with it",
    )
    rm.set_defaults(func=cmd_rm)

    test = sub.add_parser("test", help="check that the server answers and the credentials work")
    test.add_argument("name", metavar="NAME", help="the target's name (or id)")
    test.set_defaults(func=cmd_test)

    edit = sub.add_parser("edit", help="change a target")
    edit.add_argument("name", metavar="NAME", help="the target's name (or id)")
    edit.add_argument("--rename", metavar="NEW_NAME", help="a new name")
    edit.add_argument("--url")
    _target_options(edit)
    edit.add_argument("--clear-headers", action="store_true", help="drop every extra header first")
    edit.add_argument(
        "--no-auth", action="store_true", help="send no credentials (forgets the secret)"
    )
    edit.set_defaults(func=cmd_edit)


def _target_options(parser: argparse.ArgumentParser) -> None:
    protocols = registry.names()
    parser.add_argument(
        "--protocol",
        choices=protocols,
        help=f"upload protocol (default {registry.DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="a protocol option, e.g. region=eu-west-1, part_size_mib=16, parallel_parts=4, "
        "method=post, field_name=file (repeatable; NAME= removes one)",
    )
    parser.add_argument(
        "--header",
        action="append",
        metavar="NAME:VALUE",
        help="an extra header on every request (repeatable)",
    )
    parser.add_argument(
        "--username",
        help="user name for HTTP basic authentication (object stores: the access key id)",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the basic-auth password (object stores: the secret key) from stdin",
    )
    secret.add_argument("--token-stdin", action="store_true", help="read a bearer token from stdin")
    secret.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read an API key from stdin, sent as ?apikey= (GeoNode with ENABLE_APIKEY_LOGIN)",
    )
    secret.add_argument(
        "--auth-header",
        metavar="NAME",
        help="send a secret header NAME whose value is read from stdin",
    )
    parser.add_argument(
        "--chunk-size", metavar="SIZE", help="bytes per request, e.g. 8M (default: the setting)"
    )


def _auth_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Authentication fields from the options; the secret comes from stdin only."""
    fields: dict[str, Any] = {}
    if args.password_stdin or args.username is not None:
        if not args.username:
            raise UsageError("Missing user name", "Basic authentication needs --username NAME.")
        fields["auth_kind"] = "basic"
        fields["username"] = args.username
        if args.password_stdin:
            fields["secret"] = read_secret("Password")
    elif args.token_stdin:
        fields["auth_kind"] = "bearer"
        fields["secret"] = read_secret("Token")
    elif args.api_key_stdin:
        fields["auth_kind"] = "bearer"
        fields["secret"] = read_secret("API key")
        fields["options"] = {"apikey": "true"}  # merged into the target's options by the caller
    elif args.auth_header:
        fields["auth_kind"] = "header"
        fields["auth_header"] = args.auth_header
        fields["secret"] = read_secret(f"Value of {args.auth_header}")
    return fields


def _chunk_size(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        from upqueue.core.settings import parse_size  # here: dataclasses cost start-up

        return parse_size(text)
    except ValueError:
        raise UsageError(
            "Invalid chunk size", f"{text!r}: give a size like 8M, 512K or 1048576."
        ) from None


def _options(current: dict[str, Any], given: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs over the target's options; ``NAME=`` removes one."""
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError("Invalid option", f"{item!r}: write options as NAME=VALUE.")
        if value == "":
            current.pop(name.strip(), None)
        else:
            current[name.strip()] = value
    return current


def cmd_add(client: ApiClient, args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {
        "name": args.name,
        "url": args.url,
        "protocol": args.protocol or registry.DEFAULT_PROTOCOL,
    }
    fields["headers"] = parse_headers(args.header)
    if args.option:
        fields["options"] = _options({}, args.option)
    auth = _auth_fields(args)
    if "options" in auth:
        fields["options"] = {**fields.get("options", {}), **auth.pop("options")}
    fields.update(auth)
    chunk = _chunk_size(args.chunk_size)
    if chunk is not None:
        fields["chunk_size"] = chunk
    target = client.add_target(**fields)
    print(f"Added target {target['name']} ({target['url']}, id {target['id']}).")
    return 0


def cmd_ls(client: ApiClient, args: argparse.Namespace) -> int:
    targets = client.targets()["targets"]
    if args.json:
        print_json(targets)
        return 0
    if not targets:
        print("No targets yet. Add one with: upqueue target add NAME --url URL")
        return 0
    rows = []
    for t in targets:
        auth = t["auth_kind"]
        if auth == "basic" and t.get("username"):
            auth = f"basic ({t['username']})"
        elif auth == "header" and t.get("auth_header"):
            auth = f"header ({t['auth_header']})"
        if t["auth_kind"] != "none" and not t.get("has_secret"):
            auth += ", no secret stored"
        chunk = human_size(t["chunk_size"]) if t.get("chunk_size") else "default"
        rows.append((t["id"], t["name"], t["protocol"], t["url"], auth, chunk))
    print_table(["ID", "NAME", "PROTOCOL", "URL", "AUTH", "CHUNK"], rows, right=[0])
    return 0


def cmd_rm(client: ApiClient, args: argparse.Namespace) -> int:
    target = client.find_target(args.name)
    client.remove_target(target["id"], args.uploads)
    kept = {"keep": " (its uploads stay in the list)", "remove": " and its uploads"}
    print(f"Removed target {target['name']}{kept.get(args.uploads, '')}.")
    return 0


def cmd_test(client: ApiClient, args: argparse.Namespace) -> int:
    target = client.find_target(args.name)
    result = client.test_target(target["id"])
    print(f"{result['title']}: {result['message']}")
    return 0 if result.get("ok") else 1


def cmd_edit(client: ApiClient, args: argparse.Namespace) -> int:
    target = client.find_target(args.name)
    fields: dict[str, Any] = {}
    if args.rename:
        fields["name"] = args.rename
    if args.url:
        fields["url"] = args.url
    if args.protocol:
        fields["protocol"] = args.protocol
    if args.option:
        fields["options"] = _options(dict(target.get("options") or {}), args.option)
    if args.header or args.clear_headers:
        headers = {} if args.clear_headers else dict(target.get("headers") or {})
        headers.update(parse_headers(args.header))
        fields["headers"] = headers
    if args.no_auth:
        if (
            args.username
            or args.password_stdin
            or args.token_stdin
            or args.auth_header
            or args.api_key_stdin
        ):
            raise UsageError(
                "Conflicting options", "--no-auth cannot be combined with credentials."
            )
        fields.update(auth_kind="none", username=None, auth_header=None, secret="")
    else:
        auth = _auth_fields(args)
        if "options" in auth:
            base = fields.get("options", dict(target.get("options") or {}))
            fields["options"] = {**base, **auth.pop("options")}
        elif auth.get("auth_kind") and (fields.get("options") or target.get("options") or {}).get(
            "apikey"
        ):
            # another kind of credentials replaces the API key
            fields["options"] = {
                k: v
                for k, v in (fields.get("options") or target.get("options") or {}).items()
                if k != "apikey"
            }
        fields.update(auth)
    chunk = _chunk_size(args.chunk_size)
    if chunk is not None:
        fields["chunk_size"] = chunk or None  # 0 = back to the global setting
    if not fields:
        raise UsageError(
            "Nothing to change",
            "Give at least one option, e.g. --url URL; see 'upqueue target edit -h'.",
        )
    updated = client.update_target(target["id"], **fields)
    print(f"Updated target {updated['name']} ({updated['url']}).")
    return 0
