"""Versioned, idempotent schema migrations.

Migrations are the numbered ``migrations/NNNN_name.sql`` files shipped inside
the package. Every statement is ``IF NOT EXISTS`` (or otherwise safe to
repeat), so applying them on top of tables the official OpenTelemetry
Collector's ClickHouse exporter created only adds what is missing. Applied
versions are recorded in ``dataops_schema_migrations``; a version already
recorded is skipped. ``{{retention_days}}`` is the one template value, an
integer from configuration (never span data); changing it on an existing
database is applied with ``ALTER TABLE ... MODIFY TTL``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from dataops_collector.storage.base import Store

_logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Tables with a TTL, and the time expression the TTL counts from.
TTL_COLUMNS = {
    "otel_traces": "toDateTime(Timestamp)",
    "otel_traces_trace_id_ts": "toDate(Start)",
    "dataops_dataset_events": "toDateTime(Timestamp)",
    "dataops_runs": "toDateTime(Timestamp)",
    "dataops_cost_daily": "toDateTime(Day)",
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, retention_days: int) -> list[str]:
        text = self.sql.replace("{{retention_days}}", str(int(retention_days)))
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    folder = resources.files("dataops_collector.schema") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_versions(store: Store) -> set[int]:
    store.command(
        "CREATE TABLE IF NOT EXISTS dataops_schema_migrations ("
        " Version UInt32, Name String, Checksum String,"
        " AppliedAt DateTime64(3) DEFAULT now64(3)"
        ") ENGINE = ReplacingMergeTree ORDER BY Version"
    )
    result = store.query_rows("SELECT DISTINCT Version FROM dataops_schema_migrations")
    return {int(row[0]) for row in result.rows}


def apply_migrations(store: Store, *, retention_days: int | None = None) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied now."""
    days = DEFAULT_RETENTION_DAYS if retention_days is None else retention_days
    if days <= 0:
        raise ValueError("retention_days must be a positive number of days")
    done = applied_versions(store)
    applied = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements(days):
            store.command(statement)
        store.command(
            "INSERT INTO dataops_schema_migrations (Version, Name, Checksum)"
            " VALUES ({v:UInt32}, {n:String}, {c:String})",
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
        _logger.info("applied migration %04d_%s", migration.version, migration.name)
    if retention_days is not None and not applied:
        set_retention(store, days)
    return applied


def set_retention(store: Store, retention_days: int) -> None:
    """Change the TTL of every table that has one (existing databases)."""
    for table, expression in TTL_COLUMNS.items():
        store.command(
            f"ALTER TABLE {table} MODIFY TTL {expression} + toIntervalDay({int(retention_days)})"
        )


def set_attribute_limit(store: Store, max_attribute_bytes: int) -> None:
    """Tell the intake view where to truncate attribute values (bytes of text).

    One value per database: the last collector to start sets it for all.
    """
    if max_attribute_bytes < 64:
        raise ValueError("max_attribute_bytes must be at least 64")
    current = store.query_rows(
        "SELECT argMax(Value, UpdatedAt) FROM dataops_collector_settings"
        " WHERE Name = 'max_attribute_bytes'"
    ).scalar()
    if current != str(int(max_attribute_bytes)):
        store.command(
            "INSERT INTO dataops_collector_settings (Name, Value)"
            " VALUES ('max_attribute_bytes', {v:String})",
            parameters={"v": str(int(max_attribute_bytes))},
        )
