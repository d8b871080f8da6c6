"""A ClickHouse server through clickhouse-connect: the production backend.

Kept thin on purpose (no server runs on the development machines): the same
SQL and the same Arrow inserts as the embedded store, with the server's own
insert deduplication token passed as a setting. clickhouse-connect does not
retry inserts; the collector's batcher does, with the same token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from dataops_collector.storage.base import (
    OTLP_INTAKE_TABLE,
    QueryResult,
    is_rejected_input,
    otlp_insert_settings,
)
from dataops_collector.storage.errors import (
    StorageError,
    StorageRejectedData,
    StorageUnavailable,
)


def client_for_url(url: str, **settings: Any) -> Any:
    """A clickhouse-connect client for ``http(s)://user:pass@host:port/database``."""
    import clickhouse_connect

    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not a ClickHouse HTTP URL: {redact_url(url)}")
    database = parts.path.strip("/") or None
    return clickhouse_connect.get_client(
        host=parts.hostname,
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=database,
        secure=parts.scheme == "https",
        connect_timeout=5,
        settings=settings or None,
    )


def redact_url(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


class ClickHouseServerStore:
    """A `Store` over a ClickHouse server."""

    def __init__(self, url: str) -> None:
        self.description = f"ClickHouse server at {redact_url(url)}"
        try:
            self._client = client_for_url(url)
        except Exception as exc:
            raise StorageUnavailable(f"cannot reach {redact_url(url)}: {exc}") from exc

    def command(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(parameters or {}))
        except Exception as exc:
            raise StorageError(str(exc)) from exc

    def query_rows(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        try:
            result = self._client.query(sql, parameters=dict(parameters or {}))
        except Exception as exc:
            raise StorageError(str(exc)) from exc
        return QueryResult(list(result.column_names), [tuple(r) for r in result.result_rows])

    def query_bytes(
        self, sql: str, *, fmt: str, parameters: Mapping[str, Any] | None = None
    ) -> bytes:
        try:
            return bytes(self._client.raw_query(sql, parameters=dict(parameters or {}), fmt=fmt))
        except Exception as exc:
            raise StorageError(str(exc)) from exc

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        settings = (
            {
                "insert_deduplication_token": dedup_token,
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            }
            if dedup_token
            else None
        )
        try:
            self._client.insert_arrow(table, data, settings=settings)
        except Exception as exc:
            raise StorageUnavailable(f"insert into {table} failed: {exc}") from exc

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        """Send the OTLP bytes as they are; the server parses them (format Protobuf)."""
        try:
            self._client.raw_insert(
                OTLP_INTAKE_TABLE,
                insert_block=payload,
                settings=otlp_insert_settings(dedup_token),
                fmt="Protobuf",
            )
        except Exception as exc:
            if is_rejected_input(str(exc)):
                raise StorageRejectedData(f"cannot parse the spans: {exc}") from exc
            raise StorageUnavailable(f"insert of OTLP spans failed: {exc}") from exc

    def close(self) -> None:
        self._client.close()
