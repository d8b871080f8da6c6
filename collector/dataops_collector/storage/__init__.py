"""Storage backends behind the one `Store` protocol; `open_store` picks one."""

from __future__ import annotations

from dataops_collector.storage.base import QueryResult, Store
from dataops_collector.storage.errors import ReadOnlyViolation, StorageError, StorageUnavailable

__all__ = [
    "QueryResult",
    "ReadOnlyViolation",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "open_store",
]


def open_store(*, data_dir: str | None = None, clickhouse_url: str | None = None) -> Store:
    """The server store when a URL is given, else the embedded store on `data_dir`."""
    if clickhouse_url:
        from dataops_collector.storage.clickhouse_server import ClickHouseServerStore

        return ClickHouseServerStore(clickhouse_url)
    from dataops_collector.storage.chdb_store import ChdbStore

    return ChdbStore(data_dir or "./dataops-data")
