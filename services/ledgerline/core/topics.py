"""Every Kafka topic the platform uses, with the partition counts it is created with.

Names are versioned `ledgerline.<service>.<commands|events>.v1`; dead letters add `.dlq`.
"""

from __future__ import annotations

from dataclasses import dataclass

WALLET_COMMANDS = "ledgerline.wallet.commands.v1"
WALLET_EVENTS = "ledgerline.wallet.events.v1"
LEDGER_COMMANDS = "ledgerline.ledger.commands.v1"
LEDGER_EVENTS = "ledgerline.ledger.events.v1"
PAYMENT_COMMANDS = "ledgerline.payment.commands.v1"
PAYMENT_EVENTS = "ledgerline.payment.events.v1"
NOTIFICATION_DELIVERIES = "ledgerline.notification.deliveries.v1"
IDENTITY_EVENTS = "ledgerline.identity.events.v1"
# Delays of the notification retry topics `<deliveries>.retry.1..n` (the chart's topic resource
# and the notification settings use the same defaults).
NOTIFICATION_RETRY_DELAYS_S = (5, 30, 120)

DEAD_LETTER_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


def retry_topic(topic: str, attempt: int) -> str:
    return f"{topic}.retry.{attempt}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    dead_letters: bool = True
    retry_steps: int = 0


# Topics only the platform's own services read: their records carry many events each
# (events.BATCH_TYPE). Public events (payment outcomes) and notification tasks stay one per record.
BATCHED_TOPICS = frozenset({WALLET_COMMANDS, WALLET_EVENTS, LEDGER_COMMANDS, LEDGER_EVENTS, PAYMENT_COMMANDS})

# Saga traffic is keyed by payment id, so partitions bound consumer parallelism, not ordering.
PLATFORM_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(WALLET_COMMANDS, 6),
    TopicSpec(WALLET_EVENTS, 6),
    TopicSpec(LEDGER_COMMANDS, 6),
    TopicSpec(LEDGER_EVENTS, 6),
    TopicSpec(PAYMENT_COMMANDS, 6),
    TopicSpec(PAYMENT_EVENTS, 6),
    TopicSpec(NOTIFICATION_DELIVERIES, 6, retry_steps=len(NOTIFICATION_RETRY_DELAYS_S)),
    TopicSpec(IDENTITY_EVENTS, 6),
)


def all_topic_names(specs: tuple[TopicSpec, ...] = PLATFORM_TOPICS) -> list[str]:
    names: list[str] = []
    for spec in specs:
        names.append(spec.name)
        names.extend(retry_topic(spec.name, step) for step in range(1, spec.retry_steps + 1))
        if spec.dead_letters:
            names.append(dead_letter_topic(spec.name))
    return names
