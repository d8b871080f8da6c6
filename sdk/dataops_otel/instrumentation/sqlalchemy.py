"""SQLAlchemy auto-instrumentation: one CLIENT span per statement, with SQL lineage.

Usage::

    from dataops_otel.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument()              # engines created from now on
    SQLAlchemyInstrumentor().instrument(engine=engine)  # or one existing engine

or ``opentelemetry-instrument python etl.py`` (entry point ``dataops_sqlalchemy``).

Each executed statement is a span named by its ``db.query.summary`` (``INSERT
daily SELECT orders customers``) with the stable OpenTelemetry database
attributes (``db.system.name``, ``db.namespace``, ``db.collection.name``,
``db.operation.name``, ``db.query.text`` with literals replaced by ``?``,
``db.operation.batch.size``, ``server.address``/``server.port``, ``error.type``)
and the dataops attributes: ``dataops.operation``, ``dataops.inputs`` (tables
read) and ``dataops.outputs`` (tables written) as dataset ids, and rows
affected where the driver reports them. Parameter values are never recorded.

Transactions: a write inside a transaction is not known to be durable when the
statement returns. Its span is kept open (its end time recorded) until the
connection commits or rolls back, then ended with
``dataops.transaction.outcome`` = ``committed`` / ``rolled_back``, so derived
tables can ignore rolled-back writes. In AUTOCOMMIT mode the outcome is
``autocommit``. At most `MAX_PENDING_PER_CONNECTION` spans wait per connection;
beyond that, and when a connection is returned to the pool with its
transaction unresolved, the outcome is ``unknown``.

Hooks are SQLAlchemy's own engine events (``before_cursor_execute``,
``after_cursor_execute``, ``handle_error``, ``commit``, ``rollback``,
``checkin``), the way opentelemetry-instrumentation-sqlalchemy does it.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Collection
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.datasets import dataset_id_for_sqlalchemy
from dataops_otel.guard import call_guarded, guarded, log_once
from dataops_otel.operation import in_nested_scope
from dataops_otel.run import current_run
from dataops_otel.sql_lineage import SqlAnalysis, TableRef, analyze
from dataops_otel.version import __version__

_logger = logging.getLogger(__name__)
_instruments: Final = ("sqlalchemy >= 1.4",)
MAX_PENDING_PER_CONNECTION: Final = 1_000
_SPAN_KEY: Final = "_dataops_span"
_PENDING_KEY: Final = "_dataops_pending"

# Statements whose cursor.rowcount is the number of rows written.
_ROW_COUNTING: Final = {"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE"}
# DDL that destroys data is a write, but never a fresh one (see dataops.write.mode).
_DESTRUCTIVE_MODES: Final = {"DROP TABLE": "drop", "TRUNCATE": "truncate"}

_DB_SYSTEMS: Final = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite",
                      "mssql": "microsoft.sql_server", "oracle": "oracle"}  # fmt: skip


class SQLAlchemyInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces SQLAlchemy statements with dataset lineage."""

    def __init__(self) -> None:
        super().__init__()
        self._engines: weakref.WeakSet[Any] = weakref.WeakSet()
        self._listeners: _Listeners | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        self._listeners = _Listeners(tracer)
        engine = kwargs.get("engine")
        if engine is not None:
            self.instrument_engine(engine)
            return
        for module in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.engine.create"):
            wrapt.wrap_function_wrapper(module, "create_engine", self._engine_factory)
        try:  # asyncio support needs greenlet (the sqlalchemy[asyncio] extra)
            wrapt.wrap_function_wrapper(
                "sqlalchemy.ext.asyncio", "create_async_engine", self._engine_factory
            )
            self._async_wrapped = True
        except ImportError:
            self._async_wrapped = False

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.engine.create"):
            unwrap(importlib.import_module(module), "create_engine")
        if getattr(self, "_async_wrapped", False):
            unwrap(importlib.import_module("sqlalchemy.ext.asyncio"), "create_async_engine")
        for engine in list(self._engines):
            with guarded("sqlalchemy.uninstrument"):
                self._listeners.remove(engine)  # type: ignore[union-attr]
        self._engines = weakref.WeakSet()

    def instrument_engine(self, engine: Any) -> None:
        """Attach the listeners to one engine (sync, or the sync core of an async one)."""
        sync_engine = getattr(engine, "sync_engine", engine)
        if sync_engine in self._engines or self._listeners is None:
            return
        self._listeners.add(sync_engine)
        self._engines.add(sync_engine)

    def _engine_factory(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        engine = wrapped(*args, **kwargs)
        with guarded("sqlalchemy.instrument_engine"):
            self.instrument_engine(engine)
        return engine


class _Listeners:
    """The event handlers; one instance per instrumentation."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def add(self, engine: Any) -> None:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self.before_execute, retval=False)
        event.listen(engine, "after_cursor_execute", self.after_execute)
        event.listen(engine, "handle_error", self.on_error)
        event.listen(engine, "commit", self.on_commit)
        event.listen(engine, "rollback", self.on_rollback)
        event.listen(engine, "checkin", self.on_checkin)

    def remove(self, engine: Any) -> None:
        from sqlalchemy import event

        event.remove(engine, "before_cursor_execute", self.before_execute)
        event.remove(engine, "after_cursor_execute", self.after_execute)
        event.remove(engine, "handle_error", self.on_error)
        event.remove(engine, "commit", self.on_commit)
        event.remove(engine, "rollback", self.on_rollback)
        event.remove(engine, "checkin", self.on_checkin)

    # --- statement spans ---------------------------------------------------------

    def before_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if not is_instrumentation_enabled() or context is None:
            return
        # Plain try/except rather than the guard's context manager: this runs per statement.
        try:
            analysis = analyze(statement, conn.dialect.name)
            attrs = _attributes(conn, analysis, parameters, executemany)
            span = self._tracer.start_span(
                analysis.summary or conn.dialect.name, kind=SpanKind.CLIENT, attributes=attrs
            )
            setattr(context, _SPAN_KEY, (span, time.process_time(), analysis))
        except Exception as exc:
            log_once("sqlalchemy.before_execute", exc)

    def after_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        state = getattr(context, _SPAN_KEY, None)
        if state is None:
            return
        setattr(context, _SPAN_KEY, None)
        span, cpu_start, analysis = state
        try:
            facts: dict[str, AttributeValue] = {
                semconv.DATAOPS_CPU_SECONDS: round(time.process_time() - cpu_start, 6)
            }
            if analysis.operation_name in _ROW_COUNTING:
                rowcount = getattr(cursor, "rowcount", -1)
                if isinstance(rowcount, int) and rowcount >= 0:
                    facts[semconv.DATAOPS_DATASET_ROWS] = rowcount
            span.set_attributes(facts)
            if analysis.tables_written:
                self._end_write(conn, span)
                return
        except Exception as exc:
            log_once("sqlalchemy.after_execute", exc)
        span.end()

    def on_error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        state = getattr(context, _SPAN_KEY, None) if context is not None else None
        if state is None:
            return
        setattr(context, _SPAN_KEY, None)
        span = state[0]
        with guarded("sqlalchemy.on_error"):
            exc = exception_context.original_exception
            span.record_exception(exc)
            span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1024]))
        span.end()

    # --- transaction outcome ---------------------------------------------------------

    def _end_write(self, conn: Any, span: Span) -> None:
        if _is_autocommit(conn):
            span.set_attribute(semconv.DATAOPS_TRANSACTION_OUTCOME, semconv.OUTCOME_AUTOCOMMIT)
            span.end()
            return
        pending = conn.info.setdefault(_PENDING_KEY, [])
        if len(pending) >= MAX_PENDING_PER_CONNECTION:
            span.set_attribute(semconv.DATAOPS_TRANSACTION_OUTCOME, semconv.OUTCOME_UNKNOWN)
            span.end()
            return
        pending.append((span, time.time_ns()))

    def on_commit(self, conn: Any) -> None:
        self._resolve(conn, semconv.OUTCOME_COMMITTED)

    def on_rollback(self, conn: Any) -> None:
        self._resolve(conn, semconv.OUTCOME_ROLLED_BACK)

    def on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        pending = record.info.pop(_PENDING_KEY, None) if record is not None else None
        _end_pending(pending or [], semconv.OUTCOME_UNKNOWN)

    def _resolve(self, conn: Any, outcome: str) -> None:
        pending = call_guarded(
            "sqlalchemy.pending", lambda: conn.info.pop(_PENDING_KEY, None), None
        )
        _end_pending(pending or [], outcome)


def _end_pending(pending: list[tuple[Span, int]], outcome: str) -> None:
    for span, end_ns in pending:
        try:
            span.set_attribute(semconv.DATAOPS_TRANSACTION_OUTCOME, outcome)
            span.end(end_time=end_ns)
        except Exception as exc:
            log_once("sqlalchemy.end_pending", exc)


def _is_autocommit(conn: Any) -> bool:
    check = getattr(conn, "_is_autocommit_isolation", None)
    if callable(check):
        return bool(check())
    return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"  # type: ignore[no-any-return]


def _attributes(
    conn: Any, analysis: SqlAnalysis, parameters: Any, executemany: bool
) -> dict[str, AttributeValue]:
    dialect = conn.dialect
    system = (
        "mariadb"
        if getattr(dialect, "is_mariadb", False)
        else _DB_SYSTEMS.get(dialect.name, dialect.name)
    )
    attrs = dict(_statement_attributes(conn.engine.url, system, analysis))
    if executemany and isinstance(parameters, (list, tuple)):
        attrs[semconv.DB_OPERATION_BATCH_SIZE] = len(parameters)
    if semconv.DATAOPS_OPERATION in attrs:
        run = current_run()
        if run is not None:
            attrs.update(run.attributes())
        if in_nested_scope():
            attrs[semconv.DATAOPS_NESTED] = True
    return attrs


@functools.lru_cache(maxsize=2048)
def _statement_attributes(
    url: Any, system: str, analysis: SqlAnalysis
) -> dict[str, AttributeValue]:
    """Everything that depends only on the database and the statement text.

    Cached: pipelines run the same statements on the same engines again and
    again, and resolving dataset ids parses the URL each time otherwise.
    Callers copy the result before adding per-call attributes.
    """
    attrs: dict[str, AttributeValue] = {
        semconv.DB_SYSTEM_NAME: system,
        semconv.DB_QUERY_TEXT: analysis.sanitized_text,
        semconv.DB_QUERY_SUMMARY: analysis.summary,
    }
    if analysis.operation_name:
        attrs[semconv.DB_OPERATION_NAME] = analysis.operation_name
    if url.database:
        attrs[semconv.DB_NAMESPACE] = str(url.database)
    if url.host:
        attrs[semconv.SERVER_ADDRESS] = str(url.host)
    if url.port:
        attrs[semconv.SERVER_PORT] = int(url.port)
    if analysis.collection:
        attrs[semconv.DB_COLLECTION_NAME] = analysis.collection
    operation = analysis.dataops_operation
    if operation is not None:
        attrs[semconv.DATAOPS_OPERATION] = operation
        attrs[semconv.DATAOPS_DATASET_FORMAT] = "table"
        inputs = _ids(url, analysis.tables_read)
        outputs = _ids(url, analysis.tables_written)
        if inputs:
            attrs[semconv.DATAOPS_INPUTS] = inputs
        if outputs:
            attrs[semconv.DATAOPS_OUTPUTS] = outputs
        mode = _DESTRUCTIVE_MODES.get(analysis.operation_name)
        if mode:
            attrs[semconv.DATAOPS_WRITE_MODE] = mode
    return attrs


def _ids(url: Any, tables: tuple[TableRef, ...]) -> list[str]:
    ids = []
    for table in tables:
        dataset = call_guarded(
            "sqlalchemy.dataset_id",
            lambda t=table: dataset_id_for_sqlalchemy(  # type: ignore[misc]
                url, t.name, schema=t.db or None, database=t.catalog or None
            ),
            None,
        )
        if dataset and dataset not in ids:
            ids.append(dataset)
    return ids
