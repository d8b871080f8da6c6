"""Collector configuration: one typed object, resolved in one place.

Each setting is declared once (`SETTINGS`) with its type, unit (in the name),
default, environment variable and YAML key. Precedence: command-line flag >
``DATAOPS_*`` environment variable > YAML config file > default. See
docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:4317"
    http_listen: str = "127.0.0.1:4318"
    query_listen: str = "127.0.0.1:8123"
    data_dir: str = "./dataops-data"
    clickhouse_url: str | None = None
    max_message_bytes: int = 64 * 1024 * 1024
    max_attribute_bytes: int = 64 * 1024
    queue_max_spans: int = 200_000
    batch_max_spans: int = 50_000
    batch_max_delay_ms: int = 1_000
    retention_days: int = 30
    query_user: str | None = None
    query_password: str | None = None
    slo_file: str | None = None
    cost_cpu_second: float = 0.00005
    cost_gb_scanned: float = 0.005
    cost_gb_written: float = 0.02
    shutdown_timeout_s: float = 30.0
    log_format: str = "json"

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url


# YAML keys may be nested one level: {"cost": {"cpu_second": ...}} -> cost_cpu_second.
_NESTED_PREFIXES = ("cost", "query", "batch", "queue")


def env_var(name: str) -> str:
    return f"DATAOPS_{name.upper()}"


def load_settings(
    *,
    flags: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting: flag > environment > YAML file > default."""
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get("DATAOPS_CONFIG")
    values: dict[str, Any] = {}
    if config_file:
        values.update(_from_yaml(config_file))
    for field in dataclasses.fields(Settings):
        raw = environ.get(env_var(field.name))
        if raw is not None and raw != "":
            values[field.name] = raw
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
    return Settings(**{name: _coerce(name, value) for name, value in values.items()})


def _from_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"config file {path} must be a mapping of settings")
    flat: dict[str, Any] = {}
    for key, value in document.items():
        key = str(key).replace("-", "_")
        if key in _NESTED_PREFIXES and isinstance(value, dict):
            for sub, sub_value in value.items():
                flat[f"{key}_{str(sub).replace('-', '_')}"] = sub_value
        else:
            flat[key] = value
    return flat


def _coerce(name: str, value: Any) -> Any:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if name not in fields:
        raise ValueError(f"unknown setting {name!r}")
    default = fields[name].default
    if value is None:
        return None
    try:
        if isinstance(default, bool):
            return str(value).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be a number, got {value!r}") from exc
    return str(value)


def split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
