"""upqueue's version: one place, shown by the API, the CLI and the window."""

VERSION = "0.1.0"
