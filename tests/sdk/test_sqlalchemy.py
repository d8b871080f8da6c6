"""SQLAlchemy instrumentation against real SQLite, PostgreSQL and MariaDB databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import dataops_otel
from dataops_otel import semconv
from dataops_otel.datasets import dataset_id_for_path, dataset_id_for_sqlalchemy
from dataops_otel.instrumentation import sqlalchemy as instrumentation
from dataops_otel.instrumentation.pandas import PandasInstrumentor
from dataops_otel.instrumentation.sqlalchemy import SQLAlchemyInstrumentor


@pytest.fixture
def instrumented(spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    sql, pandas = SQLAlchemyInstrumentor(), PandasInstrumentor()
    sql.instrument()
    pandas.instrument()
    spans.clear()
    try:
        yield spans
    finally:
        sql.uninstrument()
        pandas.uninstrument()


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shop.db"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def tables() -> Iterator[list[str]]:
    """Unique table names per test, dropped afterwards on every server."""
    names = [f"t_{uuid.uuid4().hex[:8]}_{i}" for i in range(3)]
    yield names


def statement_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def drop(engine: sa.Engine, names: list[str]) -> None:
    with suppress_instrumentation(), engine.begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))


def test_statement_kinds_produce_lineage(
    instrumented: InMemorySpanExporter, url: str, tables: list[str]
) -> None:
    src, dst, other = tables
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {src} (id INTEGER, amount INTEGER)"))
            conn.execute(sa.text(f"INSERT INTO {src} VALUES (1, 10), (2, 20), (3, 30)"))
            conn.execute(
                sa.text(f"CREATE TABLE {dst} AS SELECT id, amount FROM {src} WHERE id > 1")
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {dst} WITH big AS "
                    f"(SELECT id, amount FROM {src} WHERE amount > :n AND amount < 987654) "
                    "SELECT id, amount FROM big"
                ),
                {"n": 15},
            )
            conn.execute(sa.text(f"UPDATE {dst} SET amount = 0 WHERE id IN (SELECT id FROM {src})"))
            conn.execute(sa.text(f"DELETE FROM {dst} WHERE id = 3"))
            conn.execute(sa.text(f"CREATE TABLE {other} (id INTEGER)"))
            conn.execute(sa.text(f"INSERT INTO {other} (id) VALUES (:i)"), [{"i": 1}, {"i": 2}])
            rows = conn.execute(sa.text(f"SELECT s.id FROM {src} s JOIN {other} o ON s.id = o.id"))
            assert len(rows.fetchall()) == 2
        ids = {name: dataset_id_for_sqlalchemy(engine.url, name) for name in tables}
        by_summary = {s.name: attrs(s) for s in statement_spans(instrumented)}

        ctas = by_summary[f"CREATE TABLE {dst} SELECT {src}"]
        assert ctas[semconv.DATAOPS_OPERATION] == "transform"
        assert list(ctas[semconv.DATAOPS_INPUTS]) == [ids[src]]
        assert list(ctas[semconv.DATAOPS_OUTPUTS]) == [ids[dst]]
        insert_select = by_summary[f"INSERT {dst} SELECT {src}"]
        assert list(insert_select[semconv.DATAOPS_INPUTS]) == [ids[src]]
        assert insert_select[semconv.DATAOPS_DATASET_ROWS] == 2
        assert insert_select[semconv.DATAOPS_TRANSACTION_OUTCOME] == "committed"
        assert "987654" not in insert_select[semconv.DB_QUERY_TEXT]  # literals are sanitised
        update = by_summary[f"UPDATE {dst} SELECT {src}"]
        assert update[semconv.DATAOPS_DATASET_ROWS] == 4
        delete = by_summary[f"DELETE {dst}"]
        assert delete[semconv.DATAOPS_OPERATION] == "write"
        assert delete[semconv.DB_COLLECTION_NAME] == dst
        batch = by_summary[f"INSERT {other}"]
        assert batch[semconv.DB_OPERATION_BATCH_SIZE] == 2
        select = by_summary[f"SELECT {src} {other}"]
        assert select[semconv.DATAOPS_OPERATION] == "read"
        assert list(select[semconv.DATAOPS_INPUTS]) == [ids[src], ids[other]]
        system = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mariadb"}
        assert select[semconv.DB_SYSTEM_NAME] == system[engine.dialect.name]
    finally:
        drop(engine, tables)
        engine.dispose()


def test_rollback_marks_writes_rolled_back_and_errors_are_recorded(
    instrumented: InMemorySpanExporter, url: str, tables: list[str]
) -> None:
    name = tables[0]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {name} (id INTEGER)"))
        with engine.connect() as conn:
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))
            conn.rollback()
            with pytest.raises(sa.exc.DBAPIError):
                conn.execute(sa.text("SELECT * FROM no_such_table_here"))
            conn.rollback()
        spans = {s.name: s for s in statement_spans(instrumented)}
        insert = attrs(spans[f"INSERT {name}"])
        assert insert[semconv.DATAOPS_TRANSACTION_OUTCOME] == "rolled_back"
        failed = spans["SELECT no_such_table_here"]
        assert failed.status.status_code is StatusCode.ERROR
        assert attrs(failed)[semconv.ERROR_TYPE] in {"OperationalError", "ProgrammingError",
                                                     "UndefinedTable"}  # fmt: skip
    finally:
        drop(engine, tables)
        engine.dispose()


def test_quoted_and_schema_qualified_names_on_postgres(
    instrumented: InMemorySpanExporter, postgres_url: str
) -> None:
    schema = f"s_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
            conn.execute(sa.text(f'CREATE TABLE {schema}."MixedCase" (id INTEGER)'))
            conn.execute(sa.text(f'INSERT INTO {schema}."MixedCase" VALUES (1)'))
        spans = {s.name: attrs(s) for s in statement_spans(instrumented)}
        insert = spans[f"INSERT {schema}.MixedCase"]
        assert list(insert[semconv.DATAOPS_OUTPUTS]) == [
            dataset_id_for_sqlalchemy(engine.url, "MixedCase", schema=schema)
        ]
        assert next(iter(insert[semconv.DATAOPS_OUTPUTS])).endswith(f"/test.{schema}.MixedCase")
    finally:
        with suppress_instrumentation(), engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def test_unparseable_statement_still_gets_a_span(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as conn:
        conn.execute(sa.text("PRAGMA user_version = 7"))
    span = next(s for s in statement_spans(instrumented) if s.name.startswith("PRAGMA"))
    assert semconv.DATAOPS_OPERATION not in attrs(span)
    assert "7" not in attrs(span)[semconv.DB_QUERY_TEXT]


def test_async_engine(instrumented: InMemorySpanExporter, tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/async.db")
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE a (id INTEGER)"))
            await conn.execute(sa.text("INSERT INTO a VALUES (1)"))
        await engine.dispose()

    asyncio.run(run())
    insert = next(s for s in statement_spans(instrumented) if s.name == "INSERT a")
    assert list(attrs(insert)[semconv.DATAOPS_OUTPUTS]) == [
        dataset_id_for_sqlalchemy(f"sqlite:///{tmp_path}/async.db", "a")
    ]
    assert attrs(insert)[semconv.DATAOPS_TRANSACTION_OUTCOME] == "committed"


def test_csv_through_pandas_into_a_table_and_on_through_insert_select(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    csv = tmp_path / "raw.csv"
    with suppress_instrumentation():
        pd.DataFrame({"id": [1, 2, 3], "amount": [5, 6, 7]}).to_csv(csv, index=False)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/shop.db")
    raw = pd.read_csv(csv)
    raw.to_sql("orders", engine, index=False)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big AS SELECT * FROM orders WHERE amount > 5"))
    back = pd.read_sql("SELECT * FROM big", engine)
    assert len(back) == 2

    orders = dataset_id_for_sqlalchemy(engine.url, "orders")
    big = dataset_id_for_sqlalchemy(engine.url, "big")
    finished = instrumented.get_finished_spans()
    to_sql = next(s for s in finished if s.name == "pandas.to_sql")
    assert list(attrs(to_sql)[semconv.DATAOPS_INPUTS]) == [dataset_id_for_path(str(csv))]
    assert list(attrs(to_sql)[semconv.DATAOPS_OUTPUTS]) == [orders]
    assert attrs(to_sql)[semconv.DATAOPS_DATASET_ROWS] == 3
    children = [s for s in finished if s.parent and s.parent.span_id == to_sql.context.span_id]
    assert children and all(attrs(c).get(semconv.DATAOPS_NESTED) is True for c in children
                            if semconv.DATAOPS_OPERATION in attrs(c))  # fmt: skip
    ctas = next(s for s in finished if s.name == "CREATE TABLE big SELECT orders")
    assert semconv.DATAOPS_NESTED not in attrs(ctas)
    assert list(attrs(ctas)[semconv.DATAOPS_INPUTS]) == [orders]
    read = next(s for s in finished if s.name == "pandas.read_sql")
    assert list(attrs(read)[semconv.DATAOPS_INPUTS]) == [big]
    assert attrs(read)[semconv.DATAOPS_DATASET_ROWS] == 2


def test_uninstrument_and_suppression(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    instrumentor = SQLAlchemyInstrumentor()
    instrumentor.instrument()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/u.db")
    with suppress_instrumentation(), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert statement_spans(spans) == []
    instrumentor.uninstrument()
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    fresh = sa.create_engine(f"sqlite:///{tmp_path}/v.db")
    with fresh.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert statement_spans(spans) == []


def test_instrument_one_existing_engine(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/e.db")
    instrumentor = SQLAlchemyInstrumentor()
    instrumentor.instrument(engine=engine)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert [s.name for s in statement_spans(spans)] == ["SELECT"]
    finally:
        instrumentor.uninstrument()


def test_cached_statements_keep_per_call_facts_apart(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    """The same statement text again and again: batch size, run and parent come
    from each call, never from the statement cache; dataset ids from each engine."""
    first = sa.create_engine(f"sqlite:///{tmp_path}/first.db")
    second = sa.create_engine(f"sqlite:///{tmp_path}/second.db")
    insert = sa.text("INSERT INTO t VALUES (:i)")
    for engine in (first, second):
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (i INTEGER)"))
    instrumented.clear()
    tracer = trace.get_tracer(__name__)
    with first.begin() as conn:
        conn.execute(insert, [{"i": 1}, {"i": 2}])
        conn.execute(insert, [{"i": 3}, {"i": 4}, {"i": 5}])
        conn.execute(insert, {"i": 6})
        with dataops_otel.job("cache-test") as run, tracer.start_as_current_span("parent"):
            conn.execute(insert, [{"i": 7}, {"i": 8}])
        conn.execute(insert, [{"i": 9}, {"i": 10}])
    with second.begin() as conn:
        conn.execute(insert, [{"i": 1}, {"i": 2}])
    parent = next(s for s in instrumented.get_finished_spans() if s.name == "parent")
    inserts = [s for s in statement_spans(instrumented) if s.name == "INSERT t"]
    assert len(inserts) == 6
    facts = [
        (
            attrs(s).get(semconv.DB_OPERATION_BATCH_SIZE),
            attrs(s)[semconv.DATAOPS_DATASET_ROWS],
            attrs(s).get(semconv.DATAOPS_RUN_ID),
            s.parent.span_id if s.parent else None,
        )
        for s in inserts
    ]
    assert facts == [
        (2, 2, None, None),
        (3, 3, None, None),
        (None, 1, None, None),
        (2, 2, run.run_id, parent.context.span_id),
        (2, 2, None, None),
        (2, 2, None, None),
    ]
    outputs = [list(attrs(s)[semconv.DATAOPS_OUTPUTS]) for s in (inserts[0], inserts[-1])]
    assert outputs == [
        [dataset_id_for_sqlalchemy(first.url, "t")],
        [dataset_id_for_sqlalchemy(second.url, "t")],
    ]
    for span in inserts:
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time
        assert attrs(span)[semconv.DATAOPS_TRANSACTION_OUTCOME] == "committed"
        assert isinstance(attrs(span)[semconv.DATAOPS_CPU_SECONDS], float)
    first.dispose()
    second.dispose()


def test_write_outcomes_autocommit_and_pending_limit(
    instrumented: InMemorySpanExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instrumentation, "MAX_PENDING_PER_CONNECTION", 2)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/o.db")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE o (i INTEGER)"))
    instrumented.clear()
    with engine.connect() as conn:
        for i in range(3):
            conn.execute(sa.text("INSERT INTO o VALUES (:i)"), {"i": i})
        assert [s.name for s in statement_spans(instrumented)] == ["INSERT o"]  # the third
        conn.commit()
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with auto.connect() as conn:
        conn.execute(sa.text("DELETE FROM o WHERE i = 0"))
    outcomes = [
        attrs(s)[semconv.DATAOPS_TRANSACTION_OUTCOME] for s in statement_spans(instrumented)
    ]
    assert outcomes == ["unknown", "committed", "committed", "autocommit"]
    engine.dispose()
