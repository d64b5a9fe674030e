"""The first Apache Kafka start shows Maven's downloads as a progress bar, and a failed or hung
mvn still says what went wrong. A small script stands in for mvn, as a real process."""

from __future__ import annotations

import sys

import pytest

from ledgerline.infra.maven_progress import downloaded_bytes, run_with_download_bar
from ledgerline.infra.process import InfrastructureError

# What `mvn -B dependency:copy-dependencies` prints while it fetches (Maven 3.8 and 3.9).
CENTRAL = "central: https://repo.maven.apache.org/maven2"
MAVEN_LINES = [
    "[INFO] Scanning for projects...",
    f"Downloading from {CENTRAL}/org/apache/kafka/kafka-clients/4.3.1/kafka-clients-4.3.1.jar",
    f"Downloaded from {CENTRAL}/org/apache/kafka/kafka-clients/4.3.1/kafka-clients-4.3.1.jar (9.5 MB at 4.1 MB/s)",
    f"[INFO] Downloaded from {CENTRAL}/org/slf4j/slf4j-api/1.7.36/slf4j-api-1.7.36.pom (2.7 kB at 31 kB/s)",
    f"Downloaded from {CENTRAL}/org/apache/kafka/kafka_2.13/4.3.1/kafka_2.13-4.3.1.jar (12 MB at 5.2 MB/s)",
    "[INFO] BUILD SUCCESS",
]


def fake_mvn(lines: list[str], exit_code: int = 0, sleep_s: float = 0) -> list[str]:
    script = f"import sys, time\nprint(*{lines!r}, sep='\\n', flush=True)\ntime.sleep({sleep_s})\nsys.exit({exit_code})"
    return [sys.executable, "-c", script]


def test_transfer_lines_give_their_sizes() -> None:
    assert [downloaded_bytes(line) for line in MAVEN_LINES] == [0, 0, 9_500_000, 2_700, 12_000_000, 0]


def test_downloads_are_drawn_against_the_expected_size(capsys: pytest.CaptureFixture[str]) -> None:
    run_with_download_bar(fake_mvn(MAVEN_LINES), "resolving", timeout_s=60, expected_bytes=43_000_000)
    frames = capsys.readouterr().err.replace("\r", "\n").split("\n")
    shown = [frame.strip() for frame in frames if frame.strip()]
    assert shown == [
        "[######                        ]  22%  1 files, 9.5 MB",
        "[######                        ]  22%  2 files, 9.5 MB",
        "[###############               ]  50%  3 files, 21.5 MB",
        "[##############################] 100%  3 files, 21.5 MB",
    ]


def test_a_failed_mvn_says_why() -> None:
    with pytest.raises(InfrastructureError, match=r"(?s)exit code 1.*BUILD FAILURE"):
        run_with_download_bar(fake_mvn(["[ERROR] BUILD FAILURE"], exit_code=1), "resolving", 60, 1)


def test_a_hung_mvn_is_stopped_at_the_bound() -> None:
    with pytest.raises(InfrastructureError, match="did not finish within 1s"):
        run_with_download_bar(fake_mvn([], sleep_s=60), "resolving", timeout_s=1, expected_bytes=1)
