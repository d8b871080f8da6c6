"""What both OTLP receivers do with a decoded request, and how outcomes map to codes.

`TraceIntake.accept` checks, frames and queues the spans of one request
(`spans.encode_request`) and returns an `ExportOutcome`. The two protocol edges turn outcomes into
gRPC statuses or HTTP responses with `grpc_status_for` / `http_status_for`, the
one place where errors meet status codes (OTLP spec, "Failures" and
"Throttling"):

* full success; partial success with ``rejected_spans`` and a message when
  some spans were invalid (the valid ones are stored; clients do not retry);
* undecodable body: INVALID_ARGUMENT / 400;
* queue full or storage failing: UNAVAILABLE with RetryInfo / 503 with
  Retry-After, so exporters back off and retry;
* request over the size limit: RESOURCE_EXHAUSTED without RetryInfo / 413.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dataops_collector import metrics
from dataops_collector.pipeline import QueueFull, SpanPipeline, StorageFailing
from dataops_collector.spans import encode_request


class Result(enum.Enum):
    OK = "ok"
    PARTIAL = "partial"
    INVALID = "invalid"
    RETRY_LATER = "retry_later"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class ExportOutcome:
    result: Result
    rejected_spans: int = 0
    message: str = ""
    retry_after_s: int = 0


class TraceIntake:
    """Checks and queues decoded ``ExportTraceServiceRequest`` messages."""

    def __init__(
        self, pipeline: SpanPipeline, *, max_attribute_bytes: int, retry_after_s: int = 2
    ) -> None:
        self._pipeline = pipeline
        self._max_attribute_bytes = max_attribute_bytes
        self._retry_after_s = retry_after_s

    def accept(self, request: object, *, protocol: str) -> ExportOutcome:
        spans = encode_request(request, max_attribute_bytes=self._max_attribute_bytes)
        metrics.SPANS_RECEIVED.labels(protocol=protocol).inc(spans.accepted + spans.rejected)
        if spans.truncated_values:
            metrics.ATTRIBUTES_TRUNCATED.inc(spans.truncated_values)
        try:
            self._pipeline.offer(spans)
        except (QueueFull, StorageFailing) as exc:
            reason = "queue_full" if isinstance(exc, QueueFull) else "storage_failing"
            metrics.SPANS_REJECTED.labels(protocol=protocol, reason=reason).inc(spans.accepted)
            return ExportOutcome(
                Result.RETRY_LATER, message=str(exc), retry_after_s=self._retry_after_s
            )
        metrics.SPANS_ACCEPTED.labels(protocol=protocol).inc(spans.accepted)
        if spans.rejected:
            metrics.SPANS_REJECTED.labels(protocol=protocol, reason="invalid").inc(spans.rejected)
            return ExportOutcome(
                Result.PARTIAL,
                rejected_spans=spans.rejected,
                message=f"{spans.rejected} invalid span(s) rejected; first: {spans.first_error}",
            )
        return ExportOutcome(Result.OK)


def http_status_for(result: Result) -> int:
    return {
        Result.OK: 200,
        Result.PARTIAL: 200,
        Result.INVALID: 400,
        Result.RETRY_LATER: 503,
        Result.TOO_LARGE: 413,
    }[result]


def grpc_status_for(result: Result) -> object:
    import grpc

    return {
        Result.OK: grpc.StatusCode.OK,
        Result.PARTIAL: grpc.StatusCode.OK,
        Result.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
        Result.RETRY_LATER: grpc.StatusCode.UNAVAILABLE,
        Result.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    }[result]
