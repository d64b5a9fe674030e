"""The charts' values.schema.json files, generated from one readable definition.

values.yaml documents every key with `## @param`; this module declares each key's type and bounds
and copies the @param text into the schema as its description, so editors and `helm show` see the
same words. Every object is closed (`additionalProperties: false`) so a misspelt key fails.

Regenerate after changing values.yaml:  .venv/bin/python -m tests.k8s.values_schemas
test_values_schema.py fails when a committed schema differs from what this module generates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CHARTS = Path(__file__).resolve().parents[2] / "charts"
Schema = dict[str, Any]

STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
DNS_LABEL_OR_EMPTY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
QUANTITY: Schema = {
    "type": ["string", "number"],
    "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$",
    "description": "A Kubernetes quantity such as 250m, 1, 512Mi or 2Gi.",
}


def INT(lo: int | None = None, hi: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if lo is not None:
        schema["minimum"] = lo
    if hi is not None:
        schema["maximum"] = hi
    return schema


def OBJ(props: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        schema["required"] = required
    return schema


def ENUM(*values: Any) -> Schema:
    return {"enum": list(values)}


def PAT(pattern: str) -> Schema:
    return {"type": "string", "pattern": pattern}


def REF(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def S(**keywords: Any) -> Schema:
    return dict(keywords)


def image_schema() -> Schema:
    return OBJ(
        {
            "registry": PAT(r"^([a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$"),
            "repository": PAT(r"^[a-z0-9]+([._/-][a-z0-9]+)*$"),
            # skaffold sets the tag to the local image ID (64 hex characters).
            "tag": PAT(r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?)?$"),
            "digest": PAT(r"^(sha256:[a-f0-9]{64})?$"),
            "pullPolicy": ENUM("Always", "IfNotPresent", "Never"),
        },
        ["repository", "tag", "pullPolicy"],
    )


def label_selector() -> Schema:
    """A Kubernetes label selector; its matchLabels refer to the `stringMap` definition."""
    return OBJ(
        {
            "matchLabels": REF("stringMap"),
            "matchExpressions": S(
                type="array",
                items=OBJ(
                    {
                        "key": STR,
                        "operator": ENUM("In", "NotIn", "Exists", "DoesNotExist"),
                        "values": S(type="array", items=STR),
                    },
                    ["key", "operator"],
                ),
            ),
        }
    )


def ledgerline_schema() -> Schema:
    definitions: dict[str, Schema] = {
        "quantity": QUANTITY,
        "resourceList": OBJ({"cpu": REF("quantity"), "memory": REF("quantity"), "ephemeral-storage": REF("quantity")}),
        "resources": OBJ({"requests": REF("resourceList"), "limits": REF("resourceList")}),
        "stringMap": S(
            type="object", additionalProperties=STR, description="A map of strings (labels, annotations, selectors)."
        ),
        "labelSelector": label_selector(),
        "envVars": S(
            type="array",
            items=OBJ(
                {
                    "name": PAT(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"),
                    "value": STR,
                    "valueFrom": S(type="object", description="A Kubernetes EnvVarSource."),
                },
                ["name"],
            ),
        ),
        "autoscaling": OBJ(
            {
                "enabled": BOOL,
                "minReplicas": INT(1, 100),
                "maxReplicas": INT(1, 100),
                "targetCPUUtilizationPercentage": INT(1, 100),
            },
            ["enabled", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"],
        ),
        "pdb": OBJ(
            {
                "enabled": BOOL,
                "minAvailable": S(
                    type=["integer", "string"],
                    minimum=0,
                    pattern=r"^([0-9]+%?)?$",
                    description="An integer, a percentage such as 50%, or empty.",
                ),
                "maxUnavailable": S(type=["integer", "string"], minimum=1, pattern=r"^[0-9]+%?$"),
            },
            ["enabled"],
        ),
        "routes": S(type="array", items=PAT(r"^/[A-Za-z0-9/_.-]*$"), uniqueItems=True),
        "postgresUrl": S(
            type="string",
            pattern=r"^((postgresql|postgres)(\+asyncpg)?://.+)?$",
            description="A postgresql:// URI, or empty.",
        ),
        "database": OBJ(
            {
                "url": REF("postgresUrl"),
                "existingSecret": PAT(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"),
                "existingSecretKey": PAT(r"^[-._a-zA-Z0-9]+$"),
            },
            ["url", "existingSecret", "existingSecretKey"],
        ),
        "storage": OBJ({"size": REF("quantity"), "storageClass": STR}, ["size"]),
        "topic": OBJ(
            {
                "name": PAT(r"^[a-zA-Z0-9._-]{1,249}$"),
                "partitions": INT(1, 1000),
                "retryDelaysSeconds": S(type="array", maxItems=10, items=INT(1)),
                "deadLetter": BOOL,
                "config": REF("stringMap"),
            },
            ["name", "partitions"],
        ),
    }

    def component(extra: dict[str, Schema] | None = None, enabled: bool = False) -> Schema:
        props: dict[str, Schema] = {
            "replicaCount": INT(0, 100),
            "resources": REF("resources"),
            "autoscaling": REF("autoscaling"),
            "pdb": REF("pdb"),
            "routes": REF("routes"),
            "extraEnv": REF("envVars"),
        }
        if enabled:
            props["enabled"] = BOOL
        props.update(extra or {})
        return OBJ(props, ["replicaCount", "resources", "autoscaling", "pdb", "routes", "extraEnv"])

    http_url = S(type="string", pattern=r"^(https?://[^\s]+)?$", description="An http(s) URL, or empty.")
    props: dict[str, Schema] = {
        "nameOverride": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
        "fullnameOverride": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
        "commonLabels": REF("stringMap"),
        "environment": ENUM("development", "test", "production"),
        "logLevel": ENUM("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        "otelExporterOtlpEndpoint": http_url,
        "forwardedAllowIps": S(
            type="string",
            minLength=1,
            maxLength=4096,
            pattern=r"^(\*|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)(,\s*[0-9A-Fa-f:.]+(/[0-9]{1,3})?)*$",
            description="Comma-separated IPs or networks (CIDR), or `*` for any peer.",
        ),
        "image": image_schema(),
        "imagePullSecrets": S(type="array", items=STR),
        "serviceAccount": OBJ({"create": BOOL, "name": STR, "annotations": REF("stringMap")}, ["create"]),
        "podSecurityContext": OBJ(
            {"runAsUser": INT(1), "runAsGroup": INT(1), "fsGroup": INT(1)}, ["runAsUser", "runAsGroup", "fsGroup"]
        ),
        "podAnnotations": REF("stringMap"),
        "podLabels": REF("stringMap"),
        "nodeSelector": REF("stringMap"),
        "tolerations": S(type="array", items=S(type="object")),
        "affinity": S(type="object"),
        "priorityClassName": STR,
        "terminationGracePeriodSeconds": INT(1, 3600),
        "tmpVolumeSizeLimit": REF("quantity"),
        "services": OBJ(
            {
                "wallet": component(),
                "ledger": component(),
                "payment": component({"bankUrl": http_url}),
                "notification": component(
                    {"smtp": OBJ({"host": STR, "port": INT(1, 65535), "from": STR}, ["host", "port", "from"])}
                ),
                "rewards": component(),
                "identity": component(
                    {
                        "issuer": PAT(r"^https?://[^\s]+$"),
                        "audience": PAT(r"^[A-Za-z0-9._:/-]{1,200}$"),
                        "accessTokenTtlSeconds": INT(30, 3600),
                        "refreshTokenTtlSeconds": INT(300, 90 * 24 * 3600),
                        "keyOverlapSeconds": INT(60, 7 * 24 * 3600),
                        # At least the services' JWKS refresh bound (10 s): a verifier that fetched
                        # the key set just before a rotation may fetch it again by the time it signs.
                        "keyActivationDelaySeconds": INT(10, 3600),
                        "keyEncryption": OBJ(
                            {"existingSecret": STR, "existingSecretKey": PAT(r"^[-._a-zA-Z0-9]+$")},
                            ["existingSecret", "existingSecretKey"],
                        ),
                    }
                ),
                "banksim": component({"latencyMs": INT(0, 60000), "failureRatePercent": INT(0, 100)}, enabled=True),
                "reference": component({"refreshIntervalSeconds": INT(1, 86400)}, enabled=True),
            },
            ["wallet", "ledger", "payment", "notification", "rewards", "identity", "banksim", "reference"],
        ),
        "migrations": OBJ(
            {
                "enabled": BOOL,
                "installHook": ENUM("post-install", "pre-install"),
                "backoffLimit": INT(0, 100),
                "activeDeadlineSeconds": INT(60),
                "resources": REF("resources"),
            }
        ),
        "postgres": OBJ(
            {
                "create": BOOL,
                "clusterName": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
                "instances": INT(1, 9),
                "imageName": STR,
                "storage": REF("storage"),
                "resources": REF("resources"),
                "parameters": REF("stringMap"),
                "databases": OBJ(
                    {
                        s: REF("database")
                        for s in ["wallet", "ledger", "payment", "notification", "identity", "rewards"]
                    },
                    ["wallet", "ledger", "payment", "notification", "identity", "rewards"],
                ),
            },
            ["create"],
        ),
        "kafka": OBJ(
            {
                "create": BOOL,
                "name": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
                "version": PAT(r"^([0-9]+\.[0-9]+\.[0-9]+)?$"),
                "replicas": INT(1, 15),
                "storage": OBJ({"size": REF("quantity"), "storageClass": STR, "deleteClaim": BOOL}, ["size"]),
                "resources": REF("resources"),
                "bootstrapServers": PAT(r"^([^\s,]+:[0-9]+(,[^\s,]+:[0-9]+)*)?$"),
            },
            ["create"],
        ),
        "topics": OBJ(
            {
                "create": BOOL,
                "replicationFactor": INT(1, 32),
                "deletionPolicy": ENUM("Retain", "Delete"),
                "items": S(type="array", items=REF("topic")),
            },
            ["create"],
        ),
        "redis": OBJ(
            {
                "create": BOOL,
                "image": OBJ({"repository": STR, "tag": STR, "pullPolicy": ENUM("Always", "IfNotPresent", "Never")}),
                "storage": REF("storage"),
                "resources": REF("resources"),
                "external": OBJ(
                    {
                        "url": S(
                            type="string",
                            pattern=r"^(rediss?://.+)?$",
                            description="A redis:// or rediss:// URL, or empty.",
                        ),
                        "existingSecret": STR,
                        "existingSecretKey": STR,
                    }
                ),
            },
            ["create"],
        ),
        "ingress": OBJ(
            {
                "enabled": BOOL,
                "className": STR,
                "host": PAT(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
                "annotations": REF("stringMap"),
                "tlsSecretName": STR,
            },
            ["enabled"],
        ),
        "gateway": OBJ(
            {
                "enabled": BOOL,
                "parentRefs": S(
                    type="array",
                    minItems=1,
                    items=OBJ(
                        {
                            "name": STR,
                            "namespace": STR,
                            "sectionName": STR,
                            "group": STR,
                            "kind": STR,
                            "port": INT(1, 65535),
                        },
                        ["name"],
                    ),
                ),
                "hostnames": S(type="array", items=STR),
            },
            ["enabled"],
        ),
        "networkPolicy": OBJ(
            {
                "enabled": BOOL,
                "ingressControllerNamespaceSelector": REF("labelSelector"),
                "ingressControllerPodSelector": REF("labelSelector"),
                "prometheusNamespaceSelector": REF("labelSelector"),
                "prometheusPodSelector": REF("labelSelector"),
            },
            ["enabled"],
        ),
        "monitoring": OBJ(
            {
                "enabled": S(enum=["auto", True, False], description="auto, true or false."),
                "prometheusRelease": PAT(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
                "interval": PAT(r"^[0-9]+(ms|s|m|h)$"),
                "dashboards": BOOL,
                "rules": BOOL,
                "postgresPodMonitor": BOOL,
            },
            ["enabled"],
        ),
        "tests": OBJ(
            {
                "enabled": BOOL,
                "verify": OBJ(
                    {
                        "enabled": BOOL,
                        "staleAfterS": INT(1, 86400),
                        "existingSecret": STR,
                        "activeDeadlineSeconds": INT(60),
                        "resources": REF("resources"),
                    }
                ),
            }
        ),
    }
    return _document("Values of the ledgerline chart", props, definitions, CHARTS / "ledgerline")


def operator_schema() -> Schema:
    definitions: dict[str, Schema] = {
        "quantity": QUANTITY,
        "resourceList": OBJ({"cpu": REF("quantity"), "memory": REF("quantity"), "ephemeral-storage": REF("quantity")}),
        "stringMap": S(type="object", additionalProperties=STR),
        "ports": S(type="array", minItems=1, items=INT(1, 65535)),
        "labelSelector": label_selector(),
    }
    props: dict[str, Schema] = {
        "nameOverride": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
        "fullnameOverride": PAT(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
        "commonLabels": REF("stringMap"),
        "image": image_schema(),
        "imagePullSecrets": S(type="array", items=STR),
        "kafka": OBJ(
            {
                "bootstrapServers": S(
                    type="string",
                    minLength=1,
                    pattern=r"^[^\s,]+:[0-9]+(,[^\s,]+:[0-9]+)*$",
                    description="host:port[,host:port...]",
                )
            },
            ["bootstrapServers"],
        ),
        "environment": S(enum=["development", "test", "production"]),
        "logLevel": S(enum=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
        "verbose": BOOL,
        "peering": OBJ({"enabled": BOOL, "name": PAT(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")}, ["enabled"]),
        "extraEnv": S(
            type="array",
            items=OBJ(
                {"name": PAT(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"), "value": STR, "valueFrom": S(type="object")}, ["name"]
            ),
        ),
        "serviceAccount": OBJ({"create": BOOL, "name": STR, "annotations": REF("stringMap")}, ["create"]),
        "rbac": OBJ({"create": BOOL, "admissionWebhooks": BOOL}, ["create"]),
        "podSecurityContext": OBJ(
            {"runAsUser": INT(1), "runAsGroup": INT(1), "fsGroup": INT(1)}, ["runAsUser", "runAsGroup", "fsGroup"]
        ),
        "resources": OBJ({"requests": REF("resourceList"), "limits": REF("resourceList")}),
        "podAnnotations": REF("stringMap"),
        "podLabels": REF("stringMap"),
        "nodeSelector": REF("stringMap"),
        "tolerations": S(type="array", items=S(type="object")),
        "affinity": S(type="object"),
        "priorityClassName": STR,
        "networkPolicy": OBJ(
            {
                "enabled": BOOL,
                "apiServerPorts": REF("ports"),
                "kafkaPorts": REF("ports"),
                "prometheusNamespaceSelector": REF("labelSelector"),
                "prometheusPodSelector": REF("labelSelector"),
            },
            ["enabled"],
        ),
        "metrics": OBJ({"port": INT(1, 65535)}, ["port"]),
        "monitoring": OBJ(
            {
                "enabled": S(enum=["auto", True, False], description="auto, true or false."),
                "prometheusRelease": PAT(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
                "interval": PAT(r"^[0-9]+(ms|s|m|h)$"),
            },
            ["enabled"],
        ),
    }
    return _document("Values of the ledgerline-operator chart", props, definitions, CHARTS / "ledgerline-operator")


def _document(title: str, props: dict[str, Schema], definitions: dict[str, Schema], chart: Path) -> Schema:
    schema: Schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "definitions": definitions,
    }
    # Copy first: helpers such as BOOL are shared objects, and each node needs its own description.
    schema = json.loads(json.dumps(schema))
    docs = dict(re.findall(r"## @param (\S+) (.+)", (chart / "values.yaml").read_text()))

    def attach(node: Schema, path: str) -> None:
        # Draft 7 ignores keywords beside $ref, so referenced nodes keep their shared description.
        if "$ref" in node:
            return
        if path in docs and "description" not in node:
            node["description"] = docs[path]
        for key, child in node.get("properties", {}).items():
            attach(child, f"{path}.{key}" if path else key)

    attach(schema, "")
    return schema


GENERATED = {
    CHARTS / "ledgerline" / "values.schema.json": ledgerline_schema,
    CHARTS / "ledgerline-operator" / "values.schema.json": operator_schema,
}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main() -> None:
    for path, build in GENERATED.items():
        path.write_text(render(build()))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
