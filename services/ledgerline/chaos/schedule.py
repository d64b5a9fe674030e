"""The fault schedule of one seed: which fault, when, for how long. Pure: the same seed always
gives the same schedule, so a failing seed can be replayed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

SERVICES = ("wallet", "ledger", "payment", "notification")
# What the services reach through the chaos test's TCP proxy.
PROXIED = ("kafka", "postgresql")
DIRECTIONS = ("upstream", "downstream")  # Client to server, server to client.
LATENCY_MS = (200, 1_500)
FAULTS_PER_SEED_MAX = 20


class Kind(StrEnum):
    KILL = "kill"  # SIGKILL; the supervisor restarts the process.
    KILL_TWO = "kill-two"  # Two services SIGKILLed at the same moment.
    PAUSE = "pause"  # SIGSTOP for longer than the saga step timeout, then SIGCONT.
    BANK_ERRORS = "bank-errors"  # The bank simulator answers most calls with 503.
    BANK_SLOW = "bank-slow"  # The bank answers after the caller's timeout, having done the work.
    REDIS_LOST = "redis-lost"  # SIGKILL of Redis, which keeps nothing on disk: restarted empty.
    NET_LATENCY = "net-latency"  # Latency added both ways between the services and a server.
    NET_DROP = "net-drop"  # Every connection that sends anything is reset.
    NET_STALL = "net-stall"  # One direction holds its bytes until the fault ends (none lost).


@dataclass(frozen=True, slots=True)
class Fault:
    at_s: float  # Seconds after the load starts.
    kind: Kind
    targets: tuple[str, ...]
    duration_s: float = 0.0  # For pauses, bank and network faults; a kill is instantaneous.
    latency_ms: int = 0  # For added latency.
    direction: str = ""  # For a stall: which way the bytes stop.

    def describe(self) -> str:
        lasting = f" for {self.duration_s:.1f}s" if self.duration_s else ""
        how = f" +{self.latency_ms}ms" if self.latency_ms else f" {self.direction}" if self.direction else ""
        return f"t+{self.at_s:5.1f}s {self.kind.value} {','.join(self.targets)}{how}{lasting}"


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    load_s: float
    faults: tuple[Fault, ...]


def plan(seed: int, *, load_s: float, faults: int, pause_s: float) -> Plan:
    """`faults` faults spread over the load, each in its own slot, kinds and targets drawn from `seed`.

    Kinds are dealt from a shuffled deck so one seed mixes kinds before it repeats one; PostgreSQL
    and the broker are kill targets as often as any single service.
    """
    if not 1 <= faults <= FAULTS_PER_SEED_MAX:
        raise ValueError(f"faults must be within 1..{FAULTS_PER_SEED_MAX}, got {faults}")
    if load_s <= 0 or pause_s <= 0:
        raise ValueError("load_s and pause_s must be positive")
    rng = random.Random(seed)
    deck: list[Kind] = []
    slot_s = load_s / faults
    planned = []
    for index in range(faults):
        if not deck:
            deck = [*Kind, Kind.KILL]  # Kills are the commonest fault, so they come twice.
            rng.shuffle(deck)
        kind = deck.pop()
        at_s = round(index * slot_s + rng.uniform(0.1, 0.4) * slot_s, 1)
        planned.append(_fault(rng, kind, at_s, pause_s))
    return Plan(seed, load_s, tuple(planned))


def _fault(rng: random.Random, kind: Kind, at_s: float, pause_s: float) -> Fault:
    if kind is Kind.KILL:
        return Fault(at_s, kind, (rng.choice((*SERVICES, "kafka", "postgresql")),))
    if kind is Kind.KILL_TWO:
        return Fault(at_s, kind, tuple(sorted(rng.sample(SERVICES, 2))))
    if kind is Kind.PAUSE:
        target = rng.choice(("wallet", "ledger", "payment", "kafka"))
        return Fault(at_s, kind, (target,), round(pause_s * rng.uniform(1.0, 1.5), 1))
    if kind is Kind.REDIS_LOST:
        return Fault(at_s, kind, ("redis",))
    if kind in (Kind.NET_LATENCY, Kind.NET_DROP, Kind.NET_STALL):
        target, duration_s = rng.choice(PROXIED), round(pause_s * rng.uniform(0.8, 1.5), 1)
        if kind is Kind.NET_LATENCY:
            return Fault(at_s, kind, (target,), duration_s, latency_ms=rng.randint(*LATENCY_MS))
        if kind is Kind.NET_STALL:
            return Fault(at_s, kind, (target,), duration_s, direction=rng.choice(DIRECTIONS))
        return Fault(at_s, kind, (target,), duration_s)
    return Fault(at_s, kind, ("banksim",), round(pause_s * rng.uniform(0.8, 1.2), 1))
