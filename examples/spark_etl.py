"""Example Spark pipeline, instrumented by dataops-otel.

Lands raw orders and customers as parquet and CSV, joins and aggregates them,
writes a parquet mart and a catalog table, and inserts into a summary table
with SQL. Every write is a span with its inputs, output rows, files, bytes
and executor CPU; `dataops lineage` then shows the whole chain.

    dataops collector &
    python examples/spark_etl.py ./spark-work
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import dataops_otel


def run(workdir: Path, spark: SparkSession) -> None:
    raw = workdir / "raw"
    with dataops_otel.job("spark-orders-daily"):
        orders = spark.range(0, 100_000).select(
            F.col("id").alias("order_id"),
            (F.col("id") % 500).alias("customer_id"),
            (F.rand(7) * 100).alias("amount"),
        )
        orders.write.mode("overwrite").parquet(str(raw / "orders"))
        customers = spark.range(0, 500).select(
            F.col("id").alias("customer_id"),
            F.when(F.col("id") % 3 == 0, "eu")
            .when(F.col("id") % 3 == 1, "us")
            .otherwise("apac")
            .alias("region"),
        )
        customers.write.mode("overwrite").csv(str(raw / "customers"), header=True)

        enriched = spark.read.parquet(str(raw / "orders")).join(
            spark.read.csv(str(raw / "customers"), header=True, inferSchema=True), "customer_id"
        )
        revenue = enriched.groupBy("region").agg(F.sum("amount").alias("revenue"))
        revenue.write.mode("overwrite").parquet(str(workdir / "marts" / "revenue"))
        revenue.write.mode("overwrite").saveAsTable("revenue_by_region")
        spark.sql("DROP TABLE IF EXISTS top_regions")
        spark.sql("CREATE TABLE top_regions (region STRING, revenue DOUBLE) USING parquet")
        spark.sql("INSERT INTO top_regions SELECT * FROM revenue_by_region WHERE revenue > 0")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "./spark-work").resolve()
    dataops_otel.init(service_name="spark-orders")
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.warehouse.dir", str(target / "warehouse"))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    run(target, session)
    session.stop()
    dataops_otel.shutdown()
