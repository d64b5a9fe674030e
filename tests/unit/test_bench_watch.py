"""The benchmark's live view draws its progress line over the overview it last read, and keeps
drawing (saying what failed) when Prometheus does not answer."""

from __future__ import annotations

import io
import socket
import time

from rich.console import Console

from ledgerline.bench.watch import WatchedRun

WAIT_S = 30.0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_live_view_shows_progress_and_what_prometheus_answered() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    url = f"http://127.0.0.1:{closed_port()}"
    watched = WatchedRun(console, url, interval_s=0.1)
    frame = Console(file=io.StringIO(), width=120)
    frame.print(watched)  # Before the first read: it says what it waits for.
    with watched:
        watched.update("driving Ledgerline: transfers, 3 workloads so far...")
        deadline = time.monotonic() + WAIT_S
        while watched.overview is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watched.overview is not None, "the reader thread never read the overview"
        after = Console(file=io.StringIO(), width=120)
        after.print(watched)
    first = frame.file.getvalue()  # type: ignore[attr-defined]  # A StringIO, given above.
    drawn = after.file.getvalue()  # type: ignore[attr-defined]
    assert f"waiting for Prometheus at {url}" in first
    assert "transfers, 3 workloads so far" in drawn
    assert f"Ledgerline at {url}" in drawn
    assert "queries failed" in drawn  # Nothing listens there: the frame says so, nothing raised.
    assert out.getvalue(), "nothing was drawn to the terminal"
