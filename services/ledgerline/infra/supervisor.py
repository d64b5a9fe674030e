"""Keep the local platform's processes running, as Kubernetes keeps a pod's containers running.

A process that exits (a service, the broker, PostgreSQL, Redis, the SMTP sink) is started again
after an exponential backoff that is bounded, and reset once the process has stayed up for a
while. Each exit is written with its exit code and the last lines of the process's log to the
supervisor log; one line goes to the terminal; a small JSON state file in the data folder says
what runs, with its pid and restart count, for `ledgerline status`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerline.infra.gateway import HEALTH_PATH as GATEWAY_HEALTH_PATH
from ledgerline.infra.process import InfrastructureError, ManagedProcess, log_tail

if TYPE_CHECKING:
    from ledgerline.infra.platform import Platform

STATE_FILE_NAME = "supervisor.json"
LOG_FILE_NAME = "supervisor.log"
TICK_INTERVAL_S = 0.5
DELAYS_KEPT_MAX = 100


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th consecutive restart: initial_s, doubling, never above max_s.

    Kubernetes starts at 10 s and stops at 5 minutes; a laptop platform wants its pieces back
    sooner, and a process that fails for good should still not spin a core."""

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    # A process that ran this long before exiting was healthy: its next restart starts over.
    healthy_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s or self.factor < 1:
            raise ValueError(f"inconsistent backoff {self}")

    def delay_s(self, consecutive_failures: int) -> float:
        exponent = max(consecutive_failures - 1, 0)
        return float(min(self.initial_s * self.factor**exponent, self.max_s))


@dataclass
class Supervised:
    """One process to keep running: how to find its current process and how to start it again."""

    name: str
    current: Callable[[], ManagedProcess | None]
    # Starts a new process; raises InfrastructureError if it cannot. Infrastructure returns once
    # it is ready; a service as soon as it runs, as Kubernetes restarts a container without
    # waiting for its readiness: waiting here would leave every other exit unattended meanwhile.
    restart: Callable[[], None]
    # What must be running before this process is started again: a service restarted while
    # PostgreSQL is down would wait out its whole readiness timeout for nothing.
    needs: tuple[str, ...] = ()
    # Where it answers, and where `ledgerline status` asks whether it is ready (HTTP 200 = ready;
    # without one, whether its address accepts a connection).
    url: str | None = None
    health_url: str | None = None


@dataclass
class Record:
    """What the supervisor knows of one process; times are on the supervisor's clock."""

    started_at: float
    restarts: int = 0
    consecutive_failures: int = 0
    last_exit_code: int | None = None
    restart_due_at: float | None = None
    # The latest delays chosen, in order: what the backoff bound is checked against. Bounded,
    # since a process that can never start is retried for as long as `up` runs.
    delays_s: deque[float] = field(default_factory=lambda: deque(maxlen=DELAYS_KEPT_MAX))


class Supervisor:
    def __init__(
        self,
        supervised: list[Supervised],
        *,
        data_dir: Path,
        backoff: Backoff | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        tick_interval_s: float = TICK_INTERVAL_S,
    ) -> None:
        self.supervised = supervised
        self.tick_interval_s = tick_interval_s
        self.backoff = backoff or Backoff()
        self.say = say
        self.clock = clock
        self.state_path = data_dir / STATE_FILE_NAME
        self.log_path = data_dir / "logs" / LOG_FILE_NAME
        self.records = {item.name: Record(started_at=clock()) for item in supervised}
        self.write_state()

    def run(self, should_stop: Callable[[], bool], on_tick: Callable[[], None] = lambda: None) -> None:
        try:
            while not should_stop():
                self.tick()
                on_tick()
                time.sleep(self.tick_interval_s)
        finally:
            self.write_state(supervising=False)

    def tick(self) -> None:
        """Notice every exit first, then start what is due, in the order given (infrastructure
        first), each only once what it needs runs: a restart blocks until the process is ready,
        so an exit noticed after it would wait for it."""
        changed = False
        for item in self.supervised:
            record = self.records[item.name]
            process = item.current()
            if record.restart_due_at is None and process is not None and not process.running:
                self._exited(item, record, process)
                changed = True
        for item in self.supervised:
            record = self.records[item.name]
            due = record.restart_due_at is not None and self.clock() >= record.restart_due_at
            if due and all(self._running(need) for need in item.needs):
                self._restart(item, record)
                changed = True
        if changed:
            self.write_state()

    def _running(self, name: str) -> bool:
        item = next(i for i in self.supervised if i.name == name)
        process = item.current()
        return self.records[name].restart_due_at is None and process is not None and process.running

    def _exited(self, item: Supervised, record: Record, process: ManagedProcess) -> None:
        record.last_exit_code = process.returncode()
        if self.clock() - record.started_at >= self.backoff.healthy_after_s:
            record.consecutive_failures = 0
        self._schedule(item, record, f"exited with code {record.last_exit_code}", log_tail(process.log_path))

    def _schedule(self, item: Supervised, record: Record, what: str, tail: str) -> None:
        record.consecutive_failures += 1
        delay_s = self.backoff.delay_s(record.consecutive_failures)
        record.delays_s.append(delay_s)
        record.restart_due_at = self.clock() + delay_s
        self._log(f"{item.name} {what}; restarting in {delay_s:.1f}s; last lines of its log:\n{tail}")
        self.say(f"{item.name} {what}; restarting in {delay_s:.1f}s (details in {self.log_path})")

    def _restart(self, item: Supervised, record: Record) -> None:
        record.restart_due_at = None
        record.restarts += 1
        record.started_at = self.clock()
        try:
            item.restart()
        except Exception as error:
            # Whatever a start raises, the supervisor must go on: dying would leave every other
            # process unsupervised. An InfrastructureError carries the exit code and log tail.
            self._schedule(item, record, "failed to restart", str(error))
            return
        self._log(f"{item.name} restarted (restart {record.restarts})")
        self.say(f"restarted {item.name} (restart {record.restarts})")

    def _log(self, message: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n")

    def snapshot(self, *, supervising: bool = True) -> dict[str, Any]:
        now = self.clock()
        processes = {}
        for item in self.supervised:
            record = self.records[item.name]
            process = item.current()
            running = record.restart_due_at is None and process is not None and process.running
            processes[item.name] = {
                "pid": _pid(process) if running else None,
                "state": "running" if running else "restarting" if record.restart_due_at else "exited",
                "restarts": record.restarts,
                "last_exit_code": record.last_exit_code,
                "restart_in_s": round(max(record.restart_due_at - now, 0.0), 1) if record.restart_due_at else None,
                "url": item.url,
                "health_url": item.health_url,
            }
        return {
            "supervisor_pid": os.getpid(),
            "supervising": supervising,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "processes": processes,
        }

    def write_state(self, *, supervising: bool = True) -> None:
        # Written whole and renamed, so `ledgerline status` never reads half a file.
        partial = self.state_path.with_suffix(".json.part")
        partial.write_text(json.dumps(self.snapshot(supervising=supervising), indent=2))
        partial.replace(self.state_path)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE_NAME).read_text())
    except FileNotFoundError:
        return None
    pid = state.get("supervisor_pid")
    if state.get("supervising") and not (isinstance(pid, int) and _alive(pid)):
        # The `up` that wrote it was killed outright and could not say it stopped.
        state["supervising"] = False
    return state


def _pid(process: ManagedProcess | None) -> int | None:
    return None if process is None or process.process is None else process.process.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def supervise_platform(platform: Platform) -> list[Supervised]:
    """Everything `ledgerline up` started: infrastructure first, as it was started."""
    infra = platform.infra

    def restart_kafka() -> None:
        infra.kafka.start()
        # The embedded broker keeps topics in memory: a restarted one has none until made again.
        from ledgerline.core.kafka_clients import ensure_topics

        try:
            asyncio.run(ensure_topics(infra.kafka.bootstrap_servers))
        except Exception as error:  # The admin client raises its own errors; all mean "not ready".
            infra.kafka.stop()
            raise InfrastructureError(f"kafka restarted but its topics could not be created: {error}") from error

    # Infrastructure by its address (host:port): what a client of it is configured with.
    supervised = [
        Supervised(
            "postgresql", lambda: infra.postgres.process, infra.postgres.start, url=_local(infra.ports.postgres)
        ),
        Supervised("redis", lambda: infra.redis.process, infra.redis.start, url=_local(infra.ports.redis)),
        Supervised("kafka", lambda: infra.kafka.process, restart_kafka, url=_local(infra.ports.kafka)),
    ]
    infrastructure = tuple(item.name for item in supervised)
    for name in list(platform.processes):
        current = _current(platform, name)
        if name == "smtp-sink":
            supervised.append(Supervised(name, current, platform.start_smtp_sink, url=_local(platform.ports["smtp"])))
        elif name == "gateway":
            health = platform.entry_point + GATEWAY_HEALTH_PATH
            supervised.append(
                Supervised(name, current, platform.start_gateway, url=platform.entry_point, health_url=health)
            )
        else:
            url = platform.url(name)
            supervised.append(
                Supervised(name, current, _starter(platform, name), infrastructure, url, health_url=f"{url}/readyz")
            )
    return supervised


def _local(port: int) -> str:
    return f"127.0.0.1:{port}"


def _current(platform: Platform, name: str) -> Callable[[], ManagedProcess | None]:
    return lambda: platform.processes.get(name)


def _starter(platform: Platform, service: str) -> Callable[[], None]:
    return lambda: platform.spawn_service(service)
