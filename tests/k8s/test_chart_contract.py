"""The rendered charts keep the platform's packaging contract: recommended labels, hardened pods,
probes, per-service wiring, Kafka/PostgreSQL sizing per environment, topics, monitoring gating,
network flows and the operator's least-privilege RBAC."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from helm_python import _native

from tests.k8s import charts
from tests.k8s.conftest import RenderCache, find, one

RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
SERVICES = ("wallet", "ledger", "payment", "notification", "identity", "rewards")
COMPONENTS = (*SERVICES, "banksim", "reference")
# The services that call other services, each with its own client credentials.
CLIENT_SERVICES = ("payment", "ledger", "notification", "rewards")
TOPICS = (
    "ledgerline.wallet.commands.v1",
    "ledgerline.wallet.events.v1",
    "ledgerline.ledger.commands.v1",
    "ledgerline.ledger.events.v1",
    "ledgerline.payment.commands.v1",
    "ledgerline.payment.events.v1",
    "ledgerline.notification.deliveries.v1",
    "ledgerline.identity.events.v1",
)


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _container(items: list[charts.Manifest], kind: str, name: str) -> dict[str, Any]:
    container: dict[str, Any] = one(items, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return container


def test_every_object_has_the_recommended_labels(value_set: charts.ValueSet, render_cache: RenderCache) -> None:
    for m in render_cache.manifests(value_set):
        labels = m.obj["metadata"].get("labels") or {}
        assert [k for k in RECOMMENDED if not labels.get(k)] == [], m
        assert labels["app.kubernetes.io/part-of"] == "ledgerline"
        if m.kind not in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"):
            assert m.obj["metadata"].get("namespace") == value_set.namespace, f"{m} has no namespace"


def test_every_pod_is_hardened(value_set: charts.ValueSet, render_cache: RenderCache) -> None:
    for m, spec in charts.pod_specs(render_cache.manifests(value_set)):
        assert spec["securityContext"]["runAsNonRoot"] is True, m
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, m
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], f"{m} has no /tmp emptyDir"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, m
            assert context["readOnlyRootFilesystem"] is True, m
            assert context["capabilities"] == {"drop": ["ALL"]}, m
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, m
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], m
            assert container["resources"]["requests"] and container["resources"]["limits"], m


def test_services_are_deployed_with_probes_and_commands(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["defaults"]
    for c in COMPONENTS:
        container = _container(items, "Deployment", f"ledgerline-{c}")
        assert container["command"] == ["ledgerline"]
        assert container["args"] == ["serve", c, "--host", "0.0.0.0", "--port", "8080"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["ports"] == [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ]
        spec = one(items, "Deployment", f"ledgerline-{c}")["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False


def test_metrics_are_served_scraped_and_open_to_prometheus_on_their_own_port(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    items = app_by_name["all-optional"]
    for c in COMPONENTS:
        assert _env(_container(items, "Deployment", f"ledgerline-{c}"))["LEDGERLINE_METRICS_PORT"]["value"] == "9090"
        ports = one(items, "Service", f"ledgerline-{c}")["spec"]["ports"]
        assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in ports
        (endpoint,) = one(items, "ServiceMonitor", f"ledgerline-{c}")["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
        rules = one(items, "NetworkPolicy", f"ledgerline-{c}")["spec"]["ingress"]
        # The rule whose peers select pods in other namespaces by Prometheus's labels.
        prometheus = [r for r in rules if any("prometheus" in json.dumps(peer) for peer in r["from"])]
        assert [r["ports"] for r in prometheus] == [[{"port": 9090, "protocol": "TCP"}]], c
        assert all(p["port"] == 8080 for r in rules if r not in prometheus for p in r["ports"]), c


def test_service_environment_follows_the_contract(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["defaults"]
    config = one(items, "ConfigMap", "ledgerline-env")["data"]
    assert config["LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS"] == "ledgerline-kafka-bootstrap:9092"
    assert config["LEDGERLINE_ENVIRONMENT"] == "production"
    for service in SERVICES:
        env = _env(_container(items, "Deployment", f"ledgerline-{service}"))
        url = env[f"LEDGERLINE_{service.upper()}_DATABASE_URL"]
        if service == "wallet":
            assert url["valueFrom"]["secretKeyRef"] == {"name": "ledgerline-pg-app", "key": "uri"}
        else:
            upper = service.upper()
            assert (
                url["value"]
                == f"postgresql://$(PG_{upper}_USER):$(PG_{upper}_PASSWORD)@ledgerline-pg-rw:5432/{service}"
            )
            names = list(env)
            assert names.index(f"PG_{upper}_PASSWORD") < names.index(f"LEDGERLINE_{upper}_DATABASE_URL"), (
                "$(VAR) expansion needs the variable defined first"
            )
        assert env["LEDGERLINE_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@ledgerline-redis:6379/0"
    payment = _env(_container(items, "Deployment", "ledgerline-payment"))
    assert payment["LEDGERLINE_PAYMENT_WALLET_URL"]["value"] == "http://ledgerline-wallet:8080"
    assert payment["LEDGERLINE_PAYMENT_BANK_URL"]["value"] == "http://ledgerline-banksim:8080"
    ledger = _env(_container(items, "Deployment", "ledgerline-ledger"))
    assert ledger["LEDGERLINE_LEDGER_WALLET_URL"]["value"] == "http://ledgerline-wallet:8080"
    banksim = _env(_container(items, "Deployment", "ledgerline-banksim"))
    assert {"LEDGERLINE_BANKSIM_LATENCY_MS", "LEDGERLINE_BANKSIM_FAILURE_RATE_PERCENT"} <= set(banksim)
    notification = _env(_container(items, "Deployment", "ledgerline-notification"))
    assert {f"LEDGERLINE_NOTIFICATION_SMTP_{k}" for k in ("HOST", "PORT", "FROM")} <= set(notification)
    identity = _env(_container(items, "Deployment", "ledgerline-identity"))
    assert identity["LEDGERLINE_IDENTITY_KEY_ENCRYPTION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "ledgerline-identity-keys",
        "key": "key-encryption-secret",
    }
    assert identity["LEDGERLINE_IDENTITY_ACCESS_TOKEN_TTL_S"]["value"] == "300"
    assert identity["LEDGERLINE_IDENTITY_KEY_OVERLAP_S"]["value"] == "900"


def test_identity_key_encryption_secret_is_generated_once_and_kept(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    secret = one(app_by_name["defaults"], "Secret", "ledgerline-identity-keys")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(secret["stringData"]["key-encryption-secret"]) == 32
    assert not find(app_by_name["external"], "Secret", "ledgerline-identity-keys"), "the user's Secret is used"
    job = one(app_by_name["external"], "Job", "ledgerline-migrations")
    env = _env(job["spec"]["template"]["spec"]["containers"][0])
    assert env["LEDGERLINE_IDENTITY_KEY_ENCRYPTION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "identity-keys",
        "key": "secret",
    }


def test_migrations_hook_runs_migrate_all_with_every_database(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    for name, hooks in (("defaults", "post-install,pre-upgrade"), ("external", "pre-install,pre-upgrade")):
        job = one(app_by_name[name], "Job", "ledgerline-migrations")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == hooks
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate", "all", "--service-clients"]
        env = _env(container)
        assert {f"LEDGERLINE_{s.upper()}_DATABASE_URL" for s in SERVICES} <= set(env)
        assert {f"LEDGERLINE_{s.upper()}_CLIENT_SECRET" for s in CLIENT_SERVICES} <= set(env)


def test_services_verify_tokens_and_call_each_other_with_their_own_clients(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    items = app_by_name["defaults"]
    config = one(items, "ConfigMap", "ledgerline-env")["data"]
    assert config["LEDGERLINE_AUTH_IDENTITY_URL"] == "http://ledgerline-identity:8080"
    assert config["LEDGERLINE_AUTH_AUDIENCE"] == "ledgerline-api"
    secret = one(items, "Secret", "ledgerline-service-clients")["stringData"]
    assert set(secret) == set(CLIENT_SERVICES) and all(len(value) == 32 for value in secret.values())
    for service in CLIENT_SERVICES:
        env = _env(_container(items, "Deployment", f"ledgerline-{service}"))
        upper = service.upper()
        assert env[f"LEDGERLINE_{upper}_CLIENT_ID"]["value"] == f"{service}-service"
        assert env[f"LEDGERLINE_{upper}_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": "ledgerline-service-clients",
            "key": service,
        }
    notification = _env(_container(items, "Deployment", "ledgerline-notification"))
    assert notification["LEDGERLINE_NOTIFICATION_WALLET_URL"]["value"] == "http://ledgerline-wallet:8080"
    rewards = _env(_container(items, "Deployment", "ledgerline-rewards"))
    assert rewards["LEDGERLINE_REWARDS_WALLET_URL"]["value"] == "http://ledgerline-wallet:8080"
    assert rewards["LEDGERLINE_REWARDS_PAYMENT_URL"]["value"] == "http://ledgerline-payment:8080"


def test_postgres_cluster_has_one_database_and_role_per_service(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["defaults"]
    cluster = one(items, "Cluster", "ledgerline-pg")["spec"]
    assert cluster["bootstrap"]["initdb"] == {"database": "wallet", "owner": "wallet"}
    assert cluster["enableSuperuserAccess"] is False
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    assert set(roles) == {"ledger", "payment", "notification", "identity", "rewards", "verifier"}
    for service in sorted(set(roles) - {"verifier"}):
        secret = one(items, "Secret", f"ledgerline-db-{service}")
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert secret["stringData"]["username"] == service
        assert len(secret["stringData"]["password"]) == 32
        assert roles[service]["passwordSecret"]["name"] == f"ledgerline-db-{service}"
        database = one(items, "Database", f"ledgerline-pg-{service}")["spec"]
        assert (database["name"], database["owner"]) == (service, service)
    assert one(app_by_name["dev"], "Cluster", "ledgerline-pg")["spec"]["instances"] == 1
    assert one(app_by_name["production"], "Cluster", "ledgerline-pg")["spec"]["instances"] == 3


def test_kafka_is_kraft_with_a_dual_role_pool(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    for name, nodes, replication in (("dev", 1, 1), ("production", 3, 3)):
        items = app_by_name[name]
        pool = one(items, "KafkaNodePool", "dual-role")
        assert pool["apiVersion"] == "kafka.strimzi.io/v1"
        assert pool["spec"]["roles"] == ["controller", "broker"]
        assert pool["spec"]["replicas"] == nodes
        kafka = one(items, "Kafka", "ledgerline")
        assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
        assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == replication
        assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == max(1, replication - 1)
    assert not find(app_by_name["external"], "Kafka")


def test_every_platform_topic_has_a_topic_resource(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    topics = {m.obj["spec"]["topicName"]: m.obj["spec"] for m in find(app_by_name["defaults"], "LedgerlineTopic")}
    assert set(topics) == set(TOPICS)
    for name, spec in topics.items():
        assert spec["partitions"] == 6 and spec["deadLetter"] == {"enabled": True}
        assert ("retry" in spec) == (name == "ledgerline.notification.deliveries.v1")
    assert topics["ledgerline.notification.deliveries.v1"]["retry"] == {"delaysSeconds": [5, 30, 120]}
    production = find(app_by_name["production"], "LedgerlineTopic")
    assert {m.obj["spec"]["replicationFactor"] for m in production} == {3}


def test_production_scales_and_protects_the_services(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["production"]
    for service in SERVICES:
        hpa = one(items, "HorizontalPodAutoscaler", f"ledgerline-{service}")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
        assert "replicas" not in one(items, "Deployment", f"ledgerline-{service}")["spec"]
        assert one(items, "PodDisruptionBudget", f"ledgerline-{service}")["spec"]["minAvailable"] == 2
    dev = app_by_name["dev"]
    assert {one(dev, "Deployment", f"ledgerline-{c}")["spec"]["replicas"] for c in COMPONENTS} == {1}
    assert not find(dev, "PodDisruptionBudget") and not find(dev, "HorizontalPodAutoscaler")


def test_monitoring_objects_follow_the_capabilities(render_cache: RenderCache) -> None:
    defaults = charts.APP_VALUE_SETS[0]
    without = charts.manifests(charts.render(defaults.chart, defaults.values()))
    assert not {"ServiceMonitor", "PrometheusRule", "PodMonitor"} & {m.kind for m in without}
    with_crds = charts.manifests(
        charts.render(defaults.chart, defaults.values(), api_versions=(charts.MONITORING_API,))
    )
    monitors = find(with_crds, "ServiceMonitor")
    assert {m.name for m in monitors} == {f"ledgerline-{c}" for c in COMPONENTS}
    for kind in ("ServiceMonitor", "PrometheusRule", "PodMonitor"):
        for m in find(with_crds, kind):
            assert m.obj["metadata"]["labels"]["release"] == "kube-prometheus-stack", m
    dashboards = [
        m for m in find(with_crds, "ConfigMap") if m.obj["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == len(charts.DASHBOARD_FILES)
    forced_off = charts.render(
        defaults.chart, {"monitoring": {"enabled": False}}, api_versions=(charts.MONITORING_API,)
    )
    assert not find(charts.manifests(forced_off), "ServiceMonitor")
    release = charts.render(defaults.chart, {"monitoring": {"enabled": True, "prometheusRelease": "kps"}})
    assert {m.obj["metadata"]["labels"]["release"] for m in find(charts.manifests(release), "ServiceMonitor")} == {
        "kps"
    }


def test_rules_and_dashboards_are_the_observability_files(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    """The PrometheusRule and the dashboard ConfigMaps carry observability/ verbatim, read through
    the chart's symlink; whether their metrics exist is tests/observability's job."""
    rule = find(app_by_name["production"], "PrometheusRule")[0].obj
    assert rule["spec"] == yaml.safe_load(charts.RULES_FILE.read_text())
    # Prometheus placeholders survive Helm templating.
    assert "{{ $labels.service }}" in json.dumps(rule)
    dashboards = {
        key: text
        for m in find(app_by_name["production"], "ConfigMap")
        if m.obj["metadata"]["labels"].get("grafana_dashboard") == "1"
        for key, text in m.obj["data"].items()
    }
    files = {path.name: path.read_text() for path in charts.DASHBOARD_FILES}
    assert files, f"no dashboards in {charts.OBSERVABILITY}"
    assert dashboards == {name: text.rstrip("\n") for name, text in files.items()}


def test_the_packaged_chart_carries_the_observability_files(tmp_path: Path) -> None:
    """`helm package` follows the symlink: the archive holds real copies of the rules and
    dashboards (and not their promtool tests), and a chart loaded from it renders them."""
    archive = Path(helm_python.package(charts.APP_CHART, destination=tmp_path))
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        rules = members["ledgerline/observability/rules/ledgerline.rules.yml"]
        assert rules.isfile()
        extracted = tar.extractfile(rules)
        assert extracted is not None and extracted.read().decode() == charts.RULES_FILE.read_text()
        for path in charts.DASHBOARD_FILES:
            assert members[f"ledgerline/observability/dashboards/{path.name}"].isfile()
        assert not [name for name in members if "/observability/tests/" in name]
    loaded = helm_python.Chart.load_archive(archive.read_bytes())
    payload = _native.call_string(
        "helm_render",
        loaded._raw(),
        json.dumps({"monitoring": {"enabled": True}}),
        json.dumps({"name": charts.RELEASE, "namespace": charts.NAMESPACE, "kube_version": charts.KUBE_VERSION}),
    )
    rendered = charts.manifests(json.loads(payload))
    assert find(rendered, "PrometheusRule")[0].obj["spec"] == yaml.safe_load(charts.RULES_FILE.read_text())


def test_network_policies_allow_exactly_the_contract_flows(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["all-optional"]

    def callers(component: str) -> set[str]:
        policy = one(items, "NetworkPolicy", f"ledgerline-{component}")["spec"]
        found = set()
        for rule in policy["ingress"]:
            for peer in rule["from"]:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if "namespaceSelector" in peer:
                    found.add(f"namespace:{peer['namespaceSelector']} pods:{peer.get('podSelector')}")
                elif set(peer) == {"podSelector"} and "app.kubernetes.io/component" in labels:
                    found.add(labels["app.kubernetes.io/component"])
                else:  # Anything else (every pod, an address block) is a flow the contract lacks.
                    found.add(f"other:{peer}")
        return found

    def egress_ports(component: str) -> set[int]:
        policy = one(items, "NetworkPolicy", f"ledgerline-{component}")["spec"]
        return {p["port"] for rule in policy["egress"] for p in rule.get("ports", [])}

    def pod_callers(component: str) -> set[str]:
        return {c for c in callers(component) if not c.startswith("namespace:")}

    # Only the platform's own pods call a service directly (the helm test Pod checks /readyz):
    # payment checks wallets; ledger, notification and rewards learn who owns one before using
    # it; rewards and clawbacks are payments the rewards service asks for; the wallet service asks
    # what became of a payment before an operator releases its hold; every service fetches the
    # JWKS; the API reference reads every routed service's document. Everyone else comes through
    # the ingress controller (or is Prometheus).
    assert {component: pod_callers(component) for component in COMPONENTS} == {
        "wallet": {"payment", "ledger", "notification", "rewards", "helm-test", "reference"},
        "ledger": {"helm-test", "reference"},
        "payment": {"rewards", "wallet", "helm-test", "reference"},
        "notification": {"helm-test", "reference"},
        "identity": {"wallet", "ledger", "payment", "notification", "rewards", "helm-test", "reference"},
        "rewards": {"helm-test", "reference"},
        "banksim": {"payment", "helm-test", "reference"},
        "reference": {"helm-test"},
    }
    # In another namespace, only the ingress controller's pods and Prometheus's, each by both selectors.
    namespaces = {component: callers(component) - pod_callers(component) for component in COMPONENTS}
    assert all(len(peers) == 2 and "pods:None" not in str(peers) for peers in namespaces.values()), namespaces
    assert len(set(map(frozenset, namespaces.values()))) == 1, namespaces
    for service in SERVICES:
        assert {53, 9092, 5432, 6379} <= egress_ports(service)
    assert {443, 80, 587, 25, 2525} <= egress_ports("notification")
    assert all(8080 in egress_ports(caller) for caller in ("payment", "ledger", "notification", "rewards", "wallet"))
    assert egress_ports("banksim") == {53, 4317, 4318}
    assert 9092 not in egress_ports("banksim")
    # The API reference reads documents over HTTP and touches no database, broker or cache.
    assert egress_ports("reference") == {53, 8080, 4317, 4318}
    assert all("reference" in callers(service) for service in SERVICES)
    assert any(c.startswith("namespace:") for c in callers("reference")), "the ingress controller reaches it"


def test_ingress_and_httproute_route_each_api_prefix(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["all-optional"]
    ingress = one(items, "Ingress", "ledgerline")["spec"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["rules"][0]["http"]["paths"]}
    assert paths["/v1/transfers"] == "ledgerline-payment"
    assert paths["/v1/wallets"] == "ledgerline-wallet"
    assert paths["/v1/accounts"] == "ledgerline-ledger"
    assert paths["/v1/webhooks"] == "ledgerline-notification"
    route = one(items, "HTTPRoute", "ledgerline")["spec"]
    routed = {m["path"]["value"]: r["backendRefs"][0]["name"] for r in route["rules"] for m in r["matches"]}
    assert {k: v for k, v in routed.items() if k in paths} == {k: v for k, v in paths.items() if k in routed}
    assert not find(app_by_name["defaults"], "Ingress") and not find(app_by_name["defaults"], "HTTPRoute")


def test_the_api_reference_is_served_at_the_entry_point(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["all-optional"]
    ingress = one(items, "Ingress", "ledgerline")["spec"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["rules"][0]["http"]["paths"]}
    route = one(items, "HTTPRoute", "ledgerline")["spec"]
    routed = {m["path"]["value"]: r["backendRefs"][0]["name"] for r in route["rules"] for m in r["matches"]}
    for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets"):
        assert paths[path] == routed[path] == "ledgerline-reference"
    env = _env(_container(items, "Deployment", "ledgerline-reference"))
    services = json.loads(env["LEDGERLINE_REFERENCE_SERVICES"]["value"])
    # Every service with public routes, by its Service name, with the prefixes the entry point routes.
    assert set(services) == {*SERVICES, "banksim"}
    payment_routes = [path for path, name in paths.items() if name == "ledgerline-payment"]
    assert services["payment"] == {"url": "http://ledgerline-payment:8080", "routes": payment_routes}
    assert env["LEDGERLINE_REFERENCE_REFRESH_INTERVAL_S"]["value"] == "300"
    off = charts.manifests(
        charts.render_value_set(
            charts.ValueSet(
                charts.APP_CHART,
                "no-reference",
                overrides={"ingress": {"enabled": True}, "services": {"reference": {"enabled": False}}},
            )
        )
    )
    assert not find(off, "Deployment", "ledgerline-reference")
    ingress_off = one(off, "Ingress", "ledgerline")["spec"]
    assert "/docs" not in {p["path"] for p in ingress_off["rules"][0]["http"]["paths"]}


def test_helm_test_pod_checks_every_readyz(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    pod = one(app_by_name["defaults"], "Pod", "ledgerline-test-readyz")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    urls = pod["spec"]["containers"][0]["args"][1:]
    assert urls == [f"http://ledgerline-{c}:8080/readyz" for c in COMPONENTS]


VERIFIED_DATABASES = ("wallet", "ledger", "payment")


def _verify_job(items: list[charts.Manifest]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    job = one(items, "Job", "ledgerline-test-verify")
    container = job["spec"]["template"]["spec"]["containers"][0]
    return job, _env(container)


def test_helm_test_job_moves_money_then_verifies_with_a_read_only_role(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    items = app_by_name["defaults"]
    job, env = _verify_job(items)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert job["spec"]["backoffLimit"] == 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["ledgerline"]
    assert container["args"][:2] == ["verify", "--move-money"]
    # The test customer registers at the identity service and moves only its own money: the Job
    # carries no client secret, no admin credential.
    for service in (*VERIFIED_DATABASES, "identity"):
        assert env[f"LEDGERLINE_VERIFY_{service.upper()}_URL"]["value"] == f"http://ledgerline-{service}:8080"
    assert not [name for name in env if "CLIENT" in name or "SECRET" in name], sorted(env)
    for service in VERIFIED_DATABASES:
        url = env[f"LEDGERLINE_{service.upper()}_DATABASE_URL"]["value"]
        assert url == f"postgresql://$(PG_VERIFIER_USER):$(PG_VERIFIER_PASSWORD)@ledgerline-pg-rw:5432/{service}"
    assert env["PG_VERIFIER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "ledgerline-db-verifier"
    roles = {r["name"]: r for r in one(items, "Cluster", "ledgerline-pg")["spec"]["managed"]["roles"]}
    assert roles["verifier"]["inRoles"] == ["pg_read_all_data"]
    assert roles["verifier"]["passwordSecret"]["name"] == "ledgerline-db-verifier"
    assert one(items, "Secret", "ledgerline-db-verifier")["stringData"]["username"] == "verifier"


def test_helm_test_job_reads_a_given_read_only_secret_or_the_services_own_urls(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    _, external = _verify_job(app_by_name["external"])
    for service in VERIFIED_DATABASES:
        ref = external[f"LEDGERLINE_{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"{service}-db", "key": "uri"}
    given = charts.manifests(charts.render(charts.APP_CHART, {"tests": {"verify": {"existingSecret": "verify-ro"}}}))
    _, env = _verify_job(given)
    for service in VERIFIED_DATABASES:
        ref = env[f"LEDGERLINE_{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "verify-ro", "key": f"{service}-database-url"}
    roles = {r["name"] for r in one(given, "Cluster", "ledgerline-pg")["spec"]["managed"]["roles"]}
    assert "verifier" not in roles and not find(given, "Secret", "ledgerline-db-verifier")
    off = charts.manifests(charts.render(charts.APP_CHART, {"tests": {"verify": {"enabled": False}}}))
    assert not find(off, "Job", "ledgerline-test-verify")


def test_helm_test_job_may_reach_the_services_and_postgres_only(
    app_by_name: dict[str, list[charts.Manifest]],
) -> None:
    policy = one(app_by_name["all-optional"], "NetworkPolicy", "ledgerline-test-verify")["spec"]
    assert policy["podSelector"]["matchLabels"]["ledgerline.io/helm-test"] == "verify"
    assert policy["ingress"] == []
    assert {p["port"] for rule in policy["egress"] for p in rule["ports"]} == {53, 8080, 5432}


def test_redis_is_persistent_and_password_protected(app_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = app_by_name["defaults"]
    redis = one(items, "StatefulSet", "ledgerline-redis")["spec"]
    assert redis["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "--requirepass" in redis["template"]["spec"]["containers"][0]["args"]
    assert not find(app_by_name["external"], "StatefulSet")


def test_operator_deployment_follows_kopf_rules(operator_by_name: dict[str, list[charts.Manifest]]) -> None:
    items = operator_by_name["defaults"]
    deployment = one(items, "Deployment", "ledgerline-operator")["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    container = deployment["template"]["spec"]["containers"][0]
    assert container["command"] == ["kopf"]
    assert container["args"][:4] == ["run", "-m", "ledgerline_operator.main", "--all-namespaces"]
    assert "--peering=ledgerline-operator" in container["args"]
    assert (
        _env(container)["LEDGERLINE_KAFKA_BOOTSTRAP_SERVERS"]["value"]
        == "ledgerline-kafka-bootstrap.ledgerline.svc:9092"
    )
    standalone = one(operator_by_name["standalone"], "Deployment", "ledgerline-operator")
    assert "--standalone" in standalone["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not find(operator_by_name["standalone"], "ClusterKopfPeering")


def test_the_operator_metrics_port_is_served_scraped_and_open_to_prometheus_only(
    operator_by_name: dict[str, list[charts.Manifest]],
) -> None:
    items = operator_by_name["all-optional"]
    container = one(items, "Deployment", "ll-operator")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in container["ports"]
    env = _env(container)
    assert (env["LEDGERLINE_OPERATOR_METRICS_HOST"]["value"], env["LEDGERLINE_OPERATOR_METRICS_PORT"]["value"]) == (
        "0.0.0.0",
        "9100",
    )
    monitor = one(items, "PodMonitor", "ll-operator")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    selector = one(items, "Deployment", "ll-operator")["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["selector"]["matchLabels"] == selector
    (ingress,) = one(items, "NetworkPolicy", "ll-operator")["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 9100, "protocol": "TCP"}]
    assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "observability"}
    # Without the Prometheus Operator's API (auto), there is nothing to apply that would fail.
    assert not find(operator_by_name["defaults"], "PodMonitor")


def _rules(items: list[charts.Manifest]) -> set[tuple[str, str, str]]:
    rules = set()
    for m in items:
        if m.kind in ("ClusterRole", "Role"):
            for rule in m.obj["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            rules.add((group, resource, verb))
    return rules


@pytest.mark.parametrize("webhooks", [False, True])
def test_operator_rbac_is_least_privilege(webhooks: bool) -> None:
    items = charts.manifests(
        charts.render(charts.OPERATOR_CHART, {"rbac": {"create": True, "admissionWebhooks": webhooks}})
    )
    expected = {("kopf.dev", "clusterkopfpeerings", v) for v in ("list", "watch", "patch", "get")}
    expected |= {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
    expected |= {("", "namespaces", v) for v in ("list", "watch")}
    expected |= {("", "events", "create")}
    for resource in ("ledgerlinetopics", "deadletterreplays"):
        expected |= {("ledgerline.io", resource, v) for v in ("get", "list", "watch", "patch")}
        expected |= {("ledgerline.io", f"{resource}/status", v) for v in ("get", "patch")}
    if webhooks:
        for resource in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
            expected |= {("admissionregistration.k8s.io", resource, v) for v in ("create", "patch")}
    assert _rules(items) == expected
    assert all("*" not in rule for rule in _rules(items))
