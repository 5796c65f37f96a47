"""What a protocol's target form asks for, said by the transport so that the window and the CLI
hold no protocol knowledge: which authentication it takes and what to call its fields, whether
a chunk size means anything, and its options. Plus the per-protocol check of a target's fields
before it is saved (an S3 URL must name a bucket, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upqueue.core.transports import registry

ALL_AUTH_KINDS = ("none", "basic", "bearer", "header")


@dataclass(frozen=True)
class OptionField:
    """One protocol option (stored in the target's ``options``)."""

    name: str
    label: str
    placeholder: str = ""
    choices: tuple[str, ...] = ()  # pick one of these; empty: free text
    tooltip: str = ""


@dataclass(frozen=True)
class TargetForm:
    """The fields a target of one protocol needs."""

    url_placeholder: str = "https://uploads.example.org/files/"
    url_tooltip: str = ""
    auth_kinds: tuple[str, ...] = ALL_AUTH_KINDS
    username_label: str = "Username:"
    password_label: str = "Password:"
    chunk_size: bool = True
    options: tuple[OptionField, ...] = ()


DEFAULT_FORM = TargetForm()


def form_for(protocol: str) -> TargetForm:
    """The form of ``protocol``'s targets: the transport's own, or one made from its
    ``target_options`` and ``url_hint`` (the default form when it says nothing)."""
    cls = registry.transport_class(protocol)
    form = getattr(cls, "form", None)
    if isinstance(form, TargetForm):
        return form
    options = tuple(
        OptionField(
            name=option.key,
            label=f"{option.label}:",
            # a check box's "off" is no value at all: an empty first choice stores nothing
            choices=("", "true") if option.boolean else tuple(value for value, _ in option.choices),
            tooltip=option.help,
        )
        for option in getattr(cls, "target_options", ())
    )
    hint = getattr(cls, "url_hint", "") or DEFAULT_FORM.url_placeholder
    if not options and hint == DEFAULT_FORM.url_placeholder:
        return DEFAULT_FORM
    return TargetForm(url_placeholder=hint, options=options)


def check_target(protocol: str, fields: Mapping[str, Any]) -> None:
    """Let the protocol refuse target fields it cannot use.

    Raises:
        UpqueueError: naming the field and what to do.
    """
    check = getattr(registry.transport_class(protocol), "check_target", None)
    if callable(check):
        check(fields)
