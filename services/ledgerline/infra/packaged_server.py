"""A server from a Debian package (nginx, Prometheus) run on loopback for the local platform.

`make bootstrap` installs the package; the binary is found on PATH or where the package puts it
(for a launcher started with a PATH that lacks it). The server runs with a configuration the
platform writes into its data folder and is ready once an HTTP path of its own answers 200.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ledgerline.infra.process import InfrastructureError, ManagedProcess, find_executable, http_ok, refuse_taken_port

# services/ledgerline/infra/ -> the repository root, which `make bootstrap` installs editable.
REPOSITORY = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class DebianPackage:
    name: str
    binary: Path
    # What the platform wants the server for, said when it is missing.
    purpose: str

    def find(self) -> Path:
        found = find_executable(self.binary.name, [self.binary])
        if found is None:
            raise InfrastructureError(
                f"no {self.binary.name} binary{self.purpose}: `make bootstrap` installs Debian's {self.name} "
                f"package (apt-get as root or with sudo), or run `apt-get install {self.name}`"
            )
        return found


class PackagedServer(ABC):
    """The server `name` of `package` on 127.0.0.1:`port`, its files under `data_dir`."""

    name: str
    package: DebianPackage
    ready_path: str
    log_name: str

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @abstractmethod
    def write_config(self) -> Path:
        """Write the server's configuration into the data folder; returns its path."""

    @abstractmethod
    def command(self, binary: Path) -> list[str]:
        """The command line that runs `binary` with the written configuration, in the foreground."""

    def start(self) -> None:
        binary = self.package.find()
        refuse_taken_port(self.name, self.port)
        self.write_config()
        self.process = ManagedProcess(self.name, self.command(binary), log_path=self.data_dir / self.log_name)
        self.process.start()
        self.process.wait_ready(lambda: http_ok(self.url + self.ready_path), timeout_s=READY_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
