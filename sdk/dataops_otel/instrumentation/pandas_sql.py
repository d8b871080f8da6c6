"""pandas SQL I/O: ``read_sql``, ``read_sql_query``, ``read_sql_table``, ``DataFrame.to_sql``.

Each call is one dataset operation span (``pandas.to_sql`` ...) with rows,
schema and, for ``to_sql``, the frame's upstream inputs from the pandas
lineage. The SQL statements pandas issues underneath are traced by the
SQLAlchemy instrumentor as children of that span and marked
``dataops.nested``, so derived tables count the write once. Called by
`PandasInstrumentor` (``instrument``/``uninstrument``).
"""

from __future__ import annotations

import importlib
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap

from dataops_otel import lineage, semconv
from dataops_otel.datasets import dataset_id_for_sqlalchemy
from dataops_otel.guard import call_guarded, guarded
from dataops_otel.operation import DatasetOperation, dataset_operation, nested_scope
from dataops_otel.schema import schema_from_pandas
from dataops_otel.sql_lineage import analyze

_READERS: Final = ("read_sql", "read_sql_query", "read_sql_table")
_WRITE_MODES: Final = {"fail": "error", "replace": "overwrite", "append": "append"}
_installed: list[tuple[str, str]] = []


def instrument(tracer: trace.Tracer | None) -> None:
    tracer = tracer or trace.get_tracer(__name__)
    for name in _READERS:
        wrapt.wrap_function_wrapper("pandas", name, _reader(tracer, name))
        _installed.append(("pandas", name))
    wrapt.wrap_function_wrapper("pandas.core.generic", "NDFrame.to_sql", _writer(tracer))
    _installed.append(("pandas.core.generic", "NDFrame.to_sql"))


def uninstrument() -> None:
    while _installed:
        module_name, dotted = _installed.pop()
        owner: Any = importlib.import_module(module_name)
        parent, _, attr = dotted.rpartition(".")
        if parent:
            owner = getattr(owner, parent)
        unwrap(owner, attr)


def _reader(tracer: trace.Tracer, name: str) -> Any:
    kind = f"pandas.{name}"

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        source = args[0] if args else kwargs.get("sql", kwargs.get("table_name"))
        con = args[1] if len(args) > 1 else kwargs.get("con")
        schema = kwargs.get("schema")
        no_inputs: list[str] = []
        inputs = call_guarded(
            f"{kind}.inputs", lambda: _tables_read(name, source, con, schema), no_inputs
        )
        with dataset_operation(
            tracer, kind, semconv.OPERATION_READ, kind=kind, dataset_format="sql"
        ) as op:
            op.add_input(*inputs)
            with nested_scope():
                result = wrapped(*args, **kwargs)
            with guarded(f"{kind}.after"):
                _after_read(op, result, inputs)
            return result

    return wrapper


def _writer(tracer: trace.Tracer) -> Any:
    kind = "pandas.to_sql"

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        name = args[0] if args else kwargs.get("name")
        con = args[1] if len(args) > 1 else kwargs.get("con")
        schema = kwargs.get("schema")
        target = call_guarded(
            f"{kind}.dataset_id",
            lambda: dataset_id_for_sqlalchemy(url_of(con), str(name), schema=schema),
            None,
        )
        with dataset_operation(
            tracer, kind, semconv.OPERATION_WRITE, kind=kind, dataset_format="table"
        ) as op:
            with guarded(f"{kind}.before"):
                if target:
                    op.add_output(target)
                op.add_input(*lineage.inputs_of(instance))
                op.set_rows(len(instance))
                op.set_schema(schema_from_pandas(instance))
                op.set(
                    semconv.DATAOPS_WRITE_MODE,
                    _WRITE_MODES.get(str(kwargs.get("if_exists", "fail"))),
                )
            with nested_scope():
                return wrapped(*args, **kwargs)

    return wrapper


def _after_read(op: DatasetOperation, result: Any, inputs: list[str]) -> None:
    if not hasattr(result, "dtypes"):  # chunksize=...: an iterator
        return
    for dataset in inputs:
        lineage.record_source(result, dataset)
    op.set_rows(len(result))
    op.set_schema(schema_from_pandas(result))


def _tables_read(reader: str, source: Any, con: Any, schema: str | None) -> list[str]:
    url = url_of(con)
    if reader == "read_sql_table" or (reader == "read_sql" and _is_table_name(source)):
        return [dataset_id_for_sqlalchemy(url, str(source), schema=schema)]
    sql = str(getattr(source, "text", source))  # a sqlalchemy TextClause or a string
    analysis = analyze(sql, _dialect_of(con))
    return [
        dataset_id_for_sqlalchemy(url, t.name, schema=t.db or None, database=t.catalog or None)
        for t in analysis.tables_read
    ]


def _is_table_name(source: Any) -> bool:
    return isinstance(source, str) and source.strip().replace(".", "").replace("_", "").isalnum()


def url_of(con: Any) -> Any:
    """The SQLAlchemy URL (or text) behind an engine, connection, URL string or sqlite3 handle."""
    if isinstance(con, str):
        return con
    engine = getattr(con, "engine", None)
    if engine is not None:
        return engine.url
    if type(con).__module__ == "sqlite3":
        rows = con.execute("PRAGMA database_list").fetchall()
        path = next((row[2] for row in rows if row[1] == "main"), "")
        return f"sqlite:///{path}" if path else "sqlite://"
    raise TypeError(f"cannot tell which database {type(con).__name__} connects to")


def _dialect_of(con: Any) -> str | None:
    if isinstance(con, str):
        return con.split(":", 1)[0].split("+", 1)[0]
    dialect = getattr(getattr(con, "engine", None), "dialect", None)
    if dialect is not None:
        return str(dialect.name)
    return "sqlite" if type(con).__module__ == "sqlite3" else None
