"""The API reference works on a closed network: /docs (Swagger UI) and /redoc (ReDoc)
load every script, style and icon from this server, each of which answers, under a
Content-Security-Policy that keeps every fetch on this origin, and the OpenAPI document
they render builds. ``/`` leads to the portal's login page, which links the reference.
tests/e2e/test_api_docs.py renders both pages in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from finance.app import create_app
from finance.core.settings import Settings


class _Assets(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href", "spec-url"):
            value = named.get(attribute)
            if value and tag != "a":
                self.urls.append(value)


def _assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def client(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    ("page", "script", "marker"),
    [
        ("/docs", "swagger-ui-bundle.js", "SwaggerUIBundle"),
        ("/redoc", "redoc.standalone.js", "Redoc"),
    ],
)
def test_reference_pages_load_only_same_origin_assets(
    client: TestClient, page: str, script: str, marker: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "://" not in response.text  # no CDN, no web fonts, no absolute URL at all
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy  # keeps ReDoc's bundle off the Redocly CDN
    urls = _assets(response.text)
    assert any(url.endswith(script) for url in urls), urls
    assert "/openapi.json" in urls or "'/openapi.json'" in response.text
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    bundle = client.get(next(url for url in urls if url.endswith(script)))
    assert "javascript" in bundle.headers["content-type"]
    assert marker in bundle.text


def test_swagger_ui_calls_no_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_swagger_ui_stylesheet_is_served(client: TestClient) -> None:
    css = [url for url in _assets(client.get("/docs").text) if url.endswith(".css")]
    assert css
    answer = client.get(css[0])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/css")
    assert ".swagger-ui" in answer.text


def test_openapi_document_builds_and_lists_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "SME financing data-service platform"
    paths = document["paths"]
    for path in ("/oauth2/token", "/oauth2/par", "/api/v1/consents", "/healthz"):
        assert path in paths, path
    assert not any(path in paths for path in ("/", "/docs", "/redoc", "/metrics"))


def test_root_leads_to_the_portal_login_which_links_the_reference(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/login"
    login = client.get("/")
    assert login.status_code == 200
    assert 'action="/login"' in login.text
    assert 'href="/docs"' in login.text
    assert 'href="/docs"' in client.get("/login?lang=en").text
