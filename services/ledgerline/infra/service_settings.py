"""Which settings the launcher hands to each service it starts.

A service started by `ledgerline up`, the benchmark or the tests reads its settings from its
environment, like a pod does. The launcher builds that environment in layers, each winning
over the one before:

1. the launcher's own values (ports and URLs of the local infrastructure and peers);
2. the user's `LEDGERLINE_*` and `OTEL_*` variables (the shell, or an env file);
3. explicit overrides (`--set service.field=value`, the test harness).

`--set` names a field of a service's settings class (`payment.step_timeout_s`), or a field
alone (`log_level`) for every service that has it; names and values are checked against the
settings classes before anything starts.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

PASSED_PREFIXES = ("LEDGERLINE_", "OTEL_")
# Set by the bootstrap and the launcher themselves; they mean nothing to a service.
NOT_PASSED = frozenset(
    {"LEDGERLINE_VENV", "LEDGERLINE_DATA_DIR", "LEDGERLINE_SKIP_APACHE", "LEDGERLINE_KEEP_TEST_DATA"}
)
_SECRET_MARKERS = ("PASSWORD", "SECRET", "TOKEN", "PRIVATE", "_KEY", "HEADERS")
_SETTINGS_CLASSES = {
    "wallet": "ledgerline.wallet.settings:WalletSettings",
    "ledger": "ledgerline.ledger.settings:LedgerSettings",
    "payment": "ledgerline.payment.settings:PaymentSettings",
    "notification": "ledgerline.notification.settings:NotificationSettings",
    "identity": "ledgerline.identity.settings:IdentitySettings",
    "rewards": "ledgerline.rewards.settings:RewardsSettings",
    "banksim": "ledgerline.banksim.app:BankSimSettings",
}


class SettingError(ValueError):
    """A `--set` that names no known setting or gives it a value it refuses."""


def settings_class(service: str) -> type[BaseSettings]:
    module, _, name = _SETTINGS_CLASSES[service].partition(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets `field` of `cls`."""
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        for choice in alias.choices:
            if isinstance(choice, str) and choice.isupper():
                return choice
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def passthrough(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's variables that every service started locally receives."""
    return {
        name: value for name, value in environ.items() if name.startswith(PASSED_PREFIXES) and name not in NOT_PASSED
    }


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (dotenv syntax); only the variables a service would read are kept."""
    if not path.is_file():
        raise SettingError(f"env file {path} does not exist")
    values = {name: value for name, value in dotenv_values(path).items() if value is not None}
    ignored = sorted(name for name in values if name not in passthrough(values))
    if ignored:
        raise SettingError(f"{path}: only LEDGERLINE_* and OTEL_* variables are passed to services, not {ignored}")
    return values


@dataclass(frozen=True, slots=True)
class Assignment:
    service: str
    field: str
    value: str


def parse_assignments(items: Iterable[str], services: Sequence[str]) -> dict[str, dict[str, str]]:
    """`--set` items as environment variables per service; every name and value checked."""
    per_service: dict[str, dict[str, str]] = {}
    for item in items:
        for assignment in _expand(item, services):
            cls = settings_class(assignment.service)
            _validate(cls, assignment)
            per_service.setdefault(assignment.service, {})[env_name(cls, assignment.field)] = assignment.value
    return per_service


def _expand(item: str, services: Sequence[str]) -> list[Assignment]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise SettingError(f"--set {item!r}: expected service.field=value, for example payment.step_timeout_s=300")
    target, dot, field = name.strip().rpartition(".")
    field = field.lower()
    if dot:
        if target not in _SETTINGS_CLASSES:
            raise SettingError(f"--set {item!r}: unknown service {target!r}; one of {', '.join(_SETTINGS_CLASSES)}")
        if field not in settings_class(target).model_fields:
            raise SettingError(f"--set {item!r}: {target} has no setting {field!r}{_suggest(field, [target])}")
        return [Assignment(target, field, value)]
    having = [s for s in services if s in _SETTINGS_CLASSES and field in settings_class(s).model_fields]
    if not having:
        raise SettingError(f"--set {item!r}: no service has a setting {field!r}{_suggest(field, services)}")
    return [Assignment(service, field, value) for service in having]


def _validate(cls: type[BaseSettings], assignment: Assignment) -> None:
    # Validation without reading the environment: model_validate skips the settings sources.
    try:
        cls.model_validate({assignment.field: assignment.value})
    except ValidationError as error:
        problems = "; ".join(e["msg"] for e in error.errors())
        raise SettingError(f"--set {assignment.service}.{assignment.field}={assignment.value}: {problems}") from None


def _suggest(field: str, services: Iterable[str]) -> str:
    known = {name for s in services if s in _SETTINGS_CLASSES for name in settings_class(s).model_fields}
    close = difflib.get_close_matches(field, sorted(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def shown(name: str, value: str) -> str:
    """`name=value` for the start-up summary, with secrets masked."""
    secret = any(marker in name.upper() for marker in _SECRET_MARKERS)
    return f"{name}={'***' if secret else value}"
