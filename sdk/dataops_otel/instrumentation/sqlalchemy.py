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
statement returns. Its span is held back (its start and end times and its facts
recorded) until the connection commits or rolls back, then emitted with
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

import logging
import time
import weakref
from collections.abc import Collection
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.datasets import dataset_id_for_sqlalchemy
from dataops_otel.guard import call_guarded, guarded, log_once
from dataops_otel.instrumentation._suppression import suppressed
from dataops_otel.operation import in_nested_scope
from dataops_otel.run import RunContext, current_run
from dataops_otel.sql_lineage import SqlAnalysis, TableRef, analyze
from dataops_otel.version import __version__

_logger = logging.getLogger(__name__)
_instruments: Final = ("sqlalchemy >= 1.4",)
MAX_PENDING_PER_CONNECTION: Final = 1_000
# Distinct statement texts cached per engine (the cache starts over when full).
MAX_CACHED_STATEMENTS: Final = 2_048
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
    """Attaches and detaches the per-engine hooks; one instance per instrumentation."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._hooks: weakref.WeakKeyDictionary[Any, _EngineHooks] = weakref.WeakKeyDictionary()

    def add(self, engine: Any) -> None:
        from sqlalchemy import event

        hooks = _EngineHooks(self._tracer)
        self._hooks[engine] = hooks
        # retval=True: SQLAlchemy calls the hook directly instead of through a wrapper
        # that returns the statement and parameters for it.
        event.listen(engine, "before_cursor_execute", hooks.before_execute, retval=True)
        event.listen(engine, "after_cursor_execute", hooks.after_execute)
        event.listen(engine, "handle_error", hooks.on_error)
        event.listen(engine, "commit", hooks.on_commit)
        event.listen(engine, "rollback", hooks.on_rollback)
        event.listen(engine, "checkin", hooks.on_checkin)

    def remove(self, engine: Any) -> None:
        from sqlalchemy import event

        hooks = self._hooks.pop(engine, None)
        if hooks is None:
            return
        event.remove(engine, "before_cursor_execute", hooks.before_execute)
        event.remove(engine, "after_cursor_execute", hooks.after_execute)
        event.remove(engine, "handle_error", hooks.on_error)
        event.remove(engine, "commit", hooks.on_commit)
        event.remove(engine, "rollback", hooks.on_rollback)
        event.remove(engine, "checkin", hooks.on_checkin)


class _Statement:
    """Everything one statement text on one engine always yields, computed once.

    `attributes` is shared by every span of the statement and never mutated (the
    SDK copies span attributes). `variant` memoizes the last per-call extension
    (batch size, enclosing run, nested flag), which pipelines repeat statement
    after statement, so the hot path allocates no attribute dict.
    """

    __slots__ = ("attributes", "counts_rows", "lineage", "name", "variant", "writes")

    def __init__(
        self, name: str, attributes: dict[str, AttributeValue], writes: bool, counts_rows: bool
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.lineage = semconv.DATAOPS_OPERATION in attributes
        self.writes = writes
        self.counts_rows = counts_rows
        self.variant: tuple[int | None, RunContext | None, bool, dict[str, AttributeValue]] | None
        self.variant = None

    def attributes_for(self, batch: int | None) -> dict[str, AttributeValue]:
        if self.lineage:
            run = current_run()
            nested = in_nested_scope()
        else:
            run, nested = None, False
        if batch is None and run is None and not nested:
            return self.attributes
        variant = self.variant
        if (
            variant is not None
            and variant[0] == batch
            and variant[1] is run
            and variant[2] is nested
        ):
            return variant[3]
        attrs = dict(self.attributes)
        if batch is not None:
            attrs[semconv.DB_OPERATION_BATCH_SIZE] = batch
        if run is not None:
            attrs.update(run.attributes())
        if nested:
            attrs[semconv.DATAOPS_NESTED] = True
        self.variant = (batch, run, nested, attrs)
        return attrs


# What before_execute hands to after_execute / on_error: the statement, its
# attributes, the parent context, the start time and the thread's CPU time then
# (the driver runs in the calling thread; other threads' CPU is not the statement's).
_SpanState = tuple[_Statement, dict[str, AttributeValue], Context, int, float]
# A write waiting for its transaction: name, parent, attributes, start and end time.
_Pending = tuple[str, Context, dict[str, AttributeValue], int, int]


class _EngineHooks:
    """The event handlers of one engine, with that engine's statement cache.

    A statement's span is created once everything about it is known: in
    ``after_cursor_execute`` (or ``handle_error``), or for a write inside a
    transaction when the transaction resolves; with the start time and the
    parent context taken in ``before_cursor_execute``. So every span is one
    ``start_span`` call carrying all its attributes (samplers see them all, a
    write's outcome included) and one ``end``: no per-attribute calls, each of
    which takes the span's lock and validates, and no open span per pending
    write. Per statement the hot path is a dict lookup (statement text ->
    `_Statement`), one dict copy for the facts, and the span.
    """

    __slots__ = ("__weakref__", "_start_span", "_statements")

    def __init__(self, tracer: trace.Tracer) -> None:
        self._start_span = tracer.start_span
        self._statements: dict[str, _Statement] = {}

    # --- statement spans ---------------------------------------------------------

    def before_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        parent = get_current()
        if context is None or suppressed(parent):
            return statement, parameters
        # Plain try/except rather than the guard's context manager: this runs per statement.
        try:
            entry = self._statements.get(statement)
            if entry is None:
                entry = self._new_statement(conn, statement)
            if executemany and isinstance(parameters, (list, tuple)):
                attrs = entry.attributes_for(len(parameters))
            elif entry.lineage:
                attrs = entry.attributes_for(None)
            else:
                attrs = entry.attributes
            setattr(
                context,
                _SPAN_KEY,
                (entry, attrs, parent, time.time_ns(), time.thread_time()),
            )
        except Exception as exc:
            log_once("sqlalchemy.before_execute", exc)
        return statement, parameters

    def _new_statement(self, conn: Any, statement: str) -> _Statement:
        dialect = conn.dialect
        analysis = analyze(statement, dialect.name)
        system = (
            "mariadb"
            if getattr(dialect, "is_mariadb", False)
            else _DB_SYSTEMS.get(dialect.name, dialect.name)
        )
        entry = _Statement(
            analysis.summary or dialect.name,
            _statement_attributes(conn.engine.url, system, analysis),
            writes=bool(analysis.tables_written),
            counts_rows=analysis.operation_name in _ROW_COUNTING,
        )
        if len(self._statements) >= MAX_CACHED_STATEMENTS:
            self._statements.clear()
        self._statements[statement] = entry
        return entry

    def after_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        state: _SpanState | None = getattr(context, _SPAN_KEY, None)
        if state is None:
            return
        setattr(context, _SPAN_KEY, None)
        entry, attrs, parent, start_ns, cpu_start = state
        try:
            attrs = dict(attrs)
            # round to the microsecond; round(x, 6) costs three times as much
            cpu = round((time.thread_time() - cpu_start) * 1e6) / 1e6
            attrs[semconv.DATAOPS_CPU_SECONDS] = cpu
            if entry.counts_rows:
                rowcount = getattr(cursor, "rowcount", -1)
                if isinstance(rowcount, int) and rowcount >= 0:
                    attrs[semconv.DATAOPS_DATASET_ROWS] = rowcount
            if entry.writes and _keep_pending(conn, entry.name, parent, attrs, start_ns):
                return
        except Exception as exc:
            log_once("sqlalchemy.after_execute", exc)
        self._emit(entry.name, parent, attrs, start_ns, None)

    def on_error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        state: _SpanState | None = (
            getattr(context, _SPAN_KEY, None) if context is not None else None
        )
        if state is None:
            return
        setattr(context, _SPAN_KEY, None)
        entry, attrs, parent, start_ns, _ = state
        with guarded("sqlalchemy.on_error"):
            exc = exception_context.original_exception
            attrs = dict(attrs)
            attrs[semconv.ERROR_TYPE] = type(exc).__qualname__
            span = self._start_span(entry.name, parent, SpanKind.CLIENT, attrs, start_time=start_ns)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1024]))
            span.end()

    def _emit(  # start_span's arguments by position: name, context, kind, attributes
        self,
        name: str,
        parent: Context,
        attrs: dict[str, AttributeValue],
        start_ns: int,
        end_ns: int | None,
    ) -> None:
        try:
            self._start_span(name, parent, SpanKind.CLIENT, attrs, start_time=start_ns).end(end_ns)
        except Exception as exc:
            log_once("sqlalchemy.span", exc)

    # --- transaction outcome ---------------------------------------------------------

    def on_commit(self, conn: Any) -> None:
        self._resolve(conn, semconv.OUTCOME_COMMITTED)

    def on_rollback(self, conn: Any) -> None:
        self._resolve(conn, semconv.OUTCOME_ROLLED_BACK)

    def on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        pending = record.info.pop(_PENDING_KEY, None) if record is not None else None
        if pending:
            self._end_pending(pending, semconv.OUTCOME_UNKNOWN)

    def _resolve(self, conn: Any, outcome: str) -> None:
        pending = call_guarded(
            "sqlalchemy.pending", lambda: conn.info.pop(_PENDING_KEY, None), None
        )
        if pending:
            self._end_pending(pending, outcome)

    def _end_pending(self, pending: list[_Pending], outcome: str) -> None:
        start_span = self._start_span
        for name, parent, attrs, start_ns, end_ns in pending:
            attrs[semconv.DATAOPS_TRANSACTION_OUTCOME] = outcome
            try:
                start_span(name, parent, SpanKind.CLIENT, attrs, start_time=start_ns).end(end_ns)
            except Exception as exc:
                log_once("sqlalchemy.span", exc)


def _keep_pending(
    conn: Any, name: str, parent: Context, attrs: dict[str, AttributeValue], start_ns: int
) -> bool:
    """Keep a write's span for its transaction's outcome (True), or set the outcome
    now (False): in AUTOCOMMIT mode, or when too many writes wait already."""
    info = conn.info
    pending: list[_Pending] | None = info.get(_PENDING_KEY)
    if pending is None:
        # The first write of a transaction; the isolation level cannot change until
        # the transaction ends (and its commit or rollback pops the list).
        if _is_autocommit(conn):
            attrs[semconv.DATAOPS_TRANSACTION_OUTCOME] = semconv.OUTCOME_AUTOCOMMIT
            return False
        info[_PENDING_KEY] = [(name, parent, attrs, start_ns, time.time_ns())]
        return True
    if len(pending) < MAX_PENDING_PER_CONNECTION:
        pending.append((name, parent, attrs, start_ns, time.time_ns()))
        return True
    attrs[semconv.DATAOPS_TRANSACTION_OUTCOME] = semconv.OUTCOME_UNKNOWN
    return False


def _is_autocommit(conn: Any) -> bool:
    try:
        return bool(conn._is_autocommit_isolation())
    except AttributeError:  # SQLAlchemy 1.4
        return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"  # type: ignore[no-any-return]


def _statement_attributes(
    url: Any, system: str, analysis: SqlAnalysis
) -> dict[str, AttributeValue]:
    """Everything that depends only on the database and the statement text.

    Computed once per engine and statement (see `_EngineHooks`): resolving
    dataset ids parses the URL. Returned dicts are shared; never mutate them.
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
