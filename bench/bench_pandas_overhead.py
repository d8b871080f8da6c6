"""A/B overhead of the pandas instrumentation, alternating in one process.

Two workloads, each run instrumented and not, round after round (instrument /
uninstrument between them) so machine noise hits both sides alike:

* pipeline: read a ~20 MB CSV, merge a dimension, aggregate, write parquet
  (goal: <= 3 % added wall time);
* tiny: ``read_csv`` of a 3-row file (goal: <= 100 us added per call),
  measured as paired rounds (a plain and an instrumented batch, in
  alternating order, many times over; the instrumented batch includes
  flushing its spans) and reported as the median of the per-round
  differences with its interquartile range, so that drift of a shared
  machine cancels out.

Spans go to a real BatchSpanProcessor with an exporter that discards them, so
the cost measured is the SDK's own (span creation, attributes, lineage,
batching), not a network. Prints figures and ratios; never fails.

    python bench/bench_pandas_overhead.py [--rounds 7] [--tiny-rounds 31] [--tiny-calls 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from dataops_otel.instrumentation.pandas import PandasInstrumentor


class DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make_inputs(directory: str, rows: int) -> tuple[str, str]:
    rng = np.random.default_rng(7)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(rows),
            "customer_id": rng.integers(0, 5_000, rows),
            "amount": rng.random(rows) * 100,
            "status": rng.choice(["new", "paid", "shipped", "returned"], rows),
            "created_at": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 86_400 * 90, rows), "s"),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": np.arange(5_000), "region": rng.choice(["eu", "us", "apac"], 5_000)}
    )
    orders_path = os.path.join(directory, "orders.csv")
    customers_path = os.path.join(directory, "customers.parquet")
    orders.to_csv(orders_path, index=False)
    customers.to_parquet(customers_path)
    return orders_path, customers_path


def pipeline(orders_path: str, customers_path: str, out_path: str) -> None:
    orders = pd.read_csv(orders_path, parse_dates=["created_at"])
    customers = pd.read_parquet(customers_path)
    daily = (
        orders[orders["status"] != "returned"]
        .merge(customers, on="customer_id")
        .assign(day=lambda f: f["created_at"].dt.date)
        .groupby(["day", "region"])
        .agg(revenue=("amount", "sum"), orders=("order_id", "count"))
        .reset_index()
    )
    daily.to_parquet(out_path)


def timed(func: Callable[[], None]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=300_000, help="~20 MB of CSV at 300k rows")
    parser.add_argument("--tiny-calls", type=int, default=500, help="calls per tiny batch")
    parser.add_argument("--tiny-rounds", type=int, default=31)
    args = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    trace.set_tracer_provider(provider)
    instrumentor = PandasInstrumentor()

    with tempfile.TemporaryDirectory() as directory:
        orders_path, customers_path = make_inputs(directory, args.rows)
        tiny_path = os.path.join(directory, "tiny.csv")
        pd.DataFrame({"a": [1, 2, 3]}).to_csv(tiny_path, index=False)
        out_path = os.path.join(directory, "daily.parquet")
        size_mb = os.path.getsize(orders_path) / 1e6

        def run_pipeline() -> None:
            pipeline(orders_path, customers_path, out_path)

        def run_tiny() -> None:
            for _ in range(args.tiny_calls):
                pd.read_csv(tiny_path)

        run_pipeline()  # warm caches and imports
        run_tiny()
        plain_pipe: list[float] = []
        inst_pipe: list[float] = []
        for _ in range(args.rounds):
            plain_pipe.append(timed(run_pipeline))
            instrumentor.instrument()
            inst_pipe.append(timed(run_pipeline))
            instrumentor.uninstrument()

        def run_tiny_instrumented() -> float:
            # The instrumented batch pays for exporting its own spans, never
            # for spans left in the queue by an earlier batch.
            instrumentor.instrument()
            elapsed = timed(run_tiny) + timed(provider.force_flush)
            instrumentor.uninstrument()
            return elapsed / args.tiny_calls

        plain_tiny: list[float] = []
        added_tiny: list[float] = []
        for round_number in range(args.tiny_rounds):
            if round_number % 2:  # alternate the order: no side always goes first
                instrumented = run_tiny_instrumented()
                plain = timed(run_tiny) / args.tiny_calls
            else:
                plain = timed(run_tiny) / args.tiny_calls
                instrumented = run_tiny_instrumented()
            plain_tiny.append(plain)
            added_tiny.append(instrumented - plain)
    provider.shutdown()

    p_plain, p_inst = statistics.median(plain_pipe), statistics.median(inst_pipe)
    t_plain = statistics.median(plain_tiny)
    q1, added, q3 = statistics.quantiles(added_tiny, n=4)
    print(
        f"pandas pipeline ({size_mb:.1f} MB CSV -> merge/aggregate -> parquet), "
        f"median of {args.rounds} alternating rounds"
    )
    print(f"  uninstrumented  {p_plain * 1000:9.1f} ms")
    print(f"  instrumented    {p_inst * 1000:9.1f} ms")
    print(f"  ratio           {p_inst / p_plain:9.3f}   (goal <= 1.03)")
    print(
        f"tiny read_csv, {args.tiny_rounds} paired rounds of {args.tiny_calls} calls"
        " (plain and instrumented batch, alternating order)"
    )
    print(f"  uninstrumented  {t_plain * 1e6:9.1f} us/call (median)")
    print(
        f"  added           {added * 1e6:9.1f} us/call, median of per-round differences"
        f" (IQR {q1 * 1e6:.1f} to {q3 * 1e6:.1f}; goal <= 100)"
    )


if __name__ == "__main__":
    main()
