"""Shared pytest set-up: every test runs with its own data directory and a real keyring backend."""

pytest_plugins = [
    "tests.fixtures.env",
    "tests.fixtures.tus",
    "tests.fixtures.relay",
    "tests.fixtures.tuspy",
    "tests.fixtures.processing_server",
    "tests.fixtures.worker",
    "tests.fixtures.gui",
    "tests.fixtures.xvfb",
    "tests.fixtures.s3",
    "tests.fixtures.chunked",
    "tests.fixtures.tls",
    "tests.fixtures.plain_http",
    "tests.fixtures.geonode",
]
