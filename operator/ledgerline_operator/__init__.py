"""The Ledgerline operator: Kafka topics and dead-letter replays as Kubernetes resources."""

GROUP = "ledgerline.io"
VERSION = "v1alpha1"
TOPICS_PLURAL = "ledgerlinetopics"
REPLAYS_PLURAL = "deadletterreplays"
