"""A process that keeps dying is restarted after exponentially growing delays that never exceed
the backoff bound, and never sooner than its delay, so it cannot spin a core."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from ledgerline.infra.process import InfrastructureError, ManagedProcess
from ledgerline.infra.supervisor import Backoff, Supervised, Supervisor, read_state

BACKOFF = Backoff(initial_s=0.2, factor=2.0, max_s=0.8, healthy_after_s=60.0)
RESTARTS_WATCHED = 5
# Bounds the test, not the supervisor: five restarts take about 3 s.
WATCH_TIMEOUT_S = 60.0
EXIT_CODE = 3
# Generous, for a busy 2-core machine: the bound checked exactly is the chosen delays.
SCHEDULING_SLACK_S = 10.0


def test_a_process_that_keeps_dying_backs_off_within_the_bound(tmp_path: Path) -> None:
    started: list[float] = []
    current: list[ManagedProcess] = []

    def start() -> None:
        # Lives a moment, then fails, as a server that crashes shortly after start-up would.
        process = ManagedProcess(
            "flaky", ["/bin/sh", "-c", f"echo failing; sleep 0.1; exit {EXIT_CODE}"], log_path=tmp_path / "flaky.log"
        )
        process.start()
        started.append(time.monotonic())
        current.append(process)

    start()
    said: list[str] = []
    supervisor = Supervisor(
        [Supervised("flaky", lambda: current[-1], start)],
        data_dir=tmp_path,
        backoff=BACKOFF,
        say=said.append,
        tick_interval_s=0.05,
    )
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    record = supervisor.records["flaky"]
    try:
        supervisor.run(lambda: record.restarts >= RESTARTS_WATCHED or time.monotonic() > deadline)
    finally:
        current[-1].stop()

    assert record.restarts == RESTARTS_WATCHED, said
    assert list(record.delays_s) == pytest.approx([0.2, 0.4, 0.8, 0.8, 0.8]), record.delays_s
    assert record.last_exit_code == EXIT_CODE
    gaps_s = [later - earlier for earlier, later in itertools.pairwise(started)]
    for gap_s, delay_s in zip(gaps_s, record.delays_s, strict=True):
        # Never sooner than the delay; later only by the process's life and scheduling noise.
        assert delay_s <= gap_s < delay_s + SCHEDULING_SLACK_S, (gaps_s, record.delays_s)
    assert any(line.startswith(f"flaky exited with code {EXIT_CODE}; restarting in 0.8s") for line in said), said
    assert "failing" in (tmp_path / "logs" / "supervisor.log").read_text()  # The log tail is kept.
    state = read_state(tmp_path)
    assert state is not None and not state["supervising"]
    assert state["processes"]["flaky"]["restarts"] == RESTARTS_WATCHED


def test_the_backoff_delay_is_capped_and_refuses_inconsistent_limits() -> None:
    assert [BACKOFF.delay_s(n) for n in range(1, 7)] == pytest.approx([0.2, 0.4, 0.8, 0.8, 0.8, 0.8])
    with pytest.raises(ValueError, match="inconsistent backoff"):
        Backoff(initial_s=5.0, max_s=1.0)


def test_a_service_is_started_again_only_once_what_it_needs_runs(tmp_path: Path) -> None:
    """PostgreSQL down and a service down: the service waits for PostgreSQL, even when PostgreSQL's
    first restart fails, instead of waiting out its readiness against a database that is not there."""
    processes: dict[str, ManagedProcess] = {}
    attempts = {"db": 0, "service": 0}
    db_running_when_service_started: list[bool] = []

    def spawn(name: str, script: str) -> None:
        process = ManagedProcess(name, ["/bin/sh", "-c", script], log_path=tmp_path / f"{name}.log")
        process.start()
        processes[name] = process

    def start_db() -> None:
        attempts["db"] += 1
        if attempts["db"] == 1:
            raise InfrastructureError("db: first restart fails")
        spawn("db", "sleep 60")

    def start_service() -> None:
        attempts["service"] += 1
        db_running_when_service_started.append(processes["db"].running)
        spawn("service", "sleep 60")

    spawn("db", "exit 9")  # Both have just died, as after a SIGKILL.
    spawn("service", "exit 9")
    supervisor = Supervisor(
        [
            Supervised("db", lambda: processes["db"], start_db),
            Supervised("service", lambda: processes["service"], start_service, needs=("db",)),
        ],
        data_dir=tmp_path,
        backoff=BACKOFF,
        say=lambda _: None,
        tick_interval_s=0.05,
    )
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    try:
        supervisor.run(lambda: attempts["service"] >= 1 or time.monotonic() > deadline)
    finally:
        for process in processes.values():
            process.stop()
    assert attempts == {"db": 2, "service": 1}
    assert db_running_when_service_started == [True]
