"""PySpark auto-instrumentation: one span per action that reads or writes data.

Usage::

    from dataops_otel.instrumentation.spark import SparkInstrumentor

    SparkInstrumentor().instrument()   # or dataops_otel.init(); works for sessions
                                        # created before or after

Spans (parented under the current span, so ``dataops_otel.job`` groups them):

* writes through ``DataFrameWriter`` (``save``, ``parquet``, ``csv``, ``json``,
  ``orc``, ``text``, ``jdbc``, ``saveAsTable``, ``insertInto``) and
  ``DataFrameWriterV2`` (``append``, ``overwrite``, ``overwritePartitions``,
  ``create``, ``replace``, ``createOrReplace``): ``spark.write``;
* ``spark.sql(...)`` statements that write (``INSERT``, ``CREATE TABLE AS``,
  ``MERGE``), which Spark runs eagerly: ``spark.sql``;
* read-only actions ``count``, ``collect``, ``toPandas``: ``spark.read``.

How it hooks in, and why: the Python entry points are wrapped (wrapt), which
opens the span in the caller's thread and OpenTelemetry context; the facts come
from Spark itself, through py4j, without running anything: inputs from the
analysed logical plan (the way OpenLineage's listener walks it), write metrics
(output rows, files) from the SQL status store that Spark's own listener fills,
and executor CPU from the stages of the action's jobs. No query plan is
changed and no extra Spark job runs. A QueryExecutionListener implemented in
Python would need py4j's callback server and would deliver events on another
thread, detached from the caller's context; a JVM listener would need a build
tool at install time. See docs/architecture.md.

Spark Connect sessions have no JVM on the client: their actions are not
traced (logged once); use ``dataops_otel.recording(...)`` around them.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Callable, Collection
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap

from dataops_otel import semconv
from dataops_otel.datasets import dataset_id_for_jdbc, dataset_id_for_path
from dataops_otel.guard import call_guarded, guarded, log_once
from dataops_otel.instrumentation import _spark_jvm as jvm
from dataops_otel.operation import DatasetOperation, dataset_operation
from dataops_otel.schema import schema_from_spark
from dataops_otel.sql_lineage import analyze
from dataops_otel.version import __version__

_logger = logging.getLogger(__name__)
_instruments: Final = ("pyspark >= 3.4",)

_WRITER: Final = "pyspark.sql.readwriter"
_WRITER_METHODS: Final = (
    "save",
    "parquet",
    "csv",
    "json",
    "orc",
    "text",
    "jdbc",
    "saveAsTable",
    "insertInto",
)
_WRITER_V2_METHODS: Final = (
    "append",
    "overwrite",
    "overwritePartitions",
    "create",
    "replace",
    "createOrReplace",
)
_READ_ACTIONS: Final = ("count", "collect", "toPandas")


def _dataframe_module() -> str:
    """Spark 4 splits DataFrame into an API class and the classic (JVM) implementation."""
    import importlib.util

    return (
        "pyspark.sql.classic.dataframe"
        if importlib.util.find_spec("pyspark.sql.classic.dataframe") is not None
        else "pyspark.sql.dataframe"
    )


_FORMAT_OF: Final = {
    "parquet": "parquet",
    "csv": "csv",
    "json": "json",
    "orc": "orc",
    "text": "text",
    "jdbc": "jdbc",
    "saveAsTable": "table",
    "insertInto": "table",
}

_active: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dataops_spark_active", default=False
)


class SparkInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces PySpark actions with their datasets, rows and executor CPU."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        for method in _WRITER_METHODS:
            wrapt.wrap_function_wrapper(
                _WRITER, f"DataFrameWriter.{method}", _write(tracer, method)
            )
        for method in _WRITER_V2_METHODS:
            wrapt.wrap_function_wrapper(
                _WRITER, f"DataFrameWriterV2.{method}", _write_v2(tracer, method)
            )
        for action in _READ_ACTIONS:
            wrapt.wrap_function_wrapper(
                _dataframe_module(), f"DataFrame.{action}", _read(tracer, action)
            )
        wrapt.wrap_function_wrapper("pyspark.sql.session", "SparkSession.sql", _sql(tracer))
        wrapt.wrap_function_wrapper(_dataframe_module(), "DataFrame.writeTo", _remember_table)
        _wrap_connect(self)
        wrapt.wrap_function_wrapper(_WRITER, "DataFrameWriter.mode", _remember_mode)
        wrapt.wrap_function_wrapper(_WRITER, "DataFrameWriter.format", _remember_format)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        import pyspark.sql.readwriter as readwriter

        dataframe = importlib.import_module(_dataframe_module())
        import pyspark.sql.session as session

        for method in _WRITER_METHODS:
            unwrap(readwriter.DataFrameWriter, method)
        for method in _WRITER_V2_METHODS:
            unwrap(readwriter.DataFrameWriterV2, method)
        for action in _READ_ACTIONS:
            unwrap(dataframe.DataFrame, action)
        unwrap(session.SparkSession, "sql")
        unwrap(dataframe.DataFrame, "writeTo")
        _unwrap_connect(self)
        unwrap(readwriter.DataFrameWriter, "mode")
        unwrap(readwriter.DataFrameWriter, "format")


_CONNECT_WRITER: Final = "pyspark.sql.connect.readwriter"


def _wrap_connect(instrumentor: Any) -> None:
    """Spark Connect writers get a wrapper that only says, once, that they are not traced."""
    try:
        import importlib

        importlib.import_module(_CONNECT_WRITER)  # needs the pyspark[connect] dependencies
    except Exception:
        instrumentor._connect_wrapped = False
        return
    for method in _WRITER_METHODS:
        wrapt.wrap_function_wrapper(_CONNECT_WRITER, f"DataFrameWriter.{method}", _connect_notice)
    instrumentor._connect_wrapped = True


def _unwrap_connect(instrumentor: Any) -> None:
    if getattr(instrumentor, "_connect_wrapped", False):
        import importlib

        module = importlib.import_module(_CONNECT_WRITER)
        for method in _WRITER_METHODS:
            unwrap(module.DataFrameWriter, method)


def _connect_notice(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    log_once("spark.connect", RuntimeError(_CONNECT_MESSAGE))
    return wrapped(*args, **kwargs)


_CONNECT_MESSAGE: Final = (
    "Spark Connect session: writes and actions are not traced (the client has no JVM "
    "plan or metrics to read); wrap them in dataops_otel.recording(...)"
)


def _jvm_session(df: Any) -> Any:
    """The JVM SparkSession behind a DataFrame, or None for Spark Connect."""
    jdf = getattr(df, "_jdf", None)
    if jdf is None:
        log_once("spark.connect", RuntimeError(_CONNECT_MESSAGE))
        return None
    return jdf.sparkSession()


def _traced(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Skip when disabled, nested inside another traced Spark call, or on Spark Connect."""

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            if not is_instrumentation_enabled() or _active.get():
                return wrapped(*args, **kwargs)
            token = _active.set(True)
            try:
                return body(wrapped, instance, args, kwargs)
            finally:
                _active.reset(token)

        return wrapper

    return decorate


def _write(tracer: trace.Tracer, method: str) -> Callable[..., Any]:
    kind = f"spark.write.{method}"

    @_traced(kind)
    def body(wrapped: Any, writer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        df = writer._df
        jsession = _jvm_session(df)
        if jsession is None:
            return wrapped(*args, **kwargs)
        mode = kwargs.get("mode") or getattr(writer, "_dataops_mode", None) or "error"
        if method == "insertInto":
            mode = (
                "overwrite" if kwargs.get("overwrite") or (len(args) > 1 and args[1]) else "append"
            )
        with dataset_operation(
            tracer,
            "spark.write",
            semconv.OPERATION_TRANSFORM,
            kind=kind,
            dataset_format=_FORMAT_OF.get(method) or getattr(writer, "_dataops_format", None),
            cpu_clock=None,
        ) as op:
            with guarded(f"{kind}.before"):
                _plan_facts(op, df)
                target, alias = _write_target(jsession, method, args, kwargs)
                op.set(semconv.DATAOPS_WRITE_MODE, mode)
                op.set_schema(schema_from_spark(df.schema))
            before = call_guarded(f"{kind}.executions", lambda: jvm.last_execution_id(jsession), -1)
            result = wrapped(*args, **kwargs)
            with guarded(f"{kind}.after"):
                if target is None and method in {"saveAsTable", "insertInto"}:
                    target, alias = jvm.table_location(
                        jsession, str(args[0] if args else kwargs["tableName"])
                    )
                if target:
                    op.add_output(target)
                if alias:
                    op.set(semconv.DATAOPS_DATASET_ALIASES, [alias])
                _execution_facts(op, jsession, before)
                op.set_bytes(_local_size(target))
            return result

    return body


def _write_v2(tracer: trace.Tracer, method: str) -> Callable[..., Any]:
    kind = f"spark.writeTo.{method}"

    @_traced(kind)
    def body(wrapped: Any, writer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        df = writer._df
        jsession = _jvm_session(df)
        if jsession is None:
            return wrapped(*args, **kwargs)
        mode = {"append": "append", "overwritePartitions": "overwrite"}.get(method, "overwrite")
        with dataset_operation(
            tracer,
            "spark.write",
            semconv.OPERATION_TRANSFORM,
            kind=kind,
            dataset_format="table",
            cpu_clock=None,
        ) as op:
            with guarded(f"{kind}.before"):
                _plan_facts(op, df)
                op.set(semconv.DATAOPS_WRITE_MODE, mode)
                op.set_schema(schema_from_spark(df.schema))
            before = call_guarded(f"{kind}.executions", lambda: jvm.last_execution_id(jsession), -1)
            result = wrapped(*args, **kwargs)
            with guarded(f"{kind}.after"):
                target, alias = jvm.table_location(jsession, writer._dataops_table)
                if target:
                    op.add_output(target)
                op.set(semconv.DATAOPS_DATASET_ALIASES, [alias])
                _execution_facts(op, jsession, before)
            return result

    return body


def _read(tracer: trace.Tracer, action: str) -> Callable[..., Any]:
    kind = f"spark.{action}"

    @_traced(kind)
    def body(wrapped: Any, df: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        jsession = _jvm_session(df)
        if jsession is None:
            return wrapped(*args, **kwargs)
        inputs = call_guarded(
            f"{kind}.plan", lambda: jvm.plan_inputs(df._jdf.queryExecution().analyzed()), None
        )
        if inputs is None or not inputs.datasets:
            return wrapped(*args, **kwargs)  # nothing read from a dataset: no dataops span
        with dataset_operation(
            tracer,
            "spark.read",
            semconv.OPERATION_READ,
            kind=kind,
            dataset_format=inputs.formats[0] if len(inputs.formats) == 1 else None,
            cpu_clock=None,
        ) as op:
            op.add_input(*inputs.datasets)
            if inputs.aliases:
                op.set(semconv.DATAOPS_DATASET_ALIASES, inputs.aliases)
            before = call_guarded(f"{kind}.executions", lambda: jvm.last_execution_id(jsession), -1)
            result = wrapped(*args, **kwargs)
            with guarded(f"{kind}.after"):
                op.set_rows(result if action == "count" else len(result))
                op.set_schema(schema_from_spark(df.schema))
                op.set(
                    semconv.DATAOPS_CPU_SECONDS, jvm.execution_facts(jsession, before).cpu_seconds
                )
            return result

    return body


def _sql(tracer: trace.Tracer) -> Callable[..., Any]:
    kind = "spark.sql"

    @_traced(kind)
    def body(wrapped: Any, session: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        query = args[0] if args else kwargs.get("sqlQuery", "")
        analysis = analyze(str(query), "spark") if isinstance(query, str) else None
        jsession = getattr(session, "_jsparkSession", None)
        if analysis is None or not analysis.tables_written or jsession is None:
            return wrapped(*args, **kwargs)  # reads are lazy: traced at their action
        with dataset_operation(
            tracer,
            "spark.sql",
            semconv.OPERATION_TRANSFORM,
            kind=kind,
            dataset_format="table",
            cpu_clock=None,
            attributes={semconv.DB_QUERY_SUMMARY: analysis.summary},
        ) as op:
            # DROP/TRUNCATE remove what they write: resolve tables before running;
            # CREATE TABLE AS only has a location afterwards.
            resolved = _resolve_tables(jsession, analysis.tables_written)
            before = call_guarded(f"{kind}.executions", lambda: jvm.last_execution_id(jsession), -1)
            result = wrapped(*args, **kwargs)
            with guarded(f"{kind}.after"):
                resolved.update(_resolve_tables(jsession, analysis.tables_written, skip=resolved))
                # The executed command's plan no longer shows its sources: resolve
                # the tables the statement reads through the catalog instead.
                for source, _alias in _resolve_tables(jsession, analysis.tables_read).values():
                    op.add_input(source)
                for target, _alias in resolved.values():
                    op.add_output(target)
                    op.set_bytes(_local_size(target))
                op.set(semconv.DATAOPS_DATASET_ALIASES, [a for _t, a in resolved.values()])
                if not op.inputs:
                    op.set(semconv.DATAOPS_OPERATION, semconv.OPERATION_WRITE)
                _execution_facts(op, jsession, before)
            return result

    return body


def _resolve_tables(
    jsession: Any, tables: Any, skip: dict[str, tuple[str, str]] | None = None
) -> dict[str, tuple[str, str]]:
    """Catalog location and name of each table that exists now (others are left out)."""
    found: dict[str, tuple[str, str]] = {}
    for table in tables:
        name = str(table)
        if skip and name in skip:
            continue
        try:
            location, alias = jvm.table_location(jsession, name)
        except Exception:  # a table that does not exist (yet, or any more)
            continue
        if location:
            found[name] = (location, alias)
    return found


def _plan_facts(op: DatasetOperation, df: Any) -> None:
    inputs = jvm.plan_inputs(df._jdf.queryExecution().analyzed())
    op.add_input(*inputs.datasets)
    if inputs.aliases:
        op.set(semconv.DATAOPS_DATASET_ALIASES, inputs.aliases)
    if not inputs.datasets:  # built from local data: a plain write
        op.set(semconv.DATAOPS_OPERATION, semconv.OPERATION_WRITE)


def _execution_facts(op: DatasetOperation, jsession: Any, before: int) -> None:
    facts = jvm.execution_facts(jsession, before)
    op.set_rows(facts.rows)
    op.set(semconv.DATAOPS_DATASET_FILES, facts.files)
    op.set(semconv.DATAOPS_CPU_SECONDS, facts.cpu_seconds)


def _write_target(
    jsession: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str | None, str]:
    if method == "jdbc":
        url = args[0] if args else kwargs["url"]
        table = args[1] if len(args) > 1 else kwargs["table"]
        return dataset_id_for_jdbc(url, table), ""
    if method in {"saveAsTable", "insertInto"}:
        return None, ""  # resolved after the write, when the table exists
    path = args[0] if args else kwargs.get("path")
    return (dataset_id_for_path(str(path)) if path else None), ""


def _remember_mode(wrapped: Any, writer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``writer.mode(...)`` keeps the mode only in the JVM: remember it for the span."""
    result = wrapped(*args, **kwargs)
    with guarded("spark.write.mode"):
        mode = args[0] if args else kwargs.get("saveMode")
        if isinstance(mode, str):
            result._dataops_mode = {"default": "error", "errorifexists": "error"}.get(
                mode.lower(), mode.lower()
            )
    return result


def _remember_table(wrapped: Any, df: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``df.writeTo(name)`` keeps the table name only in the JVM: remember it for the span."""
    result = wrapped(*args, **kwargs)
    with guarded("spark.writeTo.table"):
        result._dataops_table = str(args[0] if args else kwargs["table"])
    return result


def _remember_format(
    wrapped: Any, writer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = wrapped(*args, **kwargs)
    with guarded("spark.write.format"):
        source = args[0] if args else kwargs.get("source")
        if isinstance(source, str):
            result._dataops_format = source.lower()
    return result


def _local_size(dataset: str | None) -> int | None:
    """Bytes written under a local output path (Spark writes a directory of files)."""
    if not dataset or not dataset.startswith("file://"):
        return None
    root = dataset[len("file://") :]
    if os.path.isfile(root):
        return os.path.getsize(root)
    total = 0
    for folder, _dirs, files in os.walk(root):
        total += sum(
            os.path.getsize(os.path.join(folder, f)) for f in files if not f.startswith((".", "_"))
        )
    return total
