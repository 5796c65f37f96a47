"""Errors the Service raises that the API maps to particular HTTP statuses."""

from upqueue.core.errors import UpqueueError


class NotFound(UpqueueError):
    """The thing asked for does not exist (API: 404)."""


class Conflict(UpqueueError):
    """The request does not fit the current state (API: 409)."""
