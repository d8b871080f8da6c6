"""ClickHouse parsing OTLP itself: the intake view stores what the contrib exporter would.

Requests go through `encode_request` and `Store.insert_otlp` into a real
embedded ClickHouse; the rows of ``otel_traces`` are read back and compared
value by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from dataops_collector.schema.migrate import apply_migrations, set_attribute_limit
from dataops_collector.spans import TRUNCATION_MARK, encode_request
from dataops_collector.storage.chdb_store import ChdbStore

from .otlp import attributes, request, span

LIMIT = 64


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    real = ChdbStore(str(tmp_path_factory.mktemp("intake")))
    apply_migrations(real)
    set_attribute_limit(real, LIMIT)
    yield real
    real.close()


def store_request(store: ChdbStore, message: Any, token: str) -> None:
    encoded = encode_request(message, max_attribute_bytes=LIMIT)
    store.insert_otlp(encoded.payload, dedup_token=token)


def stored(store: ChdbStore, name: str, columns: str) -> tuple[Any, ...]:
    rows = store.query_rows(
        f"SELECT {columns} FROM otel_traces WHERE SpanName = {{n:String}}", parameters={"n": name}
    ).rows
    assert len(rows) == 1, rows
    return rows[0]


def any_value(**field: Any) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(**field)


def test_every_value_kind_is_stored_as_exporter_text(store: ChdbStore) -> None:
    nested = common_pb2.ArrayValue(values=[any_value(string_value="deep")])
    values = {
        "empty": any_value(string_value=""),
        "text": any_value(string_value='a/b "q" é\n'),
        "false": any_value(bool_value=False),
        "zero": any_value(int_value=0),
        "negative": any_value(int_value=-5),
        "half": any_value(double_value=0.5),
        "whole": any_value(double_value=3.0),
        "bytes": any_value(bytes_value=b"\x00\xff"),
        "mixed": any_value(
            array_value=common_pb2.ArrayValue(
                values=[
                    any_value(string_value="x/y"),
                    any_value(int_value=1),
                    any_value(bool_value=True),
                    any_value(double_value=1.5),
                    any_value(bytes_value=b"\x01"),
                    any_value(array_value=nested),
                ]
            )
        ),
        "no_items": any_value(array_value=common_pb2.ArrayValue()),
        "map": any_value(
            kvlist_value=common_pb2.KeyValueList(
                values=[
                    common_pb2.KeyValue(key="k", value=any_value(string_value="v")),
                    common_pb2.KeyValue(key="n", value=any_value(int_value=2)),
                ]
            )
        ),
    }
    sp = span("kinds")
    sp.attributes.extend(common_pb2.KeyValue(key=k, value=v) for k, v in values.items())
    store_request(store, request([sp]), "kinds")
    (attrs,) = stored(store, "kinds", "SpanAttributes")
    assert attrs == {
        "empty": "",
        "text": 'a/b "q" é\n',
        "false": "false",
        "zero": "0",
        "negative": "-5",
        "half": "0.5",
        "whole": "3",
        "bytes": "AP8=",
        "mixed": '["x/y",1,true,1.5,"AQ==",null]',
        "no_items": "[]",
        "map": '{"k":"v","n":2}',
    }


def test_span_fields_events_links_and_resource(store: ChdbStore) -> None:
    sp = span("fields", attrs={"a": "1"}, parent_span_id=b"\x01" * 8, error=True)
    sp.kind = trace_pb2.Span.SPAN_KIND_CLIENT
    sp.trace_state = "k=v"
    sp.events.append(
        trace_pb2.Span.Event(
            time_unix_nano=sp.start_time_unix_nano + 5,
            name="exception",
            attributes=attributes({"exception.type": "ValueError"}),
        )
    )
    sp.links.append(
        trace_pb2.Span.Link(
            trace_id=b"\x02" * 16,
            span_id=b"\x03" * 8,
            trace_state="l=1",
            attributes=attributes({"why": "upstream"}),
        )
    )
    message = request([sp], service="svc-f", version="2.0")
    message.resource_spans[0].scope_spans[0].scope.name = "dataops_otel"
    message.resource_spans[0].scope_spans[0].scope.version = "0.1.0"
    store_request(store, message, "fields")
    row = stored(
        store,
        "fields",
        "TraceId, SpanId, ParentSpanId, TraceState, SpanKind, ServiceName, ResourceAttributes,"
        " ScopeName, ScopeVersion, Duration, StatusCode, StatusMessage,"
        " toUnixTimestamp64Nano(Timestamp),"
        " arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp),"
        " Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState,"
        " Links.Attributes",
    )
    assert row == (
        sp.trace_id.hex(),
        sp.span_id.hex(),
        "01" * 8,
        "k=v",
        "Client",
        "svc-f",
        {"service.name": "svc-f", "service.version": "2.0"},
        "dataops_otel",
        "0.1.0",
        1_000_000,
        "Error",
        "boom",
        sp.start_time_unix_nano,
        [sp.start_time_unix_nano + 5],
        ["exception"],
        [[("exception.type", "ValueError")]],
        ["02" * 16],
        ["03" * 8],
        ["l=1"],
        [[("why", "upstream")]],
    )


def test_unknown_kind_and_status_and_missing_service(store: ChdbStore) -> None:
    sp = span("odd.enums")
    sp.kind = 42  # type: ignore[assignment]
    sp.status.code = 9  # type: ignore[assignment]
    message = trace_service_pb2.ExportTraceServiceRequest()
    message.resource_spans.add().scope_spans.add().spans.append(sp)
    store_request(store, message, "odd")
    assert stored(store, "odd.enums", "SpanKind, StatusCode, ServiceName") == (
        "Unspecified",
        "Unset",
        "",
    )


def test_values_over_the_limit_are_cut_on_a_character_boundary(store: ChdbStore) -> None:
    sp = span("cut", attrs={"ascii": "y" * 100, "accents": "é" * 40, "short": "ok"})
    encoded = encode_request(request([sp]), max_attribute_bytes=LIMIT)
    assert encoded.truncated_values == 2
    store.insert_otlp(encoded.payload, dedup_token="cut")
    (attrs,) = stored(store, "cut", "SpanAttributes")
    assert attrs["short"] == "ok"
    assert attrs["ascii"] == "y" * (LIMIT - len(TRUNCATION_MARK)) + TRUNCATION_MARK
    cut = attrs["accents"]
    assert cut.endswith(TRUNCATION_MARK) and len(cut.encode()) <= LIMIT
    kept = cut[: -len(TRUNCATION_MARK)]
    assert kept == "é" * len(kept) and len(kept) == (LIMIT - len(TRUNCATION_MARK)) // 2


def test_invalid_spans_are_counted_and_never_stored(store: ChdbStore) -> None:
    good = span("valid.one")
    bad = [
        span("bad.trace", trace_id=b"\x01" * 15),
        span("bad.zero", trace_id=bytes(16)),
        span("bad.span", span_id=b"\x01" * 4),
        span("bad.parent", parent_span_id=b"\x01" * 3),
        span("bad.order", duration_ns=-5),
        span("bad.start", start_ns=0),
    ]
    encoded = encode_request(request([good, *bad]), max_attribute_bytes=LIMIT)
    assert (encoded.accepted, encoded.rejected) == (1, 6)
    assert "bad.trace" in encoded.first_error
    store.insert_otlp(encoded.payload, dedup_token="invalid")
    names = store.query_rows(
        "SELECT SpanName FROM otel_traces"
        " WHERE SpanName = 'valid.one' OR startsWith(SpanName, 'bad.')"
    ).rows
    assert names == [("valid.one",)]


def test_unknown_fields_are_dropped_before_clickhouse_sees_them(store: ChdbStore) -> None:
    sp = span("unknown.fields")
    # Field 99 as a varint and field 40 as a fixed32: not in OTLP's Span today.
    raw = sp.SerializeToString() + bytes([0x98, 0x06, 0x01]) + bytes([0xC5, 0x02, 1, 2, 3, 4])
    parsed = trace_pb2.Span.FromString(raw)
    assert parsed.SerializeToString() == raw  # kept by the parser, dropped by encode_request
    message = request([parsed])
    store_request(store, message, "unknown")
    assert stored(store, "unknown.fields", "count()") == (1,)


def test_a_retried_batch_is_stored_once(store: ChdbStore) -> None:
    encoded = encode_request(request([span("retried")]), max_attribute_bytes=LIMIT)
    for _ in range(2):
        store.insert_otlp(encoded.payload, dedup_token="same-token")
    assert stored(store, "retried", "count()") == (1,)


def test_many_requests_in_one_insert(store: ChdbStore) -> None:
    requests = [request([span(f"batch.{i}") for _ in range(3)]) for i in range(5)]
    payload = b"".join(encode_request(r, max_attribute_bytes=LIMIT).payload for r in requests)
    store.insert_otlp(payload, dedup_token="batch")
    counts = store.query_rows(
        "SELECT SpanName, count() FROM otel_traces WHERE startsWith(SpanName, 'batch.')"
        " GROUP BY SpanName ORDER BY SpanName"
    ).rows
    assert counts == [(f"batch.{i}", 3) for i in range(5)]


# The intake schema mirrors OTLP's field numbers; a message it declares stands
# for this OTLP message.
_MIRRORS = {
    "AnyValue": common_pb2.AnyValue,
    "Leaf": common_pb2.AnyValue,
    "KeyValue": common_pb2.KeyValue,
    "LeafKeyValue": common_pb2.KeyValue,
    "ArrayValue": common_pb2.ArrayValue,
    "KeyValueList": common_pb2.KeyValueList,
    "Span": trace_pb2.Span,
    "Event": trace_pb2.Span.Event,
    "Link": trace_pb2.Span.Link,
    "Status": trace_pb2.Status,
    "ScopeSpans": trace_pb2.ScopeSpans,
    "ResourceSpans": trace_pb2.ResourceSpans,
    "ExportTraceServiceRequest": trace_service_pb2.ExportTraceServiceRequest,
}
_SCALARS = {"string", "bytes", "bool", "int64", "int32", "double", "fixed64"}


def test_intake_schema_has_otlp_field_numbers_and_wire_types() -> None:
    text = (resources.files("dataops_collector.schema") / "otlp_intake.proto").read_text()
    messages = dict(re.findall(r"message (\w+) \{(.*?)\n\}", text, flags=re.S))
    checked = 0
    for name, otlp in _MIRRORS.items():
        otlp_fields = otlp.DESCRIPTOR.fields_by_name  # type: ignore[attr-defined]
        for label, kind, field, number in re.findall(
            r"(optional|repeated) (\w+) (\w+) = (\d+);", messages[name]
        ):
            original = otlp_fields[field]
            assert original.number == int(number), (name, field)
            assert (label == "repeated") == original.is_repeated
            if original.enum_type is not None:
                assert kind == "int32", (name, field)  # enums are varints on the wire
            elif kind in _SCALARS and original.message_type is None:
                assert original.type == getattr(original, f"TYPE_{kind.upper()}"), (name, field)
            else:
                # A message, or a message kept as bytes: both length-delimited.
                assert original.message_type is not None, (name, field)
            checked += 1
    assert checked > 40


_MIGRATE = """
import sys
from dataops_collector.schema.migrate import apply_migrations
from dataops_collector.storage.chdb_store import ChdbStore

store = ChdbStore(sys.argv[1])
apply_migrations(store)
store.close()
"""

_INSERT_AFTER_RESTART = """
import sys
from dataops_collector.schema.migrate import apply_migrations
from dataops_collector.spans import encode_request
from dataops_collector.storage.chdb_store import ChdbStore
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

store = ChdbStore(sys.argv[1])
assert apply_migrations(store) == [], "nothing left to migrate"
body = trace_service_pb2.ExportTraceServiceRequest.FromString(sys.stdin.buffer.read())
store.insert_otlp(encode_request(body, max_attribute_bytes=1024).payload, dedup_token="restart")
print(store.query_rows("SELECT count() FROM otel_traces WHERE SpanName = 'after.restart'").scalar())
"""


def test_intake_works_after_a_restart(tmp_path: Any) -> None:
    """The SQL functions the view calls live with the database, not with the process.

    Two fresh processes (chDB opens one data directory per process): one
    migrates and exits, the next only inserts.
    """
    import subprocess
    import sys

    directory = str(tmp_path / "restart")
    subprocess.run([sys.executable, "-c", _MIGRATE, directory], check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-c", _INSERT_AFTER_RESTART, directory],
        input=request([span("after.restart")]).SerializeToString(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().strip() == "1"
