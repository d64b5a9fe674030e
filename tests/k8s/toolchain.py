"""Builds and caches the external tools the Kubernetes tests need, from package registries only.

- kind is compiled from the Go module proxy with the local Go toolchain;
- Gateway API, CloudNativePG and skaffold files (CRDs, JSON schema) are read from their Go
  modules, downloaded with `go mod download` (they are not on PyPI);
- checkov gets its own virtualenv, because its pins (packaging<24) conflict with pytest's.

Everything lands under ${XDG_CACHE_HOME:-~/.cache}/ledgerline/ with the version in the path, so
a version bump rebuilds and a cached tool is reused across runs. Builds print progress. skaffold
itself is not built (ten minutes on two cores): its configuration is checked against the JSON
schema skaffold publishes, with profile patches applied as skaffold applies them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KIND_VERSION = "v0.33.0"
SKAFFOLD_VERSION = "v2.16.1"
SKAFFOLD_SCHEMA_VERSION = "v4beta13"
GATEWAY_API_VERSION = "v1.6.3"
CNPG_VERSION = "v1.30.0"
CHECKOV_VERSION = "3.3.30"

KIND_MODULE = "sigs.k8s.io/kind"
SKAFFOLD_MODULE = "github.com/GoogleContainerTools/skaffold/v2"
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
CNPG_MODULE = "github.com/cloudnative-pg/cloudnative-pg"


class ToolUnavailable(RuntimeError):
    """A prerequisite is missing on this machine (Go is not installed): tests skip."""


class ToolBuildError(RuntimeError):
    """Building or downloading a tool failed: tests fail, since the pinned tool should build."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "ledgerline"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bin_dir() -> Path:
    path = cache_dir() / "bin"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _progress(message: str) -> None:
    # stderr reaches the terminal even under pytest's capture when run with -s, and is shown
    # in the failure report otherwise; a cold build should never look like a hang.
    print(f"[ledgerline toolchain] {message}", file=sys.stderr, flush=True)


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """Serialise builds of one tool across concurrent test processes."""
    lock_path = cache_dir() / f".{name}.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolUnavailable("the Go toolchain is not installed (needed to build kind and fetch Go modules)")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never download another Go toolchain; build with the installed one.
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolBuildError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def go_module_dir(module: str, version: str) -> Path:
    """Download a Go module (checksum-verified by the Go toolchain) and return its directory."""
    stdout = _run([_go(), "mod", "download", "-json", f"{module}@{version}"], env=_go_env())
    info = json.loads(stdout)
    if "Error" in info or "Dir" not in info:
        raise ToolBuildError(f"go mod download {module}@{version}: {info.get('Error')}")
    return Path(info["Dir"])


def _build_go_binary(name: str, version: str, flags: list[str], package: str, cwd: Path) -> Path:
    target = bin_dir() / f"{name}-{version}"
    if target.exists():
        return target
    with _lock(name):
        if target.exists():
            return target
        _progress(f"building {name} {version} with Go (first run only; cached at {target})")
        started = time.monotonic()
        partial = target.with_name(target.name + ".partial")
        _run([_go(), "build", *flags, "-o", str(partial), package], cwd=cwd, env=_go_env())
        partial.rename(target)
        _progress(f"built {name} {version} in {time.monotonic() - started:.0f}s")
    return target


def kind() -> Path:
    """The kind CLI, compiled from the module proxy."""
    module_dir = go_module_dir(KIND_MODULE, KIND_VERSION)
    return _build_go_binary("kind", KIND_VERSION, ["-trimpath", "-ldflags=-s -w"], ".", module_dir)


def skaffold_json_schema() -> Path:
    """skaffold's published JSON schema for the config version skaffold.yaml uses."""
    module_dir = go_module_dir(SKAFFOLD_MODULE, SKAFFOLD_VERSION)
    return module_dir / "docs-v2" / "content" / "en" / "schemas" / f"{SKAFFOLD_SCHEMA_VERSION}.json"


def gateway_api_crd(plural: str) -> Path:
    """A standard-channel Gateway API CRD, e.g. gateway_api_crd("httproutes")."""
    module_dir = go_module_dir(GATEWAY_API_MODULE, GATEWAY_API_VERSION)
    return module_dir / "config" / "crd" / "standard" / f"gateway.networking.k8s.io_{plural}.yaml"


def cnpg_crd(plural: str) -> Path:
    """A CloudNativePG CRD from the operator's module (shared/crds lacks `databases`)."""
    module_dir = go_module_dir(CNPG_MODULE, CNPG_VERSION)
    return module_dir / "config" / "crd" / "bases" / f"postgresql.cnpg.io_{plural}.yaml"


def checkov() -> Path:
    """checkov in an isolated virtualenv under the cache; a marker file records a finished
    install, so an interrupted one is redone instead of half-used."""
    venv = cache_dir() / "venvs" / f"checkov-{CHECKOV_VERSION}"
    executable = venv / "bin" / "checkov"
    done = venv / ".installed"
    if done.exists():
        return executable
    with _lock("checkov"):
        if done.exists():
            return executable
        _progress(f"installing checkov {CHECKOV_VERSION} into {venv} (first run only)")
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"])
        done.write_text(CHECKOV_VERSION + "\n")
        _progress(f"installed checkov in {time.monotonic() - started:.0f}s")
    return executable
