"""The storage interface: what the collector, analytics and CLI need from ClickHouse.

Two backends implement it with identical DDL and SQL: `ChdbStore` (embedded
chDB, the default) and `ClickHouseServerStore` (a server through
clickhouse-connect). Values always travel as server-side ``{name:Type}``
parameters or as columnar Arrow inserts; nothing from a span is formatted into
SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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

    def close(self) -> None: ...


def quote_identifier(name: str) -> str:
    """Backquote a table or column name that comes from our own code."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def insert_statement(table: str, columns: Sequence[str], source: str) -> str:
    cols = ", ".join(quote_identifier(c) for c in columns)
    return f"INSERT INTO {quote_identifier(table)} ({cols}) SELECT {cols} FROM {source}"
