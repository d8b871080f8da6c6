"""The collector's own Prometheus metrics, served at ``/metrics`` on the OTLP/HTTP port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SPANS_RECEIVED = Counter(
    "dataops_collector_spans_received",
    "Spans received in OTLP requests.",
    ["protocol"],
    registry=REGISTRY,
)
SPANS_ACCEPTED = Counter(
    "dataops_collector_spans_accepted",
    "Spans accepted into the insert queue.",
    ["protocol"],
    registry=REGISTRY,
)
SPANS_REJECTED = Counter(
    "dataops_collector_spans_rejected",
    "Spans not accepted, by reason (invalid, queue_full, storage_failing, too_large).",
    ["protocol", "reason"],
    registry=REGISTRY,
)
ATTRIBUTES_TRUNCATED = Counter(
    "dataops_collector_attribute_values_truncated",
    "Attribute values cut to the size limit.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "dataops_collector_queue_spans", "Spans waiting to be inserted.", registry=REGISTRY
)
INSERT_BATCHES = Counter(
    "dataops_collector_insert_batches",
    "Insert batches by outcome (ok, failed).",
    ["outcome"],
    registry=REGISTRY,
)
SPANS_DROPPED = Counter(
    "dataops_collector_spans_dropped",
    "Accepted spans ClickHouse could not parse and the collector therefore dropped.",
    registry=REGISTRY,
)
INSERT_LATENCY = Histogram(
    "dataops_collector_insert_seconds",
    "Latency of one batch insert into ClickHouse.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
