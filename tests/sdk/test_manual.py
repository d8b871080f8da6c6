"""`record()` / `recording()`: the manual API yields the instrumentors' attributes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import dataops_otel
from dataops_otel import guard, semconv
from dataops_otel.manual import as_dataset_id, as_schema
from dataops_otel.schema import Schema


@pytest.fixture(autouse=True)
def _fresh_guard() -> Iterator[None]:
    guard.reset_for_tests()
    yield
    guard.reset_for_tests()


def _only(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = spans.get_finished_spans()
    return span


def test_one_shot_record_sets_every_attribute(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    schema = Schema.of([("id", "int64"), ("amount", "float64")])
    dataops_otel.record(
        "transform",
        inputs=["s3a://raw/orders.csv", "postgres://db:5432/shop.public.customers"],
        outputs=[tmp_path / "orders.parquet"],
        rows=1200,
        schema=schema,
        bytes=4096,
        format="parquet",
        write_mode="overwrite",
    )
    span = _only(spans)
    assert span.name == "dataops.transform"
    attrs = dict(span.attributes or {})
    cpu = attrs.pop(semconv.DATAOPS_CPU_SECONDS)
    assert isinstance(cpu, float) and cpu >= 0.0
    assert attrs == {
        semconv.DATAOPS_OPERATION: "transform",
        semconv.DATAOPS_DATASET_FORMAT: "parquet",
        semconv.DATAOPS_INPUTS: (
            "s3://raw/orders.csv",
            "postgres://db:5432/shop.public.customers",
        ),
        semconv.DATAOPS_OUTPUTS: (f"file://{tmp_path}/orders.parquet",),
        semconv.DATAOPS_DATASET_ROWS: 1200,
        semconv.DATAOPS_DATASET_BYTES: 4096,
        semconv.DATAOPS_DATASET_COLUMNS: 2,
        semconv.DATAOPS_DATASET_SCHEMA: '[["id","int64"],["amount","float64"]]',
        semconv.DATAOPS_DATASET_SCHEMA_HASH: schema.hash,
        semconv.DATAOPS_WRITE_MODE: "overwrite",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_recording_wraps_the_io(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with (
        dataops_otel.job("manual-job") as run,
        dataops_otel.recording(
            "write", inputs=["gs://lake/in.json"], format="csv", name="copy to csv"
        ) as op,
    ):
        frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        frame.to_csv(target, index=False)
        op.add_output(target)
        op.set_rows(len(frame))
        op.set_schema(frame)
        op.set_bytes(target.stat().st_size)
    span = next(s for s in spans.get_finished_spans() if s.name == "copy to csv")
    attrs = span.attributes or {}
    assert attrs[semconv.DATAOPS_OPERATION] == "write"
    assert attrs[semconv.DATAOPS_INPUTS] == ("gs://lake/in.json",)
    assert attrs[semconv.DATAOPS_OUTPUTS] == (f"file://{target}",)
    assert attrs[semconv.DATAOPS_DATASET_ROWS] == 3
    assert attrs[semconv.DATAOPS_DATASET_SCHEMA] == '[["a","int64"],["b","str"]]'
    assert attrs[semconv.DATAOPS_DATASET_BYTES] == target.stat().st_size
    assert attrs[semconv.DATAOPS_JOB_NAME] == "manual-job"
    assert attrs[semconv.DATAOPS_RUN_ID] == run.run_id
    cpu = attrs[semconv.DATAOPS_CPU_SECONDS]
    assert isinstance(cpu, float) and cpu >= 0.0


def test_recording_marks_failures_and_reraises(spans: InMemorySpanExporter) -> None:
    with (
        pytest.raises(PermissionError, match="denied"),
        dataops_otel.recording("write", outputs=["s3://lake/out/"]),
    ):
        raise PermissionError("denied")
    span = _only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "PermissionError"
    assert (span.attributes or {})[semconv.DATAOPS_OUTPUTS] == ("s3://lake/out",)


def test_unknown_operation_raises_before_any_io(spans: InMemorySpanExporter) -> None:
    ran = []
    with pytest.raises(ValueError, match="unknown dataops operation 'upload'"):  # noqa: SIM117
        with dataops_otel.recording("upload"):
            ran.append(1)
    assert ran == []
    with pytest.raises(ValueError):
        dataops_otel.record("delete", outputs=["/x"])
    assert spans.get_finished_spans() == ()


def test_bad_references_are_logged_once_and_left_out(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dataops_otel")
    dataops_otel.record("read", inputs=["hdfs:///no-namenode", "s3://ok/k"], rows=5)
    dataops_otel.record("read", inputs=["hdfs:///again"])
    first, second = spans.get_finished_spans()
    assert (first.attributes or {})[semconv.DATAOPS_INPUTS] == ("s3://ok/k",)
    assert (first.attributes or {})[semconv.DATAOPS_DATASET_ROWS] == 5
    assert semconv.DATAOPS_INPUTS not in (second.attributes or {})
    assert guard.failure_counts == {"manual.record.dataset_id": 2}
    assert len([r for r in caplog.records if r.name == "dataops_otel"]) == 1


def test_a_single_reference_is_not_split_into_characters(spans: InMemorySpanExporter) -> None:
    dataops_otel.record("read", inputs="s3://bucket/k.csv")  # type: ignore[arg-type]
    assert (_only(spans).attributes or {})[semconv.DATAOPS_INPUTS] == ("s3://bucket/k.csv",)


def test_unusable_facts_are_dropped_not_raised(spans: InMemorySpanExporter) -> None:
    dataops_otel.record("write", outputs=["/data/x"], schema=object(), rows=1)
    with dataops_otel.recording("read", inputs=["/data/x"]) as op:
        op.set_rows("many")  # type: ignore[arg-type]
        op.set_bytes(10)
    first, second = spans.get_finished_spans()
    assert (first.attributes or {})[semconv.DATAOPS_DATASET_ROWS] == 1
    assert semconv.DATAOPS_DATASET_SCHEMA not in (first.attributes or {})
    assert semconv.DATAOPS_DATASET_ROWS not in (second.attributes or {})
    assert (second.attributes or {})[semconv.DATAOPS_DATASET_BYTES] == 10
    assert guard.failure_counts == {"manual.record.schema": 1, "manual.record.rows": 1}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("postgres://db:5432/shop.public.orders", "postgres://db:5432/shop.public.orders"),
        ("postgres://u:secret@db/shop.public.orders", "postgres://db:5432/shop.public.orders"),
        ("mysql://m:3306/test.orders", "mysql://m:3306/test.orders"),
        ("sqlite:///srv/shop.db.orders", "sqlite:///srv/shop.db.orders"),
        ("sqlite://memory.orders", "sqlite://memory.orders"),
        ("file:///data/x.csv", "file:///data/x.csv"),
        ("/data/x.csv", "file:///data/x.csv"),
        (Path("/data/x.csv"), "file:///data/x.csv"),
        ("s3n://b/k?sig=1", "s3://b/k"),
    ],
)
def test_as_dataset_id(ref: str | Path, expected: str) -> None:
    assert as_dataset_id(ref) == expected


def test_as_schema_sources() -> None:
    expected = Schema.of([("a", "int64")])
    assert as_schema(expected) is expected
    assert as_schema([("a", "int64")]) == expected
    assert as_schema(pd.DataFrame({"a": [1]})) == expected
    assert as_schema(pa.schema([("a", pa.int64())])) == expected
    assert as_schema(pa.table({"a": [1]})) == expected
    with pytest.raises(TypeError):
        as_schema(42)
