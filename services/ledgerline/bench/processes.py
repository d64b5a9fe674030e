"""CPU time of the processes behind a platform, found by the ports they listen on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class Watched:
    name: str
    process: psutil.Process


def listening(ports: Mapping[str, int]) -> list[Watched]:
    """The process listening on each named port (those not found, or not ours, are left out)."""
    by_port = {port: name for name, port in ports.items()}
    found: list[Watched] = []
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status != psutil.CONN_LISTEN or connection.pid is None:
            continue
        name = by_port.pop(connection.laddr.port, None)
        if name is not None:
            found.append(Watched(name, psutil.Process(connection.pid)))
    return found


def cpu_seconds(watched: list[Watched]) -> dict[str, float]:
    """User plus system time of each process and its children (PostgreSQL's backends)."""
    totals: dict[str, float] = {}
    for item in watched:
        try:
            times = item.process.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            for child in item.process.children(recursive=True):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        except psutil.Error:
            continue
        totals[item.name] = totals.get(item.name, 0.0) + total
    return totals
