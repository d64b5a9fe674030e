"""kind-config.yaml passes kind's own decoder and validator, skaffold.yaml (with each profile's
patches applied) passes skaffold's published JSON schema, and both point at files that exist."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
import pytest
import yaml

from tests.k8s import charts, toolchain

# The first run compiles kind (about 1.5 minutes on two cores with a cold Go cache) and downloads
# skaffold's module for its schema.
pytestmark = [pytest.mark.needs_go, pytest.mark.timeout(900)]

KIND_CONFIG = charts.REPO_ROOT / "kind-config.yaml"
SKAFFOLD_CONFIG = charts.REPO_ROOT / "skaffold.yaml"
STUB_MARKER = "LEDGERLINE-STUB-RUNTIME"
# kind checks its container runtime before it validates a config, so the test gives it a stub
# `docker` that answers `info`/`ps` like an empty engine, claims every image is present (so kind
# does not retry pulls) and refuses everything else. kind then decodes, defaults and validates
# the config and stops at its first real container operation.
STUB_INFO = (
    '{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,'
    '"CPUShares":true,"SecurityOptions":["name=seccomp"],"Rootless":false}'
)
STUB_DOCKER = f"""#!/bin/sh
case "$1" in
  info) echo '{STUB_INFO}' ;;
  ps) exit 0 ;;
  inspect) exit 0 ;;
  *) echo "{STUB_MARKER}: refusing 'docker $*'" >&2; exit 1 ;;
esac
"""


def _tool(build: Any) -> Path:
    try:
        return Path(build())
    except toolchain.ToolUnavailable as error:
        pytest.skip(str(error))


def _kind_create(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    stub_dir = tmp_path / "stub-bin"
    stub_dir.mkdir(exist_ok=True)
    stub = stub_dir / "docker"
    stub.write_text(STUB_DOCKER)
    stub.chmod(0o755)
    env = {
        # Only the stub is on PATH: no real container engine can be reached, whatever the machine.
        "PATH": str(stub_dir),
        "HOME": str(tmp_path),
        "KIND_EXPERIMENTAL_PROVIDER": "docker",
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
    }
    return subprocess.run(
        [str(_tool(toolchain.kind)), "create", "cluster", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_kind_accepts_the_config(tmp_path: Path) -> None:
    result = _kind_create(KIND_CONFIG, tmp_path)
    output = result.stdout + result.stderr
    # Getting as far as the stub's refusal means decoding and validation passed.
    assert STUB_MARKER in output, output
    assert "invalid configuration" not in output and "unable to decode config" not in output


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda c: c["nodes"][0].update(role="controlplane"), "is not a valid node role"),
        (lambda c: c["nodes"][0]["extraPortMappings"][0].update(containerPort=99999), "invalid port number"),
        (lambda c: c["nodes"][0].update(labels={"ingress-ready": "true"}, extraMounts="x"), "unable to decode config"),
    ],
    ids=["bad role", "bad port", "bad field type"],
)
def test_kind_rejects_broken_configs(tmp_path: Path, mutation: Any, expected: str) -> None:
    """The check above is meaningful: the same path rejects a broken copy of the config."""
    config = yaml.safe_load(KIND_CONFIG.read_text())
    mutation(config)
    broken = tmp_path / "kind-config.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = _kind_create(broken, tmp_path)
    assert expected in result.stdout + result.stderr


def test_kind_config_shape() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    control_plane = config["nodes"][0]
    assert control_plane["labels"] == {"ingress-ready": "true"}
    assert {(p["containerPort"], p["hostPort"]) for p in control_plane["extraPortMappings"]} == {(80, 80), (443, 443)}


def _effective(profile: str) -> dict[str, Any]:
    """skaffold.yaml with one profile's JSON patches applied, as skaffold itself applies them."""
    config = yaml.safe_load(SKAFFOLD_CONFIG.read_text())
    (chosen,) = [p for p in config.pop("profiles") if p["name"] == profile]
    effective: dict[str, Any] = jsonpatch.apply_patch(config, chosen.get("patches", []))
    return effective


@pytest.mark.parametrize("profile", ["dev", "ci"])
def test_skaffold_profiles_apply_and_stay_valid(profile: str) -> None:
    effective = _effective(profile)
    validator = jsonschema.Draft7Validator(_skaffold_schema())
    assert [e.message for e in validator.iter_errors(effective | {"profiles": []})] == []
    releases = {r["name"]: r for r in effective["deploy"]["helm"]["releases"]}
    assert set(releases) == {"ledgerline", "ledgerline-operator"}
    assert effective["build"]["local"]["push"] is False
    if profile == "ci":
        assert not effective.get("portForward")
        assert releases["ledgerline"]["setValues"]["services.banksim.failureRatePercent"] == "0"


def test_skaffold_schema_rejects_an_unknown_field() -> None:
    config = yaml.safe_load(SKAFFOLD_CONFIG.read_text())
    config["build"]["local"]["pushImages"] = False
    errors = list(jsonschema.Draft7Validator(_skaffold_schema()).iter_errors(config))
    assert any("pushImages" in error.message for error in errors)


def _skaffold_schema() -> dict[str, Any]:
    try:
        schema: dict[str, Any] = json.loads(toolchain.skaffold_json_schema().read_text())
    except toolchain.ToolUnavailable as error:
        pytest.skip(str(error))
    return schema


def test_skaffold_config_matches_the_published_schema() -> None:
    config = yaml.safe_load(SKAFFOLD_CONFIG.read_text())
    assert config["apiVersion"] == f"skaffold/{toolchain.SKAFFOLD_SCHEMA_VERSION}"
    validator = jsonschema.Draft7Validator(_skaffold_schema())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)]
    assert problems == []


def test_skaffold_points_at_real_files() -> None:
    config = yaml.safe_load(SKAFFOLD_CONFIG.read_text())
    for artifact in config["build"]["artifacts"]:
        assert (charts.REPO_ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).exists()
        stages = (charts.REPO_ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).read_text()
        assert f" AS {artifact['docker']['target']}\n" in stages
    for release in config["deploy"]["helm"]["releases"]:
        assert (charts.REPO_ROOT / release["chartPath"] / "Chart.yaml").exists()
        for values in release.get("valuesFiles", []):
            assert (charts.REPO_ROOT / values).exists()
        # setValueTemplates feed image.repository/tag from the artifact of the same name.
        artifact = release["setValueTemplates"]["image.repository"].split("IMAGE_REPO_")[1].rstrip("}")
        assert artifact.replace("_", "-") in {a["image"] for a in config["build"]["artifacts"]}
