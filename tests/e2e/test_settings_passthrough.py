"""`ledgerline up` hands the user's settings to the services it starts: a `--set` changes what a
service does, an OTEL_* variable makes its spans reach an OTLP receiver, and a bad `--set` is
refused with a clear message before anything starts."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledgerline.client import operator_from_file
from ledgerline.infra.platform import OPERATOR_CREDENTIALS_FILE
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.polling import eventually

# Generous: with Apache Kafka on a busy 2-core machine the broker alone can take minutes to start.
START_TIMEOUT_S = 400.0
STOP_TIMEOUT_S = 150.0  # The broker's clean shutdown alone may take up to 90 s.


class RunningUp:
    """`ledgerline up` as a user runs it, in its own process, with its output collected."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="ledgerline-up-"))
        self.data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when tests run as root.
        command = [sys.executable, "-m", "ledgerline.cli", "up", "--data-dir", str(self.data_dir), *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir, text=True
        )
        self.lines: list[str] = []
        self.running = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "Processes that exit are restarted" in line:
                self.running.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_running(self) -> None:
        if not self.running.wait(START_TIMEOUT_S):
            raise AssertionError(f"ledgerline up did not start:\n{self.output}")

    def url(self, service: str) -> str:
        for line in self.lines:
            if service in line and (found := re.search(r"(http://127\.0\.0\.1:\d+)/docs", line)):
                return found.group(1)
        raise AssertionError(f"no URL for {service} in:\n{self.output}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(STOP_TIMEOUT_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _user_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERLINE_", "OTEL_"))}
    return env | {"COLUMNS": "200"} | variables


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


async def test_a_set_setting_and_otel_variables_reach_the_service(otlp: OtlpReceiver) -> None:
    env = _user_env(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
    # The identity service too: listing every wallet takes an operator's token.
    up = RunningUp(
        ["--free-ports", "--service", "wallet", "--service", "identity", "--set", "wallet.page_size_max=7"], env
    )
    try:
        up.wait_running()
        assert "LEDGERLINE_WALLET_PAGE_SIZE_MAX=7" in up.output
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={otlp.endpoint}" in up.output
        operator = operator_from_file(up.data_dir / OPERATOR_CREDENTIALS_FILE)
        async with httpx.AsyncClient(base_url=up.url("wallet"), timeout=10, auth=operator) as wallet:
            refused = await wallet.get("/v1/wallets", params={"limit": 8})
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "page_too_large"
            assert "<= 7" in refused.json()["detail"]
            assert (await wallet.get("/v1/wallets", params={"limit": 7})).status_code == 200

        def wallet_spans() -> list[str]:
            return [s.name for s in otlp.received() if s.service == "ledgerline-wallet"]

        assert await eventually(lambda: any("/v1/wallets" in name for name in wallet_spans()), timeout_s=20), (
            f"no wallet request span arrived; received {otlp.received()}"
        )
        assert up.interrupt() == 0, up.output
    finally:
        up.close()


def test_the_shell_environment_reaches_the_service_and_an_env_file_is_read(tmp_path: Path) -> None:
    from ledgerline.infra.launcher import Infrastructure, Ports
    from ledgerline.infra.platform import Platform
    from ledgerline.infra.service_settings import read_env_file

    env_file = tmp_path / "local.env"
    env_file.write_text("LEDGERLINE_PAYMENT_STEP_TIMEOUT_S=300\nLEDGERLINE_LOG_LEVEL=DEBUG\n")
    infra = Infrastructure(tmp_path / "data", ports=Ports.free())
    shell = {"LEDGERLINE_LOG_LEVEL": "WARNING", "OTEL_SERVICE_NAME": "x", "LEDGERLINE_DATA_DIR": "/elsewhere"}
    platform = Platform(infra, user_env={**read_env_file(env_file), **shell})
    payment = platform.env("payment")
    assert payment["LEDGERLINE_PAYMENT_STEP_TIMEOUT_S"] == "300"
    assert payment["LEDGERLINE_LOG_LEVEL"] == "WARNING"  # The shell wins over the file.
    assert payment["LEDGERLINE_PAYMENT_DATABASE_URL"] == infra.database_url("payment")  # Launcher fills the rest.
    assert platform.passed_settings()["payment"]["LEDGERLINE_PAYMENT_STEP_TIMEOUT_S"] == "300"
    with_override = Platform(infra, user_env=shell, overrides={"payment": {"LEDGERLINE_LOG_LEVEL": "ERROR"}})
    assert with_override.env("payment")["LEDGERLINE_LOG_LEVEL"] == "ERROR"  # Explicit overrides win.


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("payment.step_timeout=300", "did you mean step_timeout_s"),
        ("payment.step_timeout_s=-1", "greater than 0"),
        ("bank.latency_ms=5", "unknown service 'bank'"),
        ("no_such_knob=1", "no service has a setting"),
        ("payment.step_timeout_s", "expected service.field=value"),
    ],
)
def test_a_bad_set_is_refused_before_anything_starts(setting: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ledgerline.cli", "up", "--set", setting],
        capture_output=True,
        text=True,
        env=_user_env(),
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stdout, result.stdout
    assert "infrastructure up" not in result.stdout
