"""`Collector`: wires store, migrations, receivers, batcher and query endpoint.

Tests and ``dataops demo`` run it in-process (ports 0 pick free ports); the
``dataops collector`` command runs it until SIGTERM/SIGINT. Stopping closes
the receivers first (nothing new is accepted), drains the queue into
ClickHouse, then closes the store.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation

from dataops_collector.config import Settings, split_host_port
from dataops_collector.pipeline import BatchSettings, SpanPipeline
from dataops_collector.query_endpoint import QueryEndpoint
from dataops_collector.receiver.grpc_receiver import GrpcTraceReceiver
from dataops_collector.receiver.http_receiver import HttpTraceReceiver
from dataops_collector.receiver.intake import TraceIntake
from dataops_collector.schema.migrate import apply_migrations, set_attribute_limit
from dataops_collector.storage import Store, open_store

_logger = logging.getLogger(__name__)


class Collector:
    """One collector process worth of parts, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store | None = None
        self.pipeline: SpanPipeline | None = None
        self._grpc: GrpcTraceReceiver | None = None
        self._http: HttpTraceReceiver | None = None
        self._query: QueryEndpoint | None = None
        self._stopped = threading.Event()

    @property
    def grpc_port(self) -> int:
        assert self._grpc is not None
        return int(self._grpc.port)

    @property
    def http_port(self) -> int:
        assert self._http is not None
        return self._http.port

    @property
    def query_port(self) -> int | None:
        return self._query.port if self._query is not None else None

    def start(self) -> Collector:
        s = self.settings
        with suppress_instrumentation():  # the collector never traces itself
            self.store = open_store(data_dir=s.data_dir, clickhouse_url=s.clickhouse_url)
            applied = apply_migrations(self.store, retention_days=s.retention_days)
            set_attribute_limit(self.store, s.max_attribute_bytes)
            _load_config_tables(self.store, s)
        self.pipeline = SpanPipeline(
            self.store,
            BatchSettings(
                queue_max_spans=s.queue_max_spans,
                batch_max_spans=s.batch_max_spans,
                batch_max_delay_ms=s.batch_max_delay_ms,
            ),
        )
        intake = TraceIntake(self.pipeline, max_attribute_bytes=s.max_attribute_bytes)
        grpc_host, grpc_port = split_host_port(s.listen)
        http_host, http_port = split_host_port(s.http_listen)
        self._grpc = GrpcTraceReceiver(
            intake, host=grpc_host, port=grpc_port, max_message_bytes=s.max_message_bytes
        )
        self._http = HttpTraceReceiver(
            intake, host=http_host, port=http_port, max_message_bytes=s.max_message_bytes
        )
        if s.embedded and s.query_listen:
            query_host, query_port = split_host_port(s.query_listen)
            self._query = QueryEndpoint(
                self.store,
                host=query_host,
                port=query_port,
                user=s.query_user,
                password=s.query_password,
            )
        self.pipeline.start()
        self._grpc.start()
        self._http.start()
        if self._query is not None:
            self._query.start()
        _logger.info(
            "collector started",
            extra={
                "fields": {
                    "otlp_grpc": self._grpc.address,
                    "otlp_http": self._http.address,
                    "query_endpoint": self._query.address if self._query else None,
                    "storage": self.store.description,
                    "migrations_applied": applied,
                }
            },
        )
        return self

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop accepting, drain the queue, close storage. True if nothing was left."""
        if self._stopped.is_set():
            return True
        timeout = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        if self._grpc is not None:
            self._grpc.stop(grace_s=min(5.0, timeout))
        if self._http is not None:
            self._http.stop()
        drained = self.pipeline.stop(timeout) if self.pipeline is not None else True
        if self._query is not None:
            self._query.stop()
        if self.store is not None:
            self.store.close()
        self._stopped.set()
        inserted = self.pipeline.inserted_spans if self.pipeline else 0
        _logger.info(
            "collector stopped", extra={"fields": {"drained": drained, "inserted_spans": inserted}}
        )
        return drained

    def wait(self) -> None:
        self._stopped.wait()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _load_config_tables(store: Store, settings: Settings) -> None:
    """Load SLOs and cost rates into ClickHouse when the analytics layer is present."""
    try:
        from dataops_collector.analytics import config_tables
    except ImportError:
        return
    config_tables.load(store, settings)
