"""PySpark instrumentation against a real local Spark (local[2], one session per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dataops_otel import job, semconv
from dataops_otel.datasets import dataset_id_for_path
from dataops_otel.instrumentation.pandas import PandasInstrumentor
from dataops_otel.instrumentation.spark import SparkInstrumentor

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark(java_home: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    instrumentor = SparkInstrumentor()
    instrumentor.instrument()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dataops-otel-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    instrumentor.uninstrument()


def dataops_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("spark.")]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def path_id(path: Path) -> str:
    return dataset_id_for_path(str(path))


@pytest.fixture
def inputs(spark: Any, tmp_path: Path) -> dict[str, Path]:
    orders, customers, events = (
        tmp_path / "orders",
        tmp_path / "customers.csv",
        tmp_path / "events.json",
    )
    with suppress_instrumentation():
        spark.createDataFrame(
            [(1, "a", 3.0), (2, "b", 4.0), (3, "a", 5.0), (4, "c", 1.0)], ["id", "cid", "amount"]
        ).write.parquet(str(orders))
        spark.createDataFrame([("a", "eu"), ("b", "us"), ("c", "eu")], ["cid", "region"]).write.csv(
            str(customers), header=True
        )
        spark.createDataFrame([(1, "click")], ["id", "kind"]).write.json(str(events))
    return {"orders": orders, "customers": customers, "events": events}


def test_reads_of_csv_json_parquet_are_read_spans(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path]
) -> None:
    assert spark.read.parquet(str(inputs["orders"])).count() == 4
    assert len(spark.read.csv(str(inputs["customers"]), header=True).collect()) == 3
    assert len(spark.read.json(str(inputs["events"])).toPandas()) == 1
    reads = dataops_spans(spans)
    assert [s.name for s in reads] == ["spark.read"] * 3
    assert [list(attrs(s)[semconv.DATAOPS_INPUTS]) for s in reads] == [
        [path_id(inputs["orders"])],
        [path_id(inputs["customers"])],
        [path_id(inputs["events"])],
    ]
    assert [attrs(s)[semconv.DATAOPS_DATASET_ROWS] for s in reads] == [4, 3, 1]
    assert all(attrs(s)[semconv.DATAOPS_OPERATION] == "read" for s in reads)


def test_join_aggregate_write_has_lineage_from_both_inputs_and_exact_rows(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "by_region"
    orders = spark.read.parquet(str(inputs["orders"]))
    customers = spark.read.csv(str(inputs["customers"]), header=True)
    with job("regions") as run:
        orders.join(customers, "cid").groupBy("region").sum("amount").write.mode(
            "overwrite"
        ).parquet(str(out))
    write = next(s for s in dataops_spans(spans) if s.name == "spark.write")
    a = attrs(write)
    assert a[semconv.DATAOPS_OPERATION] == "transform"
    assert list(a[semconv.DATAOPS_INPUTS]) == [
        path_id(inputs["orders"]),
        path_id(inputs["customers"]),
    ]
    assert list(a[semconv.DATAOPS_OUTPUTS]) == [path_id(out)]
    assert a[semconv.DATAOPS_DATASET_ROWS] == 2  # eu and us
    assert a[semconv.DATAOPS_WRITE_MODE] == "overwrite"
    assert a[semconv.DATAOPS_DATASET_FORMAT] == "parquet"
    assert a[semconv.DATAOPS_DATASET_FILES] >= 1 and a[semconv.DATAOPS_DATASET_BYTES] > 0
    assert a[semconv.DATAOPS_CPU_SECONDS] > 0  # executor CPU from Spark's stages
    assert a[semconv.DATAOPS_DATASET_SCHEMA] == '[["region","string"],["sum(amount)","double"]]'
    assert a[semconv.DATAOPS_RUN_ID] == run.run_id


def test_append_vs_overwrite_and_partitioned_write(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path], tmp_path: Path
) -> None:
    orders = spark.read.parquet(str(inputs["orders"]))
    target = tmp_path / "copy"
    orders.write.mode("overwrite").parquet(str(target))
    orders.write.mode("append").parquet(str(target))
    orders.write.partitionBy("cid").mode("overwrite").parquet(str(tmp_path / "by_cid"))
    writes = [attrs(s) for s in dataops_spans(spans) if s.name == "spark.write"]
    assert [w[semconv.DATAOPS_WRITE_MODE] for w in writes] == ["overwrite", "append", "overwrite"]
    assert [w[semconv.DATAOPS_DATASET_ROWS] for w in writes] == [4, 4, 4]
    # A partitioned directory is one dataset.
    assert list(writes[2][semconv.DATAOPS_OUTPUTS]) == [path_id(tmp_path / "by_cid")]
    assert writes[2][semconv.DATAOPS_DATASET_FILES] >= 3


def test_save_as_table_and_insert_select_through_sql(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path]
) -> None:
    spark.read.parquet(str(inputs["orders"])).write.mode("overwrite").saveAsTable("orders_tbl")
    spark.sql("DROP TABLE IF EXISTS big_orders")
    spark.sql("CREATE TABLE big_orders (id BIGINT, cid STRING, amount DOUBLE) USING parquet")
    spark.sql("INSERT INTO big_orders SELECT * FROM orders_tbl WHERE amount > 2")
    table_write = next(s for s in dataops_spans(spans) if s.name == "spark.write")
    location = attrs(table_write)[semconv.DATAOPS_OUTPUTS][0]
    assert location.startswith("file://") and location.endswith("/orders_tbl")
    assert list(attrs(table_write)[semconv.DATAOPS_DATASET_ALIASES]) == [
        "spark_catalog.default.orders_tbl"
    ]
    insert = next(
        s
        for s in dataops_spans(spans)
        if str(attrs(s).get(semconv.DB_QUERY_SUMMARY, "")).startswith("INSERT")
    )
    drop = next(
        s
        for s in dataops_spans(spans)
        if str(attrs(s).get(semconv.DB_QUERY_SUMMARY, "")).startswith("DROP")
    )
    assert semconv.DATAOPS_OUTPUTS not in attrs(drop)  # the table did not exist yet
    a = attrs(insert)
    assert list(a[semconv.DATAOPS_INPUTS]) == [location]
    assert a[semconv.DATAOPS_OUTPUTS][0].endswith("/big_orders")
    assert a[semconv.DATAOPS_DATASET_ROWS] == 3
    spark.sql("DROP TABLE big_orders")
    spark.sql("DROP TABLE orders_tbl")


def test_failing_action_is_an_error_span_and_raises(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path], tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    orders = spark.read.parquet(str(inputs["orders"]))
    broken = orders.withColumn("x", F.raise_error(F.lit("bad row")))
    with pytest.raises(Exception, match="bad row"):
        broken.write.parquet(str(tmp_path / "never"))
    write = next(s for s in dataops_spans(spans) if s.name == "spark.write")
    assert write.status.status_code is StatusCode.ERROR
    assert attrs(write)[semconv.ERROR_TYPE]


def test_spark_downstream_of_a_pandas_written_file_joins_up(
    spark: Any, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    pandas = PandasInstrumentor()
    pandas.instrument()
    try:
        source = tmp_path / "from_pandas.parquet"
        pd.DataFrame({"id": [1, 2, 3]}).to_parquet(source)
        spark.read.parquet(str(source)).write.parquet(str(tmp_path / "from_spark"))
    finally:
        pandas.uninstrument()
    finished = spans.get_finished_spans()
    pandas_write = next(s for s in finished if s.name == "pandas.to_parquet")
    spark_write = next(s for s in finished if s.name == "spark.write")
    assert list(attrs(spark_write)[semconv.DATAOPS_INPUTS]) == list(
        attrs(pandas_write)[semconv.DATAOPS_OUTPUTS]
    )


def test_no_spans_after_uninstrument(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path]
) -> None:
    instrumentor = SparkInstrumentor()
    instrumentor.uninstrument()
    try:
        spark.read.parquet(str(inputs["orders"])).count()
        assert dataops_spans(spans) == []
    finally:
        instrumentor.instrument()


def test_dataframe_writer_v2_create(
    spark: Any, spans: InMemorySpanExporter, inputs: dict[str, Path]
) -> None:
    # Spark's session catalog only takes create() through the V2 API; append
    # and replace need a V2 catalog (Iceberg, Delta).
    spark.read.parquet(str(inputs["orders"])).writeTo("orders_v2").using("parquet").create()
    write = attrs(next(s for s in dataops_spans(spans) if s.name == "spark.write"))
    assert write[semconv.DATAOPS_OUTPUTS][0].endswith("/orders_v2")
    assert list(write[semconv.DATAOPS_INPUTS]) == [path_id(inputs["orders"])]
    assert list(write[semconv.DATAOPS_DATASET_ALIASES]) == ["spark_catalog.default.orders_v2"]
    assert write[semconv.DATAOPS_DATASET_ROWS] == 4
    spark.sql("DROP TABLE orders_v2")
