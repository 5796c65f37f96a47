"""tuspyserver (PyPI, a FastAPI router) mounted at /files in a tiny app, for the tests.

Run as ``python -m tests.tuspy_server.app --dir DIR [--port N]``: it binds the port (0: a free
one), prints it on the first line of stdout, and serves until killed. A second, independent tus
server beside @tus/server: it answers OPTIONS only at ``/files/`` (405 at ``/files``) and wants
``filename`` and ``filetype`` metadata before it answers HEAD.
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from fastapi import FastAPI
from tuspyserver import create_tus_router


def make_app(files_dir: str) -> FastAPI:
    app = FastAPI()
    app.include_router(create_tus_router(prefix="files", files_dir=files_dir))
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(make_app(args.dir), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
