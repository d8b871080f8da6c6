"""Shared helpers for the pandas instrumentation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dataops_otel.instrumentation.pandas import PandasInstrumentor


@pytest.fixture
def instrumented(spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """pandas instrumented for one test; the exporter holds only this test's spans."""
    instrumentor = PandasInstrumentor()
    instrumentor.instrument()
    spans.clear()
    try:
        yield spans
    finally:
        instrumentor.uninstrument()


def pandas_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("pandas.")]


def only_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    matching = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(matching) == 1, [s.name for s in exporter.get_finished_spans()]
    return matching[0]
