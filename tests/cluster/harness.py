"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok faking two nodes (no kubelet, no container runs).

    python -m tests.cluster.harness build           # build and cache the binaries (long the first time)
    python -m tests.cluster.harness start [WORKDIR] # run a cluster until Ctrl-C

Addresses: everything listens on 127.0.0.1. There is no data plane: pod IPs come from TEST-NET-1
(192.0.2.0/24, never routed) and the fake nodes' address is 127.0.0.1, so nothing here sends a
packet off the machine; Service ClusterIPs come from a loopback range for the same reason.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ledgerline.infra.process import InfrastructureError, ManagedProcess, free_port, log_tail
from tests.cluster import build, pki

ETCD_READY_TIMEOUT_S = 30.0
APISERVER_READY_TIMEOUT_S = 90.0
COMPONENT_READY_TIMEOUT_S = 60.0
CLUSTER_READY_TIMEOUT_S = 60.0
HTTP_PROBE_TIMEOUT_S = 2.0
KUBECTL_TIMEOUT_S = 60.0
CLUSTER_POLL_INTERVAL_S = 0.25
SA_TOKEN_DURATION = "24h"
CLIENT_QPS = "100"
CLIENT_BURST = "200"

SERVICE_CIDR = "127.16.0.0/16"  # loopback: a Service IP that something dials leads nowhere but here
FIRST_SERVICE_IP = "127.16.0.1"
POD_CIDR = "192.0.2.0/24"  # TEST-NET-1 (RFC 5737): valid for EndpointSlices, never routed
NODE_IP = "127.0.0.1"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
NODE_ALLOCATABLE = {"cpu": "32", "memory": "64Gi", "pods": "110"}
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOOPBACK = "127.0.0.1"


def fake_node(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": NODE_ALLOCATABLE, "capacity": NODE_ALLOCATABLE},
    }


class ControlPlane:
    def __init__(self) -> None:
        self.workdir: Path | None = None
        self.processes: list[ManagedProcess] = []
        self.server = ""
        self._pki: pki.Pki | None = None

    # -- building ---------------------------------------------------------------------------
    @staticmethod
    def build() -> None:
        build.build_all()

    @staticmethod
    def built() -> bool:
        return not build.missing_components()

    # -- paths --------------------------------------------------------------------------------
    def _path(self, *parts: str) -> Path:
        if self.workdir is None:
            raise InfrastructureError("the control plane is not started")
        return self.workdir.joinpath(*parts)

    @property
    def admin_kubeconfig(self) -> Path:
        return self._path("kubeconfigs", "admin.kubeconfig")

    @property
    def kubectl_binary(self) -> Path:
        return build.KUBERNETES.binary("kubectl")

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, workdir: Path) -> None:
        missing = build.missing_components()
        if missing:
            names = ", ".join(f"{c.name} {c.version}" for c in missing)
            raise InfrastructureError(f"not built: {names}; run `python -m tests.cluster.harness build` first")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._path("etcd"), ignore_errors=True)  # every start is a fresh, empty cluster
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise

    def _start_all(self) -> None:
        started = time.monotonic()
        apiserver_port = free_port()
        self.server = f"https://{LOOPBACK}:{apiserver_port}"
        self._pki = pki.generate(
            self._path("pki"),
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=[LOOPBACK, FIRST_SERVICE_IP],
        )
        for stem in pki.CLIENTS:
            pki.write_kubeconfig(
                self._path("kubeconfigs", f"{stem}.kubeconfig"),
                server=self.server,
                ca_cert=self._pki.ca_cert,
                user=stem,
                credentials=pki.client_cert_credentials(self._pki, stem),
            )
        etcd_url = self._start_etcd()
        self._start_apiserver(apiserver_port, etcd_url)
        waits = [self._start_controller_manager(), self._start_scheduler(), self._start_kwok()]
        self.kubectl(
            "create",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [fake_node(n) for n in NODE_NAMES]}),
        )
        for wait in waits:
            wait()
        self.wait_until(
            "both kwok nodes Ready and the default ServiceAccount created", self._cluster_ready, CLUSTER_READY_TIMEOUT_S
        )
        print(
            f"[ledgerline control-plane] ready in {time.monotonic() - started:.1f}s at {self.server}",
            file=sys.stderr,
            flush=True,
        )

    def _spawn(self, name: str, command: Sequence[str | Path]) -> ManagedProcess:
        process = ManagedProcess(name, [str(part) for part in command], log_path=self._path("logs", f"{name}.log"))
        process.start()
        self.processes.append(process)
        return process

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://{LOOPBACK}:{client}"
        etcd = self._spawn(
            "etcd",
            [
                build.ETCD.binary("etcd"),
                "--name=default",
                f"--data-dir={self._path('etcd')}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://{LOOPBACK}:{peer}",
                f"--initial-advertise-peer-urls=http://{LOOPBACK}:{peer}",
                f"--initial-cluster=default=http://{LOOPBACK}:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--listen-metrics-urls=",
            ],
        )
        etcd.wait_ready(lambda: b'"health":"true"' in _http_get(f"{url}/health"), timeout_s=ETCD_READY_TIMEOUT_S)
        return url

    def _start_apiserver(self, port: int, etcd_url: str) -> None:
        assert self._pki is not None
        p = self._pki
        apiserver = self._spawn(
            "kube-apiserver",
            [
                build.KUBERNETES.binary("kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={port}",
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self._path('apiserver-certs')}",
                f"--tls-cert-file={p.cert('apiserver')}",
                f"--tls-private-key-file={p.key('apiserver')}",
                f"--client-ca-file={p.ca_cert}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={p.sa_public_key}",
                f"--service-account-signing-key-file={p.sa_private_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false",
            ],
        )
        context = ssl.create_default_context(cafile=str(p.ca_cert))
        context.load_cert_chain(str(p.cert("admin")), str(p.key("admin")))
        apiserver.wait_ready(
            lambda: _http_get(f"{self.server}/readyz", context) == b"ok", timeout_s=APISERVER_READY_TIMEOUT_S
        )

    def _start_secure_component(self, name: str, args: list[str | Path]) -> Callable[[], None]:
        port = free_port()
        process = self._spawn(
            name,
            [
                *args,
                f"--bind-address={LOOPBACK}",
                f"--secure-port={port}",
                "--leader-elect=false",
                f"--kube-api-qps={CLIENT_QPS}",
                f"--kube-api-burst={CLIENT_BURST}",
                "--profiling=false",
            ],
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # its serving cert is self-signed; only /healthz is read
        return lambda: process.wait_ready(
            lambda: _http_get(f"https://{LOOPBACK}:{port}/healthz", context) == b"ok",
            timeout_s=COMPONENT_READY_TIMEOUT_S,
        )

    def _start_controller_manager(self) -> Callable[[], None]:
        assert self._pki is not None
        kubeconfig = self._path("kubeconfigs", "controller-manager.kubeconfig")
        return self._start_secure_component(
            "kube-controller-manager",
            [
                build.KUBERNETES.binary("kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--use-service-account-credentials=true",
                f"--root-ca-file={self._pki.ca_cert}",
                f"--service-account-private-key-file={self._pki.sa_private_key}",
                f"--cluster-signing-cert-file={self._pki.ca_cert}",
                f"--cluster-signing-key-file={self._pki.key('ca')}",
            ],
        )

    def _start_scheduler(self) -> Callable[[], None]:
        kubeconfig = self._path("kubeconfigs", "scheduler.kubeconfig")
        return self._start_secure_component(
            "kube-scheduler",
            [
                build.KUBERNETES.binary("kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
            ],
        )

    def _start_kwok(self) -> Callable[[], None]:
        port = free_port()
        process = self._spawn(
            "kwok",
            [
                build.KWOK.binary("kwok"),
                f"--kubeconfig={self._path('kubeconfigs', 'kwok.kubeconfig')}",
                f"--config={build.KWOK.folder / 'stages.yaml'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--node-ip={NODE_IP}",
                f"--cidr={POD_CIDR}",
                f"--server-address={LOOPBACK}:{port}",
                "--node-lease-duration-seconds=40",
            ],
        )
        return lambda: process.wait_ready(
            lambda: _http_get(f"http://{LOOPBACK}:{port}/healthz") == b"ok", timeout_s=COMPONENT_READY_TIMEOUT_S
        )

    def _cluster_ready(self) -> bool:
        nodes = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
        ready = {
            node["metadata"]["name"]
            for node in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
        }
        if not set(NODE_NAMES) <= ready:
            return False
        return self.kubectl("get", "serviceaccount", "default", "-n", "default", "-o", "name", check=False) != ""

    def stop(self) -> None:
        """Stop in reverse start order; safe to call twice or after a failed start."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    # -- using it ---------------------------------------------------------------------------------
    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for process in self.processes:
                if not process.running:
                    raise InfrastructureError(
                        f"{process.name} exited while waiting for {what}:\n{log_tail(process.log_path)}"
                    )
            if check():
                return
            time.sleep(CLUSTER_POLL_INTERVAL_S)
        tails = "\n".join(f"--- {p.name} ({p.log_path}):\n{log_tail(p.log_path)}" for p in self.processes)
        raise InfrastructureError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{tails}")

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout_s: float = KUBECTL_TIMEOUT_S,
    ) -> str:
        """Run kubectl (the pinned build) against this cluster; returns stdout, raises on failure when check."""
        command = [str(self.kubectl_binary), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args]
        try:
            result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise InfrastructureError(f"kubectl {' '.join(args)} did not finish within {timeout_s:.0f}s") from exc
        if check and result.returncode != 0:
            raise KubectlError(args, result.returncode, result.stderr.strip())
        return result.stdout if result.returncode == 0 else ""

    def kubeconfig_for_service_account(self, namespace: str, name: str) -> Path:
        """A kubeconfig that authenticates as an existing ServiceAccount (a bound token from the
        TokenRequest API, exactly what a pod of that ServiceAccount would get)."""
        assert self._pki is not None
        token = self.kubectl("create", "token", name, "-n", namespace, f"--duration={SA_TOKEN_DURATION}").strip()
        return pki.write_kubeconfig(
            self._path("kubeconfigs", f"sa-{namespace}-{name}.kubeconfig"),
            server=self.server,
            ca_cert=self._pki.ca_cert,
            user=f"system:serviceaccount:{namespace}:{name}",
            credentials={"token": token},
        )

    def memory_rss_bytes(self) -> dict[str, int]:
        """Resident memory of each running component, read from /proc."""
        usage = {}
        for process in self.processes:
            if process.process is not None and process.running:
                status = Path(f"/proc/{process.process.pid}/status").read_text()
                kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
                usage[process.name] = int(kib) * 1024
        return usage


class KubectlError(InfrastructureError):
    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} failed (exit {code}): {stderr}")
        self.stderr = stderr


def _http_get(url: str, context: ssl.SSLContext | None = None) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_PROBE_TIMEOUT_S, context=context) as response:
            body: bytes = response.read().strip()
            return body
    except (OSError, ValueError):
        return b""


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "start"):
        print(__doc__, file=sys.stderr)
        return 2
    plane = ControlPlane()
    try:
        plane.build()
    except (build.ToolchainMissing, build.BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if argv[0] == "build":
        return 0
    workdir = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="ledgerline-k8s-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        plane.start(workdir)
        print(
            f"export KUBECONFIG={plane.admin_kubeconfig}\nkubectl: {plane.kubectl_binary}\nCtrl-C stops it.", flush=True
        )
        while all(p.running for p in plane.processes):
            time.sleep(1)
        print("a component exited; see the logs in", workdir / "logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        plane.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
