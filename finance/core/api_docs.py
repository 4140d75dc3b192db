"""The API reference, /docs (Swagger UI) and /redoc (ReDoc), served whole by this server.

FastAPI's own pages load their scripts, styles and icon from public CDNs and ReDoc's
fonts from Google: on a closed government network they are blank. Here the release
files come from the fastapi-offline package (Swagger UI 5 and ReDoc 2, with their
licences in that package), mounted under ``/docs/static``, and the pages carry a
Content-Security-Policy that keeps every fetch on this origin: it also stops ReDoc's
bundle from loading the Redocly logo from its CDN (ReDoc then hides the image), and
Swagger UI's online validator badge is switched off.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = DOCS_URL + "/oauth2-redirect"
ASSETS_URL = DOCS_URL + "/static"
ASSETS_PACKAGE = ("fastapi_offline", "static")

# Inline scripts and styles: FastAPI's page starts Swagger UI from an inline script, and
# ReDoc styles itself inline; ReDoc's search runs in a worker built from a blob.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def install_api_docs(app: FastAPI) -> None:
    """Serve the reference pages and their assets; the app must be built with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not registered."""
    if app.docs_url is not None or app.redoc_url is not None or app.openapi_url is None:
        raise ValueError("build the app with docs_url=None, redoc_url=None and an openapi_url")
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="api-docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _same_origin_only(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=app.title + " - Swagger UI",
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return _same_origin_only(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _same_origin_only(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=app.title + " - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
