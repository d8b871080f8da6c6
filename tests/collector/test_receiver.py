"""OTLP receiving: every response case of the spec, over gRPC and HTTP, against a real collector."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from dataops_collector.app import Collector
from dataops_collector.spans import TRUNCATION_MARK

from .otlp import (
    count,
    dataset_span,
    json_request,
    poll,
    request,
    running_collector,
    send_grpc,
    span,
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(
        tmp_path_factory.mktemp("receiver"), max_attribute_bytes=256, max_message_bytes=1_000_000
    ) as running:
        yield running


def spans_named(collector: Collector, name: str) -> int:
    return count(collector, "SELECT count() FROM otel_traces WHERE SpanName = {n:String}", n=name)


def post(
    port: int, body: bytes, content_type: str, encoding: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_grpc_full_success_stores_spans_with_exporter_values(collector: Collector) -> None:
    sp = span("grpc.ok", attrs={"flag": True, "n": 7, "ratio": 0.5, "tags": ["a", "b"]})
    response = send_grpc(collector.grpc_port, request([sp], service="svc-a", version="3.1"))
    assert not response.HasField("partial_success")
    poll(lambda: spans_named(collector, "grpc.ok") == 1, what="span stored")
    assert collector.store is not None
    row = collector.store.query_rows(
        "SELECT TraceId, SpanId, ServiceName, SpanKind, StatusCode, Duration, SpanAttributes,"
        " ResourceAttributes['service.version'] FROM otel_traces WHERE SpanName = 'grpc.ok'"
    ).rows[0]
    assert row[0] == sp.trace_id.hex() and row[1] == sp.span_id.hex()
    assert row[2:6] == ("svc-a", "Internal", "Unset", 1_000_000)
    assert row[6] == {"flag": "true", "n": "7", "ratio": "0.5", "tags": '["a","b"]'}
    assert row[7] == "3.1"


def test_partial_success_rejects_invalid_spans_and_stores_the_valid_ones(
    collector: Collector,
) -> None:
    good = span("partial.good")
    bad_id = span("partial.bad", trace_id=b"\x01\x02")
    backwards = span("partial.bad", duration_ns=-5)
    response = send_grpc(collector.grpc_port, request([good, bad_id, backwards]))
    assert response.partial_success.rejected_spans == 2
    assert "trace_id must be 16" in response.partial_success.error_message
    poll(lambda: spans_named(collector, "partial.good") == 1, what="valid span stored")
    assert spans_named(collector, "partial.bad") == 0


def test_undecodable_grpc_request_is_invalid_argument(collector: Collector) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as info:
            export(b"\xff\xff\xff not protobuf", timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_oversized_grpc_request_is_resource_exhausted_without_retry_info(
    collector: Collector,
) -> None:
    huge = span("huge", attrs={"blob": "x" * 2_000_000})
    with pytest.raises(grpc.RpcError) as info:
        send_grpc(collector.grpc_port, request([huge]))
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    metadata = dict(info.value.trailing_metadata() or ())
    assert "google.rpc.retryinfo-bin" not in metadata


def test_oversized_attribute_values_are_truncated_not_dropped(collector: Collector) -> None:
    send_grpc(collector.grpc_port, request([span("truncate.me", attrs={"long": "y" * 5000})]))
    poll(lambda: spans_named(collector, "truncate.me") == 1, what="truncated span stored")
    assert collector.store is not None
    value = collector.store.query_rows(
        "SELECT SpanAttributes['long'] FROM otel_traces WHERE SpanName = 'truncate.me'"
    ).scalar()
    assert len(value) == 256 and value.endswith(TRUNCATION_MARK)


def test_http_protobuf_json_and_gzip(collector: Collector) -> None:
    proto = request([span("http.proto")]).SerializeToString()
    status, body, headers = post(collector.http_port, proto, "application/x-protobuf")
    assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
    trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    status, _, _ = post(
        collector.http_port,
        gzip.compress(request([span("http.gzip")]).SerializeToString()),
        "application/x-protobuf",
        "gzip",
    )
    assert status == 200
    status, body, headers = post(
        collector.http_port, json_request(request([span("http.json")])), "application/json"
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    for name in ("http.proto", "http.gzip", "http.json"):
        poll(lambda name=name: spans_named(collector, name) == 1, what=f"{name} stored")  # type: ignore[misc]


def test_http_partial_success_in_json(collector: Collector) -> None:
    body = json_request(request([span("http.partial"), span("http.partial", duration_ns=-1)]))
    status, response, _ = post(collector.http_port, body, "application/json")
    assert status == 200
    assert b'"rejectedSpans": "1"' in response or b'"rejectedSpans":"1"' in response


def test_http_bad_bodies(collector: Collector) -> None:
    assert post(collector.http_port, b"\xff garbage", "application/x-protobuf")[0] == 400
    assert post(collector.http_port, b"{not json", "application/json")[0] == 400
    assert post(collector.http_port, b"x" * 1_500_000, "application/x-protobuf")[0] == 413
    assert post(collector.http_port, b"not gzip", "application/x-protobuf", "gzip")[0] == 400


def test_empty_request_is_success(collector: Collector) -> None:
    response = send_grpc(collector.grpc_port, trace_service_pb2.ExportTraceServiceRequest())
    assert not response.HasField("partial_success")


def test_metrics_endpoint_counts(collector: Collector) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{collector.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    assert "dataops_collector_spans_received_total" in text
    assert 'dataops_collector_spans_rejected_total{protocol="grpc",reason="invalid"}' in text
    assert "dataops_collector_insert_seconds_bucket" in text


def test_dataset_span_derives_event(collector: Collector) -> None:
    send_grpc(
        collector.grpc_port, request([dataset_span("write", outputs=["file:///r/x.csv"], rows=3)])
    )
    poll(
        lambda: (
            count(
                collector,
                "SELECT count() FROM dataops_dataset_events WHERE DatasetId = 'file:///r/x.csv'",
            )
            == 1
        ),
        what="derived event",
    )
