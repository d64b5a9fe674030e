"""The README runs as written: every `sh` block of README.md, taken from the Markdown, runs in one
bash session against the test platform (twice, as a reader running it again would), with curl
failing on any HTTP error, and leaves the money where the README says it goes.

Blocks fenced as `sh` are examples to run against a running platform. Blocks that start or tune
the platform itself (`make run`, `make test`) are fenced `sh platform`: they are how a reader gets
a platform, so this test checks they are only `make` commands. The README's addresses are those of
`make run` (the entry point on 8000, the services on 8001...8009, PostgreSQL on 15432); the test
replaces each `localhost:PORT` and `127.0.0.1:PORT` with the address of the same part of the test
platform, and the data folder of `make run` (`.ledgerline/`, where the operator's credentials
are) with the test platform's.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from ledgerline.client import LedgerlineClient
from ledgerline.infra.launcher import Infrastructure, Ports
from ledgerline.infra.platform import DEFAULT_PORTS, Platform
from tests.books import assert_books_balance, wallet_minor
from tests.polling import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
RUNNABLE_INFO = "sh"
PLATFORM_INFO = "sh platform"
PLATFORM_COMMAND = re.compile(r"^(\S+=\S+ |echo .* >> \.env && )?make ")
ADDRESS = re.compile(r"\b(localhost|127\.0\.0\.1):(?P<port>\d{4,5})\b")
LOCAL_DATA_DIR = ".ledgerline/"
RUN_TIMEOUT_S = 300
# What the README moves: 100.00 EUR deposited to Alice, 25.50 of it transferred to Bob; 50.00 GBP
# deposited to Carol, 0.60 GBP of cashback on it (one rule, however often the README runs), and
# 20.00 GBP of it exchanged into her yen wallet.
EXPECTED_MINOR = {"ALICE": 7_450, "BOB": 2_550, "CAROL": 3_060}
# Where the examples may send requests under `make run`: the one entry point, and the identity
# database that `ledgerline identity create-client` writes to.
ENTRY_POINT_PORT = DEFAULT_PORTS["gateway"]
EXAMPLE_PORTS = {ENTRY_POINT_PORT, Ports.fixed().postgres}
SETTLE_TIMEOUT_S = 120


def readme_blocks(text: str) -> list[tuple[str, str]]:
    return [(m["info"].strip(), m["body"]) for m in FENCE.finditer(text)]


def local_addresses(platform: Platform, infra: Infrastructure) -> dict[int, int]:
    """The port of each part under `make run` -> its port on the test platform."""
    fixed = Ports.fixed()
    mapping = {DEFAULT_PORTS[name]: platform.ports[name] for name in DEFAULT_PORTS if name in platform.ports}
    mapping[fixed.postgres] = infra.ports.postgres
    mapping[fixed.redis] = infra.ports.redis
    mapping[fixed.kafka] = infra.ports.kafka
    return mapping


def for_test_platform(script: str, ports: dict[int, int], data_dir: Path | None = None) -> str:
    def replace(match: re.Match[str]) -> str:
        port = int(match["port"])
        if port not in ports:
            raise AssertionError(f"README names {match[0]}, which is no part of the platform")
        return f"{match[1]}:{ports[port]}"

    script = ADDRESS.sub(replace, script)
    return script.replace(LOCAL_DATA_DIR, f"{data_dir}/") if data_dir else script


def test_platform_blocks_only_start_or_tune_the_platform() -> None:
    blocks = readme_blocks(README.read_text())
    assert any(info == RUNNABLE_INFO for info, _ in blocks), "the README has no example to run"
    for info, body in blocks:
        if info != PLATFORM_INFO:
            continue
        for line in body.splitlines():
            command = line.split("#", 1)[0].strip()
            assert not command or PLATFORM_COMMAND.match(command), f"`{command}` in a `{info}` block is not run"


def test_examples_use_the_one_entry_point() -> None:
    examples = "\n".join(body for info, body in readme_blocks(README.read_text()) if info == RUNNABLE_INFO)
    ports = {int(match["port"]) for match in ADDRESS.finditer(examples)}
    assert ENTRY_POINT_PORT in ports
    assert ports <= EXAMPLE_PORTS, f"examples go to ports {sorted(ports - EXAMPLE_PORTS)}, not the entry point"


async def test_every_readme_example_runs_as_written(
    platform: Platform, infra: Infrastructure, admin_client: LedgerlineClient, tmp_path: Path
) -> None:
    examples = [body for info, body in readme_blocks(README.read_text()) if info == RUNNABLE_INFO]
    script = for_test_platform("\n".join(examples), local_addresses(platform, infra), infra.data_dir)
    # curl reads $CURL_HOME/.curlrc: an HTTP error fails the command (and so the run), body shown.
    (tmp_path / ".curlrc").write_text("fail-with-body\nshow-error\n")
    for _ in range(2):  # the second run proves the examples run again against the same data
        wallets = run_readme(script, tmp_path)
        balances = await eventually(lambda w=wallets: settled_balances(admin_client, w), SETTLE_TIMEOUT_S)
        assert balances == EXPECTED_MINOR, balances
    await assert_books_balance(admin_client)


def run_readme(script: str, home: Path) -> dict[str, str]:
    variables = home / "variables"
    names = sorted(EXPECTED_MINOR)
    formats = "".join(f"{name}=%s\\n" for name in names)
    values = " ".join(f'"${name}"' for name in names)
    keep = f"printf '{formats}' {values} > {shlex.quote(str(variables))}"
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}\n{keep}\n"],
        cwd=REPO_ROOT,
        # Only what a reader's shell has: the system's tools, not the test's virtualenv.
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "CURL_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"README examples failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return dict(line.split("=", 1) for line in variables.read_text().splitlines())


async def settled_balances(client: LedgerlineClient, wallets: dict[str, str]) -> dict[str, int] | None:
    """The README's wallets' balances once each holds what the README moved; None before."""
    balances = {name: (await wallet_minor(client, wallets[name]))["balance"] for name in EXPECTED_MINOR}
    return balances if balances == EXPECTED_MINOR else None
