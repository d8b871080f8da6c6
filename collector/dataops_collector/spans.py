"""OTLP protobuf spans -> rows of ``otel_traces``, exactly as the contrib exporter writes them.

Values follow the OpenTelemetry Collector contrib ClickHouse exporter so that
Grafana's plugin and our materialized views read both the same: ids as
lowercase hex, ``Duration`` in nanoseconds, ``SpanKind`` as ``Server``,
``Client``, ``Internal``, ``Producer``, ``Consumer`` or ``Unspecified``,
``StatusCode`` as ``Unset``, ``Ok`` or ``Error``, attribute values as text
(arrays and maps as JSON, booleans ``true``/``false``, bytes base64), and
``ServiceName`` from the resource's ``service.name``.

Invalid spans (wrong id lengths, end before start) are rejected one by one so
that the valid spans of the same request are still stored; the receiver
reports the count as OTLP partial success. Attribute values longer than the
configured limit are truncated, not dropped.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from dataops_otel.semconv import SERVICE_NAME

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
TRUNCATION_MARK = "...[truncated]"

COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)


@dataclass
class SpanRows:
    """Column lists for a set of spans, ready to become one Arrow table."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    rejected: int = 0
    truncated_values: int = 0
    first_error: str = ""

    def __len__(self) -> int:
        return len(self.columns["SpanId"])

    def extend(self, other: SpanRows) -> None:
        for name, values in other.columns.items():
            self.columns[name].extend(values)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        types = arrow_types()
        return pa.table(
            {name: pa.array(values, type=types[name]) for name, values in self.columns.items()}
        )


@functools.lru_cache(maxsize=1)
def arrow_types() -> dict[str, Any]:
    """Arrow type of every ``otel_traces`` column we insert."""
    import pyarrow as pa

    text_map = pa.map_(pa.string(), pa.string())
    ts = pa.timestamp("ns")
    types = {name: pa.string() for name in COLUMNS}
    types.update(
        {
            "Timestamp": ts,
            "ResourceAttributes": text_map,
            "SpanAttributes": text_map,
            "Duration": pa.uint64(),
            "Events.Timestamp": pa.list_(ts),
            "Events.Name": pa.list_(pa.string()),
            "Events.Attributes": pa.list_(text_map),
            "Links.TraceId": pa.list_(pa.string()),
            "Links.SpanId": pa.list_(pa.string()),
            "Links.TraceState": pa.list_(pa.string()),
            "Links.Attributes": pa.list_(text_map),
        }
    )
    return types


class SpanConverter:
    """Converts ``ExportTraceServiceRequest`` messages into `SpanRows`."""

    def __init__(self, *, max_attribute_bytes: int) -> None:
        self.max_attribute_bytes = max_attribute_bytes

    def convert(self, request: Any) -> SpanRows:
        rows = SpanRows()
        cols = rows.columns
        for resource_spans in request.resource_spans:
            resource = self._attributes(resource_spans.resource.attributes, rows)
            service = resource.get(SERVICE_NAME, "")
            for scope_spans in resource_spans.scope_spans:
                scope_name = scope_spans.scope.name
                scope_version = scope_spans.scope.version
                for span in scope_spans.spans:
                    problem = invalid_reason(span)
                    if problem:
                        rows.rejected += 1
                        rows.first_error = rows.first_error or problem
                        continue
                    cols["Timestamp"].append(span.start_time_unix_nano)
                    cols["TraceId"].append(span.trace_id.hex())
                    cols["SpanId"].append(span.span_id.hex())
                    cols["ParentSpanId"].append(span.parent_span_id.hex())
                    cols["TraceState"].append(span.trace_state)
                    cols["SpanName"].append(span.name)
                    cols["SpanKind"].append(_enum(SPAN_KINDS, span.kind))
                    cols["ServiceName"].append(service)
                    cols["ResourceAttributes"].append(list(resource.items()))
                    cols["ScopeName"].append(scope_name)
                    cols["ScopeVersion"].append(scope_version)
                    cols["SpanAttributes"].append(
                        list(self._attributes(span.attributes, rows).items())
                    )
                    cols["Duration"].append(span.end_time_unix_nano - span.start_time_unix_nano)
                    cols["StatusCode"].append(_enum(STATUS_CODES, span.status.code))
                    cols["StatusMessage"].append(span.status.message)
                    self._events(span, cols, rows)
                    self._links(span, cols, rows)
        return rows

    def _events(self, span: Any, cols: dict[str, list[Any]], rows: SpanRows) -> None:
        cols["Events.Timestamp"].append([e.time_unix_nano for e in span.events])
        cols["Events.Name"].append([e.name for e in span.events])
        cols["Events.Attributes"].append(
            [list(self._attributes(e.attributes, rows).items()) for e in span.events]
        )

    def _links(self, span: Any, cols: dict[str, list[Any]], rows: SpanRows) -> None:
        cols["Links.TraceId"].append([link.trace_id.hex() for link in span.links])
        cols["Links.SpanId"].append([link.span_id.hex() for link in span.links])
        cols["Links.TraceState"].append([link.trace_state for link in span.links])
        cols["Links.Attributes"].append(
            [list(self._attributes(link.attributes, rows).items()) for link in span.links]
        )

    def _attributes(self, attributes: Any, rows: SpanRows) -> dict[str, str]:
        out: dict[str, str] = {}
        limit = self.max_attribute_bytes
        for kv in attributes:
            text = any_value_text(kv.value)
            if len(text) > limit:
                text = text[: max(0, limit - len(TRUNCATION_MARK))] + TRUNCATION_MARK
                rows.truncated_values += 1
            out[kv.key] = text
        return out


def invalid_reason(span: Any) -> str:
    """Why a span cannot be stored, or '' when it is valid."""
    if len(span.trace_id) != 16 or span.trace_id == bytes(16):
        return f"span {span.name!r}: trace_id must be 16 non-zero bytes"
    if len(span.span_id) != 8 or span.span_id == bytes(8):
        return f"span {span.name!r}: span_id must be 8 non-zero bytes"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r}: parent_span_id must be empty or 8 bytes"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return f"span {span.name!r}: end time is before start time"
    if span.start_time_unix_nano == 0:
        return f"span {span.name!r}: start time is missing"
    return ""


def _enum(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else names[0]


def any_value_text(value: Any) -> str:
    """An OTLP AnyValue as the exporter's text: scalars as text, arrays/maps as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind is None:
        return ""
    return _text(value, kind)


def _text(value: Any, kind: str) -> str:
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any, depth: int = 0) -> Any:
    """AnyValue -> plain Python for JSON (nesting cut at 8 levels)."""
    kind = value.WhichOneof("value")
    if depth > 8 or kind is None:
        return None
    if kind == "array_value":
        return [_plain(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)
