"""What a newcomer types works from the repository root without activating the virtualenv:
`./ledgerline ...`, every `make` target (listed by `make help`), and each command the README names."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path

from typer.testing import CliRunner

from ledgerline.cli.main import LOCAL_ENTRY_POINT_URL, app, demo_command
from ledgerline.infra.launcher import default_data_dir
from ledgerline.infra.supervisor import STATE_FILE_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
# Only what a new shell has: no virtualenv on PATH.
BARE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"}
COMMAND_TIMEOUT_S = 120
PHONY = re.compile(r"^\.PHONY:(?P<targets>.*)$", re.MULTILINE)
HELP_LINE = re.compile(r"^  make (?P<target>[a-z][a-z0-9-]*) +\S")
README_MAKE = re.compile(r"`make (?P<target>[a-z][a-z0-9-]*)")
README_CLI = re.compile(r"`(?:\./)?ledgerline (?P<command>[a-z][a-z-]*)")
CLI_COMMAND = re.compile(r"^│ (?P<command>[a-z][a-z-]*) ", re.MULTILINE)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO_ROOT, env=BARE_ENV, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )


@cache  # one start of the command is enough: under load it takes seconds
def _cli_commands() -> frozenset[str]:
    result = _run("./ledgerline", "--help")
    assert result.returncode == 0, result.stdout + result.stderr
    return frozenset(CLI_COMMAND.findall(result.stdout))


@cache
def _make_help_targets() -> frozenset[str]:
    result = _run("make", "--no-print-directory", "help")
    assert result.returncode == 0, result.stdout + result.stderr
    return frozenset(match["target"] for line in result.stdout.splitlines() if (match := HELP_LINE.match(line)))


def test_the_ledgerline_command_runs_without_the_virtualenv() -> None:
    assert {"up", "status", "top", "report", "verify", "demo", "identity"} <= _cli_commands()
    status = _run("./ledgerline", "status", "--data-dir", "/nonexistent/.ledgerline")
    assert status.returncode == 1, status.stdout + status.stderr
    assert "make run" in status.stdout, status.stdout  # says how to start one


def test_make_help_lists_every_target_with_what_it_does() -> None:
    declared = set((PHONY.search((REPO_ROOT / "Makefile").read_text()) or {"targets": ""})["targets"].split())
    assert {"help", "run", "status", "test"} <= declared
    assert _make_help_targets() == declared


def test_every_command_the_readme_names_exists() -> None:
    text = README.read_text()
    assert set(README_MAKE.findall(text)) <= _make_help_targets()
    assert set(README_CLI.findall(text)) <= _cli_commands()
    assert "`./ledgerline status`" in text


def test_a_second_up_on_the_same_data_folder_says_what_runs_there(tmp_path: Path) -> None:
    # What a running `ledgerline up` keeps in its data folder; this test's process stands in for it.
    state = {"supervisor_pid": os.getpid(), "supervising": True, "updated_at": "now", "processes": {}}
    (tmp_path / STATE_FILE_NAME).write_text(json.dumps(state))
    result = CliRunner().invoke(app, ["up", "--free-ports", "--data-dir", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    assert f"already runs with {tmp_path}" in result.output and "--data-dir" in result.output, result.output
    assert not (tmp_path / "postgres").exists()  # nothing was started


def test_up_suggests_a_demo_that_reaches_the_platform_it_started(tmp_path: Path) -> None:
    assert demo_command(LOCAL_ENTRY_POINT_URL, default_data_dir()) == "make demo"
    assert demo_command("http://127.0.0.1:25084", tmp_path) == (
        f"./ledgerline demo --url http://127.0.0.1:25084 --data-dir {tmp_path}"
    )
