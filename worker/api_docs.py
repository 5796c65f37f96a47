"""``/docs``: Swagger UI served from the installed package, so that it works with no network.

FastAPI's own page loads Swagger UI from a CDN, and is blank offline. The assets come from the
``fastapi-offline`` distribution (Swagger UI 5, which reads OpenAPI 3.1); only its files are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from upqueue.worker.errors import NotFound

ASSETS_URL = "/docs/assets"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


def assets_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("fastapi-offline (the API docs' assets) is not installed")
    return Path(spec.origin).parent / "static"


def add_docs(app: FastAPI) -> None:
    """The docs page and its three assets (the app must be made with ``docs_url=None``)."""
    folder = assets_dir()

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise NotFound("No such file", f"The API docs have no file called {name!r}.")
        return FileResponse(folder / name, media_type=_ASSETS[name])
