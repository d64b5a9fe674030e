"""Builds and caches the control-plane binaries from the Go module proxy with the local Go.

Each component is a tiny Go module generated into its cache folder
(${XDG_CACHE_HOME:-~/.cache}/ledgerline/k8s/<component>-<version>/): a go.mod that requires the
pinned upstream module and lists its main packages as `tool`s, `go mod tidy` for go.sum, then one
`go build` of those packages into bin/. A marker written after a successful build makes the next
call a no-op; a version bump lands in a new folder.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"  # the etcd that Kubernetes v1.36.3 pins in build/dependencies.yaml
KWOK_VERSION = "v0.8.0"

MIN_GO = (1, 26)  # k8s.io/kubernetes v1.36 says `go 1.26.0`
GO_BUILD_JOBS = 2  # the machine has two cores, shared with other test runs
GO_MOD_TIMEOUT_S = 20 * 60
GO_BUILD_TIMEOUT_S = 90 * 60
PROGRESS_INTERVAL_S = 30.0
ERROR_TAIL_LINES = 40
MARKER = ".built"
LDFLAGS = "-s -w"

# kwok's own default stages (what kwokctl feeds it), copied from the kwok module at build time.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
KUBERNETES_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", re.MULTILINE)


class ToolchainMissing(RuntimeError):
    """Go is not installed, so nothing can be built."""


class BuildError(RuntimeError):
    """A pinned component did not build."""


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    module: str
    packages: tuple[str, ...]
    # Output name per package; when absent, go names it after the package's last path element.
    outputs: dict[str, str] = field(default_factory=dict)
    version_variables: tuple[str, ...] = ()  # Go packages whose gitVersion & co the linker sets

    @property
    def ldflags(self) -> str:
        """-s -w for size, and the version variables that Kubernetes' own build (hack/lib/version.sh)
        sets, so the API server reports its real version (Helm's kubeVersion checks read it)."""
        major, minor = self.version.removeprefix("v").split(".")[:2]
        values = {"gitVersion": self.version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
        stamps = [f"-X {pkg}.{key}={value}" for pkg in self.version_variables for key, value in values.items()]
        return " ".join([LDFLAGS, *stamps])

    @property
    def folder(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    def binary(self, name: str) -> Path:
        return self.folder / "bin" / name

    @property
    def binaries(self) -> list[str]:
        return [self.outputs.get(pkg, pkg.rsplit("/", 1)[-1]) for pkg in self.packages]

    @property
    def inputs(self) -> dict[str, object]:
        """What the binaries are built from: a marker recording other inputs means a rebuild."""
        return {
            "module": self.module,
            "version": self.version,
            "packages": list(self.packages),
            "ldflags": self.ldflags,
        }

    @property
    def built(self) -> bool:
        try:
            marker = json.loads((self.folder / MARKER).read_text())
        except (OSError, ValueError):
            return False
        return marker.get("inputs") == self.inputs and all(self.binary(name).is_file() for name in self.binaries)


KUBERNETES = Component(
    "kubernetes",
    KUBERNETES_VERSION,
    "k8s.io/kubernetes",
    tuple(
        f"k8s.io/kubernetes/cmd/{name}"
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ),
    version_variables=("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"),
)
ETCD = Component(
    "etcd",
    ETCD_VERSION,
    "go.etcd.io/etcd/server/v3",
    ("go.etcd.io/etcd/server/v3",),
    outputs={"go.etcd.io/etcd/server/v3": "etcd"},
)
KWOK = Component("kwok", KWOK_VERSION, "sigs.k8s.io/kwok", ("sigs.k8s.io/kwok/cmd/kwok",))
COMPONENTS = (ETCD, KWOK, KUBERNETES)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ledgerline" / "k8s"


def progress(message: str) -> None:
    print(f"[ledgerline control-plane] {message}", file=sys.stderr, flush=True)


@functools.cache
def go_executable() -> str:
    how = (
        f"install Go {'.'.join(map(str, MIN_GO))} or newer, "
        "then run `python -m tests.cluster.harness build` to build and cache kube-apiserver, "
        "kube-controller-manager, kube-scheduler, kubectl, etcd and kwok (tens of minutes the first time)"
    )
    go = shutil.which("go")
    if go is None:
        raise ToolchainMissing(f"the test control plane is built from source and `go` is not on PATH: {how}")
    found = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    numbers = tuple(int(n) for n in re.findall(r"\d+", found)[:2])
    if numbers < MIN_GO:
        raise ToolchainMissing(
            f"{go} is {found or 'of unknown version'}, too old for Kubernetes {KUBERNETES_VERSION}: {how}"
        )
    return go


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOMAXPROCS=str(GO_BUILD_JOBS),
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false",
        GOTOOLCHAIN="local",  # fail clearly instead of fetching another toolchain
    )
    return env


@contextmanager
def build_lock(component: Component) -> Iterator[None]:
    """Serialise builds of one component across concurrent test processes."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / f".{component.name}-{component.version}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_go(args: list[str], cwd: Path, timeout_s: float, label: str) -> str:
    """Run go, report progress every PROGRESS_INTERVAL_S, return its output or raise with its tail."""
    command = [go_executable(), *args]
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=cwd, env=go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        watchdog = threading.Timer(timeout_s, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            last_report = started
            for line in proc.stdout:
                lines.append(line.rstrip())
                now = time.monotonic()
                if now - last_report >= PROGRESS_INTERVAL_S:
                    progress(f"{label}: {len(lines)} lines of output after {now - started:.0f}s ({lines[-1][:80]})")
                    last_report = now
            code = proc.wait()
        finally:
            watchdog.cancel()
    elapsed = time.monotonic() - started
    if code != 0:
        reason = f"killed after the {timeout_s:.0f}s limit" if elapsed >= timeout_s else f"exit {code}"
        raise BuildError(
            f"{label} failed ({reason}) after {elapsed:.0f}s: {' '.join(command)} in {cwd}\n"
            + "\n".join(lines[-ERROR_TAIL_LINES:])
        )
    return "\n".join(lines)


def module_download(module: str, version: str, cwd: Path) -> dict[str, str]:
    out = run_go(["mod", "download", "-json", f"{module}@{version}"], cwd, GO_MOD_TIMEOUT_S, f"download {module}")
    info: dict[str, str] = json.loads(out)
    return info


def staging_replaces(component: Component) -> list[str]:
    """k8s.io/kubernetes points its staging repos at ./staging; as a library each must be
    replaced by its published v0.<minor>.<patch> twin."""
    if component.module != "k8s.io/kubernetes":
        return []
    info = module_download(component.module, component.version, component.folder)
    staging = KUBERNETES_STAGING_REPLACE.findall(Path(info["GoMod"]).read_text())
    if not staging:
        raise BuildError(f"no staging replace directives found in {info['GoMod']}")
    twin = "v0." + component.version.removeprefix("v1.")
    return [f"\t{repo} => {repo} {twin}" for repo in sorted(set(staging))]


def write_go_mod(component: Component) -> None:
    replaces = staging_replaces(component)
    lines = [
        f"module ledgerline.test/controlplane/{component.name}",
        "",
        "go 1.26.0",
        "",
        f"require {component.module} {component.version}",
        "",
        "tool (",
        *[f"\t{pkg}" for pkg in component.packages],
        ")",
    ]
    if replaces:
        lines += ["", "replace (", *replaces, ")"]
    (component.folder / "go.mod").write_text("\n".join(lines) + "\n")


def copy_kwok_stages(component: Component) -> None:
    source = Path(module_download(component.module, component.version, component.folder)["Dir"])
    documents = [(source / rel).read_text().strip() for rel in KWOK_STAGE_FILES]
    (component.folder / "stages.yaml").write_text("\n---\n".join(documents) + "\n")


def build_component(component: Component) -> None:
    with build_lock(component):
        if component.built:
            return
        started = time.monotonic()
        progress(f"building {component.name} {component.version} into {component.folder} (cached afterwards)")
        (component.folder / "bin").mkdir(parents=True, exist_ok=True)
        (component.folder / MARKER).unlink(missing_ok=True)
        write_go_mod(component)
        run_go(["mod", "tidy"], component.folder, GO_MOD_TIMEOUT_S, f"go mod tidy ({component.name})")
        if component is KWOK:
            copy_kwok_stages(component)
        output = str(component.binary(component.binaries[0])) if len(component.packages) == 1 else "bin/"
        run_go(
            [
                "build",
                "-v",
                "-p",
                str(GO_BUILD_JOBS),
                "-trimpath",
                f"-ldflags={component.ldflags}",
                "-o",
                output,
                *component.packages,
            ],
            component.folder,
            GO_BUILD_TIMEOUT_S,
            f"go build ({component.name} {component.version})",
        )
        missing = [name for name in component.binaries if not component.binary(name).is_file()]
        if missing:
            raise BuildError(
                f"{component.name}: go build succeeded but {missing} are missing in {component.folder}/bin"
            )
        elapsed = time.monotonic() - started
        (component.folder / MARKER).write_text(json.dumps({"inputs": component.inputs, "seconds": round(elapsed)}))
        progress(f"built {component.name} {component.version} in {elapsed:.0f}s")


def build_all() -> None:
    """Build what is missing; needs Go only when something is."""
    missing = missing_components()
    if missing:
        go_executable()
        names = ", ".join(component.name for component in missing)
        progress(f"{len(missing)} to build ({names}): a first build takes several minutes; later runs reuse it")
    for number, component in enumerate(missing, start=1):
        progress(f"[{number}/{len(missing)}] {component.name}")
        build_component(component)


def missing_components() -> list[Component]:
    return [component for component in COMPONENTS if not component.built]
