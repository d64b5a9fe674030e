"""A child process with a log file, a readiness wait and a clean stop."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

READY_POLL_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30
HTTP_PROBE_TIMEOUT_S = 2.0


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM when the launcher dies, so a
    launcher killed outright (or a test run cut short) leaves no servers behind."""
    # Off Linux there is no prctl; children are still stopped by stop() on every normal exit.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class InfrastructureError(RuntimeError):
    """A piece of local infrastructure could not be found, started or reached."""


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        tail = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
    return tail or "(empty: it wrote nothing)"


def machine_load() -> str:
    """A hint for a slow start: how busy the machine was, when it was busier than its cores."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load <= cores:
        return ""
    return f" The machine is busy (load average {load:.1f} on {cores} cores): try again when it is quieter."


class ManagedProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                # Own process group: Ctrl-C in a terminal reaches the launcher, which stops us in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise InfrastructureError(f"{self.name}: cannot run {self.command[0]}: {exc}") from exc
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(
        self,
        check: Callable[[], bool],
        *,
        timeout_s: float,
        progress: Callable[[], object] | None = None,
        limit_s: float | None = None,
    ) -> None:
        """Wait until `check()` holds, or stop the process and raise.

        Without `progress` the process has `timeout_s`. With it, `timeout_s` is how long the
        process may go without `progress()` changing (a server replaying its logs after a crash
        is slow but not stuck: killing it would only make it start its recovery over), and
        `limit_s` bounds the whole wait.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        limit = started + max(limit_s or timeout_s, timeout_s)
        seen = progress() if progress is not None else None
        while time.monotonic() < deadline:
            if not self.running:
                raise InfrastructureError(
                    f"{self.name} exited with code {self.returncode()} before it was ready; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(READY_POLL_INTERVAL_S)
            if progress is not None and (now := progress()) != seen:
                seen = now
                deadline = min(time.monotonic() + timeout_s, limit)
        self.stop()
        waited_s = time.monotonic() - started
        raise InfrastructureError(
            f"{self.name} was not ready within {waited_s:.0f}s.{machine_load()} "
            f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout_s)

    def kill(self) -> None:
        """Stop without any chance to clean up, as a crash would."""
        self.stop(timeout_s=STOP_TIMEOUT_S, sig=signal.SIGKILL)


def http_ok(url: str) -> bool:
    """`url` answers 200 within HTTP_PROBE_TIMEOUT_S: how a readiness or health path is probed."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_PROBE_TIMEOUT_S) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tcp_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


def refuse_taken_port(name: str, port: int, host: str = "127.0.0.1") -> None:
    """Fail before starting when the port is taken: a readiness probe would otherwise reach
    whatever holds it (a server left running by a killed launcher, say) and call ours ready."""
    if tcp_open(host, port):
        raise InfrastructureError(f"{name}: something already listens on {host}:{port}; stop it or choose another port")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Below Linux's ephemeral range (32768-60999): no outgoing connection takes one of these, so a
# server restarted on it can always bind it again.
STABLE_PORTS = range(20_000, 32_000)
# Consecutive process ids start this many ports apart, so test runs started side by side each
# count up from a base of their own instead of racing for the same ports.
PID_SPREAD = 211


def port_bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class StablePorts:
    """Ports for servers that may be restarted on them, each handed out once per process.

    They count up from a base derived from the process id, within `STABLE_PORTS`, skipping any
    that something already holds; none is bound until its server starts, so remembering what was
    handed out is what keeps two servers of one run apart.
    """

    def __init__(self, offset: int) -> None:
        self._offset = offset % len(STABLE_PORTS)
        self._handed: set[int] = set()

    @classmethod
    def for_process(cls, pid: int | None = None) -> StablePorts:
        return cls((os.getpid() if pid is None else pid) * PID_SPREAD)

    def take(self, host: str = "127.0.0.1") -> int:
        for _ in range(len(STABLE_PORTS)):
            port = STABLE_PORTS.start + self._offset
            self._offset = (self._offset + 1) % len(STABLE_PORTS)
            if port not in self._handed and port_bindable(port, host):
                self._handed.add(port)
                return port
        raise InfrastructureError(f"no free port in {STABLE_PORTS.start}-{STABLE_PORTS.stop - 1}")


_STABLE_PORTS = StablePorts.for_process()


def free_stable_port(host: str = "127.0.0.1") -> int:
    """A free port for a server that may be restarted on it (the ones of free_port() are not),
    never one this process handed out before."""
    return _STABLE_PORTS.take(host)


def find_executable(name: str, candidates: Sequence[Path]) -> Path | None:
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


UNPRIVILEGED_USERS = ("postgres", "ledgerline")


def unprivileged_user() -> str | None:
    """When running as root, the account to run servers that refuse root (PostgreSQL) as."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "ledgerline"],
        check=True,
    )
    return "ledgerline"


def chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def ensure_traversable(path: Path, user: str) -> None:
    """Fail clearly when `user` cannot reach `path` (a data folder under a private home)."""
    entry = pwd.getpwnam(user)
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        owner = parent.stat().st_uid
        if owner != entry.pw_uid and not mode & 0o001:
            raise InfrastructureError(
                f"{user} cannot enter {parent} (mode {oct(mode & 0o777)}); PostgreSQL refuses to "
                f"run as root, so it runs as {user}. Put the project where {user} can reach it, "
                f"or set LEDGERLINE_DATA_DIR to such a folder."
            )
