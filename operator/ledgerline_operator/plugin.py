"""`kubectl ledgerline`: start a dead-letter replay and watch it, or list replays.

Installed as the console script `kubectl-ledgerline`, which kubectl finds on PATH. It talks to
the cluster of the current kubeconfig context, like kubectl itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledgerline_operator import GROUP, REPLAYS_PLURAL, VERSION
from ledgerline_operator.replay_progress import TERMINAL_PHASES
from ledgerline_operator.replay_spec import InvalidReplay, parse_replay_spec

FOLLOW_POLL_INTERVAL_S = 1.0
FOLLOW_TIMEOUT_S = 24 * 3600.0
GENERATED_NAME_PREFIX = "replay-"

app = typer.Typer(help="Ledgerline resources from kubectl.", no_args_is_help=True, add_completion=False)
console = Console()


def replay_manifest(
    *,
    source: str,
    name: str | None = None,
    namespace: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    max_messages: int | None = None,
    rate: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """The DeadLetterReplay to create; raises `InvalidReplay` for options the operator would refuse."""
    spec: dict[str, Any] = {"sourceTopic": source, "dryRun": dry_run}
    given = {key: value for key, value in (filters or {}).items() if value is not None}
    if given:
        spec["filters"] = given
    if max_messages is not None:
        spec["maxMessages"] = max_messages
    if rate is not None:
        spec["ratePerSecond"] = rate
    parse_replay_spec(spec)
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": GENERATED_NAME_PREFIX}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DeadLetterReplay", "metadata": metadata, "spec": spec}


def follow_replay(
    fetch_status: Callable[[], Mapping[str, Any] | None],
    *,
    out: Console,
    poll_interval_s: float = FOLLOW_POLL_INTERVAL_S,
    timeout_s: float = FOLLOW_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Polls the status, drawing scanned-of-total with matched and replayed, until it finishes."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + timeout_s
    status: Mapping[str, Any] = {}
    with Progress(*columns, console=out, transient=False) as progress:
        task = progress.add_task("Pending", total=None)
        while time.monotonic() < deadline:
            status = fetch_status() or {}
            counts = status.get("counts") or {}
            total = sum(p.get("endOffset", 0) - p.get("startOffset", 0) for p in status.get("partitions") or [])
            progress.update(
                task,
                total=total or None,
                completed=counts.get("scanned", 0),
                description=f"{status.get('phase', 'Pending')}: matched {counts.get('matched', 0)}, "
                f"replayed {counts.get('replayed', 0)}, scanned",
            )
            if status.get("phase") in TERMINAL_PHASES:
                break
            sleep(poll_interval_s)
    out.print(f"{status.get('phase', 'Unknown')}: {status.get('message', '')}")
    return status


def _kube() -> tuple[Any, str]:
    """The CustomObjectsApi of the current context and that context's namespace. Typed `Any`:
    the client's custom-object calls return plain JSON objects declared as `object`."""
    config.load_kube_config()  # type: ignore[no-untyped-call]  # The kubernetes package is not annotated here.
    _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]  # Same.
    return client.CustomObjectsApi(), (active or {}).get("context", {}).get("namespace") or "default"


@app.command()
def replay(
    source: Annotated[str, typer.Option("--source", help="The dead-letter topic, ending in .dlq.")],
    since: Annotated[str | None, typer.Option(help="First failure at or after this RFC 3339 time.")] = None,
    until: Annotated[str | None, typer.Option(help="First failure before this RFC 3339 time.")] = None,
    error_contains: Annotated[str | None, typer.Option(help="Substring of the recorded error.")] = None,
    key: Annotated[str | None, typer.Option(help="Exact message key (payment id).")] = None,
    original_topic: Annotated[str | None, typer.Option(help="Only letters from this topic.")] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many.")] = None,
    rate: Annotated[int | None, typer.Option(help="Messages per second (default 100).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, send nothing.")] = False,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    name: Annotated[str | None, typer.Option(help="Resource name (generated if omitted).")] = None,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Watch until it finishes.")] = True,
    output: Annotated[str | None, typer.Option("--output", "-o", help="yaml or json: print, do not create.")] = None,
) -> None:
    """Create a DeadLetterReplay and follow its progress."""
    filters = {
        "since": since,
        "until": until,
        "errorContains": error_contains,
        "key": key,
        "originalTopic": original_topic,
    }
    try:
        body = replay_manifest(
            source=source, name=name, namespace=namespace, filters=filters,
            max_messages=max_messages, rate=rate, dry_run=dry_run,
        )  # fmt: skip
    except InvalidReplay as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if output:
        typer.echo(json.dumps(body, indent=2) if output == "json" else yaml.safe_dump(body, sort_keys=False))
        return
    api, current_namespace = _kube()
    namespace = namespace or current_namespace
    try:
        created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, REPLAYS_PLURAL, body)
    except ApiException as exc:
        console.print(f"[red]the API server refused the replay: {exc.status} {exc.reason}: {exc.body}[/red]")
        raise typer.Exit(1) from exc
    created_name = created["metadata"]["name"]
    console.print(f"deadletterreplay.{GROUP}/{created_name} created in namespace {namespace}")
    if not follow:
        return

    def fetch() -> Mapping[str, Any] | None:
        obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, REPLAYS_PLURAL, created_name)
        return obj.get("status")

    final = follow_replay(fetch, out=console)
    if final.get("phase") != "Succeeded":
        raise typer.Exit(1)


@app.command("replays")
def list_replays(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
) -> None:
    """List DeadLetterReplays with their phase and counts."""
    api, current_namespace = _kube()
    if all_namespaces:
        items = api.list_cluster_custom_object(GROUP, VERSION, REPLAYS_PLURAL)["items"]
    else:
        items = api.list_namespaced_custom_object(GROUP, VERSION, namespace or current_namespace, REPLAYS_PLURAL)[
            "items"
        ]
    console.print(replays_table(items))


def replays_table(items: list[Mapping[str, Any]]) -> Table:
    table = Table("NAMESPACE", "NAME", "SOURCE", "PHASE", "SCANNED", "MATCHED", "REPLAYED", "DRY RUN")
    for item in items:
        status, counts = item.get("status") or {}, (item.get("status") or {}).get("counts") or {}
        table.add_row(
            item["metadata"].get("namespace", ""),
            item["metadata"]["name"],
            item["spec"]["sourceTopic"],
            status.get("phase", "Pending"),
            *(str(counts.get(k, 0)) for k in ("scanned", "matched", "replayed")),
            str(item["spec"].get("dryRun", False)).lower(),
        )
    return table


def main() -> None:
    app()
