"""The chaos test's network faults, through a real toxiproxy in front of a real Redis: added
latency slows every answer, a drop resets the connection, and a one-way stall holds the bytes
until it ends and then delivers every one of them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerline.chaos.faults import network_toxics
from ledgerline.chaos.schedule import Fault, Kind
from ledgerline.infra.launcher import Infrastructure
from ledgerline.infra.process import free_port
from ledgerline.infra.toxiproxy import Route, Toxiproxy

LATENCY_MS = 400
STALL_S = 2.0
ANSWER_TIMEOUT_S = 30.0


@pytest.fixture
def proxy(tmp_path: Path, infra: Infrastructure) -> Iterator[Toxiproxy]:
    network = Toxiproxy(tmp_path, free_port(), [Route("redis", free_port(), infra.ports.redis)])
    network.start()
    try:
        yield network
    finally:
        network.stop()


def connect(network: Toxiproxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", network.routes["redis"].listen_port), timeout=ANSWER_TIMEOUT_S)


def timed_ping(sock: socket.socket) -> float:
    started = time.monotonic()
    sock.sendall(b"PING\r\n")
    assert sock.recv(16) == b"+PONG\r\n"
    return time.monotonic() - started


def apply(network: Toxiproxy, fault: Fault) -> list[str]:
    toxics = network_toxics(fault)
    for name, kind, stream, attributes in toxics:
        network.add_toxic("redis", name, kind, stream, attributes)
    return [name for name, *_ in toxics]


def test_added_latency_slows_each_answer_until_removed(proxy: Toxiproxy) -> None:
    with connect(proxy) as sock:
        fault = Fault(0, Kind.NET_LATENCY, ("redis",), 1.0, latency_ms=LATENCY_MS)
        names = apply(proxy, fault)
        # Both directions: at least the latency each way, less jitter (a quarter of it).
        assert timed_ping(sock) >= 2 * 0.75 * LATENCY_MS / 1000
        for name in names:
            proxy.remove_toxic("redis", name)
        assert timed_ping(sock) < 2 * 0.75 * LATENCY_MS / 1000


def test_a_drop_resets_a_connection_that_sends(proxy: Toxiproxy) -> None:
    with connect(proxy) as sock:
        assert timed_ping(sock) < ANSWER_TIMEOUT_S
        apply(proxy, Fault(0, Kind.NET_DROP, ("redis",), 1.0))
        sock.sendall(b"PING\r\n")
        try:
            answer = sock.recv(16)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # Reset, never answered.
        proxy.heal()
    with connect(proxy) as sock:
        assert timed_ping(sock) < ANSWER_TIMEOUT_S  # After the fault, connections work again.


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_a_stall_holds_every_byte_one_way_until_it_ends(proxy: Toxiproxy, direction: str) -> None:
    with connect(proxy) as sock:
        names = apply(proxy, Fault(0, Kind.NET_STALL, ("redis",), STALL_S, direction=direction))
        sock.sendall(b"PING\r\nECHO held\r\n")
        sock.settimeout(STALL_S)
        with pytest.raises(TimeoutError):
            sock.recv(64)  # Nothing gets through while the stall lasts.
        for name in names:
            proxy.remove_toxic("redis", name)
        sock.settimeout(ANSWER_TIMEOUT_S)
        answers = b""
        while answers.count(b"\r\n") < 3:
            answers += sock.recv(64)
        assert answers == b"+PONG\r\n$4\r\nheld\r\n"  # Both commands, both answers, none lost.
