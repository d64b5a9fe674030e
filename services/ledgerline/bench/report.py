"""The benchmark's results: a table on the terminal, JSON and a throughput/latency picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def print_table(console: Console, result: dict[str, Any]) -> None:
    pg = result["pgbench"]
    table = Table(title=f"Ledgerline bench ({result['mode']}); pgbench {pg['tps']:.0f} tps")
    columns = ("workload", "load", "completed/s", "ratio to pgbench", "POST p50/p99 ms", "saga p50/p95/p99 ms", "books")
    for column in columns:
        table.add_column(column)
    for r in result["workloads"]:
        load = f"{r['rate_per_s']}/s open" if "rate_per_s" in r else f"{r.get('concurrency', '-')} clients"
        post, saga = r["post_latency"], r["saga_latency"]
        table.add_row(
            r["workload"],
            load,
            f"{r['completed_per_s']}",
            f"{r['ratio_to_pgbench']:.4f}" if r["ratio_to_pgbench"] is not None else "-",
            f"{post['p50_ms']:.0f} / {post['p99_ms']:.0f}",
            f"{saga['p50_ms']:.0f} / {saga['p95_ms']:.0f} / {saga['p99_ms']:.0f}",
            "ok" if r["books"]["ok"] and r["all_terminal"] else "[red]WRONG[/]",
        )
    console.print(table)


def write_json(out_dir: Path, result: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "")[:15]
    path = out_dir / f"{stamp}-{result['mode']}.json"
    text = json.dumps(result, indent=2)
    path.write_text(text)
    (out_dir / f"latest-{result['mode']}.json").write_text(text)
    return path


def write_picture(out_dir: Path, result: dict[str, Any]) -> Path | None:
    """Saga and POST latency against completed transfers/s: the open-loop rates as a curve (where
    the knee is), the closed-loop run as a point of its own."""
    curve = sorted((r for r in result["workloads"] if "rate_per_s" in r), key=lambda r: r["completed_per_s"])
    closed = [r for r in result["workloads"] if r["workload"] == "transfers"]
    if not curve and not closed:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5), dpi=100)
    x = [r["completed_per_s"] for r in curve]
    for key, label in (("p50_ms", "saga p50"), ("p99_ms", "saga p99")):
        axes.plot(x, [max(r["saga_latency"][key], 0.1) for r in curve], marker="o", label=f"{label} (open loop)")
    axes.plot(x, [max(r["post_latency"]["p99_ms"], 0.1) for r in curve], marker="s", ls="--", label="POST p99")
    for r in closed:
        saga = r["saga_latency"]
        axes.errorbar(
            [r["completed_per_s"]],
            [saga["p50_ms"]],
            yerr=[[0], [max(saga["p99_ms"] - saga["p50_ms"], 0)]],
            fmt="D",
            color="black",
            label=f"saga p50..p99, {r['concurrency']} clients (closed loop)",
        )
    axes.set_yscale("log")
    axes.set_xlabel("completed transfers per second")
    axes.set_ylabel("latency (ms)")
    pg = result["pgbench"]["tps"]
    axes.set_title(f"Ledgerline transfers vs latency (pgbench {pg:.0f} tps on the same PostgreSQL)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    path = out_dir / f"latest-{result['mode']}.png"
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path
