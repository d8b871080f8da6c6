"""Collector throughput: acknowledged spans/s and Export latency, next to the limit.

* end to end: a collector subprocess (embedded chDB in a temp dir) receives
  pre-built OTLP/gRPC requests of realistic dataops spans from 4 concurrent
  client processes; acknowledged spans/s, Export p50/p99, and a final row
  count that proves nothing was lost;
* the limit, in this process and the same run: what the collector does to
  the same requests with no server around it: protobuf decode + span checks
  (`encode_request`) + one bulk insert that ClickHouse parses into otel_traces
  and every derived table.

    python bench/bench_collector_throughput.py [--seconds 15] [--spans-per-request 512]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

CLIENTS = 4


def build_request(spans_per_request: int, seed: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    def kv(key: str, value: Any) -> common_pb2.KeyValue:
        if isinstance(value, list):
            any_value = common_pb2.AnyValue(
                array_value=common_pb2.ArrayValue(
                    values=[common_pb2.AnyValue(string_value=v) for v in value]
                )
            )
        elif isinstance(value, int):
            any_value = common_pb2.AnyValue(int_value=value)
        else:
            any_value = common_pb2.AnyValue(string_value=str(value))
        return common_pb2.KeyValue(key=key, value=any_value)

    now = time.time_ns()
    spans = []
    for i in range(spans_per_request):
        n = seed * 1_000_000 + i + 1
        spans.append(
            trace_pb2.Span(
                trace_id=n.to_bytes(16, "big"),
                span_id=n.to_bytes(8, "big"),
                name="pandas.to_parquet",
                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=now,
                end_time_unix_nano=now + 5_000_000,
                attributes=[
                    kv("dataops.operation", "write"),
                    kv("dataops.inputs", [f"file:///data/raw/t{i % 50}.csv"]),
                    kv("dataops.outputs", [f"file:///data/marts/t{i % 50}.parquet"]),
                    kv("dataops.dataset.rows", 1000 + i),
                    kv("dataops.dataset.schema", '[["id","int64"],["amount","float64"]]'),
                    kv("dataops.dataset.schema_hash", "9f4c98e46d1e5319"),
                    kv("dataops.job.name", "orders-daily"),
                    kv("dataops.run.id", f"run-{seed}"),
                ],
            )
        )
    resource = resource_pb2.Resource(attributes=[kv("service.name", "bench")])
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=spans)]
            )
        ]
    )
    return bytes(request.SerializeToString())


def client(port: int, body: bytes, seconds: float, out: Any) -> None:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        latencies, sent, refused = [], 0, 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                export(body, timeout=30)
            except grpc.RpcError:
                refused += 1  # retryable refusal: back off briefly, like an exporter
                time.sleep(0.05)
                continue
            latencies.append(time.perf_counter() - start)
            sent += 1
        out.put((sent, refused, latencies))


def measure_limit(body: bytes, requests: int) -> float:
    """Decode + check + one bulk insert of `requests` copies, in this process, no server."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    from dataops_collector.schema.migrate import apply_migrations, set_attribute_limit
    from dataops_collector.spans import encode_request
    from dataops_collector.storage.chdb_store import ChdbStore

    with tempfile.TemporaryDirectory() as directory:
        store = ChdbStore(directory)
        apply_migrations(store)
        set_attribute_limit(store, 65536)
        warm_up = encode_request(
            trace_service_pb2.ExportTraceServiceRequest.FromString(body), max_attribute_bytes=65536
        )
        store.insert_otlp(warm_up.payload, dedup_token="warm-up")  # first insert loads the schema
        start = time.perf_counter()
        encoded = [
            encode_request(
                trace_service_pb2.ExportTraceServiceRequest.FromString(body),
                max_attribute_bytes=65536,
            )
            for _ in range(requests)
        ]
        store.insert_otlp(b"".join(e.payload for e in encoded), dedup_token="limit")
        elapsed = time.perf_counter() - start
        stored = store.query_rows("SELECT count() FROM otel_traces").scalar()
        store.close()
    inserted = sum(e.accepted for e in encoded)
    assert stored == inserted + warm_up.accepted
    return inserted / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--spans-per-request", type=int, default=512)
    args = parser.parse_args()
    bodies = [build_request(args.spans_per_request, seed) for seed in range(CLIENTS)]

    with tempfile.TemporaryDirectory() as directory:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dataops_collector.cli",
                "collector",
                "--data-dir",
                directory,
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--query-listen",
                "127.0.0.1:0",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        started = next(json.loads(line) for line in proc.stderr if '"collector started"' in line)
        port = int(started["otlp_grpc"].rsplit(":", 1)[1])
        out: Any = mp.Queue()
        workers = [
            mp.Process(target=client, args=(port, bodies[i], args.seconds, out))
            for i in range(CLIENTS)
        ]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        results = [out.get() for _ in workers]
        elapsed = time.perf_counter() - start
        for worker in workers:
            worker.join()
        proc.terminate()
        proc.wait(120)
        stored = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from dataops_collector.storage.chdb_store import ChdbStore;"
                "s = ChdbStore(sys.argv[1]);"
                "print(s.query_rows('SELECT count() FROM otel_traces').scalar())",
                directory,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    acked_requests = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    acked = acked_requests * args.spans_per_request
    throughput = acked / elapsed
    limit = measure_limit(bodies[0], requests=100)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"collector end to end: {CLIENTS} clients x {args.spans_per_request}-span requests, "
        f"{elapsed:.1f} s, cpu count {os.cpu_count()}"
    )
    print(
        f"  acknowledged        {acked} spans ({throughput:,.0f} spans/s),"
        f" refused requests {refused}"
    )
    print(f"  stored              {stored} spans (lost: {acked - int(stored)})")
    print(f"  Export latency      p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"limit (decode + check + bulk insert, no server): {limit:,.0f} spans/s")
    print(f"  end to end / limit  {throughput / limit:.2f}   (goal > 0.5, and >= 30,000 spans/s)")


if __name__ == "__main__":
    main()
