"""Spark Connect sessions: detected, reported once, never broken (their own module: own session)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dataops_otel import guard
from dataops_otel.instrumentation.spark import SparkInstrumentor

pytestmark = pytest.mark.spark


def test_spark_connect_writes_work_and_are_reported_not_traced(
    java_home: str, spans: InMemorySpanExporter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pyspark.sql import SparkSession

    guard.reset_for_tests()
    instrumentor = SparkInstrumentor()
    instrumentor.instrument()
    spark = SparkSession.builder.remote("local[2]").getOrCreate()
    try:
        with caplog.at_level(logging.WARNING, logger="dataops_otel"):
            spark.range(5).write.parquet(str(tmp_path / "a"))
            spark.range(3).write.parquet(str(tmp_path / "b"))
            assert spark.read.parquet(str(tmp_path / "a")).count() == 5
    finally:
        spark.stop()
        instrumentor.uninstrument()
    notices = [r for r in caplog.records if "Spark Connect session" in r.getMessage()]
    assert len(notices) == 1  # said clearly, once
    assert [s for s in spans.get_finished_spans() if s.name.startswith("spark.")] == []
