"""Operations endpoints: health, readiness, metrics, request ids, problem details."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from finance.app import create_app
from finance.core.settings import Settings


def test_healthz_and_readyz_at_head(settings: Settings, engine: Engine) -> None:
    client = TestClient(create_app(settings))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readyz_refuses_when_schema_is_behind(settings: Settings, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    response = TestClient(create_app(settings)).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "migrations head" in response.json()["detail"]


def test_request_id_is_echoed_or_generated(settings: Settings, engine: Engine) -> None:
    client = TestClient(create_app(settings))
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 32


def test_metrics_count_requests_by_route(settings: Settings, engine: Engine) -> None:
    client = TestClient(create_app(settings))
    client.get("/healthz")
    client.get("/api/v1/categories/tax")
    body = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in body
    assert 'route="/api/v1/categories/{name}"' in body
    assert "http_request_duration_seconds_bucket" in body


def test_errors_are_problem_details(settings: Settings, engine: Engine) -> None:
    client = TestClient(create_app(settings))
    missing = client.get("/api/v1/categories/horoscopes")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    body = missing.json()
    assert body["status"] == 404
    assert body["type"].endswith("/not-found")
    assert "tax" in body["known_categories"]
    assert body["request_id"] == missing.headers["x-request-id"]
    not_routed = client.get("/nowhere")
    assert not_routed.status_code == 404
    assert not_routed.headers["content-type"] == "application/problem+json"


def test_internal_data_endpoints_are_off_by_default(settings: Settings, engine: Engine) -> None:
    client = TestClient(create_app(settings))
    assert client.get("/api/v1/enterprises").status_code == 404
    enabled = TestClient(create_app(settings.model_copy(update={"internal_api_enabled": True})))
    assert enabled.get("/api/v1/enterprises").json() == {
        "items": [],
        "next_cursor": None,
        "total": 0,
    }


def test_start_up_loads_the_catalogue_and_freezes_what_lives_then(
    settings: Settings, engine: Engine
) -> None:
    """The server's start-up (the app's lifespan) parses the online catalogue before the
    first request and exempts what is alive then from the garbage collector; shutting the
    app down undoes it."""
    import gc

    from products import matching

    database = engine.url.render_as_string(hide_password=True)
    matching._LISTED.pop(database, None)
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings)) as client:
        assert database in matching._LISTED
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0


def test_start_up_without_a_schema_still_serves(tmp_path: Path) -> None:
    """A database not migrated yet: the warm-up is skipped, /readyz says why."""
    bare = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(bare)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
