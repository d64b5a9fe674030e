"""kopf registrations, and nothing else: each handler turns kopf's arguments into a call to a
plain module and the outcome into status and kopf's two kinds of failure. Kafka that cannot be
reached is `kopf.TemporaryError` (retried after a delay); a spec that can never work is
`kopf.PermanentError` (not retried until the spec changes).

Run with `kopf run -m ledgerline_operator.main --all-namespaces`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from ledgerline_operator import GROUP, REPLAYS_PLURAL, TOPICS_PLURAL, VERSION
from ledgerline_operator.dead_letter_depth import keep_measuring
from ledgerline_operator.kafka_errors import BrokerUnavailable, TopicRejected
from ledgerline_operator.kube import StatusWriteFailed, StatusWriter
from ledgerline_operator.metrics import (
    DEPTHS,
    OPERATOR_REGISTRY,
    PLATFORM_DEAD_LETTER_TOPICS,
    REPLAYS,
    replay_label,
    topic_reconcile_failed,
    topic_reconciled,
)
from ledgerline_operator.replay import run_replay
from ledgerline_operator.replay_progress import FAILED, TERMINAL_PHASES
from ledgerline_operator.settings import OperatorSettings
from ledgerline_operator.topic_admin import TopicAdmin
from ledgerline_operator.topics import broker_unavailable_status, delete_topics_of, reconcile_topic

FINALIZER = "ledgerline.io/operator"
BROKER_RETRY_DELAY_S = 30
STATUS_RETRY_DELAY_S = 10
REPLAY_CANCELLATION_TIMEOUT_S = 10.0
WATCH_SERVER_TIMEOUT_S = 600
WATCH_CLIENT_TIMEOUT_S = 660
API_CONNECT_TIMEOUT_S = 30.0
API_REQUEST_TIMEOUT_S = 60.0


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own finalizer name, so a resource held back by this operator says whose finalizer it is.
    settings.persistence.finalizer = FINALIZER
    # kopf's bookkeeping goes in annotations: status is the CRDs' contract (conditions, counts,
    # per-partition progress) and must hold only what the CRD documents.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # The API server ends each watch after 10 minutes and the client gives up a minute later, so
    # a connection that died silently is noticed instead of leaving the operator deaf.
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_S
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT_S
    settings.watching.connect_timeout = API_CONNECT_TIMEOUT_S
    # A stuck API request fails after a minute (aiohttp's default is 5) and is retried by kopf.
    settings.networking.request_timeout = API_REQUEST_TIMEOUT_S
    settings.networking.connect_timeout = API_CONNECT_TIMEOUT_S
    # Only warnings and errors become Kubernetes events; routine progress stays in the log.
    settings.posting.level = logging.WARNING
    memo.settings = OperatorSettings()
    memo.status_writer = await StatusWriter.connect()


@kopf.on.startup()
async def serve_metrics(memo: kopf.Memo, **_: Any) -> None:
    """/metrics on its own port (kopf's health endpoint serves nothing else), for the chart's
    PodMonitor or the local Prometheus."""
    settings = OperatorSettings()
    memo.metrics_server, _thread = start_http_server(
        settings.metrics_port, settings.metrics_host, registry=OPERATOR_REGISTRY
    )


@kopf.on.startup()
async def measure_dead_letter_depth(memo: kopf.Memo, **_: Any) -> None:
    """Measures every dead-letter topic's depth in the background for as long as the operator
    runs: the topics belong to no one resource, so this is not a per-resource timer."""
    settings = OperatorSettings()
    # Held while topics are deleted and while dead-letter depths are measured: a measurement
    # names each topic it reads, and a broker that auto-creates topics (tansu) would bring a
    # topic deleted in the middle of it back. Startup handlers run before any resource handler.
    memo.topic_deletion = asyncio.Lock()
    memo.dead_letter_depth = asyncio.create_task(
        keep_measuring(
            settings.kafka_bootstrap_servers,
            PLATFORM_DEAD_LETTER_TOPICS,
            settings.dead_letter_depth_interval_s,
            DEPTHS.report,
            memo.topic_deletion,
        ),
        name="dead-letter depth",
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("dead_letter_depth") is not None:
        memo.dead_letter_depth.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await memo.dead_letter_depth
    if memo.get("status_writer") is not None:
        await memo.status_writer.close()
    if memo.get("metrics_server") is not None:
        memo.metrics_server.shutdown()
        memo.metrics_server.server_close()


@kopf.on.resume(GROUP, VERSION, TOPICS_PLURAL)
@kopf.on.create(GROUP, VERSION, TOPICS_PLURAL)
@kopf.on.update(GROUP, VERSION, TOPICS_PLURAL, field="spec")
async def reconcile_topics(
    name: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    generation, conditions = meta.get("generation"), status.get("conditions")
    try:
        async with TopicAdmin(memo.settings.kafka_bootstrap_servers) as admin:
            outcome = await reconcile_topic(
                admin, resource_name=name, spec=spec, generation=generation, conditions=conditions
            )
    except BrokerUnavailable as exc:
        topic_reconcile_failed("kafka_unavailable")
        patch.status.update(broker_unavailable_status(str(exc), generation, conditions))
        raise kopf.TemporaryError(str(exc), delay=BROKER_RETRY_DELAY_S) from exc
    patch.status.update(outcome.status)
    if outcome.rejected:
        topic_reconcile_failed("rejected")
        raise kopf.PermanentError(outcome.rejected)
    topic_reconciled()


def _deletes_topics(spec: kopf.Spec, **_: Any) -> bool:
    return spec.get("deletionPolicy") == "Delete"


# Only Delete-policy resources get the finalizer this handler needs; Retain ones delete freely.
@kopf.on.delete(GROUP, VERSION, TOPICS_PLURAL, when=_deletes_topics)
async def delete_topics(name: str, spec: kopf.Spec, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    try:
        async with memo.topic_deletion, TopicAdmin(memo.settings.kafka_bootstrap_servers) as admin:
            deleted = await delete_topics_of(admin, resource_name=name, spec=spec)
    except BrokerUnavailable as exc:
        raise kopf.TemporaryError(str(exc), delay=BROKER_RETRY_DELAY_S) from exc
    except TopicRejected as exc:
        raise kopf.PermanentError(str(exc)) from exc
    logger.info("deleted topics %s", ", ".join(deleted))


def _replay_unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in TERMINAL_PHASES


# A daemon, not a create handler: a replay may run for hours, and a daemon is started again
# for every unfinished replay when the operator restarts, which is how a replay resumes.
# It is cancelled on deletion or shutdown; progress up to the last checkpoint is kept.
@kopf.daemon(
    GROUP, VERSION, REPLAYS_PLURAL, when=_replay_unfinished, cancellation_timeout=REPLAY_CANCELLATION_TIMEOUT_S
)
async def replay_dead_letters(
    name: str,
    namespace: str | None,
    uid: str,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    write_status = memo.status_writer.reporter(REPLAYS_PLURAL, namespace or "", name)
    label = replay_label(namespace or "", name)

    async def report(progress: dict[str, Any]) -> None:
        REPLAYS.report(label, progress)
        await write_status(progress)

    try:
        final = await run_replay(
            memo.settings.kafka_bootstrap_servers,
            replay_id=uid,
            spec=copy.deepcopy(dict(spec)),  # The body is a live view; a replay runs the spec it started with.
            status=copy.deepcopy(dict(status)),
            report=report,
            generation=meta.get("generation"),
        )
    except BrokerUnavailable as exc:
        raise kopf.TemporaryError(str(exc), delay=BROKER_RETRY_DELAY_S) from exc
    except StatusWriteFailed as exc:
        raise kopf.TemporaryError(str(exc), delay=STATUS_RETRY_DELAY_S) from exc
    if final["phase"] == FAILED:
        raise kopf.PermanentError(final.get("message", "the replay failed"))
