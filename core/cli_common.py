"""Small pieces every command-line module shares: output, tables, secrets from stdin, errors."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from upqueue.core.errors import UpqueueError
from upqueue.core.header_lines import split_header

PROG = "upqueue"


class UsageError(UpqueueError):
    """The command line itself is wrong (exit code 2, like argparse)."""


class LazyEpilogParser(argparse.ArgumentParser):
    """A parser whose epilog is made only when its help is shown (``make_epilog``): a list
    built from what a command does not otherwise import would cost every command start-up."""

    make_epilog: Callable[[], str] | None = None

    def format_help(self) -> str:
        if self.make_epilog is not None and self.epilog is None:
            self.epilog = self.make_epilog()
        return super().format_help()


def warn(*parts: str, stream: TextIO | None = None) -> None:
    """One line on stderr in the CLI's error shape: ``upqueue: a: b: c``."""
    print(f"{PROG}: " + ": ".join(str(p) for p in parts if p != ""), file=stream or sys.stderr)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = ()
) -> None:
    """A plain text table: columns as wide as their widest cell, ``right`` ones right-aligned."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right_aligned = set(right)
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(parts).rstrip())


def read_secret(what: str) -> str:
    """A password or token from stdin (never argv, where other users could see it in ps).

    On a terminal it prompts without echo; from a pipe it reads one line.

    Raises:
        UsageError: when nothing was given.
    """
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(f"{what}: ")
    else:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        value = line.rstrip("\r\n")
    if not value:
        raise UsageError(
            f"No {what.lower()} given",
            f"Pipe the {what.lower()} into the command's standard input, e.g. "
            f"'printf %s \"$SECRET\" | upqueue target add ...'.",
        )
    return value


def parse_headers(items: Iterable[str] | None) -> dict[str, str]:
    """``["X-Team: gis", ...]`` -> ``{"X-Team": "gis"}``."""
    headers: dict[str, str] = {}
    for item in items or ():
        try:
            name, value = split_header(item)
        except ValueError:
            raise UsageError(
                "Invalid header", f"{item!r}: write headers as NAME:VALUE, e.g. 'X-Team: gis'."
            ) from None
        headers[name] = value
    return headers
