"""The reference app is not ready, and says so in problem+json, until every service has answered;
its configuration refuses what it could not serve."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ledgerline.infra.process import free_port
from ledgerline.reference.app import ReferencedService, ReferenceSettings, create_app


def settings_for(url: str) -> ReferenceSettings:
    service = ReferencedService.model_validate({"url": url, "routes": ["/v1/wallets"]})
    return ReferenceSettings(services={"wallet": service}, retry_delay_max_s=1.0)


def test_nothing_is_served_until_every_service_answers() -> None:
    # Nothing listens on a port just freed: the wallet service "is still starting".
    app = create_app(settings_for(f"http://127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "reference_not_ready"
            assert answer.headers["retry-after"] == "5"
        # The assets come from the wheel and need no service.
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"services": {}},
        {"services": {"wallet": {"url": "ftp://wallet", "routes": ["/v1/wallets"]}}},
        {"services": {"wallet": {"url": "http://wallet:8080", "routes": []}}},
        {"services": {"wallet": {"url": "http://wallet:8080", "routes": ["/v1"]}}, "refresh_interval_s": 0},
    ],
)
def test_settings_refuse_what_cannot_be_served(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ReferenceSettings.model_validate(settings)
