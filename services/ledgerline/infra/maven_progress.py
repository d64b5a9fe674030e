"""mvn run with its downloads drawn as a progress bar: Maven prints one `Downloaded from ...
(12 kB at 3.4 MB/s)` line per file, and the bar adds them up against the size expected."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from ledgerline.infra.process import InfrastructureError

DOWNLOADED = re.compile(r"Downloaded from [^:]+: \S+ \((?P<size>[\d.]+) (?P<unit>B|kB|MB|GB)")
UNIT_BYTES = {"B": 1, "kB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000}
BAR_WIDTH = 30
# The bar stays below full until mvn has finished: the expected size is an estimate.
RUNNING_PERCENT_MAX = 99
OUTPUT_TAIL_LINES = 60


def downloaded_bytes(line: str) -> int:
    """The size of the file a Maven transfer line says was downloaded; 0 for any other line."""
    found = DOWNLOADED.search(line)
    return round(float(found["size"]) * UNIT_BYTES[found["unit"]]) if found else 0


@dataclass
class DownloadBar:
    expected_bytes: int
    out: TextIO = field(default_factory=lambda: sys.stderr)
    files: int = 0
    total_bytes: int = 0

    def add(self, line: str) -> None:
        size = downloaded_bytes(line)
        if size:
            self.files += 1
            self.total_bytes += size
            self.draw(min(RUNNING_PERCENT_MAX, self.total_bytes * 100 // self.expected_bytes))

    def finish(self) -> None:
        if self.files:
            self.draw(100)
            self.out.write("\n")
            self.out.flush()

    def draw(self, percent: int) -> None:
        bar = "#" * (percent * BAR_WIDTH // 100)
        megabytes = self.total_bytes / 1_000_000
        self.out.write(f"\r    [{bar:<{BAR_WIDTH}}] {percent:3d}%  {self.files} files, {megabytes:.1f} MB")
        self.out.flush()


def run_with_download_bar(command: list[str], what: str, timeout_s: float, expected_bytes: int) -> None:
    """Run mvn (batch mode, not quiet) to the end, drawing its downloads; raise with its last lines."""
    bar = DownloadBar(expected_bytes)
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Reading blocks until mvn writes or exits: the timer ends a run that hangs without a word.
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            bar.add(line)
        returncode = process.wait()
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
    if returncode != 0:
        if timed_out:
            raise InfrastructureError(f"{what} did not finish within {timeout_s:.0f}s")
        raise InfrastructureError(f"{what} failed (exit code {returncode}):\n{''.join(tail)}")
    bar.finish()
