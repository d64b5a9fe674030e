"""Apache Kafka itself: one KRaft node (broker and controller in one JVM) on loopback.

Its jars come from Maven Central through mvn, once per version, into the user's cache folder.
It starts in seconds rather than milliseconds, but it is the broker production runs, with
idempotent producers and transactions.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from ledgerline.infra.kafka_probe import kafka_answers_metadata
from ledgerline.infra.maven_progress import run_with_download_bar
from ledgerline.infra.process import (
    InfrastructureError,
    ManagedProcess,
    find_executable,
    free_port,
    refuse_taken_port,
)

# 4.4.0 is on Central as kafka_2.13, but its pom needs kafka-tools-api 4.4.0, which is not.
KAFKA_VERSION = "4.3.1"
# Kafka 4.x logs through slf4j 1.7, so the binding is log4j-slf4j-impl (not the slf4j2 one).
LOG4J_VERSION = "2.25.3"
KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
NODE_ID = 1
# Small enough for a 2-core CI machine running PostgreSQL, Redis and the services beside it.
JVM_FLAGS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
RESOLVE_TIMEOUT_S = 900.0  # First run downloads ~45 MB of jars.
# What the progress bar of that first run counts up to: the jars and the Maven plugins that copy
# them, measured into an empty local repository (about 56 MB with Maven 3.8).
RESOLVE_DOWNLOAD_BYTES = 56_000_000
FORMAT_TIMEOUT_S = 300.0  # A JVM start: over a minute on a busy 2-core machine.
# How long the broker may go without a line in its log before it is judged stuck. After a
# SIGKILL it replays every unflushed log first, which on a busy machine outlasts any fixed
# readiness timeout; killing it then would only make the next start replay the same logs.
READY_TIMEOUT_S = 120.0
# The whole wait, recovery included: far above what the flush settings below leave to replay.
RECOVERY_LIMIT_S = 1800.0
RECOVERY_REPORT_INTERVAL_S = 30.0
# A clean shutdown writes the recovery checkpoints, so the next start replays nothing.
STOP_TIMEOUT_S = 90.0
OUTPUT_TAIL_CHARS = 4000
RESOLVED_MARKER = ".resolved"
INSTALL_HINT = "install Java 17 and Maven (Debian: apt-get install openjdk-17-jre-headless maven)"

RUNTIME_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ledgerline</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ledgerline" / f"kafka-{KAFKA_VERSION}"


def require_tool(name: str, candidates: list[Path]) -> Path:
    found = find_executable(name, candidates)
    if found is None:
        raise InfrastructureError(f"the apache Kafka backend needs `{name}`: {INSTALL_HINT}")
    return found


def find_java() -> Path:
    # JAVA_HOME wins over PATH, as in Kafka's own scripts: PATH may hold an older Java.
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return Path(java_home) / "bin" / "java"
    return require_tool("java", [])


def run_tool(command: list[str], what: str, timeout_s: float) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"{what} did not finish within {timeout_s:.0f}s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]
        raise InfrastructureError(f"{what} failed (exit code {result.returncode}):\n{output}")


def resolve_jars() -> Path:
    """The folder of runtime jars, downloaded on first use; the marker says the folder is whole."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "resolve.lock").open("w") as lock:
        # Two processes starting brokers at once must not download into the same folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / RESOLVED_MARKER).exists():
            download_jars(folder)
            (folder / RESOLVED_MARKER).write_text(f"{KAFKA_VERSION}\n")
    return folder / "lib"


def download_jars(folder: Path) -> None:
    mvn = require_tool("mvn", [])
    say(
        f"resolving Apache Kafka {KAFKA_VERSION} and its runtime jars (about 56 MB with the Maven plugins) "
        f"from Maven Central with mvn into {folder / 'lib'}: first run only, usually one to three minutes..."
    )
    began = time.monotonic()
    shutil.rmtree(folder / "lib", ignore_errors=True)  # Whatever an interrupted run left behind.
    (folder / "pom.xml").write_text(RUNTIME_POM)
    command = [
        str(mvn),
        "-B",  # plain lines, one per downloaded file: what the progress bar counts
        "-f",
        str(folder / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={folder / 'lib'}",
        "-DincludeScope=runtime",
    ]
    what = f"resolving Kafka {KAFKA_VERSION} jars with mvn (is Maven Central reachable?)"
    run_with_download_bar(command, what, RESOLVE_TIMEOUT_S, RESOLVE_DOWNLOAD_BYTES)
    say(f"resolved in {time.monotonic() - began:.0f}s into {folder / 'lib'}")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def random_cluster_id() -> str:
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def server_properties(log_dir: Path, port: int, controller_port: int, advertised_port: int | None = None) -> str:
    # A static voter set (not --standalone): the controller port may then differ between starts.
    settings = {
        "node.id": NODE_ID,
        "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{advertised_port or port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "log.dirs": log_dir,
        # One node: internal topics cannot have more than one replica.
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,  # Tests join groups often; do not wait 3 s each.
        "num.partitions": 1,
        "auto.create.topics.enable": "false",  # The platform creates its topics explicitly.
        # What a restart after a SIGKILL replays: only what came after the last flush of each log
        # (Kafka flushes none on its own), with small preallocated indexes and both cores.
        "log.flush.interval.ms": 5_000,
        "log.flush.scheduler.interval.ms": 1_000,
        "log.flush.offset.checkpoint.interval.ms": 5_000,
        "log.segment.bytes": 64 * 1024 * 1024,
        "log.index.size.max.bytes": 1024 * 1024,
        "num.recovery.threads.per.data.dir": 2,
        # Fewer internal partitions than the 50 each a cluster gets: fewer logs to load at start.
        "offsets.topic.num.partitions": 6,
        "transaction.state.log.num.partitions": 6,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def log4j_properties(log_path: Path) -> str:
    # File only: the broker logs over a thousand lines on start, which belong out of the terminal.
    return (
        "appender.file.type=File\nappender.file.name=file\n"
        f"appender.file.fileName={log_path}\n"
        "appender.file.layout.type=PatternLayout\n"
        "appender.file.layout.pattern=[%d] %p %m (%c)%n\n"
        "rootLogger.level=INFO\nrootLogger.appenderRef.file.ref=file\n"
    )


class ApacheKafka:
    backend = "apache"
    fetch_max_wait_ms = 500  # Kafka answers a fetch as soon as records arrive.

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        # Where clients are told to connect, when not `port`: a proxy in front (the chaos test's).
        self.advertised_port: int | None = None
        self.process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.advertised_port or self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    def java_command(self, java: Path, lib: Path, main: str, *args: str) -> list[str]:
        log4j = f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}"
        return [str(java), *JVM_FLAGS, log4j, "-cp", str(lib / "*"), main, *args]

    def write_config(self) -> Path:
        """Rewritten on every start, since the ports may differ; the storage is kept."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        properties = server_properties(self.data_dir / "logs", self.port, free_port(), self.advertised_port)
        config.write_text(properties)
        (self.data_dir / "log4j2.properties").write_text(log4j_properties(self.log_path))
        return config

    def format_storage(self, java: Path, lib: Path, config: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        command = self.java_command(
            # `--cluster-id=<id>`, not `-t <id>`: a base64 id may start with "-", which the
            # tool's argument parser would read as an option.
            java,
            lib,
            STORAGE_TOOL_MAIN,
            "format",
            f"--cluster-id={random_cluster_id()}",
            "-c",
            str(config),
        )
        run_tool(command, f"formatting Kafka storage in {self.data_dir / 'logs'}", FORMAT_TIMEOUT_S)

    def start(self) -> None:
        refuse_taken_port("kafka", self.port)
        java = find_java()
        lib = resolve_jars()
        config = self.write_config()
        self.format_storage(java, lib, config)
        # stdout shares the log4j file (both append), so JVM start-up errors land in the same tail.
        self.process = ManagedProcess(
            f"kafka (apache {KAFKA_VERSION})",
            self.java_command(java, lib, KAFKA_MAIN, str(config)),
            log_path=self.log_path,
        )
        self.process.start()
        self.process.wait_ready(
            # Its own port, not a proxy's, which would accept connections before the broker does.
            lambda: kafka_answers_metadata(f"127.0.0.1:{self.port}"),
            timeout_s=READY_TIMEOUT_S,
            progress=LogProgress(self.log_path),
            limit_s=RECOVERY_LIMIT_S,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=STOP_TIMEOUT_S)


class LogProgress:
    """How far a starting broker has come: the size of its log, which grows with every log it
    loads. Says once in a while that a slow start is a recovery still under way."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.started = time.monotonic()
        self.reported_at = self.started + READY_TIMEOUT_S - RECOVERY_REPORT_INTERVAL_S

    def __call__(self) -> int:
        try:
            size = self.log_path.stat().st_size
        except OSError:
            size = 0
        now = time.monotonic()
        if now - self.reported_at >= RECOVERY_REPORT_INTERVAL_S:
            self.reported_at = now
            say(
                f"kafka is not ready after {now - self.started:.0f}s but its log still grows "
                f"(recovering after a crash?); waiting while it does, {RECOVERY_LIMIT_S:.0f}s at most"
            )
        return size
