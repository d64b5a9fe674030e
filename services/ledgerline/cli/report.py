"""`ledgerline report`: PNG charts of a run, drawn from the local Prometheus.

For a look rather than a read after a run: completed payments per second by type, saga latency
p50/p95/p99, outcomes and failures by reason, the outbox backlog and the consumer lag, each over
the last `--since` minutes. Reading (`read_charts`, Prometheus's `query_range`) is I/O; the
step, the series and their JSON are pure; drawing needs matplotlib (`pip install
ledgerline[bench]`, which `make bootstrap` installs). Each chart's data is written next to its
PNG as JSON, for a script or a test to read.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

QUERY_TIMEOUT_S = 30.0
# A range the local Prometheus still holds (its retention is two days).
RANGE_MAX_S = 2 * 24 * 3600
# The local Prometheus scrapes every five seconds: a finer step would only repeat samples.
STEP_MIN_S = 5
# Points per series: enough for a smooth line on a picture, far below Prometheus's own limit.
POINTS_MAX = 720
# Rates over a minute (twelve scrapes): steady enough to read, short enough to follow a short run.
WINDOW = "1m"
_DURATION = re.compile(r"^(?P<amount>[1-9]\d*)(?P<unit>[smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Query:
    promql: str
    # The labels that name a line, or a fixed name for a query of one line.
    label_names: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Chart:
    name: str  # The file name, without extension.
    title: str
    unit: str
    queries: tuple[Query, ...]


CHARTS = (
    Chart(
        "throughput",
        "Completed payments per second by type",
        "payments/s",
        (Query(f'sum by (type) (rate(ledgerline_saga_outcomes_total{{outcome="completed"}}[{WINDOW}]))', ("type",)),),
    ),
    Chart(
        "saga_latency",
        "Saga latency, acceptance to outcome",
        "seconds",
        tuple(
            Query(
                f"histogram_quantile({q}, sum by (le) (rate(ledgerline_saga_duration_seconds_bucket[{WINDOW}])))",
                name=f"p{round(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ),
    ),
    Chart(
        "outcomes",
        "Payment outcomes per second by type, outcome and reason",
        "payments/s",
        (
            Query(
                f"sum by (type, outcome, reason) (rate(ledgerline_saga_outcomes_total[{WINDOW}]))",
                ("type", "outcome", "reason"),
            ),
        ),
    ),
    Chart(
        "outbox_backlog",
        "Outbox backlog by service",
        "rows",
        (Query("max by (service) (ledgerline_outbox_backlog)", ("service",)),),
    ),
    Chart(
        "consumer_lag",
        "Consumer lag by group",
        "records",
        (Query("sum by (group) (ledgerline_consumer_lag)", ("group",)),),
    ),
)


class ReportError(Exception):
    """Prometheus could not be read, or the request was out of bounds."""


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]  # (unix time, value), NaN dropped.


@dataclass
class ChartData:
    chart: Chart
    series: list[Series] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.chart.title,
            "unit": self.chart.unit,
            "queries": [query.promql for query in self.chart.queries],
            "series": [{"label": s.label, "points": [list(p) for p in s.points]} for s in self.series],
        }


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `2h` or `1d` in seconds, up to `RANGE_MAX_S`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ReportError(f"{text!r} is not a duration such as 90s, 10m, 2h or 1d")
    seconds = int(match["amount"]) * _UNIT_S[match["unit"]]
    if seconds > RANGE_MAX_S:
        raise ReportError(f"{text} is longer than the {RANGE_MAX_S // 3600} h the local Prometheus keeps")
    return seconds


def step_for(range_s: int) -> int:
    return max(STEP_MIN_S, math.ceil(range_s / POINTS_MAX))


def series_of(query: Query, result: list[dict[str, Any]]) -> list[Series]:
    """A matrix result as lines: each named by its labels (or the query's name), NaN points dropped."""
    found = []
    for item in result:
        label = query.name or " ".join(item["metric"].get(name, "") for name in query.label_names).strip()
        points = [(float(t), float(v)) for t, v in item["values"] if not math.isnan(float(v))]
        if points:
            found.append(Series(label or "all", points))
    return sorted(found, key=lambda s: s.label)


def read_charts(prometheus_url: str, range_s: int, http: httpx.Client, *, now: float | None = None) -> list[ChartData]:
    end = now if now is not None else time.time()
    params = {"start": f"{end - range_s:.3f}", "end": f"{end:.3f}", "step": f"{step_for(range_s)}s"}
    charts = []
    for chart in CHARTS:
        data = ChartData(chart)
        for query in chart.queries:
            try:
                response = http.get(
                    f"{prometheus_url}/api/v1/query_range",
                    params={**params, "query": query.promql},
                    timeout=QUERY_TIMEOUT_S,
                )
                response.raise_for_status()
                result = response.json()["data"]["result"]
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise ReportError(f"cannot read {chart.name} from {prometheus_url}: {exc}") from exc
            data.series += series_of(query, result)
        charts.append(data)
    return charts


def draw(data: ChartData, path: Path) -> None:
    try:
        import matplotlib
    except ImportError as exc:  # Not in the service images; `make bootstrap` installs it.
        raise ReportError("the report draws with matplotlib: pip install 'ledgerline[bench]'") from exc
    matplotlib.use("Agg")
    from matplotlib import dates, pyplot

    figure, axes = pyplot.subplots(figsize=(9, 4.5), dpi=100)
    for series in data.series:
        times = [datetime.fromtimestamp(t, UTC) for t, _ in series.points]
        # matplotlib's date converter takes datetimes; its stubs only list numbers.
        axes.plot(times, [v for _, v in series.points], label=series.label)  # type: ignore[arg-type]
    if not data.series:
        axes.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(data.chart.title)
    axes.set_ylabel(data.chart.unit)
    axes.set_xlabel("time (UTC)")
    axes.xaxis.set_major_formatter(dates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]  # matplotlib.dates has no annotations
    axes.grid(True, alpha=0.3)
    if data.series:
        axes.legend(fontsize="small", loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def write_report(charts: list[ChartData], out_dir: Path) -> list[Path]:
    """Each chart as `<name>.png` with its data as `<name>.json`; returns the PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for data in charts:
        (out_dir / f"{data.chart.name}.json").write_text(json.dumps(data.to_json(), indent=2) + "\n")
        png = out_dir / f"{data.chart.name}.png"
        draw(data, png)
        written.append(png)
    return written
