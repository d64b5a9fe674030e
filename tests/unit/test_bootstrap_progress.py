"""The bootstrap draws apt's progress (downloading, then installing) as a bar rather than
staying silent for the minutes Chromium and Java take on a fresh machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

BOOTSTRAP = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap.sh"
# What `apt-get -o APT::Status-Fd=1` writes, with a line of ordinary output among it.
APT_STATUS = (
    "dlstatus:1:0.0000:Retrieving file 1 of 40\n"
    "dlstatus:12:50.0000:Retrieving file 12 of 40\n"
    "Selecting previously unselected package chromium.\n"
    "pmstatus:chromium:10.5263:Preparing chromium\n"
    "pmstatus:chromium:100:Installed chromium\n"
)


def test_apt_status_becomes_one_bar_per_phase() -> None:
    # The function alone, taken from the script (running the script would install packages).
    script = f"source <(sed -n '/^apt_progress()/,/^}}/p' {BOOTSTRAP}); apt_progress"
    result = subprocess.run(["bash", "-c", script], input=APT_STATUS, capture_output=True, text=True, check=True)
    frames = [frame for frame in result.stderr.replace("\r", "\n").splitlines() if frame.strip()]
    assert frames == [
        "    downloading [                              ]   0%",
        "    downloading [###############               ]  50%",
        "    installing  [###                           ]  10%",
        "    installing  [##############################] 100%",
    ]
    assert result.stdout == ""
