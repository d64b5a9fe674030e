"""The ledgerline.io CRDs follow the contract the operator is written against, accept the
example resources in k8s/examples, and reject malformed ones as the API server would."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.k8s import charts, crdschemas

EXAMPLES = charts.REPO_ROOT / "k8s" / "examples"
TOPIC = ("ledgerline.io/v1alpha1", "LedgerlineTopic")
REPLAY = ("ledgerline.io/v1alpha1", "DeadLetterReplay")


def _crd(plural: str) -> dict[str, Any]:
    for m in charts.crd_manifests(charts.OPERATOR_CHART):
        if m.obj["spec"]["names"]["plural"] == plural:
            return m.obj
    raise AssertionError(f"no CRD for {plural}")


def _example(name: str) -> dict[str, Any]:
    example: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return example


def _errors(key: tuple[str, str], obj: dict[str, Any]) -> list[str]:
    return crdschemas.errors(crdschemas.own_schemas()[key], obj)


@pytest.mark.parametrize(
    ("plural", "kind", "short_names"),
    [
        ("ledgerlinetopics", "LedgerlineTopic", ["lltopic", "llt"]),
        ("deadletterreplays", "DeadLetterReplay", ["dlreplay", "dlr"]),
    ],
)
def test_crd_identity(plural: str, kind: str, short_names: list[str]) -> None:
    crd = _crd(plural)
    assert crd["metadata"]["name"] == f"{plural}.ledgerline.io"
    assert crd["spec"]["group"] == "ledgerline.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == kind
    assert crd["spec"]["names"]["shortNames"] == short_names
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True, "kopf stores progress in status"
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    # A structural schema may not combine properties with additionalProperties (the API server
    # rejects the CRD); unknown fields are pruned, and refused under strict field validation.
    assert "additionalProperties" not in spec


def test_printer_columns() -> None:
    topic = _crd("ledgerlinetopics")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in topic] == ["Topic", "Partitions", "Ready", "Age"]
    assert topic[2]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    replay = _crd("deadletterreplays")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in replay] == ["Source", "Phase", "Matched", "Replayed", "DryRun", "Age"]


def test_topic_spec_contract() -> None:
    spec = crdschemas.own_schemas()[TOPIC]["properties"]["spec"]
    p = spec["properties"]
    assert spec["required"] == ["partitions"]
    # 240, not Kafka's 249: the `.retry.<n>` and `.dlq` topics append up to 9 characters.
    assert p["topicName"]["pattern"] == "^[a-zA-Z0-9._-]{1,240}$"
    assert (p["partitions"]["minimum"], p["partitions"]["maximum"]) == (1, 1000)
    assert (p["replicationFactor"]["minimum"], p["replicationFactor"]["maximum"]) == (1, 32)
    assert p["replicationFactor"]["default"] == 1
    assert p["config"]["additionalProperties"] == {"type": "string"}
    delays = p["retry"]["properties"]["delaysSeconds"]
    assert delays["maxItems"] == 10 and (delays["items"]["minimum"], delays["items"]["maximum"]) == (1, 240)
    assert p["deadLetter"]["properties"]["enabled"]["default"] is True
    assert p["deletionPolicy"]["enum"] == ["Retain", "Delete"] and p["deletionPolicy"]["default"] == "Retain"
    assert "additionalProperties" not in p["retry"] and "additionalProperties" not in p["deadLetter"]


def test_replay_spec_contract() -> None:
    spec = crdschemas.own_schemas()[REPLAY]["properties"]["spec"]
    p = spec["properties"]
    assert spec["required"] == ["sourceTopic"]
    assert "additionalProperties" not in p["filters"]
    assert set(p["filters"]["properties"]) == {"since", "until", "errorContains", "key", "originalTopic"}
    assert p["filters"]["properties"]["since"]["format"] == "date-time"
    assert (p["maxMessages"]["minimum"], p["maxMessages"]["maximum"]) == (1, 10_000_000)
    assert (p["ratePerSecond"]["minimum"], p["ratePerSecond"]["maximum"]) == (1, 10_000)
    assert p["ratePerSecond"]["default"] == 100
    # CEL rules the API server enforces (jsonschema cannot): an immutable spec, since < until.
    assert spec["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    assert "timestamp(self.since) < timestamp(self.until)" in p["filters"]["x-kubernetes-validations"][0]["rule"]
    assert p["dryRun"]["default"] is False
    status = crdschemas.own_schemas()[REPLAY]["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Running", "Succeeded", "Failed"]
    assert set(status["replayCheckpoint"]["properties"]["targets"]["items"]["properties"]) == {
        "topic",
        "partition",
        "offset",
    }
    assert set(status["counts"]["properties"]) == {"scanned", "matched", "replayed", "skipped"}
    assert set(status["partitions"]["items"]["properties"]) == {
        "partition",
        "startOffset",
        "endOffset",
        "nextOffset",
    }


@pytest.mark.parametrize(
    ("example", "key"),
    [("ledgerlinetopic.yaml", TOPIC), ("deadletterreplay.yaml", REPLAY)],
)
def test_examples_validate(example: str, key: tuple[str, str]) -> None:
    obj = _example(example)
    assert (obj["apiVersion"], obj["kind"]) == key
    assert _errors(key, obj) == []


def _mutated(example: str, change: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_example(example))
    change(obj["spec"])
    return obj


BAD_TOPICS = {
    "negative partitions": lambda s: s.update(partitions=-1),
    "zero partitions": lambda s: s.update(partitions=0),
    "too many partitions": lambda s: s.update(partitions=1001),
    "missing partitions": lambda s: s.pop("partitions"),
    "replication factor 33": lambda s: s.update(replicationFactor=33),
    "invalid topic name": lambda s: s.update(topicName="bad topic!"),
    "non-string config value": lambda s: s["config"].update({"retention.ms": 604800000}),
    "retry delay 0": lambda s: s.update(retry={"delaysSeconds": [0]}),
    "eleven retry delays": lambda s: s.update(retry={"delaysSeconds": list(range(1, 12))}),
    "unknown deletion policy": lambda s: s.update(deletionPolicy="Orphan"),
    "unknown spec field": lambda s: s.update(replicas=3),
    "unknown deadLetter field": lambda s: s.update(deadLetter={"enabled": True, "topic": "x"}),
}
BAD_REPLAYS = {
    "ratePerSecond 0": lambda s: s.update(ratePerSecond=0),
    "unknown filter field": lambda s: s["filters"].update(partition=3),
    "maxMessages 0": lambda s: s.update(maxMessages=0),
    "missing sourceTopic": lambda s: s.pop("sourceTopic"),
    "source is not a .dlq topic": lambda s: s.update(sourceTopic="ledgerline.payment.events.v1"),
    "since is not a date-time": lambda s: s["filters"].update(since="yesterday"),
    "dryRun is not a boolean": lambda s: s.update(dryRun="yes"),
    "unknown spec field": lambda s: s.update(resume=True),
}


@pytest.mark.parametrize("case", sorted(BAD_TOPICS))
def test_bad_topics_are_rejected(case: str) -> None:
    assert _errors(TOPIC, _mutated("ledgerlinetopic.yaml", BAD_TOPICS[case])), case


@pytest.mark.parametrize("case", sorted(BAD_REPLAYS))
def test_bad_replays_are_rejected(case: str) -> None:
    assert _errors(REPLAY, _mutated("deadletterreplay.yaml", BAD_REPLAYS[case])), case


def test_kopf_peering_crd_is_the_upstream_one() -> None:
    """The chart ships kopf's ClusterKopfPeering CRD unchanged, so another kopf operator that
    installed it first does not conflict."""
    ours = yaml.safe_load((charts.OPERATOR_CHART / "crds" / "kopf.dev_clusterkopfpeerings.yaml").read_text())
    upstream = yaml.safe_load((charts.SHARED_CRDS / "kopf.dev_clusterkopfpeerings.yaml").read_text())
    assert ours == upstream
