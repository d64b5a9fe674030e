"""A starting server that is slow but making progress (writing its log, as a broker replaying its
logs after a crash does) is waited for past its readiness timeout; one that goes quiet is
stopped and reported once the timeout passes without progress."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledgerline.infra.process import InfrastructureError, ManagedProcess

# The server below writes a line every LINE_EVERY_S and is ready after READY_AFTER_S, well past
# the readiness timeout but never quiet for as long as it.
LINE_EVERY_S = 0.2
READY_AFTER_S = 3.0
TIMEOUT_S = 1.5
LIMIT_S = 120.0


def slow_server(tmp_path: Path, *, writes_log: bool) -> tuple[ManagedProcess, Path]:
    ready_marker = tmp_path / "ready"
    line = "echo loading" if writes_log else "true"
    steps = int(READY_AFTER_S / LINE_EVERY_S)
    script = f"for i in $(seq {steps}); do {line}; sleep {LINE_EVERY_S}; done; touch {ready_marker}; sleep 60"
    process = ManagedProcess("slow", ["/bin/sh", "-c", script], log_path=tmp_path / "slow.log")
    process.start()
    return process, ready_marker


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def test_a_server_still_loading_is_waited_for_past_its_timeout(tmp_path: Path) -> None:
    process, ready = slow_server(tmp_path, writes_log=True)
    try:
        started = time.monotonic()
        process.wait_ready(
            ready.exists, timeout_s=TIMEOUT_S, progress=lambda: log_size(process.log_path), limit_s=LIMIT_S
        )
        assert time.monotonic() - started > TIMEOUT_S  # It did wait past the timeout...
        assert process.running  # ...and did not stop the server.
    finally:
        process.stop()


def test_a_quiet_server_is_stopped_once_the_timeout_passes_without_progress(tmp_path: Path) -> None:
    process, ready = slow_server(tmp_path, writes_log=False)
    with pytest.raises(InfrastructureError, match="was not ready within") as refused:
        process.wait_ready(
            ready.exists, timeout_s=TIMEOUT_S, progress=lambda: log_size(process.log_path), limit_s=LIMIT_S
        )
    # An empty log is named as such, not left as a blank after "last lines".
    assert str(refused.value).endswith("(empty: it wrote nothing)")
    assert not process.running
    assert not ready.exists()
