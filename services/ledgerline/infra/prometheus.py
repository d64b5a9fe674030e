"""Prometheus on loopback for the local platform: Debian's binary (installed by `make bootstrap`)
scraping every service's /metrics and evaluating the rules under observability/rules, the same
file the Helm chart renders into its PrometheusRule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ledgerline.infra.packaged_server import REPOSITORY, DebianPackage, PackagedServer
from ledgerline.infra.process import InfrastructureError

if TYPE_CHECKING:
    from ledgerline.infra.platform import Platform

# Every five seconds: a short local run shows up within a few scrapes, and six targets on
# loopback cost next to nothing.
SCRAPE_INTERVAL_S = 5
SCRAPE_TIMEOUT_S = 4
# Bounds on the local data, which lives in the platform's data folder between runs.
RETENTION_TIME = "2d"
RETENTION_SIZE = "512MB"
RULES_DIR = REPOSITORY / "observability" / "rules"
PROMETHEUS = DebianPackage("prometheus", Path("/usr/bin/prometheus"), "")


OPERATOR = "operator"


def job_name(service: str) -> str:
    """The job a service's target gets, the name a ServiceMonitor gives it in the default release."""
    return f"ledgerline-{service}"


class PrometheusServer(PackagedServer):
    """One Prometheus scraping `targets` (service name -> port on 127.0.0.1), and the operator's
    metrics on `operator_port` if given: that target is down unless someone runs the operator
    on this machine (it needs a cluster), and up, with the replay panels filled, when they do."""

    name = "prometheus"
    package = PROMETHEUS
    ready_path = "/-/ready"
    log_name = "prometheus.log"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        targets: Mapping[str, int],
        *,
        operator_port: int | None = None,
        rules_dir: Path = RULES_DIR,
    ) -> None:
        super().__init__(data_dir, port)
        self.targets = dict(targets)
        if operator_port is not None:
            self.targets[OPERATOR] = operator_port
        self.rules_dir = rules_dir

    @classmethod
    def for_platform(cls, platform: Platform) -> PrometheusServer:
        """Scrapes every service the platform runs, and the operator's port, on the platform's
        `prometheus` port."""
        targets = {service: platform.ports[service] for service in platform.services}
        return cls(
            platform.infra.data_dir / "prometheus",
            platform.ports["prometheus"],
            targets,
            operator_port=platform.ports[OPERATOR],
        )

    @property
    def config_path(self) -> Path:
        return self.data_dir / "prometheus.yml"

    def config(self) -> dict[str, Any]:
        rule_files = sorted(self.rules_dir.glob("*.yml"))
        if not rule_files:
            raise InfrastructureError(f"no Prometheus rules in {self.rules_dir}")
        return {
            "global": {
                "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
                "scrape_timeout": f"{SCRAPE_TIMEOUT_S}s",
                "evaluation_interval": f"{SCRAPE_INTERVAL_S}s",
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {
                    "job_name": job_name(service),
                    "metrics_path": "/metrics",
                    # As the chart's ServiceMonitors do: a metric's own `service` label wins over
                    # the target's, which only fills it in for metrics that have none.
                    "honor_labels": True,
                    "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}],
                }
                for service, port in self.targets.items()
            ],
        }

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return self.config_path

    def command(self, binary: Path) -> list[str]:
        return [
            str(binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION_TIME}",
            f"--storage.tsdb.retention.size={RETENTION_SIZE}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]


def start_local_prometheus(platform: Platform, say: Callable[[str], object]) -> PrometheusServer | None:
    """Prometheus for `ledgerline up`, announced with `say`. The platform is useful without it
    (every /metrics still answers), so a failure is said, not raised."""
    prometheus = PrometheusServer.for_platform(platform)
    try:
        prometheus.start()
    except InfrastructureError as error:
        prometheus.stop()
        say(f"no local Prometheus: {error}")
        return None
    say(
        f"Prometheus {prometheus.url} scrapes every service (and the operator on port "
        f"{prometheus.targets[OPERATOR]} when it runs) and evaluates the rules in {prometheus.rules_dir}"
    )
    return prometheus
