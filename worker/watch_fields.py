"""The fields of a watched folder as people give them: checked, completed, explained."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from upqueue.core.errors import UpqueueError
from upqueue.core.watchrules import DEFAULT_SETTLE_SECONDS, AfterUpload, parse_after

MAX_SETTLE_SECONDS = 3600.0


def validate_watch(
    fields: dict[str, Any],
    current: dict[str, Any] | None,
    resolve_target: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Check and complete a watch's fields.

    Args:
        fields: what the person gave (API body; ``after`` and ``settle`` are accepted as the
            CLI's spellings of ``after_upload`` and ``settle_seconds``).
        current: the watch as stored (decoded) when editing, None when adding.
        resolve_target: a target by name or id (raises NotFound).

    Returns:
        Every column of the watch, checked.

    Raises:
        UpqueueError: saying what to fix.
    """
    known = {
        "path",
        "target",
        "target_id",
        "recursive",
        "include",
        "exclude",
        "settle_seconds",
        "settle",
        "after_upload",
        "after",
        "move_to",
        "polling",
        "paused",
    }
    unknown = sorted(set(fields) - known)
    if unknown:
        raise UpqueueError(
            "Unknown field",
            f"A watch has no field {', '.join(unknown)}; known fields: {', '.join(sorted(known))}.",
        )
    given = {k: v for k, v in fields.items() if v is not None}
    clean: dict[str, Any] = (
        dict(current)
        if current
        else {
            "recursive": False,
            "include": [],
            "exclude": [],
            "settle_seconds": DEFAULT_SETTLE_SECONDS,
            "after_upload": AfterUpload.KEEP.value,
            "move_to": None,
            "polling": False,
            "paused": False,
        }
    )
    if "path" in given or current is None:
        if not given.get("path"):
            raise UpqueueError("No folder", "Say which folder to watch.")
        path = os.path.abspath(os.path.expanduser(str(given["path"])))
        if os.path.exists(path) and not os.path.isdir(path):
            raise UpqueueError(
                "Not a folder",
                f"{path} is a file; a watch follows a folder. Watch the folder that holds it, or "
                "add the file once with `upqueue add`.",
            )
        if not os.path.isdir(path):
            raise UpqueueError(
                "Folder not found",
                f"{path} is not an existing folder. Create it first, or check the path.",
            )
        clean["path"] = path
    target = given.get("target", given.get("target_id"))
    if target is not None or current is None:
        if target is None:
            raise UpqueueError(
                "No target", "Say which target the folder's files go to (--target NAME)."
            )
        clean["target_id"] = resolve_target(target)["id"]
    for flag in ("recursive", "polling", "paused"):
        if flag in given:
            clean[flag] = _boolean(given[flag], flag)
    for name in ("include", "exclude"):
        if name in given:
            clean[name] = _globs(given[name], name)
    settle = given.get("settle_seconds", given.get("settle"))
    if settle is not None:
        try:
            value = float(settle)
        except (TypeError, ValueError):
            raise UpqueueError(
                "Invalid settle time", f"The settle time is seconds, e.g. 3; got {settle!r}."
            ) from None
        if not 0 <= value <= MAX_SETTLE_SECONDS:
            raise UpqueueError(
                "Invalid settle time",
                f"The settle time must be between 0 and "
                f"{MAX_SETTLE_SECONDS:g} seconds; got {value:g}.",
            )
        clean["settle_seconds"] = value
    after = given.get("after_upload", given.get("after"))
    if after is not None:
        try:
            action, folder = parse_after(str(after))
        except ValueError as exc:
            raise UpqueueError("Invalid after-upload action", str(exc)) from None
        clean["after_upload"] = action.value
        clean["move_to"] = folder or given.get("move_to") or clean.get("move_to")
    elif "move_to" in given:
        clean["move_to"] = given["move_to"]
    if clean["after_upload"] == AfterUpload.MOVE.value:
        if not clean.get("move_to"):
            raise UpqueueError(
                "No folder to move to",
                "Moving files after upload needs a folder: --after move:/path/to/sent.",
            )
        move_to = os.path.abspath(os.path.expanduser(str(clean["move_to"])))
        if os.path.realpath(move_to) == os.path.realpath(clean["path"]):
            raise UpqueueError(
                "Invalid move folder",
                "Files cannot be moved into the folder they were "
                "dropped into; choose another folder.",
            )
        if os.path.exists(move_to) and not os.path.isdir(move_to):
            raise UpqueueError("Invalid move folder", f"{move_to} exists and is not a folder.")
        clean["move_to"] = move_to
    else:
        clean["move_to"] = None
    return clean


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {
        "1",
        "0",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
    }:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    raise UpqueueError("Invalid value", f"{name} is true or false; got {value!r}.")


def _globs(value: Any, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or any(not isinstance(g, str) for g in items):
        raise UpqueueError("Invalid glob", f"{name} takes a list of glob patterns such as '*.tif'.")
    return [g.strip() for g in items if g.strip()]
