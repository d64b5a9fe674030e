"""The Dockerfile builds the documented targets from a context that .dockerignore keeps to what it
copies, runs as a non-root user, and the kind bootstrap script and its Helm values are coherent
with the charts (names, labels, namespaces)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from tests.k8s import charts

ROOT = charts.REPO_ROOT
DOCKERFILE = ROOT / "docker" / "Dockerfile"
K8S = ROOT / "k8s"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, rest in _instructions():
        if keyword == "FROM":
            current = rest.split(" AS ")[-1].strip()
            stages[current] = []
        elif current is not None:
            stages[current].append((keyword, rest))
    return stages


def test_targets_run_as_non_root_with_the_contract_commands() -> None:
    stages = _stages()
    assert {"services", "operator"} <= set(stages)
    froms = [rest for keyword, rest in _instructions() if keyword == "FROM"]
    assert froms[0].startswith("python:3.11-slim"), "the base is slim CPython 3.11"
    for target, entrypoint in (("services", '["ledgerline"]'), ("operator", '["kopf"]')):
        instructions = dict(stages[target])
        assert instructions["USER"] == "10001:10001"
        assert instructions["ENTRYPOINT"] == entrypoint
    assert dict(stages["operator"])["CMD"].startswith('["run", "-m", "ledgerline_operator.main", "--all-namespaces"')
    assert "serve" in dict(stages["services"])["CMD"]
    # The runtime images copy only the built virtualenvs, never sources or build tools.
    for target in ("services", "operator"):
        copies = [rest for keyword, rest in stages[target] if keyword == "COPY"]
        assert copies and all(c.startswith("--from=build ") for c in copies)


def test_no_secrets_in_layers() -> None:
    for keyword, rest in _instructions():
        assert keyword not in ("ARG", "ENV") or not re.search(r"(?i)(password|secret|token|api_key)", rest)
        assert "--mount=type=secret" not in rest


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    assert patterns[0] == "*", "start from an empty context"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    sources = []
    for keyword, rest in _instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            sources += rest.split()[:-1]
    for source in sources:
        assert any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in allowed), source
    for secret_like in ("**/.env", "**/*.pem", "**/*.key"):
        assert secret_like in patterns


def test_the_build_context_holds_an_installable_project() -> None:
    """What the build stage copies is enough for `pip install .`: the project metadata, every
    package directory it declares and the console script the charts run."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["ledgerline"]
    build = _stages()["build"]
    copied = {rest.split()[0].rstrip("/") for keyword, rest in build if keyword == "COPY"}
    for where in project["tool"]["setuptools"]["packages"]["find"]["where"]:
        assert where in copied, f"pyproject.toml finds packages in {where}/, which the build does not copy"
        assert (ROOT / where).is_dir()
    assert (ROOT / "services" / "ledgerline" / "__init__.py").exists()
    readme = project["project"].get("readme")
    if isinstance(readme, str):
        assert fnmatch.fnmatch(readme, "README*"), "the Dockerfile copies README* for the readme"
    run = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "pip install ." in run and "ledgerline --help" in run
    assert "import kopf, ledgerline_operator" in dict(_stages()["operator"])["RUN"]


def test_bootstrap_script_is_valid_shell() -> None:
    script = K8S / "bootstrap-kind.sh"
    assert script.stat().st_mode & 0o111, "the script must be executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_bootstrap_installs_what_the_charts_expect() -> None:
    script = (K8S / "bootstrap-kind.sh").read_text()
    assert "kind create cluster" in script and "kind-config.yaml" in script
    assert "skaffold run -p dev" in script
    for chart in (
        "strimzi/strimzi-kafka-operator",
        "cnpg/cloudnative-pg",
        "prometheus-community/kube-prometheus-stack",
    ):
        assert chart in script
    # Prometheus selects monitors by the release name the ledgerline chart labels them with.
    release = yaml.safe_load((charts.APP_CHART / "values.yaml").read_text())["monitoring"]["prometheusRelease"]
    assert f"helm upgrade --install {release} prometheus-community/kube-prometheus-stack" in script
    namespaces = {d["metadata"]["name"] for d in yaml.safe_load_all((K8S / "namespaces.yaml").read_text())}
    assert {"ledgerline", "ledgerline-system", "strimzi", "cnpg-system", "monitoring"} <= namespaces
    for namespace in re.findall(r"--namespace (\S+)", script):
        assert namespace in namespaces or "--create-namespace" in script


def test_monitoring_values_pick_up_ledgerline_objects() -> None:
    values = yaml.safe_load((K8S / "kube-prometheus-stack-values.yaml").read_text())
    spec = values["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is True, "select by the release label"
        assert spec[f"{kind}NamespaceSelector"] == {}, "an empty selector means every namespace"
    dashboards = values["grafana"]["sidecar"]["dashboards"]
    assert (dashboards["label"], dashboards["labelValue"], dashboards["searchNamespace"]) == (
        "grafana_dashboard",
        "1",
        "ALL",
    )
    assert yaml.safe_load((K8S / "strimzi-values.yaml").read_text())["watchAnyNamespace"] is True


def test_dev_wiring_between_the_two_charts() -> None:
    """The operator's default Kafka address is the bootstrap Service of the Kafka the ledgerline
    chart creates for release "ledgerline" in namespace "ledgerline" (skaffold's names)."""
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    releases = {r["name"]: r for r in skaffold["deploy"]["helm"]["releases"]}
    assert releases["ledgerline"]["namespace"] == "ledgerline"
    operator_values = yaml.safe_load((charts.OPERATOR_CHART / "values.yaml").read_text())
    assert operator_values["kafka"]["bootstrapServers"] == "ledgerline-kafka-bootstrap.ledgerline.svc:9092"
    assert (
        releases["ledgerline-operator"]["setValues"]["kafka.bootstrapServers"]
        == operator_values["kafka"]["bootstrapServers"]
    )
