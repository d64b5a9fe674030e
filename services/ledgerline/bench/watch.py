"""The benchmark's live view: its progress line over `ledgerline top`'s overview of the platform,
read from the Prometheus that scrapes it. Prometheus is read on a thread of its own every
`interval_s`, so a slow query never holds up the load, and drawing uses the last frame read."""

from __future__ import annotations

import threading
from types import TracebackType

import httpx
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from ledgerline.cli.top import Overview, read_overview, render

WATCH_INTERVAL_S = 2.0
# Redraws per second of the terminal: the spinner turns, the numbers change every interval.
REFRESH_PER_S = 4.0


class WatchedRun:
    """A rich renderable and context manager: the status line and the latest overview."""

    def __init__(self, console: Console, prometheus_url: str, *, interval_s: float = WATCH_INTERVAL_S) -> None:
        self._prometheus_url = prometheus_url
        self._interval_s = interval_s
        self._status = Spinner("dots", Text("driving Ledgerline..."))
        self.overview: Overview | None = None
        self._stopped = threading.Event()
        self._reader = threading.Thread(target=self._read, name="bench-watch", daemon=True)
        self._live = Live(self, console=console, refresh_per_second=REFRESH_PER_S, transient=True)

    def update(self, text: str) -> None:
        self._status.update(text=Text(text))

    def __rich__(self) -> RenderableType:
        if self.overview is None:
            return Group(self._status, Text(f"waiting for Prometheus at {self._prometheus_url}...", style="dim"))
        return Group(self._status, render(self.overview))

    def _read(self) -> None:
        with httpx.Client() as http:
            while not self._stopped.is_set():
                self.overview = read_overview(self._prometheus_url, http)
                self._stopped.wait(self._interval_s)

    def __enter__(self) -> WatchedRun:
        self._reader.start()
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._live.stop()
        self._reader.join()
