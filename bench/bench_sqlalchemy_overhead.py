"""Per-statement overhead of the SQLAlchemy instrumentation vs none vs upstream.

Three SQLite in-memory engines in one process: uninstrumented, instrumented by
dataops-otel (spans + sqlglot lineage + dataset ids), and instrumented by the
upstream ``opentelemetry-instrumentation-sqlalchemy``. Rounds alternate
between them; spans go through a real BatchSpanProcessor into an exporter that
discards them. Each timed run ends with a flush of that processor, so every
configuration pays for exporting its own spans and never for spans another one
left in the queue (without it, the batch export that the 512th queued span
triggers lands in whichever run happens to cross that threshold). Goal: our
added time per statement is no more than upstream's.

    python bench/bench_sqlalchemy_overhead.py [--rounds 5] [--selects 3000] [--batches 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor as UpstreamInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from dataops_otel.instrumentation.sqlalchemy import SQLAlchemyInstrumentor


class DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make_engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.execute(sa.text("INSERT INTO items VALUES (:i, 'x')"), [{"i": i} for i in range(1000)])
        conn.execute(sa.text("CREATE TABLE sink (id INTEGER, v TEXT)"))
    return engine


def point_selects(engine: sa.Engine, n: int) -> Callable[[], None]:
    query = sa.text("SELECT v FROM items WHERE id = :id")

    def run() -> None:
        with engine.connect() as conn:
            for i in range(n):
                conn.execute(query, {"id": i % 1000}).fetchall()

    return run


def batch_inserts(engine: sa.Engine, n: int) -> Callable[[], None]:
    query = sa.text("INSERT INTO sink VALUES (:id, :v)")
    rows = [{"id": i, "v": "y"} for i in range(100)]

    def run() -> None:
        with engine.begin() as conn:
            for _ in range(n):
                conn.execute(query, rows)

    return run


def timed(func: Callable[[], None], flush: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    flush()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--selects", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    trace.set_tracer_provider(provider)

    engines = {"none": make_engine(), "dataops": make_engine(), "upstream": make_engine()}
    SQLAlchemyInstrumentor().instrument(engine=engines["dataops"])
    # upstream pins sqlalchemy < 2.1; its event hooks work on 2.1 all the same
    UpstreamInstrumentor().instrument(engine=engines["upstream"], skip_dep_check=True)
    workloads = {
        "point SELECT": (point_selects, args.selects),
        "executemany INSERT x100": (batch_inserts, args.batches),
    }
    for label, (factory, n) in workloads.items():
        runs = {name: factory(engine, n) for name, engine in engines.items()}
        for run in runs.values():
            run()  # warm up
        provider.force_flush()
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name, run in runs.items():
                times[name].append(timed(run, provider.force_flush) / n)
        per = {name: statistics.median(values) * 1e6 for name, values in times.items()}
        ours, upstream = per["dataops"] - per["none"], per["upstream"] - per["none"]
        print(f"{label} (median of {args.rounds} rounds, {n} statements each)")
        print(f"  uninstrumented          {per['none']:8.1f} us/statement")
        print(f"  dataops-otel            {per['dataops']:8.1f} us/statement  (+{ours:.1f})")
        print(f"  upstream otel-sqlalchemy{per['upstream']:8.1f} us/statement  (+{upstream:.1f})")
        print(f"  added: ours / upstream  {ours / upstream if upstream > 0 else float('nan'):8.2f}")
    provider.shutdown()


if __name__ == "__main__":
    main()
