"""Writing a resource's status while a kopf daemon is still running.

kopf applies a daemon's `patch` only when the daemon function returns, but a replay reports
progress for as long as it runs; so its checkpoints go straight to the status subresource.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from kubernetes.aio import client, config
from kubernetes.aio.client.exceptions import ApiException

from ledgerline_operator import GROUP, VERSION
from ledgerline_operator.replay import Report

MERGE_PATCH = "application/merge-patch+json"
STATUS_PATCH_TIMEOUT_S = 30.0


class StatusWriteFailed(Exception):
    """The API server did not take the status patch; the last saved checkpoint still stands."""


class StatusWriter:
    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        self._api = client.CustomObjectsApi(api_client)

    @classmethod
    async def connect(cls) -> StatusWriter:
        """Uses the kubeconfig when there is one, else the pod's service account."""
        await config.load_config()  # type: ignore[no-untyped-call]  # The kubernetes package is not annotated here.
        return cls(client.ApiClient())

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]  # Same.

    def reporter(self, plural: str, namespace: str, name: str) -> Report:
        async def report(status: dict[str, Any]) -> None:
            await self.patch_status(plural, namespace, name, status)

        return report

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            await self._api.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
                _content_type=MERGE_PATCH,
                _request_timeout=STATUS_PATCH_TIMEOUT_S,
            )
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            raise StatusWriteFailed(f"status of {plural}/{namespace}/{name} was not saved: {exc}") from exc
