"""The fixed local ports of `ledgerline up`, and the free ports test platforms take, lie below the
ephemeral port range, so no outgoing connection can hold one while its server restarts; they
clash with none of the platform's, and runs side by side take different ones."""

import socket
from pathlib import Path

from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import DEFAULT_PORTS, Platform
from ledgerline.infra.process import STABLE_PORTS, StablePorts, port_bindable

# Linux's default range; a machine that reports its own range is checked against that as well.
EPHEMERAL_LOW_DEFAULT = 32768
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def test_fixed_ports_are_below_the_ephemeral_range() -> None:
    ports = Ports.fixed()
    fixed = [ports.postgres, ports.redis, ports.kafka]
    low = EPHEMERAL_LOW_DEFAULT
    if _RANGE_FILE.exists():
        low = min(low, int(_RANGE_FILE.read_text().split()[0]))
    assert all(1024 <= port < low for port in fixed), fixed
    assert len(set(fixed) | set(DEFAULT_PORTS.values())) == len(fixed) + len(DEFAULT_PORTS)


def test_test_platforms_take_free_ports_below_the_ephemeral_range_each_once() -> None:
    infra = Ports.free()
    platform = Platform.on_free_ports(Infrastructure(Path("/nonexistent"), ports=infra), replicas=2)
    taken = [infra.postgres, infra.redis, infra.kafka, *platform.ports.values()]
    assert all(STABLE_PORTS.start <= port < STABLE_PORTS.stop for port in taken), taken
    assert STABLE_PORTS.stop <= EPHEMERAL_LOW_DEFAULT
    assert len(set(taken)) == len(taken), "a port was handed out twice"
    # Instances beyond the first get ports of their own too, not the service's default.
    assert platform.ports["payment-2"] not in DEFAULT_PORTS.values()


def test_runs_side_by_side_count_up_from_bases_of_their_own_and_skip_a_held_port() -> None:
    first, second = StablePorts.for_process(4242), StablePorts.for_process(4243)
    ours = [first.take() for _ in range(20)]
    theirs = [second.take() for _ in range(20)]
    assert not set(ours) & set(theirs)
    offset = next(k for k in range(len(STABLE_PORTS)) if port_bindable(STABLE_PORTS.start + k))
    with socket.socket() as held:
        held.bind(("127.0.0.1", STABLE_PORTS.start + offset))
        assert StablePorts(offset).take() > STABLE_PORTS.start + offset
