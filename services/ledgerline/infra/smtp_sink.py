"""An SMTP server on loopback that keeps every message it receives as a `.eml` file.

It stands in for the mail provider, which is outside the platform: `ledgerline up` starts it so
notification emails can be read in `.ledgerline/mail/`, and the tests read what was sent.
"""

from __future__ import annotations

import argparse
import signal
import threading
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

MESSAGE_BYTES_MAX = 1024 * 1024


class _Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{uuid.uuid4().hex}.eml"
        (self.folder / (name + ".part")).write_bytes(envelope.original_content)
        (self.folder / (name + ".part")).rename(self.folder / name)  # Readers never see half a message.
        return "250 Message accepted"


def read_mailbox(folder: Path) -> list[EmailMessage]:
    return [
        BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Store(args.dir), hostname="127.0.0.1", port=args.port, data_size_limit=MESSAGE_BYTES_MAX)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
