"""Instrumentor life cycle and the never-hurt-the-pipeline guarantee."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dataops_otel import guard, job, semconv
from dataops_otel.instrumentation import pandas as pandas_instrumentation
from dataops_otel.instrumentation.pandas import PandasInstrumentor

from .pandas_support import instrumented, only_span, pandas_spans

__all__ = ["instrumented"]


def test_uninstrument_restores_pandas(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    original_read = pd.read_csv
    original_write = pd.DataFrame.to_parquet
    instrumentor = PandasInstrumentor()
    instrumentor.instrument()
    assert pd.read_csv is not original_read
    instrumentor.uninstrument()
    assert pd.read_csv is original_read
    assert pd.DataFrame.to_parquet is original_write
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv")
    pd.read_csv(tmp_path / "a.csv")
    assert pandas_spans(spans) == []


def test_suppressed_instrumentation_emits_nothing(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    with suppress_instrumentation():
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv")
        pd.read_csv(tmp_path / "a.csv")
    assert pandas_spans(instrumented) == []


def test_spans_inside_a_job_carry_its_name_and_run(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    with job("orders-daily") as run:
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv")
    write = only_span(instrumented, "pandas.to_csv")
    root = only_span(instrumented, "job orders-daily")
    attrs = write.attributes or {}
    assert attrs[semconv.DATAOPS_JOB_NAME] == "orders-daily"
    assert attrs[semconv.DATAOPS_RUN_ID] == run.run_id
    assert write.parent is not None and write.parent.span_id == root.context.span_id


def test_broken_instrumentation_does_not_break_the_pipeline(
    instrumented: InMemorySpanExporter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_schema(frame: object) -> object:
        raise RuntimeError("schema capture exploded")

    guard.reset_for_tests()
    monkeypatch.setattr(pandas_instrumentation, "schema_from_pandas", broken_schema)
    data = pd.DataFrame({"a": [1, 2, 3]})
    with caplog.at_level(logging.WARNING, logger="dataops_otel"):
        data.to_csv(tmp_path / "a.csv", index=False)
        data.to_csv(tmp_path / "b.csv", index=False)
        result = pd.read_csv(tmp_path / "a.csv")
    assert result["a"].tolist() == [1, 2, 3]
    assert (tmp_path / "b.csv").read_text() == "a\n1\n2\n3\n"
    warnings = [r for r in caplog.records if "schema capture exploded" in r.getMessage()]
    # Once per kind (the write and the read fail in different places), not per call.
    assert len(warnings) == 2
    assert guard.failure_counts["pandas.to_csv.before"] == 2
    assert len(pandas_spans(instrumented)) == 3  # the spans still exist


def test_host_error_reaches_the_caller_unchanged(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    with pytest.raises(OSError):
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "no" / "such" / "dir" / "a.csv")
    span = only_span(instrumented, "pandas.to_csv")
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "OSError"
