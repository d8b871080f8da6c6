"""OTLP/HTTP: ``POST /v1/traces`` (protobuf or JSON, optionally gzip) and ``GET /metrics``.

Responses use the request's content type; errors carry a ``google.rpc.Status``
body; throttling answers 503 with ``Retry-After``; an undecodable body 400; a
body over the size limit 413 (checked after decompression). OTLP/JSON encodes
trace and span ids as hex (not protobuf JSON's base64) and may carry unknown
fields, which are ignored.

The stdlib ``ThreadingHTTPServer`` is enough here: requests are few and large
(exporters batch), and it adds no dependency to the collector.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dataops_collector import metrics
from dataops_collector.http_response import respond
from dataops_collector.receiver.intake import Result, TraceIntake, http_status_for

_logger = logging.getLogger(__name__)
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HEX_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


class BadRequest(Exception):
    """The body cannot be decoded as an OTLP request."""


class TooLarge(Exception):
    """The body is over the configured size limit."""


def decode_request(body: bytes, content_type: str) -> Any:
    request = trace_service_pb2.ExportTraceServiceRequest()
    if content_type == JSON:
        try:
            document = json.loads(body)
            _hex_ids_to_base64(document)
            json_format.ParseDict(document, request, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError, TypeError) as exc:
            raise BadRequest(f"undecodable OTLP/JSON request: {exc}") from exc
        return request
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequest(f"undecodable OTLP/protobuf request: {exc}") from exc
    return request


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError as exc:
                    raise ValueError(f"{key} is not hex: {value!r}") from exc
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def read_body(raw: bytes, encoding: str, limit: int) -> bytes:
    if len(raw) > limit:
        raise TooLarge(f"request body of {len(raw)} bytes is over the {limit}-byte limit")
    if encoding in {"", "identity"}:
        return raw
    if encoding != "gzip":
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = inflater.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest(f"bad gzip body: {exc}") from exc
    if len(body) > limit:
        raise TooLarge(f"decompressed body is over the {limit}-byte limit")
    return body


class HttpTraceReceiver:
    """The OTLP/HTTP listener (also serves the collector's Prometheus metrics)."""

    def __init__(self, intake: TraceIntake, *, host: str, port: int, max_message_bytes: int):
        handler = _handler_class(intake, max_message_bytes)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.address = f"{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(intake: TraceIntake, limit: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug("otlp-http %s", format % args)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.REGISTRY))
            else:
                self._send(404, "text/plain", b"not found\n")

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/v1/traces":
                self._send(404, "text/plain", b"not found\n")
                return
            content_type = self.headers.get("Content-Type", PROTOBUF).split(";")[0].strip()
            if content_type not in {PROTOBUF, JSON}:
                self._status(415, PROTOBUF, f"unsupported Content-Type {content_type!r}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = read_body(raw, self.headers.get("Content-Encoding", ""), limit)
                request = decode_request(body, content_type)
            except TooLarge as exc:
                metrics.SPANS_REJECTED.labels(protocol="http", reason="too_large").inc()
                self._status(http_status_for(Result.TOO_LARGE), content_type, str(exc))
                return
            except BadRequest as exc:
                self._status(http_status_for(Result.INVALID), content_type, str(exc))
                return
            outcome = intake.accept(request, protocol="http")
            if outcome.result is Result.RETRY_LATER:
                self._status(
                    http_status_for(outcome.result),
                    content_type,
                    outcome.message,
                    {"Retry-After": str(outcome.retry_after_s)},
                )
                return
            response = trace_service_pb2.ExportTraceServiceResponse()
            if outcome.result is Result.PARTIAL:
                response.partial_success.rejected_spans = outcome.rejected_spans
                response.partial_success.error_message = outcome.message
            self._send(200, content_type, _encode(response, content_type))

        def _status(
            self, code: int, content_type: str, message: str, headers: dict[str, str] | None = None
        ) -> None:
            status = status_pb2.Status(code=code, message=message)
            self._send(code, content_type, _encode(status, content_type), headers)

        def _send(
            self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            respond(self, code, content_type, body, headers)

    return Handler


def _encode(message: Any, content_type: str) -> bytes:
    if content_type == JSON:
        return str(json_format.MessageToJson(message, indent=None)).encode()
    return bytes(message.SerializeToString())
