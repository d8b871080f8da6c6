"""Spark instrumentation overhead: the same job instrumented vs not, alternating.

The job reads 2 million generated rows from parquet, joins a dimension read
from CSV, aggregates and writes parquet (local[2]). Rounds alternate between
instrumented and not in one SparkSession (instrument/uninstrument between
them); spans go to a BatchSpanProcessor with a discarding exporter. Goal: the
wall-time ratio stays at or under 1.02. Prints figures; never fails.

    python bench/bench_spark_overhead.py [--rounds 5] [--rows 2000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from dataops_otel.instrumentation.spark import SparkInstrumentor


class DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    trace.set_tracer_provider(provider)
    instrumentor = SparkInstrumentor()
    with tempfile.TemporaryDirectory() as directory:
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(args.rows).select(
            F.col("id"), (F.col("id") % 1000).alias("k"), (F.rand(3) * 10).alias("v")
        ).write.mode("overwrite").parquet(f"{directory}/facts")
        spark.range(1000).select(F.col("id").alias("k"), (F.col("id") % 7).alias("g")).write.mode(
            "overwrite"
        ).csv(f"{directory}/dims", header=True)

        def job() -> float:
            start = time.perf_counter()
            facts = spark.read.parquet(f"{directory}/facts")
            dims = spark.read.csv(f"{directory}/dims", header=True, inferSchema=True)
            facts.join(dims, "k").groupBy("g").agg(F.sum("v")).write.mode("overwrite").parquet(
                f"{directory}/out"
            )
            return time.perf_counter() - start

        job()  # warm up the JVM
        plain, instrumented = [], []
        for _ in range(args.rounds):
            plain.append(job())
            instrumentor.instrument()
            instrumented.append(job())
            instrumentor.uninstrument()
        spark.stop()
    provider.shutdown()
    p, i = statistics.median(plain), statistics.median(instrumented)
    print(
        f"spark job ({args.rows:,} rows: parquet + csv -> join -> aggregate -> parquet), "
        f"median of {args.rounds} alternating rounds"
    )
    print(f"  uninstrumented  {p * 1000:8.0f} ms")
    print(f"  instrumented    {i * 1000:8.0f} ms")
    print(f"  ratio           {i / p:8.3f}   (goal <= 1.02)")


if __name__ == "__main__":
    main()
