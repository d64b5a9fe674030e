"""The checker's outcome: every check with what it looked at and what it found, as a rich table
for people and as JSON for scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from ledgerline.verify.checks import DESCRIPTIONS, Tally


@dataclass
class Report:
    tallies: dict[str, Tally]
    stale_after_s: float
    # Wallet balances per currency, summed while the wallets are paged (for the money supply).
    wallet_minor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, findings_kept_max: int, stale_after_s: float) -> Report:
        return cls({name: Tally(name, findings_kept_max) for name in DESCRIPTIONS}, stale_after_s)

    def tally(self, check: str) -> Tally:
        return self.tallies[check]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tallies.values())

    def findings_of(self, check: str) -> list[str]:
        """The subjects (wallet, payment, currency) one check found wrong, as listed."""
        return [f.subject for f in self.tallies[check].findings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stale_after_s": self.stale_after_s,
            "checks": [
                {
                    "check": t.check,
                    "description": DESCRIPTIONS[t.check],
                    "ok": t.ok,
                    "checked": t.checked,
                    "found": t.found,
                    "findings": [{"subject": f.subject, "detail": f.detail} for f in t.findings],
                }
                for t in self.tallies.values()
            ],
        }

    def summary(self) -> str:
        wrong = [
            f"{t.check}: {t.found} ({'; '.join(f.subject + ' ' + f.detail for f in t.findings[:3])})"
            for t in self.tallies.values()
            if not t.ok
        ]
        return "books verified" if not wrong else "books wrong: " + " | ".join(wrong)


def render(report: Report, console: Console) -> None:
    table = Table(title="ledgerline verify", title_justify="left")
    for column in ("check", "what it proves", "checked", "found", ""):
        table.add_column(column, justify="right" if column in ("checked", "found") else "left")
    for t in report.tallies.values():
        verdict = "[green]ok[/]" if t.ok else "[red]WRONG[/]"
        table.add_row(t.check, DESCRIPTIONS[t.check], f"{t.checked:,}", f"{t.found:,}", verdict)
    console.print(table)
    for t in report.tallies.values():
        if t.findings:
            listed = Table(title=f"{t.check}: {t.found:,} found, {len(t.findings)} listed", title_justify="left")
            listed.add_column("subject")
            listed.add_column("detail")
            for finding in t.findings:
                listed.add_row(finding.subject, finding.detail)
            console.print(listed)
    console.print("[green]books verified[/]" if report.ok else "[red]books wrong[/]")
