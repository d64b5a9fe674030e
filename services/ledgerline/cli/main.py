"""The `ledgerline` command: run the platform, serve one service, migrate, verify the books, chaos, and a demo."""

from __future__ import annotations

import os
import signal
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ledgerline.infra.launcher import KAFKA_BACKENDS, Infrastructure, Ports, default_data_dir
from ledgerline.infra.platform import DEFAULT_PORTS, PlatformOptions
from ledgerline.infra.process import InfrastructureError

if TYPE_CHECKING:
    from ledgerline.infra.platform import Platform

app = typer.Typer(help="Ledgerline: wallets and a double-entry ledger on Kafka.", no_args_is_help=True)
identity_app = typer.Typer(
    help="Identity administration against the identity database (reads LEDGERLINE_IDENTITY_* variables).",
    no_args_is_help=True,
)
app.add_typer(identity_app, name="identity")
console = Console()


class Service(StrEnum):
    wallet = "wallet"
    ledger = "ledger"
    payment = "payment"
    notification = "notification"
    identity = "identity"
    rewards = "rewards"
    banksim = "banksim"
    reference = "reference"


class MigratedService(StrEnum):
    wallet = "wallet"
    ledger = "ledger"
    payment = "payment"
    notification = "notification"
    identity = "identity"
    rewards = "rewards"
    all = "all"


@app.command()
def serve(
    service: Service,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """Serve one service's HTTP API and run its consumers (used by the launcher and the image).

    `reference` serves the platform's combined API reference, merged from the services' documents
    (LEDGERLINE_REFERENCE_SERVICES); a cluster's entry point routes /docs to it. /metrics is
    served beside the API, or only on LEDGERLINE_METRICS_PORT when that is set."""
    import uvicorn

    from ledgerline.core.settings import ProxySettings
    from ledgerline.core.telemetry import serve_metrics_apart

    factory = f"ledgerline.{service.value}.app:create_app"
    serve_metrics_apart(host)
    # uvloop and httptools: the C event loop and HTTP parser, several times the pure-Python ones.
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        # The client address (rate limits per address) and scheme come from X-Forwarded-* only
        # when the connection is from one of these proxies; anyone else's headers are ignored.
        proxy_headers=True,
        forwarded_allow_ips=ProxySettings().forwarded_allow_ips,
    )


@app.command()
def migrate(
    service: MigratedService,
    service_clients: Annotated[
        bool,
        typer.Option(
            help="Then give each service's client the secret in LEDGERLINE_<SERVICE>_CLIENT_SECRET (a deployment's job)"
        ),
    ] = False,
) -> None:
    """Apply database migrations for one service or all (reads LEDGERLINE_<SERVICE>_DATABASE_URL)."""
    from ledgerline.core.migrations import upgrade_to_head
    from ledgerline.identity.settings import IdentitySettings
    from ledgerline.ledger.settings import LedgerSettings
    from ledgerline.notification.settings import NotificationSettings
    from ledgerline.payment.settings import PaymentSettings
    from ledgerline.rewards.settings import RewardsSettings
    from ledgerline.wallet.settings import WalletSettings

    settings = {
        "wallet": WalletSettings,
        "ledger": LedgerSettings,
        "payment": PaymentSettings,
        "notification": NotificationSettings,
        "identity": IdentitySettings,
        "rewards": RewardsSettings,
    }
    names = list(settings) if service is MigratedService.all else [service.value]
    for name in names:
        upgrade_to_head(f"ledgerline.{name}", settings[name]().database_url)
        console.print(f"[green]migrated[/] {name}")
    if service_clients:
        _provision_service_clients()


def _provision_service_clients() -> None:
    """The platform's service clients, with the secrets their Deployments read from one Secret."""
    from ledgerline.identity.administration import SERVICE_CLIENT_SCOPES, provision_clients, service_client_id
    from ledgerline.identity.settings import IdentitySettings

    secrets = {
        service_client_id(name): os.environ[f"LEDGERLINE_{name.upper()}_CLIENT_SECRET"]
        for name in SERVICE_CLIENT_SCOPES
        if os.environ.get(f"LEDGERLINE_{name.upper()}_CLIENT_SECRET")
    }
    wanted = {service_client_id(name): scopes for name, scopes in SERVICE_CLIENT_SCOPES.items()}
    missing = sorted(set(wanted) - set(secrets))
    if missing:
        console.print(f"[red]no secret for {', '.join(missing)}[/] (LEDGERLINE_<SERVICE>_CLIENT_SECRET)")
        raise typer.Exit(1)
    identity = IdentitySettings()
    provision_clients(identity.database_url, identity.redis_url, wanted, secrets)
    console.print(f"[green]service clients ready[/] {', '.join(sorted(wanted))}")


DEFAULT_ENV_FILE = Path(".env")


@app.command()
def up(
    kafka: Annotated[str, typer.Option(help=f"Kafka backend: {' or '.join(KAFKA_BACKENDS)}")] = "embedded",
    data_dir: Annotated[Path | None, typer.Option(help="Where data and logs go")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="SERVICE.FIELD=VALUE",
            help="Tune a service (payment.step_timeout_s=300), or every service that has the field (log_level=DEBUG)",
        ),
    ] = None,
    env_file: Annotated[
        Path | None, typer.Option(help="LEDGERLINE_*/OTEL_* variables for the services [default: .env if present]")
    ] = None,
    service: Annotated[
        list[Service] | None, typer.Option("--service", help="Run only these services (repeat); default all")
    ] = None,
    free_ports: Annotated[bool, typer.Option(help="Listen on free ports instead of the fixed ones")] = False,
) -> None:
    """Run the whole platform on this machine until Ctrl-C."""
    from ledgerline.infra.platform import SERVICES, Platform
    from ledgerline.infra.prometheus import start_local_prometheus
    from ledgerline.infra.service_settings import SettingError, parse_assignments, passthrough, read_env_file

    data_dir = data_dir or default_data_dir()
    _refuse_a_second_up(data_dir)
    services = tuple(s.value for s in service) if service else SERVICES
    try:
        user_env = passthrough(os.environ)
        if env_file is None and DEFAULT_ENV_FILE.is_file():
            env_file = DEFAULT_ENV_FILE
        if env_file is not None:
            # The shell wins over the file, as with docker compose and pydantic-settings.
            user_env = {**read_env_file(env_file), **user_env}
            console.print(f"read service settings from {env_file}")
        overrides = parse_assignments(set_ or (), services)
    except SettingError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    infra = Infrastructure(data_dir, kafka_backend=kafka, ports=Ports.free() if free_ports else Ports.fixed())
    options = PlatformOptions(overrides=overrides, services=services, user_env=user_env)
    platform = Platform.on_free_ports(infra, **options) if free_ports else Platform(infra, **options)
    _print_passed_settings(platform)
    try:
        with console.status("starting PostgreSQL, Redis and Kafka..."):
            infra.start()
        console.print(f"[green]infrastructure up[/] (data in {data_dir})")
        with console.status("migrating databases, creating topics, starting services..."):
            platform.start()
    except InfrastructureError as error:
        platform.stop()
        infra.stop()
        console.print(f"[red]could not start:[/] {error}")
        raise typer.Exit(1) from None
    prometheus = None
    try:
        _print_endpoints(platform, infra)
        prometheus = start_local_prometheus(platform, console.print)
        _supervise_until_interrupt(platform)
    except KeyboardInterrupt:
        pass  # Ctrl-C before supervision began: stop everything all the same.
    # A second Ctrl-C while stopping would abandon the servers half way; stopping is bounded anyway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with console.status("stopping..."):
        if prometheus is not None:
            prometheus.stop()
        platform.stop()
        infra.stop()
    console.print("stopped")


def _refuse_a_second_up(data_dir: Path) -> None:
    """One `up` per data folder: a second would find its ports taken and PostgreSQL's data locked."""
    from ledgerline.infra.supervisor import read_state

    state = read_state(data_dir)
    if state is not None and state["supervising"]:
        console.print(
            f"[red]a `ledgerline up` (pid {state['supervisor_pid']}) already runs with {data_dir}[/]: "
            "`./ledgerline status` shows it, Ctrl-C in its terminal stops it, and "
            '`make run ARGS="--free-ports --data-dir .ledgerline-2"` runs a second platform beside it'
        )
        raise typer.Exit(1)


def _print_passed_settings(platform: Platform) -> None:
    from ledgerline.infra.service_settings import shown

    for name, variables in platform.passed_settings().items():
        console.print(f"settings for {name}: " + " ".join(shown(k, v) for k, v in sorted(variables.items())))


def _print_endpoints(platform: Platform, infra: Infrastructure) -> None:
    from ledgerline.cli.status import endpoints_table

    console.print(endpoints_table(platform.entry_point, platform.describe()))
    console.print(
        f"The whole API answers at [bold]{platform.entry_point}[/] (nginx, routing by path as the chart's "
        "Ingress does); each service's own port is there for debugging."
    )
    console.print(
        f"PostgreSQL {infra.postgres.url('postgres', driver='postgresql')}  Redis {infra.redis.url}  "
        f"Kafka ({infra.kafka.backend}) {infra.kafka.bootstrap_servers}"
    )
    console.print(f"Emails land in {platform.mail_dir} (a local SMTP server on port {platform.ports['smtp']}).")
    console.print("Each service also serves ReDoc at /redoc; both docs pages work offline.")
    if platform.client_secrets:
        console.print(
            f"Every API takes a token from the identity service (see the README); the admin client's "
            f"credentials are in {platform.operator_credentials_path} (readable by you only)."
        )
    console.print(
        f"Logs in {infra.data_dir / 'logs'}. Try [bold]{demo_command(platform.entry_point, infra.data_dir)}[/] "
        "in another terminal; Ctrl-C stops everything."
    )


def demo_command(entry_point: str, data_dir: Path) -> str:
    """How to run the demo against this platform: `make demo` targets `make run`'s address and folder."""
    if entry_point == LOCAL_ENTRY_POINT_URL and data_dir == default_data_dir():
        return "make demo"
    return f"./ledgerline demo --url {entry_point} --data-dir {data_dir}"


def _supervise_until_interrupt(platform: Platform) -> None:
    """Restart whatever exits until Ctrl-C or SIGTERM; SIGUSR1 prints the status table."""
    from ledgerline.cli.status import print_status
    from ledgerline.infra.supervisor import Supervisor, read_state, supervise_platform

    stopping = False
    status_asked = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def ask_status(*_: object) -> None:
        nonlocal status_asked
        status_asked = True

    def show_status_when_asked() -> None:
        nonlocal status_asked
        if status_asked:
            status_asked = False
            print_status(console, read_state(platform.infra.data_dir), platform.infra.data_dir)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, ask_status)
    supervisor = Supervisor(supervise_platform(platform), data_dir=platform.infra.data_dir, say=console.print)
    console.print(
        "Processes that exit are restarted; [bold]./ledgerline status[/] (or [bold]make status[/], or SIGUSR1 to "
        "this process) shows their health and restarts."
    )
    with suppress(KeyboardInterrupt):
        supervisor.run(lambda: stopping, on_tick=show_status_when_asked)


@app.command()
def status(data_dir: Annotated[Path | None, typer.Option(help="Data folder of `ledgerline up`")] = None) -> None:
    """What `ledgerline up` runs: each process's state, health, restarts and address (exit code 1 if not running)."""
    from ledgerline.cli.status import print_status
    from ledgerline.infra.supervisor import read_state

    data_dir = data_dir or default_data_dir()
    state = read_state(data_dir)
    print_status(console, state, data_dir)
    if state is None or not state["supervising"]:
        raise typer.Exit(1)


LOCAL_PROMETHEUS_URL = f"http://127.0.0.1:{DEFAULT_PORTS['prometheus']}"  # The one `ledgerline up` starts.
LOCAL_ENTRY_POINT_URL = f"http://127.0.0.1:{DEFAULT_PORTS['gateway']}"  # The nginx `ledgerline up` starts.


@app.command()
def top(
    prometheus: Annotated[str, typer.Option(help="Prometheus to read (the one `ledgerline up` starts)")] = (
        LOCAL_PROMETHEUS_URL
    ),
    interval_s: Annotated[float, typer.Option("--interval", min=0.5, max=3600, help="Seconds between frames")] = 2.0,
    once: Annotated[bool, typer.Option(help="Print one frame and exit")] = False,
) -> None:
    """A live terminal dashboard: throughput, latency, outcomes, lag, backlog, dead letters, the books."""
    from ledgerline.cli import top as dashboard

    with suppress(KeyboardInterrupt):
        dashboard.run(prometheus.rstrip("/"), interval_s=interval_s, once=once)


@app.command()
def report(
    since: Annotated[str, typer.Option(help="How far back: 90s, 10m, 2h or 1d")] = "10m",
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and their data (JSON)")] = Path("ledgerline-report"),
    prometheus: Annotated[str, typer.Option(help="Prometheus to read (the one `ledgerline up` starts)")] = (
        LOCAL_PROMETHEUS_URL
    ),
) -> None:
    """PNG charts of throughput, saga latency, outcomes, outbox backlog and consumer lag over a run."""
    import httpx

    from ledgerline.cli import report as charts

    try:
        range_s = charts.parse_duration(since)
        with httpx.Client() as http:
            read = charts.read_charts(prometheus.rstrip("/"), range_s, http)
        written = charts.write_report(read, out)
    except charts.ReportError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    for path, data in zip(written, read, strict=True):
        lines = f"{len(data.series)} series" if data.series else "[yellow]no data[/]"
        console.print(f"{path} ({lines})")


def _operator_credentials(data_dir: Path | None) -> tuple[str, str]:
    """The admin client `ledgerline up` wrote to its data folder."""
    import json

    from ledgerline.infra.platform import OPERATOR_CREDENTIALS_FILE

    path = (data_dir or default_data_dir()) / OPERATOR_CREDENTIALS_FILE
    try:
        fields = json.loads(path.read_text())
    except (OSError, ValueError):
        console.print(f"[red]no operator credentials at {path}:[/] is `ledgerline up` running with that data folder?")
        raise typer.Exit(1) from None
    return str(fields["client_id"]), str(fields["client_secret"])


@app.command()
def chaos(
    seeds: Annotated[int, typer.Option(min=1, max=1000, help="How many seeds to run, one after the other")] = 5,
    seed: Annotated[int | None, typer.Option(help="Run only this seed (replay a failing one)")] = None,
    first_seed: Annotated[int | None, typer.Option(help="First of --seeds consecutive seeds [default: random]")] = None,
    load_s: Annotated[float, typer.Option(min=1, max=3600, help="Seconds of load (and faults) per seed")] = 30.0,
    faults: Annotated[int, typer.Option(min=1, max=20, help="Faults per seed")] = 5,
    heal_bound_s: Annotated[
        float, typer.Option(min=1, max=3600, help="Every process must be back and ready this long after the faults")
    ] = 300.0,
    settle_bound_s: Annotated[
        float, typer.Option(min=1, max=3600, help="Every accepted payment must be terminal this long after healing")
    ] = 120.0,
    kafka: Annotated[str, typer.Option(help=f"Kafka backend: {' or '.join(KAFKA_BACKENDS)}")] = "apache",
) -> None:
    """Fault-injection bank test: load, seeded faults, then every check on the books (exit 1 on a violation)."""
    import secrets

    from ledgerline.chaos.command import run_chaos
    from ledgerline.chaos.run import ChaosOptions

    if seed is not None:
        chosen = [seed]
    else:
        start = first_seed if first_seed is not None else secrets.randbelow(1_000_000)
        chosen = list(range(start, start + seeds))
    options = ChaosOptions(load_s=load_s, faults=faults, heal_bound_s=heal_bound_s, settle_bound_s=settle_bound_s)
    console.print(f"seeds: {', '.join(map(str, chosen))}")
    results = run_chaos(console, chosen, options, kafka)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _local_database_url(service: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{Ports.fixed().postgres}/ledgerline_{service}"


@app.command()
def verify(
    wallet_database_url: Annotated[
        str, typer.Option(envvar="LEDGERLINE_WALLET_DATABASE_URL", help="Wallet database [default: make run's]")
    ] = _local_database_url("wallet"),
    ledger_database_url: Annotated[
        str, typer.Option(envvar="LEDGERLINE_LEDGER_DATABASE_URL", help="Ledger database [default: make run's]")
    ] = _local_database_url("ledger"),
    payment_database_url: Annotated[
        str, typer.Option(envvar="LEDGERLINE_PAYMENT_DATABASE_URL", help="Payment database [default: make run's]")
    ] = _local_database_url("payment"),
    stale_after_s: Annotated[
        float, typer.Option(min=0.001, help="Report every payment still in flight after this many seconds")
    ] = 600.0,
    page_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows read per query")] = 1_000,
    findings_max: Annotated[
        int, typer.Option(min=0, max=10_000, help="Findings listed per check (all are counted)")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    move_money: Annotated[
        bool, typer.Option(help="First deposit into and transfer between two new test wallets through the API")
    ] = False,
    wallet_url: Annotated[str, typer.Option(envvar="LEDGERLINE_VERIFY_WALLET_URL")] = "http://127.0.0.1:8001",
    ledger_url: Annotated[str, typer.Option(envvar="LEDGERLINE_VERIFY_LEDGER_URL")] = "http://127.0.0.1:8002",
    payment_url: Annotated[str, typer.Option(envvar="LEDGERLINE_VERIFY_PAYMENT_URL")] = "http://127.0.0.1:8003",
    identity_url: Annotated[
        str, typer.Option(envvar="LEDGERLINE_VERIFY_IDENTITY_URL", help="Where the test customer registers")
    ] = "http://127.0.0.1:8005",
) -> None:
    """Check the books of a live installation from its databases, read-only (exit code 1 if wrong).

    With --move-money, a fresh test customer registers first and moves money between two wallets
    of its own: money moves only by its owner, so no operator credentials are involved."""
    import asyncio
    import json
    import uuid

    from ledgerline.client import LedgerlineClient, register_customer
    from ledgerline.verify.exercise import TEST_OWNER, Exercise
    from ledgerline.verify.exercise import move_money as exercise
    from ledgerline.verify.reading import Limits, Sources
    from ledgerline.verify.reading import verify as verify_books
    from ledgerline.verify.report import render

    async def run() -> tuple[Exercise | None, Any]:
        moved = None
        if move_money:
            customer = await register_customer(identity_url, f"{TEST_OWNER}-{uuid.uuid4().hex[:12]}@example.com")
            client = LedgerlineClient(wallet_url, ledger_url, payment_url, auth=customer)
            try:
                moved = await exercise(client)
            finally:
                await client.aclose()
        sources = Sources(wallet_database_url, ledger_database_url, payment_database_url)
        return moved, await verify_books(sources, Limits(page_size, findings_max, stale_after_s))

    moved, report = asyncio.run(run())
    if as_json:
        shown = report.as_dict() | ({"money_moved": moved.as_dict()} if moved else {})
        typer.echo(json.dumps(shown, indent=2))
    else:
        if moved:
            console.print(moved.describe())
        render(report, console)
    if not report.ok or (moved and not moved.ok):
        raise typer.Exit(1)


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="The platform's one entry point")] = LOCAL_ENTRY_POINT_URL,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder of `ledgerline up`, for the operator credentials")
    ] = None,
) -> None:
    """Register two customers, move money between them, and show balances, ledger entries and the reconciliation."""
    from ledgerline.cli.demo import run_demo

    run_demo(console, url=url.rstrip("/"), operator_credentials=_operator_credentials(data_dir))


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="A smoke run under a minute (figures are not meaningful)")] = False,
    kafka: Annotated[
        str, typer.Option(help=f"Kafka backend of the local platform: {' or '.join(KAFKA_BACKENDS)}")
    ] = "apache",
    url: Annotated[
        str | None, typer.Option(help="Payment service of a running platform to measure instead of a fresh one")
    ] = None,
    wallet_url: Annotated[str, typer.Option(help="With --url: the wallet service")] = "http://127.0.0.1:8001",
    ledger_url: Annotated[str, typer.Option(help="With --url: the ledger service")] = "http://127.0.0.1:8002",
    identity_url: Annotated[str, typer.Option(help="With --url: the identity service")] = "http://127.0.0.1:8005",
    data_dir: Annotated[
        Path | None, typer.Option(help="With --url: the data folder of its `ledgerline up` (operator credentials)")
    ] = None,
    pgbench_dsn: Annotated[
        str | None, typer.Option(help="With --url: a scratch database on the platform's PostgreSQL, for pgbench")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where results (JSON, PNG) go")] = Path("bench/results"),
    scale: Annotated[
        str, typer.Option(help="Also grow to these wallet counts (comma-separated) and measure transfers at each")
    ] = "",
    replicas: Annotated[
        int, typer.Option(min=1, help="Instances of each service on the local platform; requests spread over them")
    ] = 1,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also start Prometheus on the local platform (watch it with `ledgerline top`) and write the charts "
            "of `ledgerline report` over the run to this folder; with --url, read the Prometheus of `ledgerline up`"
        ),
    ] = None,
) -> None:
    """Measure throughput and latency against pgbench on the same PostgreSQL; checks the books after each workload."""
    from ledgerline.bench.command import run_bench
    from ledgerline.bench.runner import FULL, QUICK
    from ledgerline.bench.session import Target, local_platform, running_target

    if url is not None and replicas != 1:
        # A running platform's instances are behind whatever spreads requests over them there.
        console.print("[red]--replicas starts a local platform; it does not apply with --url[/]")
        raise typer.Exit(2)
    target: AbstractContextManager[Target]
    if url is None:
        target = local_platform(kafka, replicas, prometheus=report is not None)
    else:
        dsn = pgbench_dsn or f"postgresql://postgres@127.0.0.1:{Ports.fixed().postgres}/ledgerline_pgbench"
        target = nullcontext(
            running_target(
                payment_url=url,
                wallet_url=wallet_url,
                ledger_url=ledger_url,
                pgbench_dsn=dsn,
                identity_url=identity_url,
                operator_credentials=_operator_credentials(data_dir),
                prometheus_url=LOCAL_PROMETHEUS_URL if report is not None else None,
            )
        )
    try:
        levels = tuple(int(level.replace("_", "")) for level in scale.split(",") if level.strip())
        options = replace(QUICK if quick else FULL, scale_wallets=levels)
        result = run_bench(console, options, target, out, report_dir=report)
    except InfrastructureError as error:
        console.print(f"[red]could not start:[/] {error}")
        raise typer.Exit(1) from None
    if not (result["books_ok"] and result["all_terminal"]):
        console.print("[red]the books do not balance or payments did not finish: see the results[/]")
        raise typer.Exit(1)


@identity_app.command("rotate-keys")
def rotate_keys() -> None:
    """Publish a new signing key that signs after LEDGERLINE_IDENTITY_KEY_ACTIVATION_DELAY_S; the keys it
    replaces keep verifying for LEDGERLINE_IDENTITY_KEY_OVERLAP_S after that."""
    from ledgerline.identity.administration import rotate_signing_key

    key = rotate_signing_key()
    # Plain output so scripts can read it.
    typer.echo(f"kid={key.kid}")
    typer.echo(f"activates_at={key.activates_at.isoformat()}")


@identity_app.command("create-client")
def create_client(
    client_id: Annotated[str, typer.Argument(help="Name of the service or operator, e.g. payment-service")],
    scope: Annotated[list[str], typer.Option(help="A scope to grant; repeat for more")],
) -> None:
    """Create a client for the client-credentials grant and print its secret (shown only once)."""
    from ledgerline.identity.administration import create_service_client
    from ledgerline.identity.domain import IdentityError

    try:
        secret = create_service_client(client_id, scope)
    except IdentityError as error:
        console.print(f"[red]refused:[/] {error}")
        raise typer.Exit(1) from None
    # Plain output so scripts can read it: the client id, then the secret.
    typer.echo(f"client_id={client_id}")
    typer.echo(f"client_secret={secret}")


if __name__ == "__main__":
    app()
