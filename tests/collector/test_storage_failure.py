"""Storage failures: retried with the same dedup token, no duplicates, spans refused meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from dataops_collector.pipeline import BatchSettings, SpanPipeline, StorageFailing
from dataops_collector.schema.migrate import apply_migrations
from dataops_collector.spans import EncodedSpans, encode_request
from dataops_collector.storage.chdb_store import ChdbStore
from dataops_collector.storage.errors import StorageRejectedData, StorageUnavailable

from .otlp import dataset_span, poll, request


class FailingFirstInserts:
    """Our own wrapper around the real store: the first insert lands and then
    reports failure (a timeout after the write), the second fails outright."""

    def __init__(self, store: ChdbStore) -> None:
        self.store = store
        self.calls: list[str | None] = []

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        self.calls.append(dedup_token)
        if len(self.calls) == 1:
            self.store.insert_otlp(payload, dedup_token=dedup_token)
            raise StorageUnavailable("connection reset after the write")
        if len(self.calls) == 2:
            raise StorageUnavailable("server unavailable")
        self.store.insert_otlp(payload, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    real = ChdbStore(str(tmp_path_factory.mktemp("failing")))
    apply_migrations(real)
    yield real
    real.close()


def rows_of(store: ChdbStore, sql: str) -> int:
    return int(store.query_rows(sql).scalar())


def test_retry_after_partial_failure_makes_no_duplicates(store: ChdbStore) -> None:
    flaky = FailingFirstInserts(store)
    pipeline = SpanPipeline(
        flaky,  # type: ignore[arg-type]
        BatchSettings(batch_max_delay_ms=50, retry_initial_ms=20, retry_max_ms=50),
    )
    pipeline.start()
    spans = [dataset_span("write", outputs=[f"file:///dedup/{i}.csv"], rows=i) for i in range(10)]
    pipeline.offer(encode_request(request(spans), max_attribute_bytes=1024))
    poll(lambda: len(flaky.calls) >= 3 and pipeline.queued_spans == 0, what="retries to finish")
    assert pipeline.stop(5)
    assert len(set(flaky.calls)) == 1  # the same token on every retry
    assert rows_of(store, "SELECT count() FROM otel_traces") == 10
    assert (
        rows_of(
            store,
            "SELECT count() FROM dataops_dataset_events WHERE startsWith(DatasetId, 'file:///dedup/')",
        )
        == 10
    )
    assert (
        rows_of(
            store,
            "SELECT sum(Writes) FROM dataops_dataset_state WHERE startsWith(DatasetId, 'file:///dedup/')",
        )
        == 10
    )


class DownUntilRepaired:
    """Our own stand-in for a storage outage that an operator then repairs."""

    def __init__(self) -> None:
        self.down = True
        self.inserted = 0

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        if self.down:
            raise StorageUnavailable("down")
        self.inserted += spans_in(payload)


def spans_in(payload: bytes) -> int:
    """Spans in a batch of length-delimited ExportTraceServiceRequest messages."""
    count, view = 0, memoryview(payload)
    while view:
        length, shift, used = 0, 0, 0
        while True:
            byte = view[used]
            used += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        message = trace_service_pb2.ExportTraceServiceRequest.FromString(view[used : used + length])
        count += sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
        view = view[used + length :]
    return count


def encode(message: Any) -> EncodedSpans:
    return encode_request(message, max_attribute_bytes=1024)


def test_spans_are_refused_while_storage_fails_and_accepted_after_recovery() -> None:
    storage = DownUntilRepaired()
    pipeline = SpanPipeline(
        storage,  # type: ignore[arg-type]
        BatchSettings(batch_max_delay_ms=20, retry_initial_ms=10, retry_max_ms=20),
    )
    pipeline.start()
    pipeline.offer(encode(request([dataset_span("read", inputs=["file:///x"])])))

    def refused() -> bool:
        try:
            pipeline.offer(encode(request([dataset_span("read", inputs=["file:///y"])])))
        except StorageFailing:
            return True
        return False

    poll(refused, what="storage failing to be reported")
    kept = pipeline.queued_spans
    assert kept >= 1  # the failing batch (and what came before the refusal) is kept
    storage.down = False
    poll(lambda: pipeline.queued_spans == 0, what="the kept batch to be inserted")
    pipeline.offer(encode(request([dataset_span("read", inputs=["file:///z"])])))
    assert pipeline.stop(5)
    assert storage.inserted == kept + 1


def dropped_spans() -> float:
    from dataops_collector import metrics

    return metrics.REGISTRY.get_sample_value("dataops_collector_spans_dropped_total") or 0.0


def test_bytes_clickhouse_cannot_parse_are_dropped_alone(store: ChdbStore) -> None:
    """A request ClickHouse rejects cannot block the queue; its batch-mates are stored."""
    dropped_before = dropped_spans()
    pipeline = SpanPipeline(store, BatchSettings(batch_max_delay_ms=200, retry_initial_ms=10))
    good = [
        encode(request([dataset_span("write", outputs=[f"file:///poison/{i}.csv"])]))
        for i in range(2)
    ]
    # Framed as one message, but its bytes end inside a field: ClickHouse's parser fails.
    poison = EncodedSpans(payload=bytes([4, 0x0A, 0x08, 0x0A, 0x06]), accepted=3)
    for spans in (good[0], poison, good[1]):
        pipeline.offer(spans)  # queued before the worker starts: one batch
    pipeline.start()
    assert pipeline.stop(30)
    assert dropped_spans() - dropped_before == 3
    assert pipeline.inserted_spans == 2
    stored = rows_of(
        store,
        "SELECT count() FROM otel_traces WHERE startsWith(SpanAttributes['dataops.outputs'], '[\"file:///poison/')",
    )
    assert stored == 2


class RejectingUntilRepaired:
    """A storage that rejects every insert, even an empty one (a broken server setting)."""

    def __init__(self, store: ChdbStore) -> None:
        self.store = store
        self.broken = True
        self.attempts = 0

    def insert_otlp(self, payload: bytes, *, dedup_token: str) -> None:
        self.attempts += 1
        if self.broken:
            raise StorageRejectedData("cannot parse: While executing ProtobufRowInputFormat")
        self.store.insert_otlp(payload, dedup_token=dedup_token)


def test_a_storage_that_rejects_everything_drops_nothing(store: ChdbStore) -> None:
    dropped_before = dropped_spans()
    storage = RejectingUntilRepaired(store)
    pipeline = SpanPipeline(
        storage,  # type: ignore[arg-type]
        BatchSettings(batch_max_delay_ms=20, retry_initial_ms=10, retry_max_ms=20),
    )
    pipeline.start()
    pipeline.offer(encode(request([dataset_span("write", outputs=["file:///systemic/a.csv"])])))
    poll(lambda: storage.attempts >= 4, what="several failed attempts")
    assert pipeline.queued_spans == 1  # kept, not dropped
    storage.broken = False
    assert pipeline.stop(10)
    assert dropped_spans() == dropped_before
    assert (
        rows_of(
            store,
            "SELECT count() FROM otel_traces WHERE SpanAttributes['dataops.outputs'] = '[\"file:///systemic/a.csv\"]'",
        )
        == 1
    )
