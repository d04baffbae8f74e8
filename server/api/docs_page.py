"""/docs: Swagger UI served from the swagger-ui-bundle package, so it works offline and behind strict egress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # ships no type information

#: The assets the page loads, each at /docs/<name> (listed among the guard's open paths).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def install(app: FastAPI, title: str) -> None:
    """Add /docs, its OAuth2 redirect page and its assets (FastAPI's own /docs loads them from a CDN)."""
    folder = Path(swagger_ui_path)

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon-32x32.png",
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
    for name, media_type in ASSETS.items():
        app.add_api_route(f"/docs/{name}", _asset(folder / name, media_type), include_in_schema=False)


def _asset(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    return asset
