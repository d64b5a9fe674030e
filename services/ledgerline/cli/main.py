"""The `ledgerline` command: run the platform, serve one service, migrate, and a demo."""

from __future__ import annotations

import signal
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledgerline.infra.launcher import KAFKA_BACKENDS, Infrastructure, Ports, default_data_dir
from ledgerline.infra.process import InfrastructureError

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
    banksim = "banksim"


class MigratedService(StrEnum):
    wallet = "wallet"
    ledger = "ledger"
    payment = "payment"
    notification = "notification"
    identity = "identity"
    all = "all"


@app.command()
def serve(
    service: Service,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """Serve one service's HTTP API and run its consumers (used by the launcher and the image)."""
    import uvicorn

    factory = f"ledgerline.{service.value}.app:create_app"
    uvicorn.run(factory, factory=True, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def migrate(service: MigratedService) -> None:
    """Apply database migrations for one service or all (reads LEDGERLINE_<SERVICE>_DATABASE_URL)."""
    from ledgerline.core.migrations import upgrade_to_head
    from ledgerline.identity.settings import IdentitySettings
    from ledgerline.ledger.settings import LedgerSettings
    from ledgerline.notification.settings import NotificationSettings
    from ledgerline.payment.settings import PaymentSettings
    from ledgerline.wallet.settings import WalletSettings

    settings = {
        "wallet": WalletSettings,
        "ledger": LedgerSettings,
        "payment": PaymentSettings,
        "notification": NotificationSettings,
        "identity": IdentitySettings,
    }
    names = list(settings) if service is MigratedService.all else [service.value]
    for name in names:
        upgrade_to_head(f"ledgerline.{name}", settings[name]().database_url)
        console.print(f"[green]migrated[/] {name}")


@app.command()
def up(
    kafka: Annotated[str, typer.Option(help=f"Kafka backend: {' or '.join(KAFKA_BACKENDS)}")] = "embedded",
    data_dir: Annotated[Path | None, typer.Option(help="Where data and logs go")] = None,
) -> None:
    """Run the whole platform on this machine until Ctrl-C."""
    from ledgerline.infra.platform import Platform

    data_dir = data_dir or default_data_dir()
    infra = Infrastructure(data_dir, kafka_backend=kafka, ports=Ports.fixed())
    platform = Platform(infra)
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
    _print_endpoints(platform, infra)
    _wait_for_interrupt()
    # A second Ctrl-C while stopping would abandon the servers half way; stopping is bounded anyway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with console.status("stopping..."):
        platform.stop()
        infra.stop()
    console.print("stopped")


def _print_endpoints(platform: object, infra: Infrastructure) -> None:
    from ledgerline.infra.platform import Platform

    assert isinstance(platform, Platform)
    table = Table(title="Ledgerline is running")
    for column in ("service", "API docs", "metrics"):
        table.add_column(column)
    for name, urls in platform.describe().items():
        table.add_row(name, urls["api_docs"], urls["metrics"])
    console.print(table)
    console.print(
        f"PostgreSQL {infra.postgres.url('postgres', driver='postgresql')}  Redis {infra.redis.url}  "
        f"Kafka ({infra.kafka.backend}) {infra.kafka.bootstrap_servers}"
    )
    console.print(f"Emails land in {platform.mail_dir} (a local SMTP server on port {platform.ports['smtp']}).")
    console.print(
        f"Logs in {infra.data_dir / 'logs'}. Try [bold]ledgerline demo[/] in another terminal; Ctrl-C stops everything."
    )


def _wait_for_interrupt() -> None:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    payment_url: Annotated[str, typer.Option(help="Payment service")] = "http://127.0.0.1:8003",
    wallet_url: Annotated[str, typer.Option(help="Wallet service")] = "http://127.0.0.1:8001",
    ledger_url: Annotated[str, typer.Option(help="Ledger service")] = "http://127.0.0.1:8002",
) -> None:
    """Move money through a running platform and show balances and ledger entries."""
    from ledgerline.cli.demo import run_demo

    run_demo(console, payment_url=payment_url, wallet_url=wallet_url, ledger_url=ledger_url)


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
