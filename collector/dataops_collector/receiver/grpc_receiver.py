"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

The method is registered with raw bytes in and out, so that an undecodable
body is answered INVALID_ARGUMENT (grpcio's own deserializer would answer
INTERNAL). gzip is accepted (grpcio decompresses), and grpcio enforces the
maximum message size after decompression with RESOURCE_EXHAUSTED. Throttling
answers UNAVAILABLE with a ``google.rpc.RetryInfo`` both in the trailing
metadata key ``google.rpc.retryinfo-bin`` (read by the Python exporter) and in
the status details ``grpc-status-details-bin`` (read by the Go exporter).
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from dataops_collector.receiver.intake import Result, TraceIntake, grpc_status_for

_logger = logging.getLogger(__name__)
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class GrpcTraceReceiver:
    """A grpcio server exposing the OTLP trace service."""

    def __init__(
        self, intake: TraceIntake, *, host: str, port: int, max_message_bytes: int, workers: int = 8
    ) -> None:
        self._intake = intake
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=options,
        )
        handler = grpc.unary_unary_rpc_method_handler(self._export)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),)
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
        self.address = f"{host}:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self, grace_s: float) -> None:
        self._server.stop(grace_s).wait(grace_s + 1)

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"undecodable OTLP request: {exc}")
        outcome = self._intake.accept(request, protocol="grpc")
        response = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.result is Result.PARTIAL:
            response.partial_success.rejected_spans = outcome.rejected_spans
            response.partial_success.error_message = outcome.message
        elif outcome.result is Result.RETRY_LATER:
            _abort_retryable(context, outcome.message, outcome.retry_after_s)
        elif outcome.result is not Result.OK:
            context.abort(grpc_status_for(outcome.result), outcome.message)  # type: ignore[arg-type]
        return bytes(response.SerializeToString())


def retry_info(delay_s: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=delay_s))


def _abort_retryable(context: Any, message: str, delay_s: int) -> None:
    info = retry_info(delay_s)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=grpc.StatusCode.UNAVAILABLE.value[0], message=message, details=[detail]
    )
    context.set_trailing_metadata(
        (
            ("google.rpc.retryinfo-bin", info.SerializeToString()),
            ("grpc-status-details-bin", status.SerializeToString()),
        )
    )
    context.abort(grpc.StatusCode.UNAVAILABLE, message)
