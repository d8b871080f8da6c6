"""The storage interface: what the collector, analytics and CLI need from ClickHouse.

Two backends implement it with identical DDL and SQL: `ChdbStore` (embedded
chDB, the default) and `ClickHouseServerStore` (a server through
clickhouse-connect). Values always travel as server-side ``{name:Type}``
parameters or as columnar Arrow inserts; nothing from a span is formatted into
SQL text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

# ClickHouse parses OTLP requests into this Null table; its materialized view
# writes otel_traces (migration 0004_otlp_intake).
OTLP_INTAKE_TABLE = "dataops_otlp_intake"


@dataclass(frozen=True)
class QueryResult:
    """Rows of a read query, with their column names."""

    column_names: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.column_names, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Store(Protocol):
    """A ClickHouse database the collector writes spans into and reads answers from."""

    description: str

    def command(
        self,
        sql: str,
        *,
        parameters: Mapping[str, Any] | None = None,
    ) -> None: ...

    def query_rows(
        self,
        sql: str,
        *,
        parameters: Mapping[str, Any] | None = None,
    ) -> QueryResult: ...

    def query_bytes(
        self, sql: str, *, fmt: str, parameters: Mapping[str, Any] | None = None
    ) -> bytes: ...

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None: ...

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        """Insert length-delimited ``ExportTraceServiceRequest`` messages as spans."""
        ...

    def close(self) -> None: ...


def quote_identifier(name: str) -> str:
    """Backquote a table or column name that comes from our own code."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def insert_statement(table: str, columns: Sequence[str], source: str) -> str:
    cols = ", ".join(quote_identifier(c) for c in columns)
    return f"INSERT INTO {quote_identifier(table)} ({cols}) SELECT {cols} FROM {source}"


@functools.lru_cache(maxsize=1)
def otlp_intake_schema() -> str:
    """The .proto text ClickHouse parses OTLP requests with (sent inline, no file on the server)."""
    return (resources.files("dataops_collector.schema") / "otlp_intake.proto").read_text("utf-8")


def is_rejected_input(message: str) -> bool:
    """Whether a failed OTLP insert failed in parsing its bytes (ClickHouse's message)."""
    return "ProtobufRowInputFormat" in message or "PROTOBUF" in message


def otlp_insert_settings(dedup_token: str, *, schema_file: str | None = None) -> dict[str, Any]:
    """Settings of every OTLP intake insert, on either backend.

    A server gets the schema inline (``format_schema_source='string'``), so it
    needs no file in its format_schema_path. The embedded engine reads it from
    `schema_file`, a private copy: inline schemas are cached in a
    ``__cache__`` folder under the process's working directory there. The
    dedup token makes a retried batch a no-op in otel_traces and in every
    table derived from it. JSON arrays keep '/' unescaped, as the contrib
    exporter writes them.
    """
    schema: dict[str, Any] = (
        {"format_schema": f"{schema_file}:ExportTraceServiceRequest"}
        if schema_file
        else {
            "format_schema_source": "string",
            "format_schema": otlp_intake_schema(),
            "format_schema_message_name": "ExportTraceServiceRequest",
        }
    )
    return {
        **schema,
        "output_format_json_escape_forward_slashes": 0,
        "insert_deduplication_token": dedup_token,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
        "parallel_view_processing": 1,
    }
