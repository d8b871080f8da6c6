"""A full queue answers retryably (UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from dataops_collector.app import Collector

from .otlp import request, running_collector, send_grpc, span


@pytest.fixture(scope="module")
def small_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("backpressure"), queue_max_spans=3) as c:
        yield c


def test_grpc_queue_full_is_unavailable_with_retry_info_in_both_places(
    small_queue: Collector,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        send_grpc(small_queue.grpc_port, request([span(f"q{i}") for i in range(5)]))
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    metadata = dict(info.value.trailing_metadata() or ())
    retry = error_details_pb2.RetryInfo.FromString(metadata["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds > 0
    status = status_pb2.Status.FromString(metadata["grpc-status-details-bin"])
    assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)


def test_http_queue_full_is_503_with_retry_after(small_queue: Collector) -> None:
    body = request([span(f"h{i}") for i in range(5)]).SerializeToString()
    req = urllib.request.Request(
        f"http://127.0.0.1:{small_queue.http_port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 503
    assert int(info.value.headers["Retry-After"]) > 0
    status = status_pb2.Status.FromString(info.value.read())
    assert "queue full" in status.message


def test_requests_that_fit_are_still_accepted(small_queue: Collector) -> None:
    response = send_grpc(small_queue.grpc_port, request([span("fits")]))
    assert not response.HasField("partial_success")
