"""`ledgerline top`: the overview dashboard in a terminal, read from the local Prometheus.

For people without Grafana: throughput, request latency percentiles, payment outcomes, consumer
lag, outbox backlog, dead letters and the state of the books, refreshed every few seconds.
Reading (`read_overview`) is I/O against Prometheus's HTTP API; drawing (`render`) is a pure
function of what was read, so one frame can be drawn and checked on its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

QUERY_TIMEOUT_S = 5.0
# Rates over one minute: twelve scrapes at the local Prometheus's five-second interval.
WINDOW = "1m"
ROWS_MAX = 12  # Per table: the largest values first, so a frame fits a terminal.

Series = dict[str, float]  # A label value (or "") -> the sample's value.

QUERIES: Mapping[str, tuple[str, str]] = {
    # name: (PromQL, the label that names each row; "" for a single value)
    "payments_per_s": (f"sum(rate(ledgerline_saga_outcomes_total[{WINDOW}]))", ""),
    "postings_per_s": (f"sum(rate(ledgerline_postings_total[{WINDOW}]))", ""),
    "requests_per_s": (f"sum(rate(ledgerline_http_requests_total[{WINDOW}]))", ""),
    "outcomes": (
        'sum by (payment) (label_join(ledgerline_saga_outcomes_total, "payment", " ", "type", "outcome", "reason"))',
        "payment",
    ),
    **{
        f"latency_p{q}": (
            f"histogram_quantile(0.{q}, sum by (service, le) "
            f"(rate(ledgerline_http_request_duration_seconds_bucket[{WINDOW}])))",
            "service",
        )
        for q in ("50", "95", "99")
    },
    "lag": ("sum by (group) (ledgerline_consumer_lag)", "group"),
    "backlog": ("max by (service) (ledgerline_outbox_backlog)", "service"),
    "dead_letters": ("sum by (topic) (ledgerline_dead_letters_total)", "topic"),
    "mismatches": ("sum(ledgerline_reconciliation_mismatches)", ""),
    "unbalanced": ("max(ledgerline_reconciliation_unbalanced_currencies)", ""),
    "last_clean_age_s": ("time() - max(ledgerline_reconciliation_last_clean_timestamp_seconds > 0)", ""),
}


@dataclass
class Overview:
    prometheus_url: str
    values: dict[str, Series] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def one(self, name: str) -> float | None:
        return self.values.get(name, {}).get("")


def read_overview(prometheus_url: str, http: httpx.Client) -> Overview:
    overview = Overview(prometheus_url)
    for name, (query, label) in QUERIES.items():
        try:
            response = http.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=QUERY_TIMEOUT_S)
            response.raise_for_status()
            result = response.json()["data"]["result"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            overview.errors.append(f"{name}: {exc}")
            continue
        overview.values[name] = {
            (sample["metric"].get(label, "") if label else ""): float(sample["value"][1]) for sample in result
        }
    return overview


def _number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:,.1f}{unit}" if value != int(value) else f"{int(value):,}{unit}"


def _table(title: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> Table:
    table = Table(title=title, title_justify="left", expand=True)
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right")
    for row in rows or [("(none yet)",) + ("",) * (len(columns) - 1)]:
        table.add_row(*row)
    return table


def _largest(series: Series) -> list[tuple[str, float]]:
    return sorted(series.items(), key=lambda item: (-item[1], item[0]))[:ROWS_MAX]


def _books(overview: Overview) -> Text:
    mismatches, unbalanced = overview.one("mismatches"), overview.one("unbalanced")
    age = overview.one("last_clean_age_s")
    text = Text("Books: ", style="bold")
    if mismatches is None and unbalanced is None:
        return text.append("unknown (no reconciliation reported yet)", style="yellow")
    whole = (mismatches or 0) == 0 and (unbalanced or 0) == 0
    text.append("whole" if whole else "NOT WHOLE", style="green" if whole else "bold red")
    text.append(f"   mismatched wallets {_number(mismatches or 0)}   unbalanced currencies {_number(unbalanced or 0)}")
    text.append(f"   last clean check {_number(age, 's')} ago" if age is not None else "   no clean check yet")
    return text


def render(overview: Overview) -> RenderableType:
    """One frame of the dashboard."""
    head = Text(f"Ledgerline at {overview.prometheus_url}   ", style="bold")
    head.append(
        f"payments/s {_number(overview.one('payments_per_s'))}   postings/s {_number(overview.one('postings_per_s'))}"
        f"   requests/s {_number(overview.one('requests_per_s'))}"
    )
    p50, p95, p99 = (overview.values.get(f"latency_p{q}", {}) for q in ("50", "95", "99"))
    latency = [
        (service, _number(p50.get(service), "s"), _number(p95.get(service), "s"), _number(p99.get(service), "s"))
        for service in sorted(p50)
    ]
    outcomes = [(label, _number(count)) for label, count in _largest(overview.values.get("outcomes", {}))]
    kafka = [(f"lag {group}", _number(v)) for group, v in _largest(overview.values.get("lag", {}))]
    kafka += [(f"outbox {service}", _number(v)) for service, v in _largest(overview.values.get("backlog", {}))]
    dead = [(topic, _number(v)) for topic, v in _largest(overview.values.get("dead_letters", {}))]
    parts: list[RenderableType] = [
        head,
        _books(overview),
        _table("Request latency", ("service", "p50", "p95", "p99"), latency),
        _table("Payments by type, outcome and reason (since start)", ("payments", "count"), outcomes),
        _table("Consumer lag and outbox backlog", ("where", "records"), kafka),
        _table("Dead letters (since start)", ("topic", "records"), dead),
    ]
    if overview.errors:
        failed = f"{len(overview.errors)} of {len(QUERIES)} queries failed, the first: {overview.errors[0]}"
        parts.append(Text(failed, style="red"))
    return Group(*parts)


def run(prometheus_url: str, *, interval_s: float, once: bool) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with httpx.Client() as http:
        if once:
            console.print(render(read_overview(prometheus_url, http)))
            return
        with Live(render(read_overview(prometheus_url, http)), console=console, screen=True) as live:
            while True:
                time.sleep(interval_s)
                live.update(render(read_overview(prometheus_url, http)))
