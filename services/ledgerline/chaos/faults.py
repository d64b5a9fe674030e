"""Carry out a fault plan against the local platform's processes, the bank simulator and the
TCP proxy between the services and their database and broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ledgerline.chaos.schedule import Fault, Kind, Plan
from ledgerline.core.access_tokens import ClientCredentials
from ledgerline.infra.platform import Platform
from ledgerline.infra.process import ManagedProcess
from ledgerline.infra.toxiproxy import Toxiproxy

BANK_ERROR_RATE_PERCENT = 80
# Above the payment service's bank timeout (chaos runs it at 2 s): the bank does the work
# after the caller has given up on it.
BANK_SLOW_LATENCY_MS = 3_000
ADMIN_TIMEOUT_S = 10.0
# A stalled direction holds its bytes this much longer than the fault lasts: the fault's end,
# which removes the stall and lets them through, always comes first.
STALL_MARGIN_S = 60.0
NETWORK_KINDS = (Kind.NET_LATENCY, Kind.NET_DROP, Kind.NET_STALL)


@dataclass
class Injector:
    platform: Platform
    log: Callable[[str], None]
    network: Toxiproxy
    paused: set[int] = field(default_factory=set)
    # Pauses and bank faults that are still to end, kept so they are neither lost nor left running.
    lasting: set[asyncio.Task[None]] = field(default_factory=set)
    # The bank simulator's admin route takes the operator's token (fetched once, then renewed).
    operator: ClientCredentials | None = None

    def process_of(self, target: str) -> ManagedProcess | None:
        infra = self.platform.infra
        if target == "kafka":
            return infra.kafka.process
        if target == "postgresql":
            return infra.postgres.process
        if target == "redis":
            return infra.redis.process
        return self.platform.processes.get(target)

    def pid_of(self, target: str) -> int | None:
        process = self.process_of(target)
        if process is None or process.process is None or not process.running:
            return None
        return process.process.pid

    def signal(self, target: str, sig: signal.Signals) -> int | None:
        pid = self.pid_of(target)
        if pid is None:
            self.log(f"{target} is not running (being restarted): {sig.name} skipped")
            return None
        # Only the main process, as a crash of the host process would; PostgreSQL's backends must
        # notice on their own.
        os.kill(pid, sig)
        return pid

    async def run(self, plan: Plan, started_at: float) -> None:
        for fault in plan.faults:
            await asyncio.sleep(max(0.0, started_at + fault.at_s - time.monotonic()))
            self.log(f"fault {fault.describe()}")
            await self.inject(fault)

    async def inject(self, fault: Fault) -> None:
        if fault.kind in (Kind.KILL, Kind.KILL_TWO, Kind.REDIS_LOST):
            # Redis keeps nothing on disk: the supervisor restarts it empty.
            for target in fault.targets:
                self.signal(target, signal.SIGKILL)
        else:
            if fault.kind is Kind.PAUSE:
                ending = self.pause(fault.targets[0], fault.duration_s)
            elif fault.kind in NETWORK_KINDS:
                ending = self.disturb(fault)
            else:
                ending = self.bank(fault)
            task = asyncio.get_running_loop().create_task(ending)
            self.lasting.add(task)
            task.add_done_callback(self.lasting.discard)

    async def pause(self, target: str, duration_s: float) -> None:
        pid = self.signal(target, signal.SIGSTOP)
        if pid is None:
            return
        self.paused.add(pid)
        await asyncio.sleep(duration_s)
        self.resume(pid)

    def resume(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        self.paused.discard(pid)

    async def disturb(self, fault: Fault) -> None:
        """One network fault on the proxy to `fault.targets[0]`, removed after its duration."""
        route = fault.targets[0]
        if route not in self.network.routes:
            self.log(f"{route} is not behind the proxy (embedded broker): {fault.kind.value} skipped")
            return
        toxics = network_toxics(fault)
        for name, kind, stream, attributes in toxics:
            await asyncio.to_thread(self.network.add_toxic, route, name, kind, stream, attributes)
        try:
            await asyncio.sleep(fault.duration_s)
        finally:
            for name, *_ in toxics:
                await asyncio.to_thread(self.network.remove_toxic, route, name)

    async def bank(self, fault: Fault) -> None:
        behaviour = (
            {"latency_ms": 0, "failure_rate_percent": BANK_ERROR_RATE_PERCENT}
            if fault.kind is Kind.BANK_ERRORS
            else {"latency_ms": BANK_SLOW_LATENCY_MS, "failure_rate_percent": 0}
        )
        await self.set_bank(behaviour)
        await asyncio.sleep(fault.duration_s)
        await self.set_bank({"latency_ms": 0, "failure_rate_percent": 0})

    async def set_bank(self, behaviour: dict[str, int]) -> None:
        if self.operator is None:
            self.operator = ClientCredentials(self.platform.url("identity"), *self.platform.operator_credentials)
        async with httpx.AsyncClient(timeout=ADMIN_TIMEOUT_S, auth=self.operator) as http:
            response = await http.put(f"{self.platform.url('banksim')}/v1/admin/behaviour", json=behaviour)
            response.raise_for_status()

    async def heal(self) -> None:
        """Every paused process continues and the bank behaves; restarts are the supervisor's."""
        for task in list(self.lasting):
            task.cancel()
        await asyncio.gather(*self.lasting, return_exceptions=True)
        for pid in list(self.paused):
            self.resume(pid)
        await asyncio.to_thread(self.network.heal)
        await self.set_bank({"latency_ms": 0, "failure_rate_percent": 0})


def network_toxics(fault: Fault) -> list[tuple[str, str, str, dict[str, int]]]:
    """The toxiproxy toxics of a network fault, as (name, type, stream, attributes)."""
    if fault.kind is Kind.NET_LATENCY:
        jitter = {"latency": fault.latency_ms, "jitter": fault.latency_ms // 4}
        return [("latency-up", "latency", "upstream", jitter), ("latency-down", "latency", "downstream", jitter)]
    if fault.kind is Kind.NET_DROP:
        # A connection is reset as soon as its client sends anything; idle ones live on.
        return [("drop", "reset_peer", "upstream", {"timeout": 0})]
    # A latency toxic never drops bytes: removing it hands on what it held, as a stalled TCP
    # connection that recovers would (toxiproxy's "timeout" toxic would drop them).
    held_ms = int((fault.duration_s + STALL_MARGIN_S) * 1000)
    return [("stall", "latency", fault.direction, {"latency": held_ms, "jitter": 0})]
