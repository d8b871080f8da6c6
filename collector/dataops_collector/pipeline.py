"""Bounded span queue and the batcher thread that turns it into ClickHouse inserts.

ClickHouse wants few, large inserts, so accepted requests wait in a bounded
in-memory queue (counted in spans) and a named worker thread inserts them in
batches, by size (`batch_max_spans`) or by age (`batch_max_delay_ms`),
whichever comes first. A batch is the requests' length-delimited bytes put
end to end: one insert that ClickHouse parses and derives rows from.

Policies:

* Queue full, or storage failing: `offer` raises `QueueFull` /
  `StorageFailing`; the receiver answers a retryable status (UNAVAILABLE with
  RetryInfo, HTTP 503/429 with Retry-After) so standard exporters back off.
  Nothing is acknowledged before it is in the queue.
* A failed insert is retried with jittered exponential backoff, with the
  **same** ``insert_deduplication_token``, so a retry after a partial failure
  does not duplicate rows (ClickHouse drops a block whose token it has seen).
* Bytes ClickHouse cannot parse (`StorageRejectedData`; the receiver decodes
  and re-encodes every request, so this should never happen) must not block
  the queue forever: if an empty request still parses, the batch is inserted
  request by request and only the requests ClickHouse rejects are dropped,
  logged and counted (``dataops_collector_spans_dropped``). If the empty
  request fails too, the fault is the storage's, and the batch is retried as
  any failed insert. Parse failures happen before anything is written, so
  the parts can take new tokens.
* Durability: the queue is in memory. ``stop()`` drains it (SIGTERM/SIGINT);
  a crash loses what was queued but not yet inserted. Exporters retry what
  was not acknowledged.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from dataops_collector import metrics
from dataops_collector.spans import EncodedSpans, varint
from dataops_collector.storage.base import Store
from dataops_collector.storage.errors import StorageRejectedData

_logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The bounded queue cannot take these spans now; retry later."""


class StorageFailing(Exception):
    """Inserts are failing; spans are refused until storage recovers."""


@dataclass(frozen=True)
class BatchSettings:
    queue_max_spans: int = 200_000
    batch_max_spans: int = 50_000
    batch_max_delay_ms: int = 1_000
    retry_initial_ms: int = 200
    retry_max_ms: int = 10_000


@dataclass
class _Batch:
    payloads: list[bytes]
    counts: list[int]  # accepted spans of each payload
    spans: int


_EMPTY_REQUEST = varint(0)  # a length-delimited ExportTraceServiceRequest with nothing in it


class SpanPipeline:
    """Queue + batcher: `offer` from receiver threads, inserts from one worker."""

    def __init__(self, store: Store, settings: BatchSettings) -> None:
        self._store = store
        self._settings = settings
        self._queue: deque[EncodedSpans] = deque()
        self._queued_spans = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._storage_failing = False
        self._thread = threading.Thread(target=self._run, name="dataops-batcher", daemon=True)
        self.inserted_spans = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def offer(self, spans: EncodedSpans) -> None:
        """Queue a checked request, or raise `QueueFull` / `StorageFailing`."""
        count = spans.accepted
        if count == 0:
            return
        if self._storage_failing:
            raise StorageFailing("storage is failing; retry later")
        with self._lock:
            if self._stopping.is_set():
                raise QueueFull("the collector is shutting down")
            if self._queued_spans + count > self._settings.queue_max_spans:
                raise QueueFull(
                    f"queue full ({self._queued_spans} of {self._settings.queue_max_spans} spans)"
                )
            self._queue.append(spans)
            self._queued_spans += count
            metrics.QUEUE_DEPTH.set(self._queued_spans)
        if self._queued_spans >= self._settings.batch_max_spans:
            self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop taking spans, insert everything queued; True if fully drained."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive() and self._queued_spans == 0

    def _run(self) -> None:
        delay_s = self._settings.batch_max_delay_ms / 1000
        while True:
            self._wake.wait(delay_s)
            self._wake.clear()
            while True:
                batch = self._take_batch()
                if batch is None:
                    break
                self._insert_with_retry(batch)
            if self._stopping.is_set() and self._queued_spans == 0:
                return

    def _take_batch(self) -> _Batch | None:
        with self._lock:
            if not self._queue:
                return None
            first = self._queue.popleft()
            batch = _Batch([first.payload], [first.accepted], first.accepted)
            while (
                self._queue
                and batch.spans + self._queue[0].accepted <= self._settings.batch_max_spans
            ):
                more = self._queue.popleft()
                batch.payloads.append(more.payload)
                batch.counts.append(more.accepted)
                batch.spans += more.accepted
            return batch

    def _insert_with_retry(self, batch: _Batch) -> None:
        token = uuid.uuid4().hex  # one token per batch, kept across retries
        if not self._insert(b"".join(batch.payloads), batch.spans, token):
            parts = zip(batch.payloads, batch.counts, strict=True)
            for index, (payload, spans) in enumerate(parts):
                if not self._insert(payload, spans, f"{token}-{index}", parts=False):
                    self._drop(spans)

    def _insert(self, payload: bytes, spans: int, token: str, *, parts: bool = True) -> bool:
        """Insert until it succeeds; False if ClickHouse rejects these bytes themselves.

        With `parts`, a rejection is reported only when an empty request still
        parses (the fault is in these bytes, and they can be split);
        otherwise it is retried like any storage failure.
        """
        backoff_ms = self._settings.retry_initial_ms
        while True:
            started = time.perf_counter()
            try:
                self._store.insert_otlp(payload, dedup_token=token)
            except StorageRejectedData as exc:
                if not parts or self._storage_parses(token):
                    _logger.error("ClickHouse cannot parse %d accepted spans: %s", spans, exc)
                    return False
                failure: Exception = exc
            except Exception as exc:
                failure = exc
            else:
                metrics.INSERT_LATENCY.observe(time.perf_counter() - started)
                metrics.INSERT_BATCHES.labels(outcome="ok").inc()
                self._storage_failing = False
                self._done(spans)
                self.inserted_spans += spans
                return True
            metrics.INSERT_BATCHES.labels(outcome="failed").inc()
            self._storage_failing = True
            _logger.warning(
                "insert of %d spans failed (%s); retrying in %d ms with the same token",
                spans,
                failure,
                backoff_ms,
            )
            # A failing batch is never dropped: shutdown waits for it within
            # its own timeout.
            time.sleep(backoff_ms / 1000 * random.uniform(0.5, 1.0))
            backoff_ms = min(backoff_ms * 2, self._settings.retry_max_ms)

    def _storage_parses(self, token: str) -> bool:
        """Whether ClickHouse parses an empty request (it stores nothing)."""
        try:
            self._store.insert_otlp(_EMPTY_REQUEST, dedup_token=f"{token}-probe")
        except Exception:
            return False
        return True

    def _drop(self, spans: int) -> None:
        metrics.INSERT_BATCHES.labels(outcome="rejected").inc()
        metrics.SPANS_DROPPED.inc(spans)
        self._done(spans)

    def _done(self, spans: int) -> None:
        with self._lock:
            self._queued_spans -= spans
            metrics.QUEUE_DEPTH.set(self._queued_spans)
