"""What `ledgerline status` and `ledgerline up` print: each process with its health, restarts and
address, and the platform's URLs, laid out so that no URL is cut short on an 80-column terminal."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.table import Table

from ledgerline.infra.process import tcp_open

# A probe is a glance, not a wait: a process that does not answer in this time is shown so.
PROBE_TIMEOUT_S = 2.0
PROBES_AT_ONCE = 16


def probe(process: Mapping[str, Any]) -> str:
    """`ready` when its health URL answers 200 (or, without one, its address takes a connection)."""
    if process["state"] != "running":
        return "-"
    if health_url := process.get("health_url"):
        try:
            status = httpx.get(health_url, timeout=PROBE_TIMEOUT_S).status_code
        except httpx.HTTPError:
            return "no answer"
        return "ready" if status == 200 else f"not ready ({status})"
    url = process.get("url") or ""
    address = urlsplit(url if "://" in url else f"//{url}")  # infrastructure is shown as host:port
    if address.hostname is None or address.port is None:
        return "-"
    return "ready" if tcp_open(address.hostname, address.port, PROBE_TIMEOUT_S) else "no answer"


def probe_all(processes: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE) as pool:
        return dict(zip(processes, pool.map(probe, processes.values()), strict=True))


def status_table(state: Mapping[str, Any], health: Mapping[str, str]) -> Table:
    # No borders and two spaces between columns, so the table fits 80 columns: state and health
    # wrap when they must, names, numbers and addresses never (an address folds rather than lose
    # its end on a narrower terminal).
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, header_style="bold")
    table.add_column("process", no_wrap=True)
    table.add_column("state", overflow="fold")
    table.add_column("health", overflow="fold")
    for column in ("pid", "restarts", "exit"):
        table.add_column(column, no_wrap=True)
    table.add_column("address", no_wrap=True, overflow="fold")
    # The entry point first: it is where the platform is used from.
    processes = sorted(state["processes"].items(), key=lambda item: item[0] != "gateway")
    for name, process in processes:
        restart_in = process["restart_in_s"]
        exit_code = process["last_exit_code"]
        table.add_row(
            name,
            process["state"] + (f" in {restart_in}s" if restart_in is not None else ""),
            health.get(name, "-"),
            str(process["pid"] or "-"),
            str(process["restarts"]),
            "-" if exit_code is None else str(exit_code),
            process.get("url") or "-",
        )
    return table


def print_status(console: Console, state: Mapping[str, Any] | None, data_dir: Path) -> None:
    if state is None:
        console.print(
            f"no `ledgerline up` has run with the data folder {data_dir}: start the platform with "
            "`make run` from the repository root, or name its folder with --data-dir"
        )
        return
    running = "running" if state["supervising"] else "[red]not running[/] (start it with `make run`)"
    # A line of its own rather than the table's title, which rich would wrap to the table's width.
    console.print(f"ledgerline up (pid {state['supervisor_pid']}) {running}, as of {state['updated_at']}")
    health = probe_all(state["processes"]) if state["supervising"] else {}
    console.print(status_table(state, health))


def endpoints_table(entry_point: str, services: Mapping[str, Mapping[str, str]]) -> Table:
    """Where the API docs and metrics are; URLs fold rather than end in an ellipsis."""
    table = Table(title="Ledgerline is running")
    table.add_column("service")
    table.add_column("API docs", overflow="fold")
    table.add_column("metrics", overflow="fold")
    table.add_row("[bold]entry point[/]", f"[bold]{entry_point}/docs[/]", "-")
    for name, urls in services.items():
        table.add_row(name, urls["api_docs"], urls["metrics"])
    return table
