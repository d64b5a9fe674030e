"""The fixed local ports of `ledgerline up` lie below the ephemeral port range, so no outgoing
connection can hold one while its server restarts, and they clash with none of the platform's."""

from pathlib import Path

from ledgerline.infra.launcher import Ports
from ledgerline.infra.platform import DEFAULT_PORTS

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
