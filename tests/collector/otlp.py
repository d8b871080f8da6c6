"""Build OTLP requests with exact attributes, and run collectors, for collector tests."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from dataops_collector.app import Collector
from dataops_collector.config import load_settings
from dataops_otel import semconv

_ids = itertools.count(1)
NOW_NS = time.time_ns()


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value])
        )
    return common_pb2.AnyValue(string_value=str(value))


def attributes(values: Mapping[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def span(
    name: str = "op",
    *,
    attrs: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
    duration_ns: int = 1_000_000,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent_span_id: bytes = b"",
    error: bool = False,
    kind: int = trace_pb2.Span.SPAN_KIND_INTERNAL,
) -> trace_pb2.Span:
    n = next(_ids)
    start = NOW_NS if start_ns is None else start_ns
    status = trace_pb2.Status(
        code=trace_pb2.Status.STATUS_CODE_ERROR if error else trace_pb2.Status.STATUS_CODE_UNSET,
        message="boom" if error else "",
    )
    return trace_pb2.Span(
        trace_id=trace_id if trace_id is not None else n.to_bytes(16, "big"),
        span_id=span_id if span_id is not None else n.to_bytes(8, "big"),
        parent_span_id=parent_span_id,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
        attributes=attributes(attrs or {}),
        status=status,
    )


def dataset_span(
    operation: str,
    *,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    rows: int | None = None,
    schema: Sequence[tuple[str, str]] | None = None,
    job: str | None = None,
    run: str | None = None,
    extra: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> trace_pb2.Span:
    attrs: dict[str, Any] = {semconv.DATAOPS_OPERATION: operation}
    if inputs:
        attrs[semconv.DATAOPS_INPUTS] = list(inputs)
    if outputs:
        attrs[semconv.DATAOPS_OUTPUTS] = list(outputs)
    if rows is not None:
        attrs[semconv.DATAOPS_DATASET_ROWS] = rows
    if schema is not None:
        from dataops_otel.schema import Schema

        parsed = Schema.of(schema)
        attrs[semconv.DATAOPS_DATASET_SCHEMA] = parsed.to_json()
        attrs[semconv.DATAOPS_DATASET_SCHEMA_HASH] = parsed.hash
        attrs[semconv.DATAOPS_DATASET_COLUMNS] = len(schema)
    if job:
        attrs[semconv.DATAOPS_JOB_NAME] = job
        attrs[semconv.DATAOPS_RUN_ID] = run or f"{job}-run"
    attrs.update(extra or {})
    return span(f"dataset.{operation}", attrs=attrs, **kwargs)


def request(
    spans: Sequence[trace_pb2.Span], *, service: str = "test-etl", version: str = "1.0"
) -> trace_service_pb2.ExportTraceServiceRequest:
    resource = resource_pb2.Resource(
        attributes=attributes({"service.name": service, "service.version": version})
    )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource,
                scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))],
            )
        ]
    )


def send_grpc(port: int, req: trace_service_pb2.ExportTraceServiceRequest) -> Any:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        return stub.Export(req, timeout=10)


def poll(check: Callable[[], bool], *, timeout_s: float = 15.0, what: str = "condition") -> None:
    """Wait for `check()` to become true, with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def count(collector: Collector, sql: str, **params: Any) -> int:
    assert collector.store is not None
    return int(collector.store.query_rows(sql, parameters=params or None).scalar() or 0)


@contextmanager
def running_collector(data_dir: Path, **overrides: Any) -> Iterator[Collector]:
    flags = {
        "listen": "127.0.0.1:0",
        "http_listen": "127.0.0.1:0",
        "query_listen": "127.0.0.1:0",
        "data_dir": str(data_dir),
        "batch_max_delay_ms": 100,
        **overrides,
    }
    collector = Collector(load_settings(flags=flags, environ={})).start()
    try:
        yield collector
    finally:
        collector.stop()


def json_request(req: trace_service_pb2.ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as the spec writes it: hex ids, integer enums."""
    from google.protobuf import json_format

    document = json_format.MessageToDict(req)
    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in sp:
                        import base64

                        sp[key] = base64.b64decode(sp[key]).hex()
                if "kind" in sp and isinstance(sp["kind"], str):
                    sp["kind"] = trace_pb2.Span.SpanKind.Value(sp["kind"])
    return json.dumps(document).encode()
