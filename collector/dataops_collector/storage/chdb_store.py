"""Embedded ClickHouse through chDB: the zero-setup default.

chDB runs ClickHouse inside this process. One process can hold one data
directory at a time (a second `Session` on another path fails until the first
is closed), and a session is not documented as thread-safe, so every call goes
through one lock: inserts and queries from several threads are serialised,
which suits the collector's few large inserts. Other processes read the data
through the collector's query endpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from dataops_collector.storage.base import (
    OTLP_INTAKE_TABLE,
    QueryResult,
    insert_statement,
    is_rejected_input,
    otlp_insert_settings,
    otlp_intake_schema,
)
from dataops_collector.storage.errors import (
    StorageError,
    StorageRejectedData,
    StorageUnavailable,
)


class ChdbStore:
    """A `Store` over an embedded chDB session on `data_dir`."""

    def __init__(self, data_dir: str) -> None:
        from chdb import session

        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        self.description = f"embedded ClickHouse (chDB) at {self.data_dir}"
        self._lock = threading.RLock()
        try:
            self._session: Any = session.Session(self.data_dir)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise StorageError(
                f"cannot open the embedded ClickHouse at {self.data_dir}: {exc}"
            ) from exc
        self._closed = False
        self._intake_dir = tempfile.mkdtemp(prefix="dataops-intake-", dir=_fast_temp_dir())
        # Removed on close(), and at exit or garbage collection if close() never comes.
        self._remove_intake_dir = weakref.finalize(
            self, shutil.rmtree, self._intake_dir, ignore_errors=True
        )
        self._schema_file = os.path.join(self._intake_dir, "otlp_intake.proto")
        with open(self._schema_file, "w", encoding="utf-8") as schema:
            schema.write(otlp_intake_schema())

    def command(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "TSV", parameters)

    def query_rows(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        import chdb

        result = self._run(sql, "Arrow", parameters)
        if not result.bytes():
            return QueryResult(column_names=[], rows=[])
        table = chdb.to_arrowTable(result)  # type: ignore[no-untyped-call]
        columns = [_python_values(column) for column in table.columns]
        return QueryResult(list(table.column_names), list(zip(*columns, strict=True)))

    def query_bytes(
        self, sql: str, *, fmt: str, parameters: Mapping[str, Any] | None = None
    ) -> bytes:
        return bytes(self._run(sql, fmt, parameters).bytes())

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str | None = None) -> None:
        sql = insert_statement(table, data.column_names, "Python(data)")
        if dedup_token:
            # The token is ours (hex), never span data.
            sql += (
                f" SETTINGS insert_deduplication_token='{_checked_token(dedup_token)}',"
                " deduplicate_blocks_in_dependent_materialized_views=1"
            )
        with self._lock:
            self._ensure_open()
            try:
                self._session.query(sql, "TSV")
            except Exception as exc:
                raise StorageUnavailable(f"insert into {table} failed: {exc}") from exc

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        """Let ClickHouse parse the OTLP bytes: written to a private file, read with file().

        chDB's streaming insert does not run materialized views, so the bytes
        go through ``INSERT ... SELECT FROM file()``, which does. The file is
        on tmpfs where there is one and is removed after the insert.
        """
        path = os.path.join(self._intake_dir, "batch.otlp")
        options = otlp_insert_settings(dedup_token, schema_file=self._schema_file)
        settings = ", ".join(f"{name} = {_literal(value)}" for name, value in options.items())
        sql = (
            f"INSERT INTO {OTLP_INTAKE_TABLE} SELECT * FROM file({_literal(path)}, 'Protobuf')"
            f" SETTINGS {settings}"
        )
        with self._lock:
            self._ensure_open()
            try:
                with open(path, "wb") as batch:
                    batch.write(payload)
                self._session.query(sql, "TSV")
            except Exception as exc:
                if is_rejected_input(str(exc)):
                    raise StorageRejectedData(f"cannot parse the spans: {exc}") from exc
                raise StorageUnavailable(f"insert of OTLP spans failed: {exc}") from exc
            finally:
                if os.path.exists(path):
                    os.remove(path)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._session.close()
                self._remove_intake_dir()

    def _run(self, sql: str, fmt: str, parameters: Mapping[str, Any] | None) -> Any:
        with self._lock:
            self._ensure_open()
            try:
                if parameters:
                    params = {k: _param_text(v) for k, v in parameters.items()}
                    return self._session.query(sql, fmt, params=params)
                return self._session.query(sql, fmt)
            except Exception as exc:
                raise StorageError(str(exc).strip()) from exc

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageUnavailable("the embedded ClickHouse is closed")


def _param_text(value: Any) -> Any:
    """Server-side parameter values in ClickHouse's text form (arrays as literals).

    Top-level scalars go as they are (the engine parses them by the declared
    type); array elements are quoted and escaped, never interpolated into SQL.
    """
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    return value


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return _param_text(value)  # type: ignore[no-any-return]
    return str(value)


def _python_values(column: Any) -> list[Any]:
    """Arrow column -> Python values; maps become dicts (as clickhouse-connect returns them)."""
    import pyarrow as pa

    values: list[Any] = column.to_pylist()
    if pa.types.is_map(column.type):
        return [None if v is None else dict(v) for v in values]
    return values


def _literal(value: Any) -> str:
    """A ClickHouse literal for our own values (paths, settings); never span data."""
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _fast_temp_dir() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _checked_token(token: str) -> str:
    if not all(c.isalnum() or c in "-_" for c in token):
        raise ValueError(f"dedup tokens are alphanumeric: {token!r}")
    return token
